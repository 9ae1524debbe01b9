import type { CheckResult, Diagnosis, HopRecord, VerifyEvent } from "@sh/core";
import { formatDuration } from "@sh/core";
import { type Colors, fit, padEnd, padStart, stripAnsi } from "./colors.js";
import { columnWidth, formatUptime, timestamp } from "./format.js";
import { LiveArea, type LiveStream, type Writer } from "./live.js";

/*
 * `shctl verify`'s output: while the checks run, a live view on a terminal (each hop ticks off
 * with its time; each running check shows the hop it waits in) or one plain line per finished
 * hop; at the end, a table per check and, for each broken check, its first broken hop: the
 * service that owns it, that service's state, restarts and last log lines, and the likely fix.
 * JSON lines are the events themselves (the command writes them).
 */

export interface VerifyView {
  event(e: VerifyEvent): void;
  note(text: string): void;
  stop(): void;
}

const hopIcon = (status: string, c: Colors) =>
  status === "ok"
    ? c.green("✔")
    : status === "failed"
      ? c.red("✖")
      : status === "skipped"
        ? c.dim("-")
        : c.dim("·");

const paintStatus = (status: string, c: Colors) =>
  status === "ok" ? c.green : status === "failed" ? c.red : status === "skipped" ? c.dim : c.cyan;

/** One finished hop or check as a plain line; undefined for events that only start something. */
export function formatPlainVerifyEvent(e: VerifyEvent, at: Date, c: Colors): string | undefined {
  const ts = c.dim(timestamp(at));
  if (e.type === "check") {
    if (e.phase === "running")
      return `${ts} ${c.bold(e.name)}: started${e.description ? ` — ${e.description}` : ""}`;
    const paint = e.phase === "passed" ? c.green : c.red;
    return `${ts} ${c.bold(e.name)}: ${paint(e.phase)}${e.ms !== undefined ? ` (${formatDuration(e.ms)})` : ""}`;
  }
  if (e.status === "running") return undefined;
  const time = e.ms !== undefined ? ` (${formatDuration(e.ms)})` : "";
  const owner = e.status === "failed" && e.owner ? ` [owner: ${e.owner}]` : "";
  const detail = e.detail ? ` — ${e.detail}` : "";
  return `${ts} ${e.check} › ${e.hop}: ${paintStatus(e.status, c)(e.status)}${time}${detail}${owner}`;
}

export class PlainVerify implements VerifyView {
  constructor(
    private readonly out: Writer,
    private readonly c: Colors,
    private readonly clock: () => Date = () => new Date(),
  ) {}
  event(e: VerifyEvent): void {
    const line = formatPlainVerifyEvent(e, this.clock(), this.c);
    if (line !== undefined) this.out.write(`${line}\n`);
  }
  note(text: string): void {
    this.out.write(`${this.c.dim(timestamp(this.clock()))} ${text}\n`);
  }
  stop(): void {}
}

interface Running {
  check: string;
  hops: number;
  done: number;
  hop: string | undefined;
  since: number;
}

/**
 * The live view: every hop that ends is printed once above ("✔ errors › relay accepted  120ms
 * HTTP 200"); below, one line per running check with the hop it is in, redrawn ten times a second.
 */
export class LiveVerify extends LiveArea implements VerifyView {
  private readonly running = new Map<string, Running>();
  private width = 0;
  private readonly names = new Set<string>();

  constructor(out: LiveStream, c: Colors, now: () => number = Date.now) {
    super(out, c, now);
  }

  event(e: VerifyEvent): void {
    if (this.stopped) return;
    const now = this.now();
    if (e.type === "check") {
      if (e.phase === "running") {
        for (const h of e.hops ?? []) this.names.add(`${e.name} › ${h}`);
        this.width = columnWidth(this.names, 60);
        this.running.set(e.name, {
          check: e.name,
          hops: e.hops?.length ?? 0,
          done: 0,
          hop: undefined,
          since: now,
        });
      } else {
        this.running.delete(e.name);
        const paint = e.phase === "passed" ? this.c.green : this.c.red;
        this.pending.push(
          `  ${paint(e.phase === "passed" ? "✔" : "✖")} ${this.c.bold(e.name)} ${paint(e.phase)}${e.ms !== undefined ? ` in ${formatDuration(e.ms)}` : ""}`,
        );
      }
      return;
    }
    const r = this.running.get(e.check);
    if (e.status === "running") {
      if (r) {
        r.hop = e.hop;
        r.since = now;
      }
      return;
    }
    if (r && e.status !== "skipped") r.done++;
    const name = `${e.check} › ${e.hop}`;
    if (!this.names.has(name)) {
      this.names.add(name);
      this.width = columnWidth(this.names, 60);
    }
    const time = e.ms !== undefined ? formatDuration(e.ms) : "";
    const owner = e.status === "failed" && e.owner ? this.c.red(` [owner: ${e.owner}]`) : "";
    const detail = e.detail ? `  ${this.c.dim(e.detail)}` : "";
    this.pending.push(
      fit(
        `  ${hopIcon(e.status, this.c)} ${padEnd(name, this.width)} ${padStart(time, 6)}${owner}${detail}`,
        this.cols(),
      ),
    );
  }

  override stop(): void {
    if (this.stopped) return;
    this.running.clear();
    super.stop();
  }

  protected area(cols: number): string[] {
    const now = this.now();
    const spin = this.spinner();
    const lines = [...this.running.values()].map((r) =>
      fit(
        `  ${spin} ${this.c.bold(r.check)} ${this.c.dim(`${r.done}/${r.hops}`)}  ${r.hop ?? "starting"}  ${this.c.dim(formatDuration(now - r.since))}`,
        cols,
      ),
    );
    lines.push(this.c.dim(fit(`  verifying · ${formatDuration(now - this.t0)}`, cols)));
    return lines;
  }
}

/** The table of one check's hops: hop, owner, status, time, detail. */
export function renderCheckTable(r: CheckResult, c: Colors): string {
  const verdict = r.ok ? c.green("passed") : c.red("failed");
  const head = `${c.bold(r.name)} ${verdict} in ${formatDuration(r.ms)}${r.description ? c.dim(` — ${r.description}`) : ""}`;
  const header = ["HOP", "OWNER", "STATUS", "TIME", "DETAIL"];
  const rows = r.hops.map((h) => [
    h.hop,
    h.owner ?? "-",
    h.status,
    h.ms !== undefined ? formatDuration(h.ms) : "-",
    h.detail ?? "",
  ]);
  const widths = header.map((t, i) =>
    i === header.length - 1 ? 0 : Math.max(t.length, ...rows.map((row) => (row[i] as string).length)),
  );
  const line = (cells: string[], paint: (i: number, s: string) => string = (_, s) => s) =>
    `  ${cells
      .map((cell, i) =>
        i === cells.length - 1 ? paint(i, cell) : paint(i, padEnd(cell, (widths[i] as number) + 2)),
      )
      .join("")}`.trimEnd();
  const out = [head, c.bold(line(header))];
  for (const row of rows) {
    const status = row[2] as string;
    out.push(line(row, (i, s) => (i === 2 ? paintStatus(status, c)(s) : i === 4 ? c.dim(s) : s)));
  }
  return out.join("\n");
}

/** Where a check broke: the hop, its owner and the owner's state, restarts and log tail, and the fix. */
export function renderBroken(check: string, h: HopRecord, c: Colors, nowMs: number = Date.now()): string {
  const out = [c.red(`${check}: broken at "${h.hop}"${h.owner ? `, owned by ${h.owner}` : ""}`)];
  if (h.detail) out.push(`  what: ${h.detail}`);
  if (h.diagnosis) out.push(...diagnosisLines(h.diagnosis, c, nowMs));
  if (h.fix) out.push(`  ${c.bold("likely fix:")} ${h.fix}`);
  return out.join("\n");
}

function diagnosisLines(d: Diagnosis, c: Colors, nowMs: number): string[] {
  const parts = [`state ${d.state}`];
  if (d.health) parts.push(`health ${d.health}`);
  parts.push(`${d.restarts} restart${d.restarts === 1 ? "" : "s"}`);
  if (d.exitCode !== undefined) parts.push(`exit code ${d.exitCode}`);
  if (d.startedAt) {
    const t = Date.parse(d.startedAt);
    if (!Number.isNaN(t)) parts.push(`up ${formatUptime(nowMs - t)}`);
  }
  const out = [`  ${d.service}: ${parts.join(", ")}${d.note ? ` (${d.note})` : ""}`];
  if (d.logTail.length > 0) {
    out.push(`  last log lines of ${d.service}:`);
    for (const l of d.logTail) out.push(`    ${c.dim("|")} ${stripAnsi(l).trimEnd()}`);
  } else if (d.state !== "missing" && !d.note) out.push(`  ${d.service} has logged nothing`);
  return out;
}

/** Everything after the run: a table per check, each broken hop explained, one line of totals. */
export function renderVerifySummary(
  results: CheckResult[],
  c: Colors,
  opts: { interrupted?: boolean; nowMs?: number } = {},
): string {
  const out: string[] = [];
  for (const r of results) out.push(renderCheckTable(r, c), "");
  for (const r of results) if (r.broken) out.push(renderBroken(r.name, r.broken, c, opts.nowMs), "");
  const passed = results.filter((r) => r.ok).length;
  const n = results.length;
  if (opts.interrupted)
    out.push(c.yellow(`Interrupted: ${passed} of ${n} check${n === 1 ? "" : "s"} passed before it.`));
  else if (passed === n) out.push(c.green(`All ${n} check${n === 1 ? "" : "s"} passed.`));
  else out.push(c.red(`${n - passed} of ${n} check${n === 1 ? "" : "s"} failed.`));
  return out.join("\n");
}
