import { byCodeUnit } from "../graph.js";
import type { ResolvedStack } from "../model.js";
import type { ObservedContainer } from "../observe.js";
import type { PlanBuilder } from "./builder.js";
import type { ActionOf } from "./types.js";

/** Each service's own container, and the removals of every other container of the stack. */
export interface Leftovers {
  primary: Map<string, ObservedContainer>;
  removals: ActionOf<"container.remove">[];
  /**
   * Job containers that exited 0 and are still there (shctl was stopped before it recorded the
   * run): the job's planning decides whether to record the run or remove the container.
   */
  finishedJobs: Map<string, ObservedContainer>;
}

/**
 * Containers left over (orphans, duplicates, stale jobs and helpers) go first: a new container may
 * need their name, their host port or their data directory, and networks may be removed.
 */
export function planLeftovers(
  stack: ResolvedStack,
  containers: readonly ObservedContainer[],
  b: PlanBuilder,
): Leftovers {
  const primary = new Map<string, ObservedContainer>();
  const removals: ActionOf<"container.remove">[] = [];
  const finishedJobs = new Map<string, ObservedContainer>();
  const sorted = [...containers].sort((x, y) => byCodeUnit(x.name, y.name) || byCodeUnit(x.id, y.id));
  for (const c of sorted) {
    const svc = c.kind === "service" ? stack.services[c.node] : undefined;
    if (svc && !primary.has(c.node) && c.name === svc.containerName) {
      primary.set(c.node, c);
      continue;
    }
    const finished = c.kind === "job" && c.state === "exited" && c.exitCode === 0 && c.jobKey !== undefined;
    if (finished && stack.jobs[c.node] && !finishedJobs.has(c.node)) {
      finishedJobs.set(c.node, c);
      continue;
    }
    const cause =
      c.kind === "job"
        ? "stale-job"
        : c.kind === "helper"
          ? "stale-helper"
          : stack.services[c.node] || stack.jobs[c.node]
            ? "duplicate"
            : "not-in-stack";
    removals.push(
      b.add<ActionOf<"container.remove">>({
        kind: "container.remove",
        resource: { type: c.kind, name: c.node || c.name },
        target: c.name,
        after: [],
        containerId: c.id,
        cause,
        networks: [],
      }),
    );
  }
  return { primary, removals, finishedJobs };
}
