import { HASH_RECIPE, type Snapshot, snapshotHash } from "../hash.js";
import type { ResolvedJob, StackNode } from "../model.js";
import { ids } from "./builder.js";
import { diffSnapshots } from "./fields.js";
import type { Action, ActionOf, FieldChange, Wait } from "./types.js";

/*
 * What the plans of every target decide alike about a service or a job: why a job runs, whether a
 * service's applied spec changed, what a node waits for before it starts, and which of its
 * dependencies' actions restart it.
 */

type JobRun = ActionOf<"job.run">;
/** A job's last completed run, as recorded. */
type Completed = { key: string } | undefined;
/** How a job's latest run ended, as recorded. */
type LastRun = { outcome: string; finishedAt: string } | undefined;

/**
 * Why a job runs in this plan: always; never completed (its last run failed, or it never ran);
 * its image is still to be built or pulled; its key changed. Undefined when it need not run.
 */
export function jobRunCause(
  job: Pick<ResolvedJob, "always">,
  key: string,
  done: Completed,
  lastRun: LastRun,
  pending: boolean,
): JobRun["cause"] | undefined {
  return job.always
    ? "always"
    : !done
      ? lastRun && lastRun.outcome !== "completed"
        ? "last-failed"
        : "never-completed"
      : pending
        ? "image-pending"
        : done.key !== key
          ? "changed"
          : undefined;
}

/** A job run's key and record: the key it last completed with, how its latest run ended if it failed. */
export function jobRunFields(
  key: string,
  done: Completed,
  lastRun: LastRun,
  cause: JobRun["cause"],
): Pick<JobRun, "jobKey" | "recordedKey" | "lastRun" | "cause" | "onlyIfKeyChanged"> {
  return {
    jobKey: key,
    ...(done ? { recordedKey: done.key } : {}),
    ...(lastRun && lastRun.outcome !== "completed" ? { lastRun } : {}),
    cause,
    onlyIfKeyChanged: cause === "image-pending",
  };
}

/**
 * How a service's applied snapshot differs from the desired one: the fields, and whether its spec
 * changed (by hash, when it was applied with this hash recipe). While the image is still to be
 * built or pulled its ID is unknown: that is the reason to replace it, not a field change.
 */
export function specChanges(
  applied: { snapshot: Snapshot | undefined; recipe: number | undefined; hash: string | undefined },
  desired: Snapshot,
  pending: boolean,
  imageRef: string,
): { changes: FieldChange[]; specChanged: boolean } {
  const changes = (applied.snapshot ? diffSnapshots(applied.snapshot, desired) : []).filter(
    (ch) => !(pending && ch.field === "image" && ch.before?.startsWith(`${imageRef}@`)),
  );
  const specChanged = pending
    ? changes.length > 0
    : applied.recipe === HASH_RECIPE
      ? applied.hash !== snapshotHash(desired)
      : changes.length > 0;
  return { changes, specChanged };
}

/** Its dependencies' actions (to finish before it starts) and the waits on their readiness or state. */
export function startGate(
  node: StackNode,
  nodeAction: ReadonlyMap<string, Action>,
): { startAfter: string[]; waitFor: Wait[] } {
  const startAfter: (Action | undefined)[] = [];
  const waitFor: Wait[] = [];
  for (const d of node.deps) {
    const dep = nodeAction.get(d.name);
    startAfter.push(dep);
    if (d.kind !== "service") continue;
    if (d.condition === "healthy") waitFor.push({ service: d.name, condition: "healthy" });
    else if (!dep) waitFor.push({ service: d.name, condition: "running" });
  }
  return { startAfter: ids(startAfter), waitFor };
}

/**
 * The dependencies with `restart: true` whose action in this plan (one of `kinds`) restarts the
 * node, each with what happened to it.
 */
export function restartTriggers(
  node: StackNode,
  nodeAction: ReadonlyMap<string, Action>,
  kinds: ReadonlySet<string>,
): ActionOf<"container.restart">["triggers"] {
  return node.deps
    .filter((d) => {
      const a = nodeAction.get(d.name);
      return d.restart && a !== undefined && kinds.has(a.kind);
    })
    .map((t) => ({
      name: t.name,
      change: nodeAction.get(t.name)?.kind === "job.run" ? ("rerun" as const) : ("replaced" as const),
    }));
}
