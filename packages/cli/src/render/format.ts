/** A coarse duration for uptimes: 42s, 5m12s, 2h05m, 3d04h. */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

/** ISO 8601 in UTC to the second: 2026-11-24T19:00:00Z. */
export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The width of a name column: the longest name, but names longer than `cap` do not widen it
 * (they overflow their own line instead of pushing every other line's columns far right).
 */
export function columnWidth(names: Iterable<string>, cap: number): number {
  let width = 0;
  for (const n of names) if (n.length <= cap && n.length > width) width = n.length;
  return width;
}
