import type { ServiceStatus, StatusExtra } from "@sh/core";
import { type Colors, padEnd } from "./colors.js";
import { formatUptime } from "./format.js";

/**
 * The `shctl status` table: service, state, health, restarts, uptime; orphans marked. Pure.
 * HEALTH is the Docker healthcheck's verdict, or for a service with only readiness probes what
 * they answered just now ("ready" / "not ready"); for a service that is not ready, the first
 * probe that failed is explained below.
 */
export function renderStatus(stackName: string, rows: ServiceStatus[], nowMs: number, c: Colors): string {
  if (rows.length === 0) return `Stack ${stackName} has no services.`;
  // The stack's own figures (e.g. the Sentry stack's consumer lag): a column per key any row has.
  const extraKeys = [...new Set(rows.flatMap((r) => Object.keys(r.extras ?? {})))].sort();
  // On a swarm: how many tasks run the current spec, of how many the service wants.
  const swarm = rows.some((r) => r.replicas !== undefined);
  const header = [
    "SERVICE",
    "STATE",
    ...(swarm ? ["REPLICAS"] : []),
    "HEALTH",
    "RESTARTS",
    "UPTIME",
    ...extraKeys.map((k) => k.toUpperCase()),
  ];
  const cells = rows.map((r) => {
    const name = r.kind === "service" ? r.name : `${r.name} (${r.kind})`;
    const started = r.startedAt ? Date.parse(r.startedAt) : Number.NaN;
    const extras = extraKeys.map((k) => {
      const x = r.extras?.[k];
      return { text: x?.text ?? "-", paint: x ? extraColor(x, c) : c.dim };
    });
    return [
      { text: r.orphan ? `${name} *` : name, paint: r.orphan ? c.yellow : (s: string) => s },
      { text: r.state, paint: stateColor(r.state, c) },
      ...(swarm ? [replicasCell(r, c)] : []),
      { text: healthText(r), paint: healthColor(healthText(r), c) },
      { text: String(r.restarts), paint: r.restarts > 0 ? c.yellow : (s: string) => s },
      { text: Number.isNaN(started) ? "-" : formatUptime(nowMs - started), paint: (s: string) => s },
      ...extras,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]?.text.length ?? 0)));
  const line = (parts: string[]) =>
    parts
      .map((p, i) => (i === parts.length - 1 ? p : padEnd(p, (widths[i] as number) + 2)))
      .join("")
      .trimEnd();
  const out = [c.bold(line(header))];
  for (const row of cells) {
    out.push(line(row.map((cell) => cell.paint(cell.text))));
  }
  const notes: string[] = [];
  for (const r of rows) {
    if (r.ready === false) notes.push(c.red(`${r.name}: not ready: ${r.readyDetail ?? "a probe failed"}`));
    for (const t of r.tasks ?? []) notes.push(c.yellow(`${r.name}: ${t}`));
    for (const [k, x] of Object.entries(r.extras ?? {})) {
      if (!x.detail || (x.state !== "warning" && x.state !== "failure")) continue;
      notes.push(extraColor(x, c)(`${r.name}: ${k}: ${x.detail}`));
    }
  }
  if (rows.some((r) => r.orphan))
    notes.push(c.yellow("* orphan: no longer in the stack; `shctl apply` removes it"));
  if (rows.every((r) => r.state === "missing"))
    notes.push(`Stack ${stackName} is not running: \`shctl apply\` starts it.`);
  else {
    // Was a bug: this note began "missing:" and named none of them.
    const missing = rows.filter((r) => r.state === "missing" && !r.orphan).map((r) => r.name);
    if (missing.length > 0)
      notes.push(
        `${missing.join(", ")}: in the stack, but the ${swarm ? "swarm has no service" : "engine has no container"} for ${missing.length === 1 ? "it" : "them"}; \`shctl apply\` creates ${missing.length === 1 ? "it" : "them"}`,
      );
  }
  return [...out, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
}

function replicasCell(r: ServiceStatus, c: Colors): { text: string; paint: (s: string) => string } {
  if (!r.replicas) return { text: "-", paint: c.dim };
  const { running, desired } = r.replicas;
  return { text: `${running}/${desired}`, paint: running >= desired ? c.green : c.yellow };
}

function extraColor(x: StatusExtra, c: Colors): (s: string) => string {
  if (x.state === "ok") return c.green;
  if (x.state === "warning") return c.yellow;
  if (x.state === "failure") return c.red;
  return (s: string) => s;
}

function stateColor(state: string, c: Colors): (s: string) => string {
  if (state === "running") return c.green;
  if (state === "missing" || state === "created" || state === "paused" || state === "restarting")
    return c.yellow;
  return c.red;
}

function healthText(r: ServiceStatus): string {
  if (r.health) return r.health;
  if (r.ready === true) return "ready";
  if (r.ready === false) return "not ready";
  return "-";
}

function healthColor(health: string, c: Colors): (s: string) => string {
  if (health === "healthy" || health === "ready") return c.green;
  if (health === "unhealthy" || health === "not ready") return c.red;
  if (health === "starting") return c.yellow;
  return c.dim;
}
