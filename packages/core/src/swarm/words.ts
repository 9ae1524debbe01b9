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

/**
 * A service's waiting line on a swarm: `0/1 running; 3 tasks failed, the last: task 1 on node-2:
 * failed: task: non-zero exit (1)`. A crash-looping service's newest task is usually starting
 * again, so the failures are counted and the latest is said rather than the newest task's state.
 */
export function waitingLine(
  running: number,
  want: number,
  updating: boolean,
  tasks: readonly TaskSummary[],
  nodeName: (id: string) => string,
): string {
  const head = `${running}/${want} running${updating ? ", updating" : ""}`;
  const latest = (a: TaskSummary, b: TaskSummary) =>
    a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : 0;
  const failed = tasks.filter((t) => t.state === "failed" || t.state === "rejected").sort(latest);
  const last = failed[0];
  if (last) {
    const count = failed.length === 1 ? "1 task failed" : `${failed.length} tasks failed, the last`;
    return `${head}; ${count}: ${taskLine(last, nodeName)}`;
  }
  const other = tasks.filter((t) => t.state !== "running").sort(latest)[0];
  return other ? `${head}; ${taskLine(other, nodeName)}` : head;
}
