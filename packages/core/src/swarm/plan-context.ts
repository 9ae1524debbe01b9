import { byCodeUnit } from "../graph.js";
import type { ResolvedStack, StackNode } from "../model.js";
import type { PlanBuilder } from "../plan/builder.js";
import { ids } from "../plan/builder.js";
import type { Action, ActionOf, Resource } from "../plan/types.js";
import { configMounts } from "./files.js";
import { CONFIG_MAX_BYTES } from "./names.js";
import type { ObservedSwarmService, SwarmObserved } from "./observe.js";
import type { SwarmMaterials } from "./plan-materials.js";

/* What the swarm plan's phases share (planSwarm in plan.ts makes it), and what a service's or job's action waits for. */

export interface Ctx {
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

/** Jobs of the plan that write one of the node's inputs or the files it gets as configs. */
export function writers(ctx: Ctx, node: StackNode): ActionOf<"job.run">[] {
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
export function createAfter(ctx: Ctx, node: StackNode): string[] {
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

/** Files that cannot be had: a mounted file missing that no job writes, and a file too big for a config. */
export function fileConflicts(ctx: Ctx, node: StackNode, resource: Resource): boolean {
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
export function unplaceable(ctx: Ctx, node: StackNode): boolean {
  return node.placement !== undefined && (ctx.m.roleNodes.get(node.placement) ?? []).length === 0;
}
