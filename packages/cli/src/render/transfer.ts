/*
 * Bytes on their way (backup, restore): sizes, a rate over the last seconds, and a bar when the
 * total is known. Pure functions and a small meter, so the live and plain views say the same.
 */

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

/** A size in decimal units, as `docker` prints them: 512 B, 12 kB, 3.4 MB, 1.25 GB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[u]}`;
}

export function formatRate(bytesPerSecond: number | undefined): string {
  return bytesPerSecond === undefined ? "–" : `${formatBytes(bytesPerSecond)}/s`;
}

/** `[#######-------]` for a fraction in [0, 1] (clamped), `width` characters between the brackets. */
export function bar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${"#".repeat(full)}${"-".repeat(width - full)}]`;
}

/** The bytes moved per second over a sliding window (default the last 3 s). */
export class RateMeter {
  private readonly samples: { at: number; bytes: number }[] = [];
  constructor(private readonly windowMs = 3000) {}

  add(bytes: number, at: number): void {
    const last = this.samples.at(-1);
    if (last && bytes < last.bytes) this.samples.length = 0; // a new transfer
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && (this.samples[0] as { at: number }).at < at - this.windowMs)
      this.samples.shift();
  }

  /** Undefined until two samples are at least 200 ms apart. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 200) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }
}

export interface TransferView {
  bytes: number;
  total: number | undefined;
  files: number;
}

/**
 * One line: with a total, `[#####-----]  45%  1.20 GB / 2.70 GB  85.0 MB/s`; without one,
 * `1.20 GB  85.0 MB/s  1234 files`. With `width`, the bar takes what the text leaves of it (at
 * most 30 characters), and is left out when fewer than 10 are left.
 */
export function transferLine(t: TransferView, rate: number | undefined, width?: number): string {
  const files = t.files > 0 ? `  ${t.files} file${t.files === 1 ? "" : "s"}` : "";
  if (t.total === undefined || t.total <= 0) return `${formatBytes(t.bytes)}  ${formatRate(rate)}${files}`;
  const f = Math.min(1, t.bytes / t.total);
  const pct = `${Math.floor(f * 100)}%`.padStart(4);
  const text = `${pct}  ${formatBytes(t.bytes)} / ${formatBytes(Math.max(t.total, t.bytes))}  ${formatRate(rate)}`;
  const barWidth = width === undefined ? 24 : Math.min(30, width - text.length - 3);
  return barWidth >= 10 ? `${bar(f, barWidth)} ${text}` : text.trimStart();
}
