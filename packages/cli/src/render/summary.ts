import { formatDuration, type Plan } from "@sh/core";
import type { Colors } from "./colors.js";

/*
 * The last line of an apply that did not finish: how long it ran and which of the plan's resources
 * it never got to (a service waiting on a failed job otherwise never appears at all). Pure.
 */

/** The plan's resources, in plan order, that never reached any phase. */
export function notStarted(plan: Plan, seen: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const a of plan.actions) {
    if (!seen.has(a.resource) && !out.includes(a.resource)) out.push(a.resource);
  }
  return out;
}

export function stoppedSummary(
  how: "failed" | "interrupted",
  elapsedMs: number,
  pending: readonly string[],
  c: Colors,
): string {
  const head = how === "failed" ? "Apply failed" : "Apply interrupted";
  const paint = how === "failed" ? c.red : c.yellow;
  const rest = pending.length > 0 ? `; not started: ${pending.join(", ")}.` : ".";
  return paint(`${head} after ${formatDuration(elapsedMs)}${rest}`);
}
