import { formatDuration } from "./duration.js";
import type { EngineClient } from "./engine/index.js";
import { byCodeUnit } from "./graph.js";
import { LABEL, ownedByProject } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { type ProbeTarget, runProbe } from "./probe.js";
import { createReach } from "./reach.js";
import { redact } from "./redact.js";

export interface ServiceStatus {
  name: string;
  kind: "service" | "job" | "helper";
  /** "missing" when the stack has the service but the engine has no container for it. */
  state: string;
  health: string | undefined;
  restarts: number;
  startedAt: string | undefined;
  containerId: string | undefined;
  /** In the engine but no longer in the stack. */
  orphan: boolean;
  /**
   * For a running service with readiness probes: whether all of them answered just now
   * (undefined when the service has none, is not running, or probes were not asked for).
   */
  ready: boolean | undefined;
  /** Why it is not ready: the first probe that failed and its answer (secrets redacted). */
  readyDetail: string | undefined;
}

export interface StatusOptions {
  /** Run each running service's readiness probes once (default true). */
  probes?: boolean;
  /** How long one service's probes may take in all; default 5 s. */
  probeTimeoutMs?: number;
}

/**
 * Each container of the stack (and each service without one): state, health, restarts, start time.
 * Services that are running and have readiness probes are probed once, all in parallel, so that a
 * service without a Docker healthcheck still says whether it answers.
 */
export async function status(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: StatusOptions = {},
): Promise<ServiceStatus[]> {
  const list = (await engine.listContainers([`${LABEL.stack}=${stack.name}`])).filter((c) =>
    ownedByProject(c.labels, stack),
  );
  const details = await Promise.all(list.map((c) => engine.inspectContainer(c.id)));
  const out: ServiceStatus[] = [];
  const seen = new Set<string>();
  for (const d of details) {
    if (!d) continue;
    const name = d.labels[LABEL.name] ?? d.name;
    seen.add(name);
    out.push({
      name,
      kind: (d.labels[LABEL.kind] as ServiceStatus["kind"]) ?? "service",
      state: d.state,
      health: d.health,
      restarts: d.restartCount,
      startedAt: d.state === "running" ? d.startedAt : undefined,
      containerId: d.id,
      orphan: !stack.services[name] && !stack.jobs[name],
      ready: undefined,
      readyDetail: undefined,
    });
  }
  for (const s of Object.keys(stack.services)) {
    if (!seen.has(s)) {
      out.push({
        name: s,
        kind: "service",
        state: "missing",
        health: undefined,
        restarts: 0,
        startedAt: undefined,
        containerId: undefined,
        orphan: false,
        ready: undefined,
        readyDetail: undefined,
      });
    }
  }
  if (opts.probes ?? true) {
    const reach = createReach(engine, stack);
    try {
      await Promise.all(
        out.map(async (row) => {
          const svc = stack.services[row.name];
          if (row.kind !== "service" || row.state !== "running" || !row.containerId || !svc) return;
          if (svc.readiness.length === 0) return;
          const target = { engine, reach, service: svc, containerId: row.containerId };
          const why = await probeOnce(target, opts.probeTimeoutMs ?? 5000);
          row.ready = why === undefined;
          row.readyDetail = why === undefined ? undefined : redact(why, stack.secrets);
        }),
      );
    } finally {
      await reach.close();
    }
  }
  return out.sort((a, b) => byCodeUnit(a.name, b.name));
}

/** Runs a service's probes once, in order; undefined when all answer, else why the first did not. */
async function probeOnce(target: ProbeTarget, timeoutMs: number): Promise<string | undefined> {
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      stop.abort();
      resolve(`no answer within ${formatDuration(timeoutMs)}`);
    }, timeoutMs);
  });
  const probes = (async () => {
    for (const probe of target.service.readiness) {
      try {
        await runProbe(target, probe, stop.signal);
      } catch (err) {
        return `${probe.label}: ${(err as Error)?.message ?? String(err)}`;
      }
    }
    return undefined;
  })();
  try {
    return await Promise.race([probes, expired]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}
