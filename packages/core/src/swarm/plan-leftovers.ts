import type { ResolvedStack } from "../model.js";
import type { PlanBuilder } from "../plan/builder.js";
import type { Action, ActionOf } from "../plan/types.js";
import { type TaskFile, taskFiles } from "./files.js";
import { configName, serviceName } from "./names.js";
import type { ObservedSwarmService, SwarmObserved } from "./observe.js";
import type { Ctx } from "./plan-context.js";

/* What the swarm plan removes because the stack no longer has it: leftover services and unused configs. */

/** Each stack service's swarm service; job and helper services left over, and services no longer in the stack, go. */
export function planLeftovers(stack: ResolvedStack, o: SwarmObserved, b: PlanBuilder) {
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

/** Configs of the stack no service or job uses now: removed once the services moved off them. */
export function planConfigRemovals(ctx: Ctx, after: string[]): void {
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
