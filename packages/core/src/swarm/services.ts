import { setTimeout as sleep } from "node:timers/promises";
import { RolledBackError, StepFailedError } from "../errors.js";
import type { ExecuteResult } from "../execute/index.js";
import type { StepControls } from "../execute/scheduler.js";
import { passStartGate, serviceOf } from "../execute/start-gate.js";
import { snapshotHash } from "../hash.js";
import { inputDigests } from "../inputs.js";
import { LABEL } from "../labels.js";
import type { ResolvedService } from "../model.js";
import type { ActionOf, Wait } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import { updateOrder } from "./plan-nodes.js";
import { currentFiles, ensureConfigs, swarmImage } from "./prepare.js";
import { type SwarmReadiness, SwarmRollbackError } from "./readiness.js";
import type { SwarmRun } from "./run.js";
import { serviceSpec, swarmSnapshot } from "./spec.js";
import { taskStopped } from "./words.js";

/*
 * A stack service as a swarm service: made once its dependencies are ready (on a swarm, making a
 * service starts it), rolled by the swarm when it changes (start-first or stop-first, rolled back
 * by the swarm when a new task fails, and by shctl when the new tasks do not get ready in time),
 * restarted by a forced update, removed once its tasks are gone.
 */

export interface SwarmOps {
  run: SwarmRun;
  ready: SwarmReadiness;
}

export type { ExecuteResult };

/** Waits for the plan's gate before a service is made or rolled: its dependencies' actions, then readiness. */
export function swarmGate(
  ops: SwarmOps,
  resource: string,
  gate: { startAfter: string[]; waitFor: Wait[] },
  controls: StepControls,
): Promise<boolean> {
  return passStartGate(ops.run, ops.ready, resource, gate, controls, "ready");
}

/** The spec to send for a service now, with its snapshot. */
async function specNow(
  ops: SwarmOps,
  s: ResolvedService,
  order: "start-first" | "stop-first",
  forceUpdate: number,
) {
  const { run } = ops;
  const [image, files, inputs] = await Promise.all([
    swarmImage(run, s.image),
    currentFiles(run, s),
    inputDigests(s.inputs, run.read),
  ]);
  const snapshot = swarmSnapshot(s, image, inputs, files);
  const configs = await ensureConfigs(run, files);
  return {
    spec: serviceSpec(run.stack, s, { image: image.run, configs, snapshot, order, forceUpdate }),
    snapshot,
  };
}

export async function createSwarmService(
  ops: SwarmOps,
  a: ActionOf<"service.create">,
  controls: StepControls,
): Promise<boolean> {
  const t0 = Date.now();
  const { run } = ops;
  const s = serviceOf(run, a.target);
  const resource = resourceKey(a.resource);
  if (!(await swarmGate(ops, resource, a, controls))) return false;
  const { spec } = await specNow(ops, s, updateOrder(run.stack, s).order, 0);
  run.phase(resource, "creating");
  const id = await run.engine.createService(spec);
  run.serviceIds.set(s.name, id);
  run.phase(
    resource,
    "running",
    `${s.replicas ?? 1} task${(s.replicas ?? 1) === 1 ? "" : "s"} scheduled`,
    t0,
  );
  return true;
}

export async function updateSwarmService(
  ops: SwarmOps,
  a: ActionOf<"service.update">,
  controls: StepControls,
): Promise<boolean> {
  const t0 = Date.now();
  const { run } = ops;
  const s = serviceOf(run, a.target);
  const resource = resourceKey(a.resource);
  if (!(await swarmGate(ops, resource, a, controls))) return false;
  const current = await run.engine.inspectService(a.serviceId);
  if (!current) throw new StepFailedError(resource, "update", "its swarm service is gone; run apply again");
  const force = forceUpdateOf(current.spec);
  const { spec, snapshot } = await specNow(ops, s, a.order, force);
  if (a.onlyIfChanged && current.labels[LABEL.hash] === snapshotHash(snapshot)) {
    run.phase(resource, "unchanged", "its image and files came out the same", t0);
    return true;
  }
  run.phase(resource, "updating", a.cause === "scale" ? "scaling" : `rolling (${a.order})`);
  await run.engine.updateService(a.serviceId, current.version, spec);
  await waitRolled(ops, s, a.serviceId, resource, a.cause !== "scale");
  run.phase(resource, "done", a.cause === "scale" ? "scaled" : "updated", t0);
  return true;
}

export async function restartSwarmService(ops: SwarmOps, a: ActionOf<"service.restart">): Promise<void> {
  const t0 = Date.now();
  const { run } = ops;
  const s = serviceOf(run, a.target);
  const resource = resourceKey(a.resource);
  const current = await run.engine.inspectService(a.serviceId);
  if (!current) throw new StepFailedError(resource, "restart", "its swarm service is gone; run apply again");
  run.phase(resource, "restarting");
  const spec = structuredClone(current.spec) as { TaskTemplate?: { ForceUpdate?: number } };
  spec.TaskTemplate = { ...(spec.TaskTemplate ?? {}), ForceUpdate: forceUpdateOf(current.spec) + 1 };
  await run.engine.updateService(a.serviceId, current.version, spec as Record<string, unknown>);
  await waitRolled(ops, s, a.serviceId, resource, true);
  run.phase(resource, "done", "restarted", t0);
}

/**
 * The rolled service's readiness; when its new tasks do not get ready, the previous spec goes back
 * (the swarm may have done it already) and the failure says so.
 */
async function waitRolled(
  ops: SwarmOps,
  s: ResolvedService,
  id: string,
  resource: string,
  rollBack: boolean,
): Promise<void> {
  try {
    await ops.ready.waitOwn(s);
  } catch (err) {
    if (!rollBack) throw err;
    if (err instanceof SwarmRollbackError) {
      throw new RolledBackError(s.name, err.message.replace(`${resource}: update failed: `, ""), {
        details: err.details,
        cause: err,
      });
    }
    const why = (err as Error)?.message ?? String(err);
    await rollBackNow(ops, id, resource);
    throw new RolledBackError(s.name, why.replace(`${resource}: `, ""), {
      details: (err as { details?: string[] }).details ?? [],
      cause: err,
    });
  }
}

/** Asks the swarm to go back to the service's previous spec, and waits until it has. */
async function rollBackNow(ops: SwarmOps, id: string, resource: string): Promise<void> {
  const { run } = ops;
  const current = await run.engine.inspectService(id);
  if (!current) return;
  run.phase(resource, "updating", "rolling back to its previous spec");
  await run.engine.updateService(id, current.version, current.spec, { rollback: true });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const now = await run.engine.inspectService(id);
    const state = now?.updateStatus?.state;
    if (!now || state === "rollback_completed" || state === "rollback_paused") return;
    await sleep(500);
  }
}

function forceUpdateOf(spec: Record<string, unknown>): number {
  return Number((spec.TaskTemplate as { ForceUpdate?: number } | undefined)?.ForceUpdate ?? 0);
}

export async function removeSwarmService(run: SwarmRun, a: ActionOf<"service.remove">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  run.phase(resource, "removing");
  await run.engine.removeService(a.serviceId);
  await waitTasksGone(run, a.serviceId);
  run.phase(resource, "done", "removed", t0);
}

/**
 * Waits until the swarm has no task of a removed service left (its containers are stopped), so its
 * networks and configs can go; up to the longest stop grace period the stack has, and a minute.
 */
export async function waitTasksGone(run: Pick<SwarmRun, "engine" | "stack">, id: string): Promise<void> {
  const grace = Math.max(0, ...Object.values(run.stack.services).map((s) => s.stopGraceMs));
  const deadline = Date.now() + grace + 60_000;
  for (let delay = 200; Date.now() < deadline; delay = Math.min(1000, delay * 2)) {
    // A task that ended (its container stopped) counts as gone: the swarm reaps it later.
    const left = (await run.engine.listTasks()).filter((t) => t.serviceId === id && !taskStopped(t));
    if (left.length === 0) return;
    await sleep(delay);
  }
}
