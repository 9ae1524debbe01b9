import { chown } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createBody, ownershipLabels } from "../container-config.js";
import { formatDuration } from "../duration.js";
import { engineFacts } from "../engine-facts.js";
import { isShctlError, JobFailedError, StepFailedError } from "../errors.js";
import { jobKey } from "../hash.js";
import { runHelperCommand } from "../helper-container.js";
import { isAccessError } from "../helper-files.js";
import { inputDigests } from "../inputs.js";
import { LABEL } from "../labels.js";
import type { ResolvedJob } from "../model.js";
import type { ActionOf } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import { connectionsOf } from "../probe.js";
import type { RunContainerOptions } from "../schema.js";
import { JOB_LOG_LINES, recordJob, saveJobLog } from "../state.js";
import { timeoutSignal } from "../timeout.js";
import {
  type ContainerOps,
  checkMountSources,
  connectOtherNetworks,
  createOrConflict,
  startGate,
} from "./containers.js";
import { cleanupAfter, type RunContext } from "./context.js";
import type { StepControls } from "./scheduler.js";

/*
 * One-shot jobs: a function run by shctl, or a container run to completion. A job that completes
 * is recorded with its key (so it does not run again); its log is kept for `shctl logs`.
 */

const LOG_TAIL = 50;
/** A log tail long enough to mean "from the start". */
const ALL_LINES = 1_000_000;

export async function runJob(
  ops: ContainerOps,
  a: ActionOf<"job.run">,
  controls: StepControls,
): Promise<boolean> {
  const job = ops.ctx.stack.jobs[a.target];
  if (!job) throw new StepFailedError(resourceKey(a.resource), "run", "it is not in the stack");
  if (!(await startGate(ops, resourceKey(a.resource), a, controls))) return false;
  if (job.run) await runFunctionJob(ops.ctx, a, job);
  else await runContainerJob(ops.ctx, a, job);
  return true;
}

/** A function job, run by this process (exported for the swarm target, which runs them the same way). */
export async function runFunctionJob(
  ctx: RunContext,
  a: ActionOf<"job.run">,
  job: ResolvedJob,
): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const run = job.run;
  if (!run) return;
  ctx.phase(resource, "running");
  const key = jobKey(job, undefined, undefined, await inputDigests(job.inputs, ctx.read));
  const timeout = timeoutSignal(job.timeoutMs);
  const signal = AbortSignal.any([ctx.interruptSignal, timeout.signal]);
  const lines: string[] = [];
  let outcome = "was interrupted";
  try {
    // A job that ignores its signal still ends at its timeout (or interrupt): it is not waited for.
    await untilAborted(
      signal,
      run({
        stack: ctx.stack.name,
        dataRoot: ctx.stack.dataRoot,
        projectDir: ctx.stack.projectDir,
        signal,
        log: (line) => {
          const clean = ctx.redact(line);
          lines.push(clean);
          if (lines.length > 2 * JOB_LOG_LINES) lines.splice(0, lines.length - JOB_LOG_LINES);
          ctx.emit({ type: "output", resource, line: clean });
        },
        engineInfo: () => engineFacts(ctx.engine, ctx.stack.name),
        reachMode: (await ctx.reach().describe()).summary,
        ...connectionsOf(ctx.reach(), signal),
        address: (service, port) => ctx.reach().address(service, port),
        runContainer: (o) => runOneOff(ctx, job.name, o),
        runHelper: (args) => runHelperCommand(ctx.engine, { stack: ctx.stack.name, args }),
        readFile: ctx.read,
        chown: (file, uid, gid) => chownAsRoot(ctx, file, uid, gid),
      }),
    );
    outcome = "completed";
  } catch (err) {
    const message = ctx.redact(String((err as Error)?.message ?? err));
    outcome = ctx.interruptSignal.aborted
      ? "was interrupted"
      : timeout.signal.aborted
        ? `was stopped after its ${formatDuration(job.timeoutMs)} timeout`
        : `failed: ${message}`;
    if (isShctlError(err)) throw err;
    if (timeout.signal.aborted && !ctx.interruptSignal.aborted)
      throw new StepFailedError(
        resource,
        "run",
        `still running after ${formatDuration(job.timeoutMs)}; stopped`,
        {
          cause: err,
          hint: `if it is only slow, raise jobs.${job.name}.timeout`,
        },
      );
    throw new StepFailedError(resource, "run", message, {
      cause: err,
      hint: "fix the cause above, then run apply again: the job re-runs",
    });
  } finally {
    timeout.clear();
    await keepLog(ctx, resource, job.name, outcome, lines);
  }
  await recordJob(ctx.stack.dataRoot, job.name, key);
  ctx.phase(resource, "done", "completed", t0);
}

async function runContainerJob(ctx: RunContext, a: ActionOf<"job.run">, job: ResolvedJob): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const spec = job.container;
  if (!spec) return;
  const imageId = await ctx.imageId(spec.image);
  const ref = ctx.stack.images[spec.image]?.ref ?? spec.image;
  const key = jobKey(job, imageId, ref, await inputDigests(job.inputs, ctx.read));
  // The plan's condition: planned only because its image was about to be built or pulled.
  if (a.onlyIfKeyChanged && a.recordedKey === key) {
    ctx.phase(resource, "unchanged", "the image came out the same", t0);
    return;
  }
  await checkMountSources(resource, spec.mounts);
  ctx.phase(resource, "creating");
  const labels = ownershipLabels(ctx.stack, job, { job: key }, { [LABEL.jobKey]: key });
  const id = await createOrConflict(ctx, resource, createBody(ctx.stack, job.containerName, spec, labels));
  const following = new AbortController();
  let outcome: string | undefined;
  try {
    await connectOtherNetworks(ctx, id, spec.networks);
    ctx.phase(resource, "running");
    const code = await waitForExit(ctx, resource, job, id, following.signal, (o) => {
      outcome = o;
    });
    outcome = code === 0 ? "completed" : `failed with exit code ${code}`;
    if (code !== 0) throw new JobFailedError(job.name, code, await logTail(ctx, id));
    await recordJob(ctx.stack.dataRoot, job.name, key);
  } catch (err) {
    // Not an exit code or a timeout (set above): the engine failed to run it.
    outcome ??= `failed: ${ctx.redact(String((err as Error)?.message ?? err))}`;
    throw err;
  } finally {
    following.abort();
    // Its container goes now: keep the log of this run for `shctl logs JOB` (when the engine
    // gives it; otherwise the previous run's saved log stays).
    const lines = await ctx.engine.containerLogs(id, JOB_LOG_LINES).catch(() => undefined);
    if (lines) await keepLog(ctx, resource, job.name, outcome ?? "was interrupted", lines.map(ctx.redact));
    await cleanupAfter(ctx, `${resource}: could not remove its container`, () =>
      ctx.engine.removeContainer(id),
    );
  }
  ctx.phase(resource, "done", "completed", t0);
}

/** Starts the job's container and waits for its exit code, streaming its log; stops it at its timeout. */
async function waitForExit(
  ctx: RunContext,
  resource: string,
  job: ResolvedJob,
  id: string,
  following: AbortSignal,
  setOutcome: (o: string) => void,
): Promise<number> {
  const timeout = timeoutSignal(job.timeoutMs);
  const waiting = ctx.engine.waitContainer(id, timeout.signal);
  await ctx.engine.startContainer(id);
  // Its log lines as they come (a migration can run for minutes): the live view shows the last.
  const streamed = ctx.engine
    .followLogs(
      id,
      ALL_LINES,
      (line) => ctx.emit({ type: "output", resource, line: ctx.redact(line) }),
      following,
    )
    .catch(() => undefined); // only a view: the exit code and the log tail decide
  try {
    const code = await waiting;
    // The stream ends with the container; wait briefly for its last lines.
    await Promise.race([streamed, sleep(1000)]);
    return code;
  } catch (err) {
    if (!timeout.signal.aborted) throw err;
    setOutcome(`was stopped after its ${formatDuration(job.timeoutMs)} timeout`);
    await ctx.engine.killContainer(id);
    throw new StepFailedError(
      resource,
      "run",
      `still running after ${Math.round(job.timeoutMs / 1000)}s; stopped`,
      {
        details: ["last log lines:", ...(await logTail(ctx, id)).map((l) => `  ${l}`)],
        hint: `if it is only slow, raise jobs.${job.name}.timeout`,
      },
    );
  } finally {
    timeout.clear();
  }
}

async function logTail(ctx: RunContext, id: string): Promise<string[]> {
  return (await ctx.engine.containerLogs(id, LOG_TAIL).catch(() => [])).map(ctx.redact);
}

/** Saves a job run's log lines (already redacted); a failure to save is a warning, not an error. */
export async function keepLog(
  ctx: RunContext,
  resource: string,
  job: string,
  outcome: string,
  lines: string[],
) {
  try {
    await saveJobLog(ctx.stack.dataRoot, job, {
      outcome,
      finishedAt: new Date().toISOString(),
      lines: lines.slice(-JOB_LOG_LINES),
    });
  } catch (err) {
    ctx.emit({
      type: "warning",
      message: `${resource}: could not save its log for \`shctl logs\`: ${(err as Error).message}`,
    });
  }
}

/** A function job's one-off container of a stack image, run to completion and removed. */
async function runOneOff(ctx: RunContext, job: string, o: RunContainerOptions) {
  const img = ctx.stack.images[o.image];
  const ref = img?.ref ?? o.image;
  const first = Object.values(ctx.stack.networks)[0];
  const id = await ctx.engine.createContainer({
    Image: ref,
    ...(o.command ? { Cmd: o.command } : {}),
    ...(o.entrypoint ? { Entrypoint: o.entrypoint } : {}),
    ...(o.user ? { User: o.user } : {}),
    Env: Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: {
      [LABEL.stack]: ctx.stack.name,
      [LABEL.project]: ctx.stack.dataRoot,
      [LABEL.kind]: "helper",
      [LABEL.name]: job,
    },
    HostConfig: {
      Binds: (o.mounts ?? []).map(
        (m) => `${path.resolve(ctx.stack.dataRoot, m.source)}:${m.target}:${m.readOnly ? "ro" : "rw"}`,
      ),
      NetworkMode: o.network === false || !first ? "none" : first.dockerName,
    },
  });
  try {
    const waiting = ctx.engine.waitContainer(id);
    await ctx.engine.startContainer(id);
    const exitCode = await waiting;
    const [stdout, stderr] = await Promise.all([
      ctx.engine.containerLogs(id, 0, { stdout: true, stderr: false }),
      ctx.engine.containerLogs(id, 0, { stdout: false, stderr: true }),
    ]);
    return { exitCode, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
  } finally {
    await cleanupAfter(ctx, `job ${job}: could not remove a one-off container`, () =>
      ctx.engine.removeContainer(id),
    );
  }
}

/** chown, or where this user may not, the same through a root helper container. */
async function chownAsRoot(ctx: RunContext, file: string, uid: number, gid: number): Promise<void> {
  try {
    await chown(file, uid, gid);
    return;
  } catch (err) {
    if (!isAccessError(err)) throw err;
  }
  const r = await runHelperCommand(ctx.engine, {
    stack: ctx.stack.name,
    args: ["chown", `${uid}:${gid}`, `/target/${path.basename(file)}`],
    binds: [`${path.dirname(file)}:/target`],
  });
  if (r.exitCode !== 0) throw new Error(`could not give ${file} to ${uid}:${gid}: ${r.stderr.trim()}`);
}

/** `p`, or a rejection with the signal's reason once it aborts, whichever comes first. */
function untilAborted<T>(signal: AbortSignal, p: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/**
 * A job whose container exited 0 with the planned key before shctl could record it (shctl or the
 * engine stopped in between): its run is recorded, its log kept, its container removed.
 */
export async function recordFinishedJob(ctx: RunContext, a: ActionOf<"job.record">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const lines = await ctx.engine.containerLogs(a.containerId, JOB_LOG_LINES).catch(() => undefined);
  if (lines) await keepLog(ctx, resource, a.target, "completed", lines.map(ctx.redact));
  await recordJob(ctx.stack.dataRoot, a.target, a.jobKey);
  await cleanupAfter(ctx, `${resource}: could not remove its container`, () =>
    ctx.engine.removeContainer(a.containerId),
  );
  ctx.phase(resource, "done", "completed in an earlier run (recorded now)", t0);
}
