import { formatDuration } from "./duration.js";
import type { EngineClient } from "./engine.js";
import { ConflictError, StepFailedError } from "./errors.js";
import type { EventSink } from "./events.js";
import { type ExecuteResult, execute } from "./execute.js";
import { LABEL } from "./labels.js";
import type { ResolvedService, ResolvedStack } from "./model.js";
import { observe } from "./observe.js";
import { type Plan, plan } from "./plan.js";
import { runProbe } from "./probe.js";
import { redact } from "./redact.js";
import { acquireLock, readJobLog } from "./state.js";
import { checkDataRoot, type TeardownResult, teardownStack } from "./teardown.js";

/** Observes the engine and returns what `apply` would do; changes nothing. */
export async function diff(stack: ResolvedStack, engine: EngineClient): Promise<Plan> {
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
  /**
   * For a running service with readiness probes: whether all of them answered just now
   * (undefined when the service has none, is not running, or probes were not asked for).
   */
  ready: boolean | undefined;
  /** Why it is not ready: the first probe that failed and its answer (secrets redacted). */
  readyDetail: string | undefined;
}

export interface StatusOptions {
  /** Run each running service's readiness probes once (default true). */
  probes?: boolean;
  /** How long one service's probes may take in all; default 5 s. */
  probeTimeoutMs?: number;
}

/**
 * Each container of the stack (and each service without one): state, health, restarts, start time.
 * Services that are running and have readiness probes are probed once, all in parallel, so that a
 * service without a Docker healthcheck still says whether it answers.
 */
export async function status(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: StatusOptions = {},
): Promise<ServiceStatus[]> {
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
      ready: undefined,
      readyDetail: undefined,
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
        ready: undefined,
        readyDetail: undefined,
      });
    }
  }
  if (opts.probes ?? true) {
    await Promise.all(
      out.map(async (row) => {
        const svc = stack.services[row.name];
        if (row.kind !== "service" || row.state !== "running" || !row.containerId || !svc) return;
        if (svc.readiness.length === 0) return;
        const why = await probeOnce(engine, svc, row.containerId, opts.probeTimeoutMs ?? 5000);
        row.ready = why === undefined;
        row.readyDetail = why === undefined ? undefined : redact(why, stack.secrets);
      }),
    );
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Runs a service's probes once, in order; undefined when all answer, else why the first did not. */
async function probeOnce(
  engine: EngineClient,
  svc: ResolvedService,
  id: string,
  timeoutMs: number,
): Promise<string | undefined> {
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      stop.abort();
      resolve(`no answer within ${formatDuration(timeoutMs)}`);
    }, timeoutMs);
  });
  const probes = (async () => {
    for (const probe of svc.readiness) {
      try {
        await runProbe(engine, svc, id, probe, stop.signal);
      } catch (err) {
        return `${probe.label}: ${(err as Error)?.message ?? String(err)}`;
      }
    }
    return undefined;
  })();
  try {
    return await Promise.race([probes, expired]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** Where `logs` read from: a container, or the saved log of a job's latest run. */
export type LogsSource =
  | { kind: "container" }
  | { kind: "saved job log"; outcome: string; finishedAt: string };

/**
 * Prints a service's or job's log lines (secrets redacted) through `onLine`; with `follow`, until
 * the signal aborts. A job whose container is gone (it ended) prints the saved log of its latest
 * run instead.
 */
export async function logs(
  stack: ResolvedStack,
  engine: EngineClient,
  service: string,
  opts: { tail?: number; follow?: boolean; signal?: AbortSignal; onLine: (line: string) => void },
): Promise<LogsSource> {
  const list = await engine.listContainers([`${LABEL.stack}=${stack.name}`, `${LABEL.name}=${service}`]);
  const c = list[0];
  const tail = opts.tail ?? 100;
  const onLine = (l: string) => opts.onLine(redact(l, stack.secrets));
  if (!c) {
    const saved = stack.jobs[service] ? await readJobLog(stack.dataRoot, service) : undefined;
    if (saved) {
      for (const l of tail > 0 ? saved.lines.slice(-tail) : []) onLine(l);
      return { kind: "saved job log", outcome: saved.outcome, finishedAt: saved.finishedAt };
    }
    if (stack.jobs[service]) {
      throw new StepFailedError(`job ${service}`, "logs", "it is not running and has no saved log", {
        hint: "a job's log is saved when it runs; `shctl apply` runs it when it has not completed",
      });
    }
    throw new StepFailedError(`service ${service}`, "logs", "it has no container", {
      hint: stack.services[service]
        ? "run `shctl apply` first"
        : `the stack has: ${Object.keys(stack.services).sort().join(", ")}`,
    });
  }
  if (opts.follow) await engine.followLogs(c.id, tail, onLine, opts.signal ?? new AbortController().signal);
  // As with docker logs: --tail 0 prints nothing (the engine reads a tail of 0 as "all").
  else if (tail > 0) for (const l of await engine.containerLogs(c.id, tail)) onLine(l);
  return { kind: "container" };
}
