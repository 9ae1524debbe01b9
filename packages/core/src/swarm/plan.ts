import { byCodeUnit } from "../graph.js";
import { HASH_RECIPE, jobKey, networkHash, snapshotHash } from "../hash.js";
import type { ResolvedJob, ResolvedService, ResolvedStack, StackNode } from "../model.js";
import { ids, PlanBuilder } from "../plan/builder.js";
import { diffSnapshots } from "../plan/fields.js";
import { nodesInOrder } from "../plan/order.js";
import type { Action, ActionOf, Plan, Resource, Wait } from "../plan/types.js";
import { PLAN_VERSION } from "../plan/util.js";
import { specDrift } from "./drift.js";
import { configMounts, type TaskFile, taskFiles } from "./files.js";
import { CONFIG_MAX_BYTES, configName, jobServiceName, serviceName } from "./names.js";
import type { ObservedSwarmService, SwarmObserved } from "./observe.js";
import {
  nodeDataMounts,
  planRoles,
  planSwarmDirs,
  planSwarmImages,
  type SwarmMaterials,
} from "./plan-materials.js";
import { serviceSpec, swarmSnapshot, taskHash } from "./spec.js";

/*
 * planSwarm(desired, observed) → Plan: the swarm target's plan, pure and synchronous, of the same
 * kind as the engine's (actions with causes, conflicts, waits). Phases: leftovers, roles,
 * networks, images and directories, services and jobs in dependency order, configs no service
 * uses any more, networks no longer in the stack.
 */

/** Kinds of a dependency's action that restart dependents with `restart: true`. */
const RESTART_TRIGGERS = new Set(["service.create", "service.update", "service.restart", "job.run"]);

interface Ctx {
  stack: ResolvedStack;
  o: SwarmObserved;
  b: PlanBuilder;
  m: SwarmMaterials;
  /** Each stack service's own swarm service. */
  primary: Map<string, ObservedSwarmService>;
  /** Removals that go before anything is made. */
  leftovers: Action[];
  /** The action that makes each network (by stack network name). */
  netCreated: Map<string, string>;
  /** Networks recreated (settings changed): their services are made anew on them. */
  netRecreated: Set<string>;
  /** Services removed before a network is recreated, by name. */
  takedown: Map<string, Action>;
  nodeAction: Map<string, Action>;
  unchanged: Resource[];
  unready: string[];
}

export function planSwarm(stack: ResolvedStack, observed: SwarmObserved): Plan {
  const b = new PlanBuilder();
  const o: SwarmObserved = {
    ...observed,
    services: [...observed.services].sort((x, y) => byCodeUnit(x.name, y.name) || byCodeUnit(x.id, y.id)),
    networks: [...observed.networks].sort((x, y) => byCodeUnit(x.name, y.name) || byCodeUnit(x.id, y.id)),
    configs: [...observed.configs].sort((x, y) => byCodeUnit(x.name, y.name) || byCodeUnit(x.id, y.id)),
    nodes: [...observed.nodes].sort((x, y) => byCodeUnit(x.id, y.id)),
  };
  for (const owner of o.otherProjects)
    b.conflict({ kind: "stack-owned-elsewhere", resource: { type: "stack", name: stack.name }, owner });
  if (o.engineContainers > 0)
    b.conflict({
      kind: "stack-on-other-target",
      resource: { type: "stack", name: stack.name },
      other: "engine",
      count: o.engineContainers,
    });
  const nodes = nodesInOrder(stack);
  const { primary, leftovers } = planLeftovers(stack, o, b);
  const roleNodes = planRoles(stack, o, nodes, b);
  const { netCreated, netRecreated } = planNetworks(stack, o, b);
  const images = planSwarmImages(stack, o, b);
  const dirAction = planSwarmDirs(stack, o, nodes, roleNodes, b);
  const ctx: Ctx = {
    stack,
    o,
    b,
    m: { ...images, dirAction, roleNodes },
    primary,
    leftovers,
    netCreated,
    netRecreated,
    takedown: new Map(),
    nodeAction: new Map(),
    unchanged: [],
    unready: [],
  };
  planTakedowns(ctx, nodes);
  for (const node of nodes) {
    if (node.kind === "job") planSwarmJob(node, ctx);
    else planSwarmService(node, ctx);
  }
  const moved = b.actions.filter((a) => a.kind.startsWith("service.") || a.kind === "job.run");
  planConfigRemovals(ctx, ids(moved));
  planNetworkRemovals(ctx, ids(b.actions.filter((a) => a.kind === "service.remove")));

  const started = b.actions
    .filter((a) => a.kind === "service.create" || a.kind === "service.update" || a.kind === "service.restart")
    .map((a) => a.target);
  return {
    version: PLAN_VERSION,
    stack: stack.name,
    target: "swarm",
    ...(stack.profile !== undefined ? { profile: stack.profile } : {}),
    dataRoot: stack.dataRoot,
    actions: b.actions,
    conflicts: b.conflicts,
    unchanged: ctx.unchanged.sort((x, y) => byCodeUnit(x.type, y.type) || byCodeUnit(x.name, y.name)),
    unready: ctx.unready.sort(byCodeUnit),
    waitReady: [...new Set([...started, ...ctx.unready])].filter((n) => stack.services[n]).sort(byCodeUnit),
    containers: Object.fromEntries([...primary.entries()].map(([name, s]) => [name, s.id]).sort()),
  };
}

/** Each stack service's swarm service; job and helper services left over, and services no longer in the stack, go. */
function planLeftovers(stack: ResolvedStack, o: SwarmObserved, b: PlanBuilder) {
  const primary = new Map<string, ObservedSwarmService>();
  const leftovers: Action[] = [];
  for (const s of o.services) {
    const svc = s.kind === "service" ? stack.services[s.node] : undefined;
    if (svc && s.name === serviceName(stack.name, svc.name)) {
      primary.set(svc.name, s);
      continue;
    }
    const cause = s.kind === "job" ? "stale-job" : s.kind === "helper" ? "stale-helper" : "not-in-stack";
    leftovers.push(
      b.add<ActionOf<"service.remove">>({
        kind: "service.remove",
        resource: { type: s.kind, name: s.node || s.name },
        target: s.name,
        after: [],
        serviceId: s.id,
        dockerName: s.name,
        cause,
        networks: [],
      }),
    );
  }
  return { primary, leftovers };
}

/** Overlay networks: missing ones are made; one whose settings changed is made anew. */
function planNetworks(stack: ResolvedStack, o: SwarmObserved, b: PlanBuilder) {
  const netCreated = new Map<string, string>();
  const netRecreated = new Set<string>();
  for (const n of Object.values(stack.networks)) {
    const seen = o.networks.find((x) => x.name === n.dockerName);
    const resource = { type: "network" as const, name: n.name };
    if (seen && seen.hash === networkHash(n)) continue;
    if (!seen && o.foreignNetworks.includes(n.dockerName)) {
      b.conflict({ kind: "network-name-taken", resource, name: n.dockerName });
      continue;
    }
    if (seen) netRecreated.add(n.name);
    else
      netCreated.set(
        n.name,
        b.add<ActionOf<"network.create">>({
          kind: "network.create",
          resource,
          target: n.name,
          after: [],
          dockerName: n.dockerName,
          cause: "missing",
        }).id,
      );
  }
  return { netCreated, netRecreated };
}

/**
 * A network whose settings changed: the services on it go first (dependents first), then the
 * network is made anew, and the services are made again on it.
 */
function planTakedowns(ctx: Ctx, nodes: readonly StackNode[]): void {
  const { stack, o, b } = ctx;
  if (ctx.netRecreated.size === 0) return;
  for (const node of [...nodes].reverse()) {
    const s = node.kind === "service" ? ctx.primary.get(node.name) : undefined;
    if (!s || node.kind !== "service") continue;
    const on = node.networks.map((n) => n.name).filter((n) => ctx.netRecreated.has(n));
    if (on.length === 0) continue;
    const dependents = nodes.filter((d) => d.deps.some((x) => x.name === node.name));
    ctx.takedown.set(
      node.name,
      b.add<ActionOf<"service.remove">>({
        kind: "service.remove",
        resource: { type: "service", name: node.name },
        target: s.name,
        after: ids(dependents.map((d) => ctx.takedown.get(d.name))),
        serviceId: s.id,
        dockerName: s.name,
        cause: "network-recreated",
        networks: on.sort(),
      }),
    );
    ctx.primary.delete(node.name);
  }
  for (const name of [...ctx.netRecreated].sort()) {
    const n = stack.networks[name];
    const seen = o.networks.find((x) => x.name === n?.dockerName);
    if (!n || !seen) continue;
    const rm = b.add<ActionOf<"network.remove">>({
      kind: "network.remove",
      resource: { type: "network", name },
      target: name,
      after: ids([...ctx.leftovers, ...ctx.takedown.values()]),
      networkId: seen.id,
      dockerName: seen.name,
      cause: "settings-changed",
    });
    const create = b.add<ActionOf<"network.create">>({
      kind: "network.create",
      resource: { type: "network", name },
      target: name,
      after: [rm.id],
      dockerName: n.dockerName,
      cause: "settings-changed",
    });
    ctx.netCreated.set(name, create.id);
  }
}

/** Jobs of the plan that write one of the node's inputs or the files it gets as configs. */
function writers(ctx: Ctx, node: StackNode): ActionOf<"job.run">[] {
  const spec = node.kind === "service" ? node : node.container;
  const sources = spec ? configMounts(spec) : [];
  const reads = (out: string) =>
    node.inputs.includes(out) ||
    sources.some((m) => m.hostPath === out || out.startsWith(`${m.hostPath.replace(/\/+$/, "")}/`));
  return Object.values(ctx.stack.jobs)
    .filter((j) => j.name !== node.name && j.outputs.some(reads))
    .map((j) => ctx.nodeAction.get(j.name))
    .filter((a): a is ActionOf<"job.run"> => a?.kind === "job.run")
    .sort((x, y) => byCodeUnit(x.target, y.target));
}

/** What must finish before the node's service is made: images, directories, networks, leftovers, writers. */
function createAfter(ctx: Ctx, node: StackNode): string[] {
  const spec = node.kind === "service" ? node : node.container;
  const image = spec ? (ctx.m.imageAction.get(spec.image) ?? []) : [];
  const uses = node.kind === "job" ? node.uses.flatMap((u) => ctx.m.imageAction.get(u) ?? []) : [];
  const dirs = (spec?.mounts ?? []).map((m) =>
    m.type === "bind" ? ctx.m.dirAction.get(m.hostPath) : undefined,
  );
  return ids([
    ...image,
    ...uses,
    ...dirs,
    ...(spec?.networks ?? []).map((n) => ctx.netCreated.get(n.name)),
    ...ctx.leftovers,
    ctx.takedown.get(node.name),
    ...writers(ctx, node),
  ]);
}

/** Its dependencies' actions (to finish before it starts) and the waits on their readiness. */
function startGate(ctx: Ctx, node: StackNode): { startAfter: string[]; waitFor: Wait[] } {
  const startAfter: (Action | undefined)[] = [];
  const waitFor: Wait[] = [];
  for (const d of node.deps) {
    const dep = ctx.nodeAction.get(d.name);
    startAfter.push(dep);
    if (d.kind !== "service") continue;
    if (d.condition === "healthy") waitFor.push({ service: d.name, condition: "healthy" });
    else if (!dep) waitFor.push({ service: d.name, condition: "running" });
  }
  return { startAfter: ids(startAfter), waitFor };
}

/** Files that cannot be had: a mounted file missing that no job writes, and a file too big for a config. */
function fileConflicts(ctx: Ctx, node: StackNode, resource: Resource): boolean {
  const spec = node.kind === "service" ? node : node.container;
  let blocked = false;
  for (const m of spec ? configMounts(spec) : []) {
    const view = ctx.o.sources[m.hostPath];
    const written = Object.values(ctx.stack.jobs).some((j) =>
      j.outputs.some((out) => out === m.hostPath || out.startsWith(`${m.hostPath}/`)),
    );
    if (m.kind === "file" && !view?.exists && !written) {
      ctx.b.conflict({ kind: "mount-file-missing", resource, path: m.hostPath, target: m.target });
      blocked = true;
    }
    for (const f of view?.exists ? view.files : []) {
      if (f.size <= CONFIG_MAX_BYTES) continue;
      ctx.b.conflict({
        kind: "config-too-large",
        resource,
        path: f.rel ? `${m.hostPath}/${f.rel}` : m.hostPath,
        size: f.size,
        limit: CONFIG_MAX_BYTES,
      });
      blocked = true;
    }
  }
  return blocked;
}

/** A node pinned to a role no node takes cannot be placed: its conflict is planned already. */
function unplaceable(ctx: Ctx, node: StackNode): boolean {
  return node.placement !== undefined && (ctx.m.roleNodes.get(node.placement) ?? []).length === 0;
}

function planSwarmService(s: ResolvedService, ctx: Ctx): void {
  const { stack, o, b } = ctx;
  const resource: Resource = { type: "service", name: s.name };
  const name = serviceName(stack.name, s.name);
  const existing = ctx.primary.get(s.name);
  if (!existing && !ctx.takedown.has(s.name) && o.foreignServices.includes(name)) {
    b.conflict({ kind: "service-name-taken", resource, name });
    return;
  }
  if (fileConflicts(ctx, s, resource) || unplaceable(ctx, s)) return;
  const image = ctx.m.image.get(s.image) ?? { run: s.image, ref: s.image, identity: undefined };
  const files = taskFiles(s, o.sources);
  const snapshot = swarmSnapshot(s, image, o.inputs, files);
  if (!existing) {
    const a = b.add<ActionOf<"service.create">>({
      kind: "service.create",
      resource,
      target: s.name,
      after: createAfter(ctx, s),
      ...startGate(ctx, s),
      dockerName: name,
      cause: "missing",
    });
    ctx.nodeAction.set(s.name, a);
    return;
  }
  const pending = image.identity === null || image.run.endsWith("@(pending)");
  const changes = (existing.snapshot ? diffSnapshots(existing.snapshot, snapshot) : []).filter(
    (ch) => !(pending && ch.field === "image" && ch.before?.startsWith(`${image.ref}@`)),
  );
  const specChanged = pending
    ? changes.length > 0
    : existing.recipe === HASH_RECIPE
      ? existing.hash !== snapshotHash(snapshot)
      : changes.length > 0;
  const rewrites = writers(ctx, s);
  const drift =
    specChanged || pending
      ? []
      : specDrift(
          existing.spec,
          serviceSpec(stack, s, {
            image: image.run,
            configs: files.map((f) => ({
              file: f,
              id: "",
              name: configName(stack.name, stack.dataRoot, f.digest),
            })),
            snapshot,
            order: "start-first",
            forceUpdate: 0,
          }),
          (idOrName) => o.networks.find((n) => n.id === idOrName)?.name ?? idOrName,
          stack.secrets,
        );
  if (specChanged || drift.length > 0 || pending || rewrites.length > 0) {
    const scaleOnly = specChanged && changes.length > 0 && changes.every((c) => c.field === "replicas");
    const cause: ActionOf<"service.update">["cause"] = scaleOnly
      ? "scale"
      : specChanged
        ? "spec"
        : drift.length > 0
          ? "drift"
          : pending
            ? "image"
            : "inputs";
    const a = b.add<ActionOf<"service.update">>({
      kind: "service.update",
      resource,
      target: s.name,
      after: createAfter(ctx, s),
      ...startGate(ctx, s),
      serviceId: existing.id,
      dockerName: name,
      cause,
      changes: drift.length > 0 ? drift : changes,
      writers: rewrites.map((w) => w.target),
      onlyIfChanged: cause === "image" || cause === "inputs",
      ...updateOrder(stack, s),
    });
    ctx.nodeAction.set(s.name, a);
    return;
  }
  const triggers = s.deps.filter((d) => {
    const a = ctx.nodeAction.get(d.name);
    return d.restart && a !== undefined && RESTART_TRIGGERS.has(a.kind);
  });
  if (triggers.length > 0) {
    const a = b.add<ActionOf<"service.restart">>({
      kind: "service.restart",
      resource,
      target: s.name,
      after: ids(s.deps.map((d) => ctx.nodeAction.get(d.name))),
      serviceId: existing.id,
      triggers: triggers.map((t) => ({
        name: t.name,
        change: ctx.nodeAction.get(t.name)?.kind === "job.run" ? ("rerun" as const) : ("replaced" as const),
      })),
    });
    ctx.nodeAction.set(s.name, a);
    return;
  }
  ctx.unchanged.push(resource);
  if (!tasksReady(existing, s.replicas ?? 1, taskHash(snapshot))) ctx.unready.push(s.name);
}

/** Whether as many tasks as wanted run the current task spec, with no update or rollback under way. */
function tasksReady(s: ObservedSwarmService, replicas: number, hash: string): boolean {
  if (s.updateState === "updating" || s.updateState === "rollback_started") return false;
  const running = s.tasks.filter(
    (t) => t.desiredState === "running" && t.state === "running" && t.labels["io.shctl.task-hash"] === hash,
  );
  return running.length >= replicas;
}

/**
 * How the swarm rolls a changed service: a new task beside each old one by default; the old one
 * first when the spec says so, when it publishes a host port (two tasks cannot hold it on one
 * node), or when it writes a data directory only it mounts (two writers could corrupt it).
 */
export function updateOrder(
  stack: ResolvedStack,
  s: ResolvedService,
): { order: "start-first" | "stop-first"; orderCause?: "spec" | "host-port" | "own-data" } {
  if (s.update === "stop-first") return { order: "stop-first", orderCause: "spec" };
  if (s.update === "start-first") return { order: "start-first" };
  if (s.ports.length > 0) return { order: "stop-first", orderCause: "host-port" };
  const mine = nodeDataMounts(stack, s);
  const others = [
    ...Object.values(stack.services).filter((x) => x.name !== s.name),
    ...Object.values(stack.jobs).map((j) => j.container),
  ];
  const own = mine.some(
    (m) => !others.some((o) => (o?.mounts ?? []).some((x) => x.type === "bind" && x.hostPath === m.hostPath)),
  );
  return own ? { order: "stop-first", orderCause: "own-data" } : { order: "start-first" };
}

function planSwarmJob(job: ResolvedJob, ctx: Ctx): void {
  const { stack, o, b } = ctx;
  const resource: Resource = { type: "job", name: job.name };
  const spec = job.container;
  const image = spec ? ctx.m.image.get(spec.image) : undefined;
  const pending =
    spec !== undefined && (image?.identity === null || (image?.run ?? "").endsWith("@(pending)"));
  const key = jobKey(job, image?.identity ?? undefined, spec ? image?.ref : undefined, o.inputs);
  const done = o.jobs[job.name];
  const lastRun = o.jobRuns[job.name];
  const cause: ActionOf<"job.run">["cause"] | undefined = job.always
    ? "always"
    : !done
      ? lastRun && lastRun.outcome !== "completed"
        ? "last-failed"
        : "never-completed"
      : pending
        ? "image-pending"
        : done.key !== key
          ? "changed"
          : undefined;
  if (cause === undefined) {
    ctx.unchanged.push(resource);
    return;
  }
  const name = jobServiceName(stack.name, job.name);
  if (spec && o.foreignServices.includes(name)) {
    b.conflict({ kind: "service-name-taken", resource, name });
    return;
  }
  if (fileConflicts(ctx, job, resource) || unplaceable(ctx, job)) return;
  const a = b.add<ActionOf<"job.run">>({
    kind: "job.run",
    resource,
    target: job.name,
    after: createAfter(ctx, job),
    ...startGate(ctx, job),
    jobKey: key,
    ...(done ? { recordedKey: done.key } : {}),
    ...(lastRun && lastRun.outcome !== "completed" ? { lastRun } : {}),
    cause,
    onlyIfKeyChanged: cause === "image-pending",
  });
  ctx.nodeAction.set(job.name, a);
}

/** Configs of the stack no service or job uses now: removed once the services moved off them. */
function planConfigRemovals(ctx: Ctx, after: string[]): void {
  const { stack, o, b } = ctx;
  const wanted = new Set<string>();
  const files: TaskFile[] = [];
  for (const s of Object.values(stack.services)) files.push(...taskFiles(s, o.sources));
  for (const j of Object.values(stack.jobs))
    if (j.container) files.push(...taskFiles(j.container, o.sources));
  for (const f of files) wanted.add(configName(stack.name, stack.dataRoot, f.digest));
  for (const c of o.configs) {
    if (wanted.has(c.name)) continue;
    b.add<ActionOf<"config.remove">>({
      kind: "config.remove",
      resource: { type: "config", name: c.name },
      target: c.name,
      after,
      configId: c.id,
      dockerName: c.name,
      cause: "unused",
    });
  }
}

/** Networks no longer in the stack go last, once the services that may be on them are gone. */
function planNetworkRemovals(ctx: Ctx, gone: string[]): void {
  const wanted = new Set(Object.values(ctx.stack.networks).map((n) => n.dockerName));
  for (const n of ctx.o.networks) {
    if (wanted.has(n.name)) continue;
    ctx.b.add<ActionOf<"network.remove">>({
      kind: "network.remove",
      resource: { type: "network", name: n.node || n.name },
      target: n.name,
      after: gone,
      networkId: n.id,
      dockerName: n.name,
      cause: "not-in-stack",
    });
  }
}
