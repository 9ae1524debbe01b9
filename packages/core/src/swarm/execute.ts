import type { EngineClient } from "../engine/index.js";
import { InterruptedError, isShctlError, StepFailedError } from "../errors.js";
import { createDir } from "../execute/dirs.js";
import { buildImage } from "../execute/images.js";
import type { ExecuteOptions, ExecuteResult } from "../execute/index.js";
import { removeNetwork } from "../execute/networks.js";
import { runPlan } from "../execute/run-plan.js";
import type { StepControls } from "../execute/scheduler.js";
import { networkHash } from "../hash.js";
import { LABEL } from "../labels.js";
import type { ResolvedStack } from "../model.js";
import type { Action, ActionOf, Plan } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import { HOST_ROOT, runHelperTask } from "./helper-task.js";
import { runSwarmJob } from "./jobs.js";
import type { ObservedNode } from "./observe.js";
import { SwarmReadiness } from "./readiness.js";
import { createSwarmRun, type SwarmRun } from "./run.js";
import {
  createSwarmService,
  removeSwarmService,
  restartSwarmService,
  type SwarmOps,
  updateSwarmService,
} from "./services.js";
import { updateSwarmState } from "./state.js";

/*
 * Carries out a swarm plan as it says: the only swarm code that changes the swarm, the registry or
 * a node's disk. The same scheduler as on one engine: each action once the actions it comes after
 * are done, services once their dependencies are ready; on the first failure nothing new begins.
 */

export async function executeSwarm(
  plan: Plan,
  stack: ResolvedStack,
  engine: EngineClient,
  env: { self: string; nodes: ObservedNode[] },
  opts: ExecuteOptions = {},
): Promise<ExecuteResult> {
  const started = Date.now();
  const { done, skipped, failure, interrupted } = await runPlan(
    plan,
    stack,
    opts,
    16,
    (signal, onWaitFailed) => {
      const run = createSwarmRun(
        plan,
        stack,
        engine,
        opts.onEvent ?? (() => {}),
        signal,
        opts.signal ?? new AbortController().signal,
        env.self,
        env.nodes,
      );
      const ops: SwarmOps = { run, ready: new SwarmReadiness(run, onWaitFailed) };
      return {
        ctx: run,
        ready: ops.ready,
        perform: (a, controls) => perform(ops, a, controls),
        close: () => run.close(),
      };
    },
  );
  if (failure) throw asStepError(plan, failure.step, failure.error);
  if (interrupted)
    throw new InterruptedError(
      `interrupted: ${done.length} of ${plan.actions.length} steps done, nothing new was started`,
      { hint: "run apply again to finish; it continues from what the swarm has now" },
    );
  return { done, skipped, durationMs: Date.now() - started };
}

async function perform(ops: SwarmOps, a: Action, controls: StepControls): Promise<boolean | undefined> {
  const { run } = ops;
  switch (a.kind) {
    case "network.create":
      return void (await createOverlay(run, a));
    case "network.remove":
      return void (await removeNetwork(run, a));
    case "image.build":
      return void (await buildImage(run, a));
    case "image.push":
      return void (await pushImage(run, a));
    case "dir.create":
      return void (await createDir(run, a));
    case "node-dir.create":
      return void (await createNodeDir(run, a));
    case "job.run":
      return runSwarmJob(ops, a, controls);
    case "service.create":
      return createSwarmService(ops, a, controls);
    case "service.update":
      return updateSwarmService(ops, a, controls);
    case "service.restart":
      return void (await restartSwarmService(ops, a));
    case "service.remove":
      return void (await removeSwarmService(run, a));
    case "config.remove":
      return void (await removeConfig(run, a));
    case "image.pull":
    case "job.record":
    case "container.create":
    case "container.recreate":
    case "container.update":
    case "container.start":
    case "container.restart":
    case "container.remove":
      throw new Error(`${a.kind} is an action of one engine, not of a swarm`);
    default: {
      const never: never = a;
      throw new Error(`unknown action ${JSON.stringify(never)}`);
    }
  }
}

/** An overlay network every node's tasks share; attachable, so shctl's reach helper can join it. */
async function createOverlay(run: SwarmRun, a: ActionOf<"network.create">): Promise<void> {
  const t0 = Date.now();
  const n = run.stack.networks[a.target];
  const resource = resourceKey(a.resource);
  if (!n) throw new StepFailedError(resource, "create", "it is not in the stack");
  run.phase(resource, "creating");
  await run.engine.createNetwork({
    Name: n.dockerName,
    Driver: "overlay",
    Attachable: true,
    Internal: n.internal,
    CheckDuplicate: true,
    Labels: {
      ...n.labels,
      [LABEL.stack]: run.stack.name,
      [LABEL.project]: run.stack.dataRoot,
      [LABEL.name]: n.name,
      [LABEL.hash]: networkHash(n),
    },
  });
  run.phase(resource, "done", "created (overlay)", t0);
}

/** Tags the image for the stack's registry, pushes it, and records the digest services run it by. */
async function pushImage(run: SwarmRun, a: ActionOf<"image.push">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const id = await run.imageId(a.target);
  run.phase(resource, "pushing", a.pushRef);
  await run.engine.tagImage(a.ref, a.pushRef);
  let digest: string;
  try {
    digest = await run.engine.pushImage(a.pushRef, (line) => run.emit({ type: "output", resource, line }));
  } catch (err) {
    throw new StepFailedError(resource, "push", (err as Error).message, {
      cause: err,
      hint: `check that the registry of ${a.pushRef} answers from this machine (and from every node), and that the engine may push to it (a plain-HTTP registry must be in the engine's insecure-registries)`,
    });
  }
  if (!digest) throw new StepFailedError(resource, "push", "the registry gave no digest");
  run.runRefs.set(a.target, `${a.pushRef}@${digest}`);
  await updateSwarmState(run.stack.dataRoot, (s) => {
    s.pushed[a.target] = { imageId: id, pushRef: a.pushRef, digest };
  });
  run.phase(resource, "done", `pushed ${digest.slice(0, 19)}`, t0);
}

/** Makes a data directory on its node through shctl's helper there, and records where it is. */
async function createNodeDir(run: SwarmRun, a: ActionOf<"node-dir.create">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  run.phase(resource, "creating", `on ${a.nodeName}`);
  const owner = a.owner ? `${a.owner.uid}:${a.owner.gid}` : "0:0";
  const mode = (a.mode ?? 0o755).toString(8).padStart(4, "0");
  const r = await runHelperTask(run.engine, {
    stack: run.stack.name,
    dataRoot: run.stack.dataRoot,
    image: await run.helperImage(),
    nodeId: a.nodeId,
    nodeName: a.nodeName,
    args: ["mkdir", `${HOST_ROOT}${a.target}`, owner, mode],
    what: `make ${a.target}`,
    signal: run.interruptSignal,
  });
  if (r.exitCode !== 0)
    throw new StepFailedError(
      resource,
      "create",
      `on ${a.nodeName}: ${r.output.trim() || `exit ${r.exitCode}`}`,
      {
        hint: `make it there yourself (mkdir -p ${a.target}; chown ${owner}; chmod ${mode}), or use a data root without symbolic links on its path`,
      },
    );
  await updateSwarmState(run.stack.dataRoot, (s) => {
    s.nodeDirs[a.target] = { nodeId: a.nodeId, nodeName: a.nodeName, madeAt: new Date().toISOString() };
  });
  run.phase(resource, "done", `on ${a.nodeName}, owner ${owner}, mode ${mode}`, t0);
}

async function removeConfig(run: SwarmRun, a: ActionOf<"config.remove">): Promise<void> {
  const resource = resourceKey(a.resource);
  run.phase(resource, "removing");
  await run.engine.removeConfig(a.configId);
  run.phase(resource, "done", "removed");
}

function asStepError(plan: Plan, step: string | undefined, err: unknown): unknown {
  if (isShctlError(err)) return err;
  const a = plan.actions.find((x) => x.id === step);
  if (!a) return err;
  return new StepFailedError(resourceKey(a.resource), a.kind, String((err as Error)?.message ?? err), {
    cause: err,
  });
}
