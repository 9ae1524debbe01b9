import { networkHash } from "../hash.js";
import type { ResolvedStack, StackNode } from "../model.js";
import type { PlanBuilder } from "../plan/builder.js";
import { ids } from "../plan/builder.js";
import type { ActionOf } from "../plan/types.js";
import type { SwarmObserved } from "./observe.js";
import type { Ctx } from "./plan-context.js";

/* The swarm plan's overlay networks: made, made anew (with the services on them), removed. */

/** Overlay networks: missing ones are made; one whose settings changed is made anew. */
export function planNetworks(stack: ResolvedStack, o: SwarmObserved, b: PlanBuilder) {
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
export function planTakedowns(ctx: Ctx, nodes: readonly StackNode[]): void {
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

/** Networks no longer in the stack go last, once the services that may be on them are gone. */
export function planNetworkRemovals(ctx: Ctx, gone: string[]): void {
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
