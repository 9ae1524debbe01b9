import { formatDuration, type Plan, resourceKey } from "@sh/core";
import type { Colors } from "./colors.js";

/*
 * The last line of an apply that did not finish: how long it ran and which of the plan's resources
 * it never got to (a service waiting on a failed job otherwise never appears at all). Pure.
 */

/**
 * The plan's resources, in plan order, that the apply did not finish: an action not carried out,
 * or a service it was to wait for that was not known ready (a wait cut short counts as not done).
 */
export function notDone(plan: Plan, outcome: { notDone: string[]; notReady: string[] }): string[] {
  const out: string[] = [];
  const missed = new Set(outcome.notDone);
  for (const a of plan.actions) {
    const r = resourceKey(a.resource);
    if (missed.has(a.id) && !out.includes(r)) out.push(r);
  }
  for (const s of outcome.notReady) if (!out.includes(`service ${s}`)) out.push(`service ${s}`);
  return out;
}

/** Up to this many resources are named one by one; more are counted by kind. */
const LIST_AT_MOST = 8;

/** "service a, job b" — or, for many, "58 services and 5 jobs (`shctl diff` lists them)". */
export function groupResources(resources: readonly string[]): string {
  if (resources.length <= LIST_AT_MOST) return resources.join(", ");
  const counts = new Map<string, number>();
  for (const r of resources) {
    const kind = r.split(" ")[0] ?? r;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  // The most numerous kind first (a stable sort keeps plan order among equals).
  const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${n === 1 ? k : `${k}s`}`);
  const text = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}` : (parts[0] ?? "");
  return `${text} (\`shctl diff\` lists them)`;
}

export function stoppedSummary(
  how: "failed" | "interrupted",
  elapsedMs: number,
  pending: readonly string[],
  c: Colors,
): string {
  const head = how === "failed" ? "Apply failed" : "Apply interrupted";
  const paint = how === "failed" ? c.red : c.yellow;
  const rest = pending.length > 0 ? `; not done: ${groupResources(pending)}.` : ".";
  return paint(`${head} after ${formatDuration(elapsedMs)}${rest}`);
}
