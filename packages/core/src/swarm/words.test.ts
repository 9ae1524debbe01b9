import { describe, expect, it } from "vitest";
import type { TaskSummary } from "../engine/index.js";
import { waitingLine } from "./words.js";

const task = (over: Partial<TaskSummary>): TaskSummary => ({
  id: "t",
  serviceId: "s",
  slot: 1,
  nodeId: "n2",
  desiredState: "running",
  state: "running",
  message: "",
  err: undefined,
  containerId: undefined,
  exitCode: undefined,
  timestamp: "2026-11-30T09:00:00Z",
  createdAt: "2026-11-30T09:00:00Z",
  labels: {},
  addresses: [],
  ...over,
});
const nodes = (id: string) => ({ n2: "node-2" })[id] ?? id;

describe("a swarm service's waiting line", () => {
  it("a crash-looping service says its failures, not the task starting again", () => {
    const tasks = [
      task({ state: "starting", timestamp: "2026-11-30T09:00:09Z" }),
      task({
        state: "failed",
        err: "task: non-zero exit (1)",
        exitCode: 1,
        timestamp: "2026-11-30T09:00:06Z",
      }),
      task({
        state: "failed",
        err: "task: non-zero exit (2)",
        exitCode: 2,
        timestamp: "2026-11-30T09:00:03Z",
      }),
    ];
    expect(waitingLine(0, 1, false, tasks, nodes)).toBe(
      "0/1 running; 2 tasks failed, the last: task 1 on node-2: failed: task: non-zero exit (1)",
    );
  });

  it("otherwise the newest task that is not running, or the counts alone", () => {
    const pending = task({
      state: "pending",
      nodeId: "",
      message: "no suitable node (scheduling constraints)",
    });
    expect(waitingLine(0, 2, true, [pending], nodes)).toMatch(
      /^0\/2 running, updating; task 1: .*no suitable node \(scheduling constraints\)$/,
    );
    expect(waitingLine(1, 1, false, [task({})], nodes)).toBe("1/1 running");
  });
});
