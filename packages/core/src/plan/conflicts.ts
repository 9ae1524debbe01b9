import type { ResolvedStack } from "../model.js";
import type { ObservedState } from "../observe.js";
import { addressesOverlap } from "../ports.js";
import type { PlanBuilder } from "./builder.js";

/**
 * Host ports that a service to be created or started would publish while a running container
 * outside this stack already publishes them: the start would fail, so it is a conflict now.
 */
export function planPortConflicts(stack: ResolvedStack, observed: ObservedState, b: PlanBuilder): void {
  for (const a of [...b.actions]) {
    if (a.kind !== "container.create" && a.kind !== "container.recreate" && a.kind !== "container.start")
      continue;
    const svc = stack.services[a.target];
    for (const [index, p] of (svc?.ports ?? []).entries()) {
      const holder = observed.foreignPorts.find(
        (h) => h.port === p.host && h.protocol === p.protocol && addressesOverlap(h.hostIp, p.hostIp),
      );
      if (!holder || !svc) continue;
      b.conflict({
        kind: "host-port-held",
        resource: { type: "service", name: svc.name },
        port: p.host,
        protocol: p.protocol,
        holder: holder.container,
        index,
      });
    }
  }
}
