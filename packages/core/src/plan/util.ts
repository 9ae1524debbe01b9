import type { Plan, Resource } from "./types.js";

/** Bump when the plan's JSON shape changes incompatibly. */
export const PLAN_VERSION = 2;

/** How a resource is named in events and messages: "service web", "image app". */
export function resourceKey(r: Resource): string {
  return `${r.type} ${r.name}`;
}

/** True when applying the plan would remove or replace something that exists now. */
export function isDestructive(plan: Plan): boolean {
  return plan.actions.some(
    (a) => a.kind === "container.remove" || a.kind === "container.recreate" || a.kind === "network.remove",
  );
}

/** True when the plan has anything to do, or a conflict. */
export function hasChanges(plan: Plan): boolean {
  return plan.actions.length > 0 || plan.conflicts.length > 0;
}
