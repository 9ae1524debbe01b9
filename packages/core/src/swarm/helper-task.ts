import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { EngineClient } from "../engine/index.js";
import { StepFailedError } from "../errors.js";
import { LABEL } from "../labels.js";
import { nodeConstraint } from "./names.js";
import { taskEnded, taskLine } from "./words.js";

/*
 * shctl's helper on another node of the swarm: a one-off job service of the helper image pinned to
 * that node (one task, restart none), with the node's root file system at /host (the only path every node has), running one
 * helper command (mkdir, purge) as root. Its image must be on the node or pullable there: pushed
 * to the stack's registry when it has one; otherwise loaded on each node by hand.
 */

/** Where a helper task sees the node's root file system. */
export const HOST_ROOT = "/host";

export interface HelperTaskOptions {
  stack: string;
  dataRoot: string;
  /** The helper image as the node can get it. */
  image: string;
  nodeId: string;
  nodeName: string;
  args: string[];
  /** What it is for, in messages ("make /srv/x/db"). */
  what: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HelperTaskResult {
  exitCode: number;
  output: string;
}

/** Runs the helper command on the node and waits for it; a task that cannot run is an error with why. */
export async function runHelperTask(engine: EngineClient, o: HelperTaskOptions): Promise<HelperTaskResult> {
  const name = `${o.stack}_helper_${randomBytes(4).toString("hex")}`;
  const id = await engine.createService({
    Name: name,
    Labels: {
      [LABEL.stack]: o.stack,
      [LABEL.project]: o.dataRoot,
      [LABEL.kind]: "helper",
      [LABEL.name]: "helper",
      [LABEL.helper]: "true",
    },
    TaskTemplate: {
      ContainerSpec: {
        Image: o.image,
        Args: o.args,
        User: "0:0",
        Mounts: [{ Type: "bind", Source: "/", Target: HOST_ROOT }],
      },
      RestartPolicy: { Condition: "none", MaxAttempts: 0 },
      Placement: { Constraints: [nodeConstraint(o.nodeId)] },
    },
    // One task, never restarted (not mode replicated-job: a removed job's tasks are never reaped).
    Mode: { Replicated: { Replicas: 1 } },
  });
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  let last = "";
  try {
    for (let delay = 200; ; delay = Math.min(1000, delay * 2)) {
      o.signal?.throwIfAborted();
      const tasks = await engine.listTasks([id]);
      const done = tasks.find((t) => t.state === "complete");
      const ended = tasks.find((t) => taskEnded(t) && t.state !== "complete");
      const t = done ?? ended ?? tasks[0];
      if (t) last = taskLine(t, () => o.nodeName);
      if (done || ended) {
        const output = (await engine.serviceLogs(id, 200).catch(() => [])).join("\n");
        const code = done ? 0 : (ended?.exitCode ?? -1);
        if (!done && ended?.exitCode === undefined)
          throw new StepFailedError(
            `node ${o.nodeName}`,
            o.what,
            `shctl's helper could not run there: ${last}`,
            {
              hint: helperHint(ended?.err ?? "", o.image),
            },
          );
        return { exitCode: code, output };
      }
      if (Date.now() + delay > deadline)
        throw new StepFailedError(
          `node ${o.nodeName}`,
          o.what,
          `shctl's helper did not run there in time: ${last}`,
          {
            hint: `is the node up and active (docker node ls)? A drained or down node runs nothing; bring it back and run again`,
          },
        );
      await sleep(delay);
    }
  } finally {
    await engine.removeService(id).catch(() => undefined);
  }
}

function helperHint(err: string, image: string): string {
  if (/no such image|not found|pull access denied|manifest unknown|connection refused/i.test(err))
    return `the node cannot get the helper image ${image}: set swarm.registry (shctl pushes it there), or load it on that node (docker save ${image.split("@")[0]} | docker -H NODE load)`;
  return "see the task's error above; `docker service ps --no-trunc` on a manager shows more";
}
