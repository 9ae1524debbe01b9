import { formatBytes, type TransferProgress } from "@sh/core";
import { stripAnsi } from "./colors.js";
import { formatUptime } from "./format.js";

/*
 * The figures of a transfer as text: `3/7 layers  45.1/120.3 MB  12.3 MB/s  ~6s` for a pull,
 * `Step 3/7 : RUN make · last line` for a build. Pure; the rate comes from a RateMeter fed with
 * the time each figure arrived.
 */

/** "45.1/120.3 MB": both in the total's unit, so the two read against each other. */
export function formatBytePair(done: number, total: number): string {
  const [div, unit, digits] =
    total < 1000
      ? [1, "B", 0]
      : total < 1e6
        ? [1e3, "kB", 1]
        : total < 1e9
          ? [1e6, "MB", 1]
          : ([1e9, "GB", 2] as const);
  return `${(done / div).toFixed(digits)}/${(total / div).toFixed(digits)} ${unit}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/**
 * A transfer's rate over its last few seconds, from (time, bytes) samples. Undefined until a
 * second's worth of samples is there. Measured up to `now`, so a stalled transfer's rate falls.
 */
export class RateMeter {
  private samples: { t: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  add(t: number, bytes: number): void {
    const last = this.samples.at(-1);
    // Fewer bytes than before: a new transfer (another source), measured afresh.
    if (last && bytes < last.bytes) this.samples = [];
    this.samples.push({ t, bytes });
    // Keep one sample at or before the window's start, as the base of the measure.
    while (this.samples.length > 2 && (this.samples[1]?.t ?? t) <= t - this.windowMs) this.samples.shift();
  }

  rate(now: number): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last) return undefined;
    const dt = now - first.t;
    if (dt < 1000) return undefined;
    return Math.max(0, (last.bytes - first.bytes) / (dt / 1000));
  }
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** "~6s", "~2m05s": the time left at this rate, when the total is known. */
export function formatEta(left: number, rate: number | undefined): string | undefined {
  if (rate === undefined || rate <= 0 || left < 0) return undefined;
  return `~${formatUptime(Math.max(1000, (left / rate) * 1000))}`;
}

/** A transfer in progress: `3/7 layers  45.1/120.3 MB  12.3 MB/s  ~6s`, or a build's step and last line. */
export function transferText(p: TransferProgress, rate: number | undefined): string {
  if (p.what === "build") {
    const line = p.line !== undefined ? stripAnsi(p.line).trim() : "";
    return [p.step, line].filter((x) => x).join(" · ");
  }
  const parts: string[] = [];
  if (p.layers) parts.push(`${p.layers.done}/${p.layers.total} layers`);
  if (p.bytes) {
    const { done, total } = p.bytes;
    if (total !== undefined && done >= total) {
      // Everything is downloaded; a pull's layers are still being unpacked.
      parts.push(formatBytes(total));
      if (p.what === "pull" && p.layers && p.layers.done < p.layers.total) parts.push("extracting");
      return parts.join("  ");
    }
    parts.push(total !== undefined ? formatBytePair(done, total) : formatBytes(done));
    if (rate !== undefined) parts.push(formatRate(rate));
    const eta = total !== undefined ? formatEta(total - done, rate) : undefined;
    if (eta) parts.push(eta);
  }
  if (p.files) parts.push(plural(p.files, "file"));
  return parts.join("  ");
}

/** `[######----------]  37%` for a transfer whose total is known (the live view's bar), else "". */
export function transferBar(p: TransferProgress, width = 16): string {
  const total = p.bytes?.total;
  if (!p.bytes || total === undefined || total <= 0) return "";
  const f = Math.min(1, Math.max(0, p.bytes.done / total));
  const full = Math.round(f * width);
  return `[${"#".repeat(full)}${"-".repeat(width - full)}] ${`${Math.floor(f * 100)}%`.padStart(4)}`;
}

/**
 * A finished transfer in a few words, for the end of its `done` line: `7 layers, 120.3 MB,
 * 28.6 MB/s` (the average rate). Undefined for a build (its output said it all).
 */
export function transferSummary(p: TransferProgress): string | undefined {
  if (p.what === "build") return undefined;
  const parts: string[] = [];
  if (p.layers) parts.push(`${p.layers.total} layer${p.layers.total === 1 ? "" : "s"}`);
  if (p.bytes && p.bytes.done > 0) {
    parts.push(formatBytes(p.bytes.total ?? p.bytes.done));
    if (p.elapsedMs >= 1000) parts.push(formatRate(p.bytes.done / (p.elapsedMs / 1000)));
  }
  if (p.files) parts.push(plural(p.files, "file"));
  return parts.length > 0 ? parts.join(", ") : undefined;
}
