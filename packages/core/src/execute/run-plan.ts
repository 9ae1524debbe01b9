import { setMaxListeners } from "node:events";
import { isShctlError, StepFailedError } from "../errors.js";
import type { ResolvedStack } from "../model.js";
import type { Action, Plan } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import type { RunContext } from "./context.js";
import type { ExecuteOptions } from "./index.js";
import { type Perform, Scheduler, type StepOutcome } from "./scheduler.js";
import type { ServiceWaits } from "./service-waits.js";

/*
 * How a plan is carried out on every target: each action once the actions it comes after are done,
 * at most `concurrency` at once; the first failure (a step's, or a service's wait) stops scheduling
 * and ends the waits; then, unless the run stopped, the waits for the services the plan names; then
 * the `outcome` event. What a failure or an interrupt throws is the target's (its execute).
 */

/** What a target brings to a run, made once the run's signal exists. */
export interface PlanTarget {
  /** The run's context: where phases and the outcome go. */
  ctx: Pick<RunContext, "phase" | "emit">;
  ready: ServiceWaits;
  perform: Perform<Action>;
  /** Hears each failure that counts for the run (not those after an interrupt), as it comes. */
  noteFailure?(step: string | undefined, err: unknown): void;
  /** Releases what the run opened, once nothing runs or waits any more. */
  close(): Promise<void>;
}

export interface PlanRunOutcome<T extends PlanTarget> {
  /** What the target brought (`open`'s answer). */
  target: T;
  /** Ids of the actions carried out, in plan order. */
  done: string[];
  /** Ids of the actions not carried out, in plan order. */
  skipped: string[];
  /** Services the plan waits for that were not seen ready (none when the run did not wait). */
  notReady: string[];
  /** The run's first failure, if any. */
  failure: StepOutcome["failure"];
  /** Whether the caller's signal stopped the run. */
  interrupted: boolean;
}

/**
 * Runs a plan's actions with what `open` makes of the run's signal (aborted on the first failure
 * or on interrupt) and of where a service's failed wait is to be reported; never throws a step's
 * failure: the outcome says what happened, for the target to throw.
 */
export async function runPlan<T extends PlanTarget>(
  plan: Plan,
  stack: ResolvedStack,
  opts: ExecuteOptions,
  defaultConcurrency: number,
  open: (signal: AbortSignal, onWaitFailed: (service: string, err: unknown) => void) => T,
): Promise<PlanRunOutcome<T>> {
  const internal = new AbortController();
  // Every service waiting for health listens for the abort: as many listeners as services.
  setMaxListeners(0, internal.signal);
  const interrupted = () => opts.signal?.aborted === true;
  opts.signal?.addEventListener("abort", () => internal.abort(), { once: true });
  let onWaitFailed: (service: string, err: unknown) => void = () => {};
  const target = open(internal.signal, (service, err) => onWaitFailed(service, err));
  const scheduler = new Scheduler<Action>(
    { steps: plan.actions, idOf: (a) => a.id, afterOf: (a) => a.after },
    opts.concurrency ?? defaultConcurrency,
    interrupted,
    () => internal.abort(),
  );
  const failed = (a: Action | undefined, err: unknown) => {
    const resource = a ? resourceKey(a.resource) : err instanceof StepFailedError ? err.resource : undefined;
    if (resource)
      target.ctx.phase(
        resource,
        "failed",
        isShctlError(err) ? err.message : String((err as Error)?.message ?? err),
      );
  };
  onWaitFailed = (_service, err) => {
    failed(undefined, err);
    if (interrupted()) return;
    target.noteFailure?.(undefined, err);
    scheduler.fail(undefined, err);
  };
  const outcome = await scheduler.run(async (a, controls) => {
    try {
      return await target.perform(a, controls);
    } catch (err) {
      failed(a, err);
      // Interrupted: a step that failed on the way is shown failed; the run ends as interrupted.
      if (interrupted()) return false;
      target.noteFailure?.(a.id, err);
      throw err;
    }
  });
  if (!scheduler.stopped() && opts.wait !== false) {
    await Promise.all(
      plan.waitReady.map(async (name) => {
        const svc = stack.services[name];
        if (svc) await target.ready.wait(svc);
      }),
    );
  }
  internal.abort();
  await target.close();
  const done = plan.actions.filter((a) => outcome.done.has(a.id)).map((a) => a.id);
  const skipped = plan.actions.filter((a) => !outcome.done.has(a.id)).map((a) => a.id);
  const notReady = opts.wait === false ? [] : plan.waitReady.filter((n) => !target.ready.ready.has(n));
  target.ctx.emit({ type: "outcome", done, notDone: skipped, notReady });
  return { target, done, skipped, notReady, failure: scheduler.failure, interrupted: interrupted() };
}
