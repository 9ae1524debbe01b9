import { RolledBackError, StepFailedError } from "../errors.js";
import type { ResolvedService } from "../model.js";
import type { ActionOf } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import {
  type ContainerOps,
  makeContainer,
  startGate,
  startService,
  unchangedAfterAll,
} from "./containers.js";
import { cleanupAfter } from "./context.js";
import type { StepControls } from "./scheduler.js";

/*
 * Replacing a service's container without losing the service: the old container stays (running
 * beside the new one, or stopped but kept) until the new one is ready; a new one that does not get
 * ready is removed and the old one put back, under its own name.
 */

export async function recreateService(
  ops: ContainerOps,
  a: ActionOf<"container.recreate">,
  controls: StepControls,
): Promise<boolean> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const s = ops.ctx.stack.services[a.target];
  if (!s) throw new StepFailedError(resource, "recreate", "it is not in the stack");
  if (!(await startGate(ops, resource, a, controls))) return false;
  if (a.onlyIfChanged && a.containerId && (await unchangedAfterAll(ops, a.containerId, s))) {
    ops.ctx.phase(resource, "unchanged", "its image and inputs came out the same", t0);
    return true;
  }
  if (!a.containerId) {
    // The old container went earlier (before its network was recreated): only the new one is left.
    await startService(ops, a, s, await makeContainer(ops, a, s), t0);
    return true;
  }
  return a.order === "start-first"
    ? startFirst(ops, a, s, a.containerId, t0)
    : stopFirst(ops, a, s, a.containerId, t0);
}

/** The new container starts beside the old one, under a temporary name; the old one goes once it is ready. */
async function startFirst(
  ops: ContainerOps,
  a: ActionOf<"container.recreate">,
  s: ResolvedService,
  oldId: string,
  t0: number,
): Promise<boolean> {
  const { ctx } = ops;
  const newId = await makeContainer(ops, a, s, `${s.containerName}-next`);
  const ready = await tryNew(ops, a, s, newId, t0);
  if (ready !== true) {
    await cleanupAfter(ctx, `${resourceKey(a.resource)}: could not remove the new container`, () =>
      ctx.engine.removeContainer(newId),
    );
    ctx.containerIds.set(s.name, oldId);
    ops.record(s.name, oldId, s.restart);
    if (ready === "stopped") return false;
    throw rolledBack(s, ready);
  }
  ctx.phase(resourceKey(a.resource), "removing", "the previous container");
  await ctx.engine.stopContainer(oldId, Math.ceil(s.stopGraceMs / 1000));
  await ctx.engine.removeContainer(oldId);
  await ctx.engine.renameContainer(newId, s.containerName);
  return true;
}

/** The old container stops (and steps aside, kept); it comes back if the new one does not get ready. */
async function stopFirst(
  ops: ContainerOps,
  a: ActionOf<"container.recreate">,
  s: ResolvedService,
  oldId: string,
  t0: number,
): Promise<boolean> {
  const { ctx } = ops;
  const resource = resourceKey(a.resource);
  ctx.phase(resource, "stopping");
  await ctx.engine.stopContainer(oldId, Math.ceil(s.stopGraceMs / 1000));
  await ctx.engine.renameContainer(oldId, `${s.containerName}-previous`);
  let newId: string | undefined;
  let ready: true | "stopped" | Error;
  try {
    newId = await makeContainer(ops, a, s);
    ready = await tryNew(ops, a, s, newId, t0);
  } catch (err) {
    ready = err as Error;
  }
  if (ready === true) {
    await ctx.engine.removeContainer(oldId);
    return true;
  }
  // Put the old one back: the new one goes, the old one gets its name again and starts.
  const made = newId;
  if (made)
    await cleanupAfter(ctx, `${resource}: could not remove the new container`, () =>
      ctx.engine.removeContainer(made),
    );
  await ctx.engine.renameContainer(oldId, s.containerName);
  await ctx.engine.startContainer(oldId);
  ctx.containerIds.set(s.name, oldId);
  ops.record(s.name, oldId, s.restart);
  if (ready === "stopped") return false;
  throw rolledBack(s, ready);
}

/** Starts the new container and waits until it is ready: true, "stopped" (the run stopped), or why not. */
async function tryNew(
  ops: ContainerOps,
  a: ActionOf<"container.recreate">,
  s: ResolvedService,
  id: string,
  t0: number,
): Promise<true | "stopped" | Error> {
  try {
    await startService(ops, a, s, id, t0);
    return (await ops.ready.waitOwn(s)) ? true : "stopped";
  } catch (err) {
    return err as Error;
  }
}

function rolledBack(s: ResolvedService, why: Error): RolledBackError {
  const details = (why as { details?: string[] }).details ?? [];
  return new RolledBackError(s.name, `the new container ${why.message.replace(/^service \S+: /, "")}`, {
    details,
    cause: why,
  });
}
