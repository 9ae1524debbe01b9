import { byCodeUnit } from "../graph.js";
import type { ResolvedStack } from "../model.js";
import type { ObservedState } from "../observe.js";
import { ids, PlanBuilder } from "./builder.js";
import { planPortConflicts } from "./conflicts.js";
import { planLeftovers } from "./leftovers.js";
import { materialsOf, planDirs, planImages } from "./materials.js";
import { planNetworkRecreates, planNetworkRemovals, planNetworks } from "./networks.js";
import { type NodeContext, planJob, planService } from "./nodes.js";
import { nodesInOrder } from "./order.js";
import type { Action, ActionOf, Plan } from "./types.js";
import { PLAN_VERSION } from "./util.js";

/*
 * plan(desired, observed) → Plan. Pure and synchronous: no engine, no disk, no clock. The plan is
 * plain data (JSON-serializable); `execute` carries it out as it says, deciding nothing itself.
 * Phases: leftovers, networks, images and directories, services and jobs, conflicts.
 */

export function plan(stack: ResolvedStack, observed: ObservedState): Plan {
  const b = new PlanBuilder();
  // What the engine lists comes in the engine's order: sort it, so the same state always gives the
  // same plan, action for action (plans can be compared as text).
  const sorted: ObservedState = {
    ...observed,
    networks: [...observed.networks].sort((x, y) => byCodeUnit(x.name, y.name) || byCodeUnit(x.id, y.id)),
  };
  const nodes = nodesInOrder(stack);
  const { primary, removals, finishedJobs } = planLeftovers(stack, observed.containers, b);
  const nets = planNetworks(stack, sorted, b);
  const m = planImages(stack, sorted, b);
  planDirs(nodes, sorted, m, b);

  // Services attached to a recreated network: the old container is removed before the network
  // (dependents first, and only once what the new one needs is ready), the new one made on it.
  const attachedRecreated = new Map<string, string[]>();
  for (const node of nodes) {
    const c = node.kind === "service" ? primary.get(node.name) : undefined;
    const attached = c ? c.networks.map((d) => networkByDockerName(stack, d)) : [];
    const recreated = attached.filter((n): n is string => n !== undefined && nets.recreated.has(n));
    if (recreated.length > 0) attachedRecreated.set(node.name, recreated);
  }
  const takedown = new Map<string, Action>();
  for (const node of [...nodes].reverse()) {
    const nets = attachedRecreated.get(node.name);
    const c = primary.get(node.name);
    if (!nets || !c || node.kind !== "service") continue;
    const dependents = nodes.filter((d) => d.deps.some((x) => x.name === node.name));
    takedown.set(
      node.name,
      b.add<ActionOf<"container.remove">>({
        kind: "container.remove",
        resource: { type: "service", name: node.name },
        target: c.name,
        after: ids([...materialsOf(node, m), ...dependents.map((d) => takedown.get(d.name))]),
        containerId: c.id,
        cause: "network-recreated",
        networks: nets,
      }),
    );
  }
  planNetworkRecreates(
    stack,
    nets,
    (net) =>
      ids([
        ...removals,
        ...[...attachedRecreated].filter(([, n]) => n.includes(net)).map(([svc]) => takedown.get(svc)),
      ]),
    b,
  );

  const ctx: NodeContext = {
    stack,
    observed: sorted,
    b,
    m,
    nets,
    primary,
    leftovers: removals,
    finishedJobs,
    takedown,
    attachedRecreated,
    nodeAction: new Map(),
    unchanged: [],
    unready: [],
  };
  for (const node of nodes) {
    if (node.kind === "job") planJob(node, ctx);
    else planService(node, ctx);
  }

  const gone = b.actions.filter(
    (a) => a.kind === "container.remove" || (a.kind === "container.recreate" && a.containerId),
  );
  planNetworkRemovals(stack, sorted, ids(gone), b);
  planPortConflicts(stack, sorted, b);
  for (const owner of observed.otherProjects)
    b.conflict({ kind: "stack-owned-elsewhere", resource: { type: "stack", name: stack.name }, owner });

  const started = b.actions
    .filter(
      (a) =>
        a.kind === "container.create" ||
        a.kind === "container.recreate" ||
        a.kind === "container.start" ||
        a.kind === "container.restart",
    )
    .map((a) => a.target);
  return {
    version: PLAN_VERSION,
    stack: stack.name,
    ...(stack.profile !== undefined ? { profile: stack.profile } : {}),
    dataRoot: stack.dataRoot,
    actions: b.actions,
    conflicts: b.conflicts,
    unchanged: ctx.unchanged.sort((x, y) => byCodeUnit(x.type, y.type) || byCodeUnit(x.name, y.name)),
    unready: ctx.unready.sort(byCodeUnit),
    waitReady: [...new Set([...started, ...ctx.unready])].filter((n) => stack.services[n]).sort(byCodeUnit),
    containers: Object.fromEntries([...primary.entries()].map(([name, c]) => [name, c.id]).sort()),
  };
}

/** The stack network a Docker network name belongs to. */
function networkByDockerName(stack: ResolvedStack, dockerName: string): string | undefined {
  return Object.values(stack.networks).find((n) => n.dockerName === dockerName)?.name;
}

export type { Action, ActionOf, Plan };
