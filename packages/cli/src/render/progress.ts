import type { Phase, ProgressEvent, TransferProgress } from "@sh/core";
import { formatDuration } from "@sh/core";
import { type Colors, fit, padEnd, padStart, stripAnsi } from "./colors.js";
import { columnWidth, timestamp } from "./format.js";
import { LiveArea, type LiveStream, type Writer } from "./live.js";
import { RateMeter, transferBar, transferSummary, transferText } from "./transfer.js";

/*
 * Progress of an apply or teardown, three ways: a live view redrawn in place on a terminal, plain
 * timestamped lines elsewhere (or with CI set), and JSON lines with --json. Plan events are the
 * command's to render; these take phase, output, progress and warning events.
 *
 * A transfer's figures (`progress` events: a pull's layers and bytes, a build's step) show on its
 * live line with the rate and the time left; plain output gives them a line every few seconds
 * (PLAIN_PROGRESS_MS) and at the end of its `done` line; JSON passes them on as they come.
 */

/** How often plain output prints a transfer's figures. */
export const PLAIN_PROGRESS_MS = 5000;

export type StepEvent = Exclude<ProgressEvent, { type: "plan" }>;

export interface Progress {
  event(e: StepEvent): void;
  /** A line of shctl's own, e.g. the notice after Ctrl-C. */
  note(text: string): void;
  /** Stops redrawing and leaves the final state on screen. Safe to call twice. */
  stop(): void;
}

export function paintPhase(phase: Phase | string, c: Colors): (s: string) => string {
  switch (phase) {
    case "failed":
      return c.red;
    case "done":
    case "healthy":
    case "running":
      return c.green;
    case "unchanged":
      return c.dim;
    case "waiting":
      return c.yellow;
    default:
      return c.cyan;
  }
}

/** Build and pull output worth a line of its own: pull progress bars are not. */
export function isNoise(line: string): boolean {
  return /^(Downloading|Extracting|Pushing|Loading layer)\s+\[[=> ]*\]/.test(line);
}

/**
 * A phase's message without the resource it repeats: core's errors start with the resource
 * ("job migrate: run failed: …"), and the line already names it.
 */
export function phaseMessage(resource: string, message: string | undefined): string | undefined {
  if (message === undefined) return undefined;
  return message.startsWith(`${resource}: `) ? message.slice(resource.length + 2) : message;
}

/**
 * One event as a plain line: `2026-11-24T19:00:00Z service web: healthy (4.2s)`; undefined for
 * output lines that are only progress bars.
 */
export function formatPlainEvent(e: StepEvent, at: Date, c: Colors): string | undefined {
  const ts = c.dim(timestamp(at));
  switch (e.type) {
    case "phase": {
      const text = phaseMessage(e.resource, e.message);
      const message = text ? ` — ${text}` : "";
      const elapsed = e.elapsedMs !== undefined ? ` (${formatDuration(e.elapsedMs)})` : "";
      return `${ts} ${e.resource}: ${paintPhase(e.phase, c)(e.phase)}${message}${elapsed}`;
    }
    case "output": {
      // Build output carries the builder's own colour codes: never pass them on.
      const line = stripAnsi(e.line).trimEnd();
      return isNoise(line) || line.trim() === "" ? undefined : `${ts} ${e.resource} ${c.dim("|")} ${line}`;
    }
    case "warning":
      return `${ts} ${c.yellow("warning:")} ${e.resource ? `${e.resource}: ` : ""}${e.message}`;
    case "outcome":
      return undefined; // the summary line says it
    case "progress":
      // PlainProgress decides when figures are worth a line (transferLine).
      return undefined;
  }
}

/** A transfer's figures as a plain line: `… image app: pulling — 3/7 layers  45.1/120.3 MB  12.3 MB/s  ~6s`. */
export function transferLine(p: TransferProgress, rate: number | undefined, at: Date, c: Colors): string {
  const phase = PHASE_OF[p.what];
  return `${c.dim(timestamp(at))} ${p.resource}: ${paintPhase(phase, c)(phase)} — ${transferText(p, rate)}`;
}

const PHASE_OF: Record<TransferProgress["what"], Phase> = {
  pull: "pulling",
  build: "building",
  save: "exporting",
  verify: "verifying",
  load: "loading",
  backup: "packing",
  restore: "extracting",
};

/**
 * A `done` line's message with the finished transfer's figures: "pulled 7 layers, 120.3 MB,
 * 28.6 MB/s"; "saved 12 images (1.24 GB, 80.1 MB/s)".
 */
function withSummary(message: string | undefined, p: TransferProgress | undefined): string | undefined {
  const summary = p ? transferSummary(p) : undefined;
  if (!summary) return message;
  if (!message) return summary;
  return p?.what === "pull" ? `${message} ${summary}` : `${message} (${summary})`;
}

/** A transfer seen by a view: its latest figures and their rate. */
interface Transfer {
  last: TransferProgress;
  meter: RateMeter;
  /** When plain output last printed its figures (or when they began). */
  printedAt: number;
}

export class PlainProgress implements Progress {
  private readonly transfers = new Map<string, Transfer>();

  constructor(
    private readonly out: Writer,
    private readonly c: Colors,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  event(e: StepEvent): void {
    const at = this.clock();
    if (e.type === "progress") {
      // A build's output lines are printed as they come; its figures would only repeat them.
      if (e.what === "build") return;
      const now = at.getTime();
      let t = this.transfers.get(e.resource);
      if (!t) {
        t = { last: e, meter: new RateMeter(), printedAt: now };
        this.transfers.set(e.resource, t);
      }
      t.last = e;
      if (e.bytes) t.meter.add(now, e.bytes.done);
      if (now - t.printedAt >= PLAIN_PROGRESS_MS) {
        t.printedAt = now;
        this.out.write(`${transferLine(e, t.meter.rate(now), at, this.c)}\n`);
      }
      return;
    }
    if (e.type === "phase" && this.transfers.has(e.resource) && isMilestone(e.resource, e.phase)) {
      const t = this.transfers.get(e.resource);
      this.transfers.delete(e.resource);
      if (e.phase === "done") e = { ...e, message: withSummary(e.message, t?.last) as string };
    }
    const line = formatPlainEvent(e, at, this.c);
    if (line !== undefined) this.out.write(`${line}\n`);
  }

  note(text: string): void {
    this.out.write(`${this.c.dim(timestamp(this.clock()))} ${text}\n`);
  }

  stop(): void {}
}

export class JsonProgress implements Progress {
  constructor(private readonly out: Writer) {}

  event(e: StepEvent): void {
    this.out.write(`${JSON.stringify(e)}\n`);
  }

  note(text: string): void {
    this.out.write(`${JSON.stringify({ type: "warning", message: text })}\n`);
  }

  stop(): void {}
}

/** Phases after which a resource leaves the live area (a service is "running" before it waits for health). */
export function isMilestone(resource: string, phase: Phase): boolean {
  if (phase === "done" || phase === "healthy" || phase === "unchanged" || phase === "failed") return true;
  return phase === "running" && !resource.startsWith("job ");
}

/** Names longer than this do not widen the live view's name column. */
const NAME_CAP = 40;

interface Row {
  resource: string;
  phase: Phase;
  message: string | undefined;
  output: string | undefined;
  since: number;
  /** A transfer's latest figures, shown instead of the message or output. */
  transfer: TransferProgress | undefined;
  meter: RateMeter;
}

/** A resource's line: icon, name, phase, time, then its message or latest output. */
export function stateLine(
  icon: string,
  resource: string,
  phase: Phase,
  elapsedMs: number | undefined,
  message: string | undefined,
  width: number,
  c: Colors,
): string {
  const time = elapsedMs !== undefined ? formatDuration(elapsedMs) : "";
  const tail = message ? `  ${c.dim(message)}` : "";
  return `  ${icon} ${padEnd(resource, width)}  ${paintPhase(phase, c)(padEnd(phase, 10))} ${padStart(time, 6)}${tail}`;
}

function iconOf(phase: Phase, c: Colors): string {
  if (phase === "failed") return c.red("✖");
  if (phase === "unchanged") return c.dim("=");
  if (phase === "done" || phase === "healthy" || phase === "running") return c.green("✔");
  return c.dim("·");
}

/**
 * The live view: finished resources are printed once above, resources in progress are redrawn in
 * place about ten times a second (cursor up, erase down), each with its phase and a timer, and a
 * footer with the totals. The area never grows past the terminal's height.
 */
export class LiveProgress extends LiveArea implements Progress {
  private readonly active = new Map<string, Row>();
  private readonly names = new Set<string>();
  private width = 0;
  /** Resources done with for now (one may come back: a service waits for health after "running"). */
  private readonly finished = new Set<string>();

  constructor(
    out: LiveStream,
    c: Colors,
    private readonly label: string,
    now: () => number = Date.now,
  ) {
    super(out, c, now);
  }

  /** Sizes the name column for these resources up front, so lines line up from the first one. */
  expect(resources: string[]): this {
    for (const r of resources) this.names.add(r);
    this.width = columnWidth(this.names, NAME_CAP);
    return this;
  }

  event(e: StepEvent): void {
    if (this.stopped) return;
    if (e.type === "warning") {
      this.pending.push(`  ${this.c.yellow("!")} ${e.resource ? `${e.resource}: ` : ""}${e.message}`);
      return;
    }
    if (e.type === "outcome") return;
    if (e.type === "progress") {
      const row = this.active.get(e.resource);
      if (!row) return;
      row.transfer = e;
      if (e.bytes) row.meter.add(this.now(), e.bytes.done);
      return;
    }
    if (!this.names.has(e.resource)) {
      this.names.add(e.resource);
      this.width = columnWidth(this.names, NAME_CAP);
    }
    if (e.type === "output") {
      const row = this.active.get(e.resource);
      const line = stripAnsi(e.line).trim();
      if (row && line) row.output = line;
      return;
    }
    const row = this.active.get(e.resource);
    const now = this.now();
    if (isMilestone(e.resource, e.phase)) {
      this.active.delete(e.resource);
      this.finished.add(e.resource);
      const elapsed = e.elapsedMs ?? (row ? now - row.since : undefined);
      // One screen line each, like the area: a long failure is printed in full by the error below.
      this.pending.push(
        fit(
          stateLine(
            iconOf(e.phase, this.c),
            e.resource,
            e.phase,
            elapsed,
            e.phase === "done"
              ? withSummary(phaseMessage(e.resource, e.message), row?.transfer)
              : phaseMessage(e.resource, e.message),
            this.width,
            this.c,
          ),
          this.cols(),
        ),
      );
      return;
    }
    this.finished.delete(e.resource);
    if (row) {
      row.phase = e.phase;
      row.message = phaseMessage(e.resource, e.message);
    } else {
      this.active.set(e.resource, {
        resource: e.resource,
        phase: e.phase,
        message: phaseMessage(e.resource, e.message),
        output: undefined,
        since: now,
        transfer: undefined,
        meter: new RateMeter(),
      });
    }
  }

  override stop(): void {
    if (this.stopped) return;
    const now = this.now();
    for (const r of this.active.values()) {
      this.pending.push(
        stateLine(iconOf(r.phase, this.c), r.resource, r.phase, now - r.since, r.message, this.width, this.c),
      );
    }
    this.active.clear();
    super.stop();
  }

  protected area(cols: number): string[] {
    const now = this.now();
    const max = Math.max(3, (this.out.rows || 24) - 2);
    const rows = [...this.active.values()];
    const shown = rows.length > max - 1 ? rows.slice(0, max - 2) : rows;
    const spin = this.spinner();
    const lines = shown.map((r) => {
      const line = (text: string | undefined) =>
        stateLine(spin, r.resource, r.phase, now - r.since, text, this.width, this.c);
      const figures = r.transfer && transferText(r.transfer, r.meter.rate(now));
      const plain = line(figures || r.output || r.message);
      // A bar and percent before the figures, when the terminal has room for both.
      const bar = r.transfer && figures ? transferBar(r.transfer) : "";
      const barred =
        bar && stripAnsi(plain).length + bar.length + 2 <= cols ? line(`${bar}  ${figures}`) : plain;
      return fit(barred, cols);
    });
    if (shown.length < rows.length) lines.push(this.c.dim(`    … and ${rows.length - shown.length} more`));
    lines.push(
      fit(
        this.c.dim(
          `  ${this.label} · ${formatDuration(now - this.t0)} · ${rows.length} in progress, ${this.finished.size} finished`,
        ),
        cols,
      ),
    );
    return lines;
  }
}
