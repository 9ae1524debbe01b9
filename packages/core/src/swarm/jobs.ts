import { setTimeout as sleep } from "node:timers/promises";
import { formatDuration } from "../duration.js";
import { JobFailedError, StepFailedError } from "../errors.js";
import { cleanupAfter } from "../execute/context.js";
import { keepLog, runFunctionJob } from "../execute/jobs.js";
import type { StepControls } from "../execute/scheduler.js";
import { jobKey } from "../hash.js";
import { inputDigests } from "../inputs.js";
import type { ResolvedJob } from "../model.js";
import type { ActionOf } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import { JOB_LOG_LINES, recordJob } from "../state.js";
import { currentFiles, ensureConfigs, swarmImage } from "./prepare.js";
import { type SwarmOps, swarmGate, waitTasksGone } from "./services.js";
import { jobServiceSpec } from "./spec.js";
import { taskEnded, taskLine } from "./words.js";

/*
 * Jobs on a swarm: a function job runs in this process as on one engine (its connections reach
 * the tasks over the overlay network); a container job runs as a one-off swarm job service (one
 * task, never restarted) on whichever node it is placed, is recorded with its key once it
 * completed, keeps its log for `shctl logs`, and is removed.
 */

export async function runSwarmJob(
  ops: SwarmOps,
  a: ActionOf<"job.run">,
  controls: StepControls,
): Promise<boolean> {
  const { run } = ops;
  const job = run.stack.jobs[a.target];
  if (!job) throw new StepFailedError(resourceKey(a.resource), "run", "it is not in the stack");
  if (!(await swarmGate(ops, resourceKey(a.resource), a, controls))) return false;
  if (job.run) await runFunctionJob(run, a, job);
  else await runJobService(ops, a, job);
  return true;
}

async function runJobService(ops: SwarmOps, a: ActionOf<"job.run">, job: ResolvedJob): Promise<void> {
  const t0 = Date.now();
  const { run } = ops;
  const resource = resourceKey(a.resource);
  const spec = job.container;
  if (!spec) return;
  const [image, files, inputs] = await Promise.all([
    swarmImage(run, spec.image),
    currentFiles(run, spec),
    inputDigests(job.inputs, run.read),
  ]);
  const key = jobKey(job, image.identity ?? undefined, image.ref, inputs);
  if (a.onlyIfKeyChanged && a.recordedKey === key) {
    run.phase(resource, "unchanged", "the image came out the same", t0);
    return;
  }
  const configs = await ensureConfigs(run, files);
  run.phase(resource, "creating");
  const id = await run.engine.createService(
    jobServiceSpec(run.stack, job, spec, { image: image.run, configs, jobKey: key }),
  );
  const following = new AbortController();
  let outcome = "was interrupted";
  try {
    run.phase(resource, "running");
    void run.engine
      .followServiceLogs(
        id,
        0,
        (line) => run.emit({ type: "output", resource, line: run.redact(line) }),
        following.signal,
      )
      .catch(() => undefined); // only a view: the task's end and the log tail decide
    const end = await waitJobTask(ops, job, id, resource);
    outcome = end.outcome;
    if (end.exitCode !== 0) {
      const tail = (await run.engine.serviceLogs(id, 50).catch(() => [])).map(run.redact);
      if (end.exitCode !== undefined) throw new JobFailedError(job.name, end.exitCode, tail);
      throw new StepFailedError(resource, "run", end.outcome, {
        details: tail.length > 0 ? ["last log lines:", ...tail.map((l) => `  ${l}`)] : [],
        hint: "the task could not run on its node: fix the cause above, then run apply again",
      });
    }
    await recordJob(run.stack.dataRoot, job.name, key);
  } finally {
    following.abort();
    const lines = await run.engine.serviceLogs(id, JOB_LOG_LINES).catch(() => undefined);
    if (lines) await keepLog(run, resource, job.name, outcome, lines.map(run.redact));
    await cleanupAfter(run, `${resource}: could not remove its job service`, async () => {
      await run.engine.removeService(id);
      await waitTasksGone(run, id);
    });
  }
  run.phase(resource, "done", "completed", t0);
}

/** Until the job's task ended (or its timeout): its exit code (undefined when it never ran) and how it ended. */
async function waitJobTask(
  ops: SwarmOps,
  job: ResolvedJob,
  id: string,
  resource: string,
): Promise<{ exitCode: number | undefined; outcome: string }> {
  const { run } = ops;
  const deadline = Date.now() + job.timeoutMs;
  let said = "";
  for (let delay = 200; ; delay = Math.min(1000, delay * 2)) {
    if (run.interruptSignal.aborted) throw run.interruptSignal.reason;
    const tasks = await run.engine.listTasks([id]);
    const t = tasks.find((x) => x.state === "complete") ?? tasks.find(taskEnded) ?? tasks[0];
    if (t && taskEnded(t)) {
      if (t.state === "complete") return { exitCode: 0, outcome: "completed" };
      const line = taskLine(t, (n) => run.nodeName(n));
      return {
        exitCode: t.exitCode,
        outcome: t.exitCode !== undefined ? `failed with exit code ${t.exitCode}` : `failed: ${line}`,
      };
    }
    if (t) {
      const line = taskLine(t, (n) => run.nodeName(n));
      if (line !== said && t.state !== "running") run.phase(resource, "waiting", line);
      said = line;
    }
    if (Date.now() + delay > deadline)
      throw new StepFailedError(
        resource,
        "run",
        `still running after ${formatDuration(job.timeoutMs)}; stopped`,
        {
          hint: `if it is only slow, raise jobs.${job.name}.timeout`,
        },
      );
    await sleep(delay);
  }
}
