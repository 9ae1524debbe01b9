import type { EngineClient } from "./engine.js";
import { ConflictError, StepFailedError } from "./errors.js";
import type { EventSink } from "./events.js";
import { type ExecuteResult, execute } from "./execute.js";
import { LABEL } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { observe } from "./observe.js";
import { type Plan, plan } from "./plan.js";
import { redact } from "./redact.js";
import { acquireLock } from "./state.js";
import { checkDataRoot, type TeardownResult, teardownStack } from "./teardown.js";

/** Observes the engine and returns what `apply` would do; changes nothing. */
export async function diff(stack: ResolvedStack, engine: EngineClient): Promise<Plan> {
  return plan(stack, await observe(engine, stack));
}

export interface ApplyOptions {
  onEvent?: EventSink;
  signal?: AbortSignal;
  concurrency?: number;
  /** Wait until started services are healthy; default true. */
  wait?: boolean;
  /** How long to wait for another run's lock; default 0 (fail at once). */
  lockWaitMs?: number;
  /** Plan only (the plan is still emitted). */
  dryRun?: boolean;
}

export interface ApplyResult {
  plan: Plan;
  result: ExecuteResult | undefined;
}

/** Locks the stack, observes, plans and executes. Safe to run again after any failure. */
export async function apply(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  const emit = opts.onEvent ?? (() => {});
  if (opts.dryRun) {
    const p = await diff(stack, engine);
    emit({ type: "plan", plan: p });
    return { plan: p, result: undefined };
  }
  const lock = await acquireLock(stack.dataRoot, "shctl apply", {
    waitMs: opts.lockWaitMs ?? 0,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onStale: (info) =>
      emit({
        type: "warning",
        message: `took over a lock left by pid ${info.pid} (${info.command}, ${info.startedAt}), which is gone`,
      }),
  });
  try {
    const p = await diff(stack, engine);
    emit({ type: "plan", plan: p });
    if (p.conflicts.length > 0) {
      throw new ConflictError(`${p.conflicts.length} conflict(s) stop this apply`, {
        details: p.conflicts.map((c) => `${c.resource}: ${c.message}`),
        hint: p.conflicts.map((c) => c.hint).join("; "),
      });
    }
    const result = await execute(p, stack, engine, {
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
    });
    return { plan: p, result };
  } finally {
    await lock.release();
  }
}

/** Removes the stack's containers and networks (and with `data`, the data root), under the lock. */
export async function teardown(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: { data?: boolean; onEvent?: EventSink; lockWaitMs?: number } = {},
): Promise<TeardownResult> {
  // Refuse an unsafe data root before the lock writes anything into it.
  if (opts.data) await checkDataRoot(stack);
  const lock = await acquireLock(stack.dataRoot, `shctl teardown${opts.data ? " --data" : ""}`, {
    waitMs: opts.lockWaitMs ?? 0,
    ...(opts.onEvent
      ? {
          onStale: (info) =>
            opts.onEvent?.({
              type: "warning",
              message: `took over a lock left by pid ${info.pid}, which is gone`,
            }),
        }
      : {}),
  });
  try {
    return await teardownStack(stack, engine, opts);
  } finally {
    await lock.release();
  }
}

export interface ServiceStatus {
  name: string;
  kind: "service" | "job" | "helper";
  /** "missing" when the stack has the service but the engine has no container for it. */
  state: string;
  health: string | undefined;
  restarts: number;
  startedAt: string | undefined;
  containerId: string | undefined;
  /** In the engine but no longer in the stack. */
  orphan: boolean;
}

export async function status(stack: ResolvedStack, engine: EngineClient): Promise<ServiceStatus[]> {
  const list = await engine.listContainers([`${LABEL.stack}=${stack.name}`]);
  const details = await Promise.all(list.map((c) => engine.inspectContainer(c.id)));
  const out: ServiceStatus[] = [];
  const seen = new Set<string>();
  for (const d of details) {
    if (!d) continue;
    const name = d.labels[LABEL.name] ?? d.name;
    seen.add(name);
    out.push({
      name,
      kind: (d.labels[LABEL.kind] as ServiceStatus["kind"]) ?? "service",
      state: d.state,
      health: d.health,
      restarts: d.restartCount,
      startedAt: d.state === "running" ? d.startedAt : undefined,
      containerId: d.id,
      orphan: !stack.services[name] && !stack.jobs[name],
    });
  }
  for (const s of Object.keys(stack.services)) {
    if (!seen.has(s)) {
      out.push({
        name: s,
        kind: "service",
        state: "missing",
        health: undefined,
        restarts: 0,
        startedAt: undefined,
        containerId: undefined,
        orphan: false,
      });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Prints a service's log lines (secrets redacted) through `onLine`; with `follow`, until the signal aborts. */
export async function logs(
  stack: ResolvedStack,
  engine: EngineClient,
  service: string,
  opts: { tail?: number; follow?: boolean; signal?: AbortSignal; onLine: (line: string) => void },
): Promise<void> {
  const list = await engine.listContainers([`${LABEL.stack}=${stack.name}`, `${LABEL.name}=${service}`]);
  const c = list[0];
  if (!c) {
    throw new StepFailedError(`service ${service}`, "logs", "it has no container", {
      hint: stack.services[service]
        ? "run `shctl apply` first"
        : `the stack has: ${Object.keys(stack.services).sort().join(", ")}`,
    });
  }
  const tail = opts.tail ?? 100;
  const onLine = (l: string) => opts.onLine(redact(l, stack.secrets));
  if (opts.follow) await engine.followLogs(c.id, tail, onLine, opts.signal ?? new AbortController().signal);
  else for (const l of await engine.containerLogs(c.id, tail)) onLine(l);
}
