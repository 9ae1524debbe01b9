import { jobKey, serviceSnapshot } from "../hash.js";
import type { ResolvedJob, ResolvedService, ResolvedStack, StackNode } from "../model.js";
import type { ObservedContainer, ObservedState } from "../observe.js";
import { ids, type PlanBuilder } from "./builder.js";
import { driftOf } from "./fields.js";
import { type Materials, materialsOf } from "./materials.js";
import type { NetworkPlan } from "./networks.js";
import { jobRunCause, jobRunFields, restartTriggers, specChanges, startGate } from "./node-decisions.js";
import { writersOf } from "./order.js";
import type { Action, ActionOf, FieldChange, Resource } from "./types.js";

/*
 * Services and jobs, in dependency order: what each needs (create, recreate, update, start,
 * restart, run) and the gates between its steps. `after` must finish before a container is made;
 * `startAfter` and `waitFor` (its dependencies) before it starts or a job runs, so containers are
 * created as soon as their images and directories exist.
 */

export interface NodeContext {
  stack: ResolvedStack;
  observed: ObservedState;
  b: PlanBuilder;
  m: Materials;
  nets: NetworkPlan;
  primary: Map<string, ObservedContainer>;
  /** Removals that go before any new container (leftovers). */
  leftovers: Action[];
  /** Job containers that exited 0 before their run was recorded, by job. */
  finishedJobs: Map<string, ObservedContainer>;
  /** Services removed before their network is recreated, by name. */
  takedown: Map<string, Action>;
  /** Networks (recreated ones) each service's container is attached to, by service. */
  attachedRecreated: Map<string, string[]>;
  /** The action planned for each service or job so far. */
  nodeAction: Map<string, Action>;
  unchanged: Resource[];
  unready: string[];
}

/** Kinds of a dependency's action that restart dependents with `restart: true`. */
const RESTART_TRIGGERS = new Set(["container.create", "container.recreate", "container.restart", "job.run"]);

/**
 * What must finish before the node's container is created: materials, networks, leftovers, and the
 * jobs of this plan that write its inputs or a file it mounts (its applied hash records the inputs
 * as they are when it is created, and a file mount must exist by then).
 */
function createAfter(node: StackNode, ctx: NodeContext): string[] {
  const spec = node.kind === "service" ? node : node.container;
  const read = new Set([...node.inputs, ...fileMounts(node)]);
  const writers = Object.values(ctx.stack.jobs)
    .filter((j) => j.name !== node.name && j.outputs.some((o) => read.has(o)))
    .map((j) => ctx.nodeAction.get(j.name))
    .filter((a) => a?.kind === "job.run");
  return ids([
    ...materialsOf(node, ctx.m),
    ...(spec?.networks ?? []).map((n) => ctx.nets.created.get(n.name)),
    ...ctx.leftovers,
    ctx.takedown.get(node.name),
    ...writers,
  ]);
}

/** Host paths of the files (not directories) a node's container bind-mounts. */
export function fileMounts(node: StackNode): string[] {
  const spec = node.kind === "service" ? node : node.container;
  return (spec?.mounts ?? []).flatMap((m) => (m.type === "bind" && m.kind === "file" ? [m.hostPath] : []));
}

/**
 * Mounts that cannot be made as they are: a source that leads out of its root through a symbolic
 * link, and a mounted file that does not exist and that no job of the stack writes (the engine
 * would make an empty directory in its place). Each is a conflict; true if there was any.
 */
function missingFiles(node: StackNode, ctx: NodeContext, resource: Resource): boolean {
  let missing = false;
  const spec = node.kind === "service" ? node : node.container;
  for (const m of spec?.mounts ?? []) {
    const realPath = m.type === "bind" ? ctx.observed.escapes[m.hostPath] : undefined;
    if (m.type === "bind" && realPath !== undefined) {
      ctx.b.conflict({
        kind: "mount-escapes-root",
        resource,
        source: m.hostPath,
        realPath,
        root: m.root === "data" ? ctx.stack.dataRoot : ctx.stack.projectDir,
      });
      missing = true;
      continue;
    }
    if (m.type !== "bind" || m.kind !== "file" || ctx.observed.files[m.hostPath]) continue;
    if (Object.values(ctx.stack.jobs).some((j) => j.outputs.includes(m.hostPath))) continue;
    ctx.b.conflict({ kind: "mount-file-missing", resource, path: m.hostPath, target: m.target });
    missing = true;
  }
  return missing;
}

export function planJob(node: ResolvedJob, ctx: NodeContext): void {
  const { stack, observed, b } = ctx;
  const spec = node.container;
  const ident = spec ? ctx.m.identity.get(spec.image) : undefined;
  const pending = spec !== undefined && ident === undefined;
  const key = jobKey(node, ident, spec ? stack.images[spec.image]?.ref : undefined, observed.inputs);
  const done = observed.jobs[node.name];
  const lastRun = observed.jobRuns[node.name];
  const cause = jobRunCause(node, key, done, lastRun, pending);
  const resource: Resource = { type: "job", name: node.name };
  const finished = ctx.finishedJobs.get(node.name);
  if (finished && cause !== "always" && cause !== "image-pending" && finished.jobKey === key) {
    // It ran to completion with this very key, but shctl stopped before recording it: record it.
    const a = b.add<ActionOf<"job.record">>({
      kind: "job.record",
      resource,
      target: node.name,
      after: [],
      jobKey: key,
      containerId: finished.id,
      cause: "finished-unrecorded",
    });
    ctx.nodeAction.set(node.name, a);
    return;
  }
  if (finished) {
    // Its container is left from a run this plan does not record: it goes, as any leftover.
    ctx.leftovers.push(
      b.add<ActionOf<"container.remove">>({
        kind: "container.remove",
        resource,
        target: finished.name,
        after: [],
        containerId: finished.id,
        cause: "stale-job",
        networks: [],
      }),
    );
  }
  if (cause === undefined) {
    ctx.unchanged.push(resource);
    return;
  }
  if (observed.foreignContainers.some((f) => f.name === node.containerName)) {
    b.conflict({ kind: "container-name-taken", resource, name: node.containerName });
    return;
  }
  if (missingFiles(node, ctx, resource)) return;
  const a = b.add<ActionOf<"job.run">>({
    kind: "job.run",
    resource,
    target: node.name,
    after: createAfter(node, ctx),
    ...startGate(node, ctx.nodeAction),
    ...jobRunFields(key, done, lastRun, cause),
  });
  ctx.nodeAction.set(node.name, a);
}

export function planService(node: ResolvedService, ctx: NodeContext): void {
  const { observed, b } = ctx;
  const resource: Resource = { type: "service", name: node.name };
  const c = ctx.primary.get(node.name);
  if (!c) {
    if (observed.foreignContainers.some((f) => f.name === node.containerName)) {
      b.conflict({ kind: "container-name-taken", resource, name: node.containerName });
      return;
    }
    if (missingFiles(node, ctx, resource)) return;
    const a = b.add<ActionOf<"container.create">>({
      kind: "container.create",
      resource,
      target: node.name,
      after: createAfter(node, ctx),
      ...startGate(node, ctx.nodeAction),
      cause: "missing",
    });
    ctx.nodeAction.set(node.name, a);
    return;
  }
  if (planRecreate(node, c, ctx)) return;
  let updated: Action | undefined;
  if (c.restartPolicy !== node.restart) {
    updated = b.add<ActionOf<"container.update">>({
      kind: "container.update",
      resource,
      target: node.name,
      after: createAfter(node, ctx),
      containerId: c.id,
      cause: "restart-policy",
      changes: [{ field: "restart", before: c.restartPolicy, after: node.restart, sensitive: false }],
      restartPolicy: node.restart,
    });
    ctx.nodeAction.set(node.name, updated);
  }
  if (c.state !== "running" && c.state !== "restarting") {
    const a = b.add<ActionOf<"container.start">>({
      kind: "container.start",
      resource,
      target: node.name,
      after: updated ? [updated.id] : createAfter(node, ctx),
      ...startGate(node, ctx.nodeAction),
      containerId: c.id,
      state: c.state,
    });
    ctx.nodeAction.set(node.name, a);
    return;
  }
  const triggers = c.state === "running" ? restartTriggers(node, ctx.nodeAction, RESTART_TRIGGERS) : [];
  if (triggers.length > 0) {
    const a = b.add<ActionOf<"container.restart">>({
      kind: "container.restart",
      resource,
      target: node.name,
      after: ids([updated, ...node.deps.map((d) => ctx.nodeAction.get(d.name))]),
      containerId: c.id,
      triggers,
    });
    ctx.nodeAction.set(node.name, a);
    return;
  }
  if (!updated) ctx.unchanged.push(resource);
  if (c.state === "running" && (c.health === "unhealthy" || c.health === "starting"))
    ctx.unready.push(node.name);
}

/** Plans a recreate when the spec, the image, a network or an input changed; true if it did. */
function planRecreate(node: ResolvedService, c: ObservedContainer, ctx: NodeContext): boolean {
  const { stack, observed, b } = ctx;
  const ident = ctx.m.identity.get(node.image);
  const pending = ident === undefined;
  const ref = stack.images[node.image]?.ref ?? node.image;
  const desired = serviceSnapshot(node, ident ?? null, ref, observed.inputs);
  const { changes, specChanged } = specChanges(c, desired, pending, ref);
  // A network recreated, or missing (removed by hand: the container still names it, and the
  // engine will not start it), is made anew: the container is made anew on it.
  const missingNets = new Set(
    Object.values(stack.networks)
      .filter((n) => !observed.networks.some((o) => o.name === n.dockerName))
      .map((n) => n.name),
  );
  const netsRecreated = [
    ...new Set([...node.networks.map((n) => n.name), ...(ctx.attachedRecreated.get(node.name) ?? [])]),
  ]
    .filter((n) => ctx.nets.recreated.has(n) || missingNets.has(n))
    .sort();
  const drift = specChanged
    ? []
    : [
        ...driftOf(node, c, ident, observed.images[node.image]?.env ?? []),
        ...attachmentDrift(stack, node, c, missingNets),
      ];
  const down = ctx.takedown.get(node.name);
  // Jobs of this plan that write one of its inputs (planned before it: see nodesInOrder). Whether
  // the file really changes is known only once they ran.
  const rewrites = writersOf(stack, node)
    .map((j) => ctx.nodeAction.get(j.name))
    .filter((a): a is Action => a?.kind === "job.run");
  if (!specChanged && !netsRecreated.length && !drift.length && !pending && !down && !rewrites.length)
    return false;
  if (missingFiles(node, ctx, { type: "service", name: node.name })) return true;
  const cause = specChanged
    ? "spec"
    : drift.length > 0
      ? "drift"
      : pending
        ? "image"
        : netsRecreated.length > 0 || down
          ? "network"
          : "inputs";
  const a = b.add<ActionOf<"container.recreate">>({
    kind: "container.recreate",
    resource: { type: "service", name: node.name },
    target: node.name,
    after: ids([...createAfter(node, ctx), ...rewrites]),
    ...startGate(node, ctx.nodeAction),
    // Removed already (before its network): only the new container is left to create.
    ...(down ? {} : { containerId: c.id }),
    cause,
    changes: drift.length > 0 ? drift : changes,
    networks: netsRecreated,
    writers: rewrites.map((w) => w.target),
    onlyIfChanged: (cause === "image" || cause === "inputs") && !down,
    ...updateOrder(stack, node, c),
  });
  ctx.nodeAction.set(node.name, a);
  return true;
}

/**
 * A container attached to other networks of the stack than its spec names (connected or
 * disconnected by hand): drift, repaired by making it anew. Networks that are missing are the
 * network's business (above), not drift.
 */
function attachmentDrift(
  stack: ResolvedStack,
  node: ResolvedService,
  c: ObservedContainer,
  missingNets: Set<string>,
): FieldChange[] {
  const ofStack = new Map(Object.values(stack.networks).map((n) => [n.dockerName, n.name]));
  const want = node.networks
    .map((n) => n.name)
    .filter((n) => !missingNets.has(n))
    .sort();
  const have = c.networks
    .map((d) => ofStack.get(d))
    .filter((n): n is string => n !== undefined && !missingNets.has(n))
    .sort();
  if (want.join(",") === have.join(",")) return [];
  return [{ field: "networks", before: have.join(", "), after: want.join(", "), sensitive: false }];
}

/**
 * How a changed container is replaced. Beside the old one by default; after the old one stops when
 * the spec says so, when the new one publishes a host port the old one holds, or when it mounts a
 * writable data directory no other container of the stack mounts (taken to be single-writer, like
 * a database's: two of them on it at once could corrupt it, or the new one could not start).
 */
function updateOrder(
  stack: ResolvedStack,
  node: ResolvedService,
  c: ObservedContainer,
): { order: "start-first" | "stop-first"; orderCause?: "spec" | "host-port" | "own-data" } {
  if (node.update === "stop-first") return { order: "stop-first", orderCause: "spec" };
  if (node.update === "start-first") return { order: "start-first" };
  const held = Array.isArray(c.snapshot?.ports) ? (c.snapshot.ports as string[]) : [];
  const hostPort = (p: string) => p.split("->")[0] ?? p;
  const heldHost = new Set(held.map(hostPort));
  if (node.ports.some((p) => heldHost.has(`${p.hostIp}:${p.host}`)))
    return { order: "stop-first", orderCause: "host-port" };
  const mountedBy = (hostPath: string) =>
    [...Object.values(stack.services), ...Object.values(stack.jobs).map((j) => j.container)].filter((spec) =>
      (spec?.mounts ?? []).some((m) => m.type === "bind" && m.hostPath === hostPath),
    ).length;
  const ownData = node.mounts.some(
    (m) =>
      m.type === "bind" &&
      m.kind === "dir" &&
      !m.readOnly &&
      m.root === "data" &&
      mountedBy(m.hostPath) === 1,
  );
  return ownData ? { order: "stop-first", orderCause: "own-data" } : { order: "start-first" };
}
