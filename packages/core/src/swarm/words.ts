import type { TaskSummary } from "../engine/index.js";

/*
 * A swarm task's state in shctl's words: where it is, what it waits for, why it failed.
 */

const STATE_WORDS: Record<string, string> = {
  new: "new",
  pending: "waiting for a node",
  assigned: "assigned",
  accepted: "accepted",
  preparing: "preparing (its image)",
  ready: "ready to start",
  starting: "starting (until its healthcheck passes, if it has one)",
  running: "running",
  complete: "completed",
  shutdown: "stopped",
  failed: "failed",
  rejected: "rejected by its node",
  remove: "being removed",
  orphaned: "lost with its node",
};

/** "task 2 on worker-1: failed: task: non-zero exit (3)" */
export function taskLine(t: TaskSummary, nodeName: (id: string) => string): string {
  const where = t.nodeId ? ` on ${nodeName(t.nodeId)}` : "";
  const slot = t.slot !== undefined ? `task ${t.slot}` : "task";
  const state = STATE_WORDS[t.state] ?? t.state;
  const why = t.err ? `: ${t.err}` : t.state === "pending" && t.message ? `: ${t.message}` : "";
  const exit =
    t.exitCode !== undefined && t.exitCode !== 0 && !t.err?.includes(String(t.exitCode))
      ? ` (exit ${t.exitCode})`
      : "";
  return `${slot}${where}: ${state}${why}${exit}`;
}

/** Whether a task has ended for good (it will not run again as itself). */
export function taskEnded(t: TaskSummary): boolean {
  return ["complete", "shutdown", "failed", "rejected", "orphaned", "remove"].includes(t.state);
}

/** Whether a task's container has stopped for good (a task marked "remove" may still run). */
export function taskStopped(t: TaskSummary): boolean {
  return ["complete", "shutdown", "failed", "rejected", "orphaned"].includes(t.state);
}
