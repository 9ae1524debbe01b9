import { jobKey } from "../hash.js";
import type { ResolvedJob, ResolvedService, ResolvedStack } from "../model.js";
import { ids } from "../plan/builder.js";
import {
  jobRunCause,
  jobRunFields,
  restartTriggers,
  specChanges,
  startGate,
} from "../plan/node-decisions.js";
import type { ActionOf, Resource } from "../plan/types.js";
import { specDrift } from "./drift.js";
import { taskFiles } from "./files.js";
import { configName, jobServiceName, serviceName } from "./names.js";
import type { ObservedSwarmService } from "./observe.js";
import { type Ctx, createAfter, fileConflicts, unplaceable, writers } from "./plan-context.js";
import { nodeDataMounts } from "./plan-materials.js";
import { serviceSpec, swarmSnapshot, taskHash } from "./spec.js";

/* The swarm plan's services and jobs, each made, updated, restarted, run or left as it is. */

/** Kinds of a dependency's action that restart dependents with `restart: true`. */
const RESTART_TRIGGERS = new Set(["service.create", "service.update", "service.restart", "job.run"]);

export function planSwarmService(s: ResolvedService, ctx: Ctx): void {
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
      ...startGate(s, ctx.nodeAction),
      dockerName: name,
      cause: "missing",
    });
    ctx.nodeAction.set(s.name, a);
    return;
  }
  const pending = image.identity === null || image.run.endsWith("@(pending)");
  const { changes, specChanged } = specChanges(existing, snapshot, pending, image.ref);
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
      ...startGate(s, ctx.nodeAction),
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
  const triggers = restartTriggers(s, ctx.nodeAction, RESTART_TRIGGERS);
  if (triggers.length > 0) {
    const a = b.add<ActionOf<"service.restart">>({
      kind: "service.restart",
      resource,
      target: s.name,
      after: ids(s.deps.map((d) => ctx.nodeAction.get(d.name))),
      serviceId: existing.id,
      triggers,
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

export function planSwarmJob(job: ResolvedJob, ctx: Ctx): void {
  const { stack, o, b } = ctx;
  const resource: Resource = { type: "job", name: job.name };
  const spec = job.container;
  const image = spec ? ctx.m.image.get(spec.image) : undefined;
  const pending =
    spec !== undefined && (image?.identity === null || (image?.run ?? "").endsWith("@(pending)"));
  const key = jobKey(job, image?.identity ?? undefined, spec ? image?.ref : undefined, o.inputs);
  const done = o.jobs[job.name];
  const lastRun = o.jobRuns[job.name];
  const cause = jobRunCause(job, key, done, lastRun, pending);
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
    ...startGate(job, ctx.nodeAction),
    ...jobRunFields(key, done, lastRun, cause),
  });
  ctx.nodeAction.set(job.name, a);
}
