import { stat } from "node:fs/promises";
import { createBody, ownershipLabels } from "../container-config.js";
import { ConflictError, EngineError, StepFailedError } from "../errors.js";
import { serviceSnapshot, snapshotHash } from "../hash.js";
import { inputDigests } from "../inputs.js";
import { LABEL } from "../labels.js";
import type { ContainerSpec, ResolvedService } from "../model.js";
import type { ActionOf, Wait } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import type { RunContext } from "./context.js";
import type { Readiness } from "./readiness.js";
import type { StepControls } from "./scheduler.js";
import { passStartGate, serviceOf } from "./start-gate.js";

/*
 * A service's container: created as soon as its image and directories exist, started once its
 * dependencies are (healthy), replaced, updated in place, started, restarted or removed.
 */

export interface ContainerOps {
  ctx: RunContext;
  ready: Readiness;
  /** Records the container made for a service (so the next plan needs no inspect of it). */
  record(service: string, id: string, restart: string): void;
}

/**
 * Waits for what the plan says must come before a start: its dependencies' actions, then their
 * health (or that they run), without holding a slot. False when the run stopped meanwhile.
 */
export function startGate(
  ops: ContainerOps,
  resource: string,
  gate: { startAfter: string[]; waitFor: Wait[] },
  controls: StepControls,
): Promise<boolean> {
  return passStartGate(ops.ctx, ops.ready, resource, gate, controls, "healthy");
}

export async function createService(
  ops: ContainerOps,
  a: ActionOf<"container.create">,
  controls: StepControls,
): Promise<boolean> {
  const t0 = Date.now();
  const s = serviceOf(ops.ctx, a.target);
  const id = await makeContainer(ops, a, s);
  if (!(await startGate(ops, resourceKey(a.resource), a, controls))) return false;
  await startService(ops, a, s, id, t0);
  return true;
}

/** Creates the container (stopped), connected to all its networks, named as the spec says or `name`; its ID. */
export async function makeContainer(
  ops: ContainerOps,
  a: ActionOf<"container.create" | "container.recreate">,
  s: ResolvedService,
  name: string = s.containerName,
): Promise<string> {
  const { ctx } = ops;
  const resource = resourceKey(a.resource);
  await checkMountSources(resource, s.mounts);
  const imageId = await ctx.imageId(s.image);
  const ref = ctx.stack.images[s.image]?.ref ?? s.image;
  const snap = serviceSnapshot(s, imageId, ref, await inputDigests(s.inputs, ctx.read));
  ctx.phase(resource, "creating");
  const body = createBody(ctx.stack, name, s, ownershipLabels(ctx.stack, s, snap), s);
  const id = await createOrConflict(ctx, resource, body);
  ctx.containerIds.set(s.name, id);
  await connectOtherNetworks(ctx, id, s.networks);
  ops.record(s.name, id, s.restart);
  return id;
}

export async function startService(
  ops: ContainerOps,
  a: { resource: ActionOf<"container.create">["resource"] },
  s: ResolvedService,
  id: string,
  t0: number,
): Promise<void> {
  const resource = resourceKey(a.resource);
  ops.ctx.phase(resource, "starting");
  try {
    await ops.ctx.engine.startContainer(id);
  } catch (err) {
    throw new StepFailedError(resource, "start", (err as Error).message, {
      cause: err,
      hint: startHint(String((err as Error).message), s.name),
    });
  }
  ops.ctx.phase(resource, "running", undefined, t0);
}

/**
 * The plan's condition for a recreate planned only because its image or inputs were about to be
 * built, pulled or rewritten: true (and the container started if stopped) when they came out the
 * same, so the container as it is matches what would be created.
 */
export async function unchangedAfterAll(
  ops: ContainerOps,
  containerId: string,
  s: ResolvedService,
): Promise<boolean> {
  const { ctx } = ops;
  const imageId = await ctx.imageId(s.image);
  const ref = ctx.stack.images[s.image]?.ref ?? s.image;
  const snap = serviceSnapshot(s, imageId, ref, await inputDigests(s.inputs, ctx.read));
  const current = await ctx.engine.inspectContainer(containerId);
  if (!current || current.labels[LABEL.hash] !== snapshotHash(snap) || current.imageId !== imageId)
    return false;
  if (current.state !== "running") await ctx.engine.startContainer(current.id);
  return true;
}

export async function updateService(ops: ContainerOps, a: ActionOf<"container.update">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  ops.ctx.phase(resource, "updating");
  await ops.ctx.engine.updateContainer(a.containerId, { RestartPolicy: { Name: a.restartPolicy } });
  ops.record(a.target, a.containerId, a.restartPolicy);
  ops.ctx.phase(resource, "done", "updated in place", t0);
}

export async function startExisting(
  ops: ContainerOps,
  a: ActionOf<"container.start">,
  controls: StepControls,
): Promise<boolean> {
  const t0 = Date.now();
  const s = serviceOf(ops.ctx, a.target);
  if (!(await startGate(ops, resourceKey(a.resource), a, controls))) return false;
  await startService(ops, a, s, a.containerId, t0);
  return true;
}

export async function restartService(ops: ContainerOps, a: ActionOf<"container.restart">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const s = serviceOf(ops.ctx, a.target);
  ops.ctx.phase(resource, "restarting");
  await ops.ctx.engine.restartContainer(a.containerId, Math.ceil(s.stopGraceMs / 1000));
  ops.ctx.phase(resource, "running", undefined, t0);
}

export async function removeContainer(ops: ContainerOps, a: ActionOf<"container.remove">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  ops.ctx.phase(resource, "removing");
  await ops.ctx.engine.stopContainer(a.containerId);
  await ops.ctx.engine.removeContainer(a.containerId);
  ops.ctx.phase(resource, "done", "removed", t0);
}

/** Creates a container; a name held by a container shctl does not own is a conflict. */
export async function createOrConflict(
  ctx: RunContext,
  resource: string,
  body: Record<string, unknown>,
): Promise<string> {
  try {
    return await ctx.engine.createContainer(body);
  } catch (err) {
    if (err instanceof EngineError && err.statusCode === 409) {
      throw new ConflictError(
        `${resource}: the name ${String(body.name)} is taken by a container shctl does not own`,
        {
          cause: err,
          hint: `remove or rename it (docker rm -f ${String(body.name)}), then apply again`,
        },
      );
    }
    throw err;
  }
}

/** A container is created on its first network; the others are connected after. */
export async function connectOtherNetworks(
  ctx: RunContext,
  id: string,
  networks: ContainerSpec["networks"],
): Promise<void> {
  for (const n of networks.slice(1)) {
    const dockerName = ctx.stack.networks[n.name]?.dockerName;
    if (dockerName) await ctx.engine.connectNetwork(dockerName, id, n.aliases);
  }
}

/** A mounted file must exist: the engine would make an empty directory in its place. */
export async function checkMountSources(resource: string, mounts: ContainerSpec["mounts"]): Promise<void> {
  for (const m of mounts) {
    if (m.type !== "bind" || m.kind !== "file") continue;
    const ok = await stat(m.hostPath).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!ok) {
      throw new StepFailedError(
        resource,
        "create",
        `the file ${m.hostPath} (mounted at ${m.target}) does not exist`,
        {
          hint: "create it, or let a job that this service depends on generate it",
        },
      );
    }
  }
}

/** What to do about a container that the engine would not start. */
function startHint(message: string, service: string): string {
  if (/port is already allocated|address already in use/i.test(message))
    return "another process or container uses that host port: free it or change the port";
  if (/setting rlimit/i.test(message))
    return `the engine may not raise a limit above its own: lower services.${service}.ulimits, or raise the Docker daemon's (e.g. LimitNOFILE in its systemd unit, default-ulimits in daemon.json)`;
  return `check \`shctl logs ${service}\``;
}
