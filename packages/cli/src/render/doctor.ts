import type { DoctorFinding } from "@sh/core";
import type { Colors } from "./colors.js";

/*
 * `shctl doctor`'s lines: one per check, marked ✓ ok, ! warning, ✗ failure, - skipped, with its
 * detail, further lines, the fix and the commands that carry it out. Pure.
 */

const MARK = { ok: "✓", warning: "!", failure: "✗", skipped: "-" } as const;

export function renderFinding(f: DoctorFinding, c: Colors): string {
  const paint = { ok: c.green, warning: c.yellow, failure: c.red, skipped: c.dim }[f.status];
  const out = [`${paint(MARK[f.status])} ${c.bold(f.title)}: ${f.detail}`];
  for (const l of f.lines ?? []) out.push(`    ${l}`);
  if (f.fix) out.push(`    ${c.cyan("fix:")} ${f.fix}`);
  for (const cmd of f.commands ?? []) out.push(`      ${cmd}`);
  return out.join("\n");
}

/** The closing line: counts, and what the exit code will say. */
export function renderDoctorSummary(
  n: { ok: number; warning: number; failure: number; skipped: number },
  c: Colors,
): string {
  const parts = [
    `${n.ok} ok`,
    n.warning > 0 ? c.yellow(`${n.warning} warning${n.warning === 1 ? "" : "s"}`) : "0 warnings",
    n.failure > 0 ? c.red(`${n.failure} failed`) : "0 failed",
    ...(n.skipped > 0 ? [`${n.skipped} skipped`] : []),
  ];
  return `\n${parts.join(", ")}`;
}
