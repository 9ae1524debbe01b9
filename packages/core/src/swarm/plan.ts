import { byCodeUnit } from "../graph.js";
import type { ResolvedStack } from "../model.js";
import { ids, PlanBuilder } from "../plan/builder.js";
import { nodesInOrder } from "../plan/order.js";
import type { Plan } from "../plan/types.js";
import { PLAN_VERSION } from "../plan/util.js";
import type { SwarmObserved } from "./observe.js";
import type { Ctx } from "./plan-context.js";
import { planConfigRemovals, planLeftovers } from "./plan-leftovers.js";
import { planRoles, planSwarmDirs, planSwarmImages } from "./plan-materials.js";
import { planNetworkRemovals, planNetworks, planTakedowns } from "./plan-networks.js";
import { planSwarmJob, planSwarmService } from "./plan-nodes.js";

/*
 * planSwarm(desired, observed) → Plan: the swarm target's plan, pure and synchronous, of the same
 * kind as the engine's (actions with causes, conflicts, waits). Phases: leftovers, roles,
 * networks, images and directories, services and jobs in dependency order, configs no service
 * uses any more, networks no longer in the stack. The phases are in plan-leftovers.ts,
 * plan-materials.ts, plan-networks.ts and plan-nodes.ts; what they share in plan-context.ts.
 */

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
