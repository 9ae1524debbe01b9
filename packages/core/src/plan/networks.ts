import { networkHash } from "../hash.js";
import type { ResolvedStack } from "../model.js";
import type { ObservedNetwork, ObservedState } from "../observe.js";
import type { PlanBuilder } from "./builder.js";
import type { ActionOf } from "./types.js";

export interface NetworkPlan {
  /** The action that creates a network of the stack (missing, or recreated), by network name. */
  created: Map<string, string>;
  /** Networks whose settings changed: removed once nothing is attached, then created again. */
  recreated: Map<string, ObservedNetwork>;
}

/** Missing networks are created first; those whose settings changed are recreated later. */
export function planNetworks(stack: ResolvedStack, observed: ObservedState, b: PlanBuilder): NetworkPlan {
  const created = new Map<string, string>();
  const recreated = new Map<string, ObservedNetwork>();
  for (const n of Object.values(stack.networks)) {
    const seen = observed.networks.find((o) => o.name === n.dockerName);
    if (seen) {
      if (seen.hash !== networkHash(n)) recreated.set(n.name, seen);
      continue;
    }
    const resource = { type: "network" as const, name: n.name };
    if (observed.foreignNetworks.includes(n.dockerName)) {
      b.conflict({ kind: "network-name-taken", resource, name: n.dockerName });
      continue;
    }
    const a = b.add<ActionOf<"network.create">>({
      kind: "network.create",
      resource,
      target: n.name,
      after: [],
      dockerName: n.dockerName,
      cause: "missing",
    });
    created.set(n.name, a.id);
  }
  return { created, recreated };
}

/**
 * A recreated network: removed once every container attached to it is gone (the engine refuses to
 * remove a network in use), then created again.
 */
export function planNetworkRecreates(
  stack: ResolvedStack,
  nets: NetworkPlan,
  removedFirst: (network: string) => string[],
  b: PlanBuilder,
): void {
  for (const [name, seen] of nets.recreated) {
    const resource = { type: "network" as const, name };
    const rm = b.add<ActionOf<"network.remove">>({
      kind: "network.remove",
      resource,
      target: name,
      after: removedFirst(name),
      networkId: seen.id,
      dockerName: seen.name,
      cause: "settings-changed",
    });
    const create = b.add<ActionOf<"network.create">>({
      kind: "network.create",
      resource,
      target: name,
      after: [rm.id],
      dockerName: stack.networks[name]?.dockerName ?? seen.name,
      cause: "settings-changed",
    });
    nets.created.set(name, create.id);
  }
}

/** Networks no longer in the stack go last, once every container that may be attached is gone. */
export function planNetworkRemovals(
  stack: ResolvedStack,
  observed: ObservedState,
  gone: string[],
  b: PlanBuilder,
): void {
  const wanted = new Set(Object.values(stack.networks).map((d) => d.dockerName));
  for (const n of observed.networks) {
    if (wanted.has(n.name)) continue;
    b.add<ActionOf<"network.remove">>({
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
