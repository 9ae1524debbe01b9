import type { EngineClient } from "./engine/index.js";
import { CancelledError, ConflictError } from "./errors.js";
import type { EventSink } from "./events.js";
import type { ExecuteOptions, ExecuteResult } from "./execute/index.js";
import type { ResolvedStack } from "./model.js";
import { observe } from "./observe.js";
import { conflictLines, describeConflict } from "./plan/describe.js";
import { plan } from "./plan/index.js";
import type { Plan } from "./plan/types.js";
import { acquireLock, type LockInfo } from "./state.js";
import { checkDataRoot, type TeardownResult, teardownStack } from "./teardown.js";

/** Observes the engine (or the swarm) and returns what `apply` would do; changes nothing. */
export async function diff(stack: ResolvedStack, engine: EngineClient): Promise<Plan> {
  if (stack.target === "swarm")
    return (await (await import("./swarm/api.js")).planOnSwarm(stack, engine)).plan;
  return plan(stack, await observe(engine, stack));
}

export interface ApplyOptions {
  onEvent?: EventSink;
  signal?: AbortSignal;
  /** How many actions run at once; default 32. */
  concurrency?: number;
  /** Wait until started services are healthy; default true. */
  wait?: boolean;
  /** How long to wait for another run's lock; default 0 (fail at once). */
  lockWaitMs?: number;
  /** Take the stack's lock whoever holds it (the last resort when it is provably stale). */
  forceUnlock?: boolean;
  /** Plan only (the plan is still emitted); conflicts throw as the apply would. */
  dryRun?: boolean;
  /**
   * Asked with the plan, under the lock, before anything changes; the plan it is given is the plan
   * that runs. Resolving false stops the apply with CancelledError (nothing changed).
   */
  confirm?: (plan: Plan) => boolean | Promise<boolean>;
}

export interface ApplyResult {
  plan: Plan;
  /** Undefined for a dry run. */
  result: ExecuteResult | undefined;
}

/**
 * Locks the stack, observes, plans, asks (`confirm`), executes. Safe to run again after any
 * failure: the next plan starts from what the engine and the data root hold then.
 */
export async function apply(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  const emit = opts.onEvent ?? (() => {});
  if (opts.dryRun) {
    const p = await diff(stack, engine);
    emit({ type: "plan", plan: p });
    if (p.conflicts.length > 0) throw conflictError(p, "would stop this apply");
    return { plan: p, result: undefined };
  }
  const lock = await acquireLock(stack.dataRoot, "shctl apply", {
    waitMs: opts.lockWaitMs ?? 0,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.forceUnlock ? { force: true } : {}),
    onStale: (info) => emit({ type: "warning", message: tookOver(info, opts.forceUnlock) }),
  });
  try {
    const swarm = stack.target === "swarm" ? await import("./swarm/api.js") : undefined;
    const onSwarm = swarm ? await swarm.planOnSwarm(stack, engine) : undefined;
    const p = onSwarm ? onSwarm.plan : await diff(stack, engine);
    emit({ type: "plan", plan: p });
    if (p.conflicts.length > 0) throw conflictError(p, "stop this apply");
    if (opts.confirm && p.actions.length > 0 && !(await opts.confirm(p))) {
      throw new CancelledError("cancelled: nothing was changed", {
        hint: "run apply again when you want to",
      });
    }
    const executeOptions = {
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
    };
    const result =
      swarm && onSwarm
        ? await swarm.executeSwarm(p, stack, engine, onSwarm.env, executeOptions)
        : await executeOnEngine(p, stack, engine, executeOptions);
    return { plan: p, result };
  } finally {
    await lock.release();
  }
}

/**
 * Carries the plan out on the engine (execute/). A plan with nothing to do and nothing to wait
 * for ends here, with the executor's outcome event for it, without loading the executor: the
 * everyday no-op apply reads, plans and ends.
 */
async function executeOnEngine(
  p: Plan,
  stack: ResolvedStack,
  engine: EngineClient,
  opts: ExecuteOptions,
): Promise<ExecuteResult> {
  const idle = p.actions.length === 0 && (p.waitReady.length === 0 || opts.wait === false);
  if (idle && !opts.signal?.aborted) {
    opts.onEvent?.({ type: "outcome", done: [], notDone: [], notReady: [] });
    return { done: [], skipped: [], durationMs: 0 };
  }
  return (await import("./execute/index.js")).execute(p, stack, engine, opts);
}

function conflictError(p: Plan, what: string): ConflictError {
  const n = p.conflicts.length;
  return new ConflictError(
    `${n} conflict${n === 1 ? "" : "s"} ${n === 1 ? what.replace(/^stop /, "stops ") : what}`,
    {
      conflicts: p.conflicts,
      details: conflictLines(p.conflicts),
      hint: [...new Set(p.conflicts.map((c) => describeConflict(c).hint))].join("; "),
    },
  );
}

/** Removes the stack's containers and networks (and with `data`, the data root), under the lock. */
export async function teardown(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: { data?: boolean; onEvent?: EventSink; lockWaitMs?: number; forceUnlock?: boolean } = {},
): Promise<TeardownResult> {
  // Refuse an unsafe data root before the lock writes anything into it.
  if (opts.data) await checkDataRoot(stack);
  const lock = await acquireLock(stack.dataRoot, `shctl teardown${opts.data ? " --data" : ""}`, {
    waitMs: opts.lockWaitMs ?? 0,
    ...(opts.forceUnlock ? { force: true } : {}),
    onStale: (info) => opts.onEvent?.({ type: "warning", message: tookOver(info, opts.forceUnlock) }),
  });
  try {
    if (stack.target === "swarm")
      return await (await import("./swarm/api.js")).teardownSwarm(stack, engine, opts);
    return await teardownStack(stack, engine, opts);
  } finally {
    await lock.release();
  }
}

/** What taking over a lock says. */
function tookOver(info: LockInfo, forced: boolean | undefined): string {
  const who = `pid ${info.pid} on ${info.host} (${info.command}, since ${info.startedAt})`;
  return forced
    ? `--force-unlock: took the lock held by ${who}`
    : `took over a lock left by ${who}, which is no longer a shctl run`;
}
