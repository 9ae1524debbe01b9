import type { EngineClient } from "../engine/index.js";
import type { ResolvedStack } from "../model.js";
import type { Plan } from "../plan/types.js";
import { type ObservedNode, observeSwarm } from "./observe.js";
import { planSwarm } from "./plan.js";

/*
 * The swarm target behind diff/apply/teardown/status/logs (api.ts and the others dispatch here by
 * `target`): observe, plan; executeSwarm and teardownSwarm carry them out.
 */

export { executeSwarm } from "./execute.js";
export { teardownSwarm } from "./teardown.js";

/** The plan, and what executing it needs to know of the swarm (this node, the nodes' names). */
export async function planOnSwarm(
  stack: ResolvedStack,
  engine: EngineClient,
): Promise<{ plan: Plan; env: { self: string; nodes: ObservedNode[] } }> {
  const observed = await observeSwarm(engine, stack);
  return { plan: planSwarm(stack, observed), env: { self: observed.self, nodes: observed.nodes } };
}
