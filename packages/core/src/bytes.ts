/*
 * Sizes as people read them, in one place for every command: decimal units as the engine and
 * `docker` write them (950 B, 12.3 kB, 45.1 MB, 1.24 GB) for what is transferred or stored, and
 * binary units (512 MiB, 15.6 GiB) where the machine reports them so (memory, file systems).
 */

const KIB = 1024;
const MIB = KIB ** 2;
const GIB = KIB ** 3;

export function formatBytes(n: number, units: "decimal" | "binary" = "decimal"): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  if (units === "binary") {
    if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
    if (n >= MIB) return `${Math.round(n / MIB)} MiB`;
    return n >= KIB ? `${Math.round(n / KIB)} KiB` : `${Math.round(n)} B`;
  }
  if (n < 1000) return `${Math.round(n)} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
