import { formatDuration } from "./duration.js";
import type { EngineClient } from "./engine/index.js";
import { UsageError } from "./errors.js";
import type { Diagnosis, HopStatus, VerifySink } from "./events.js";
import { LABEL } from "./labels.js";
import type { ResolvedCheck, ResolvedStack } from "./model.js";
import { connectionsOf } from "./probe.js";
import { createReach, type ReachOptions } from "./reach.js";
import { redact } from "./redact.js";
import type { CheckContext, HopControl, HopOptions, PollResult, StackConnections } from "./schema.js";

/*
 * `verify`: runs a stack's end-to-end checks against the running stack. A check is a sequence of
 * hops (what it sends, then each place it should arrive); each hop is timed and reported as it
 * starts and ends, and the first one that breaks ends the check: it names the service that owns
 * it, with that service's state, restarts and last log lines, and the likely fix. The hops a
 * check declared after it are reported as skipped. Checks run side by side; each has its own
 * timeout. Nothing here is printed: everything is an event (events.ts, VerifyEvent).
 */

export interface VerifyOptions {
  /** Run only the checks with these names (all when absent or empty). */
  only?: string[];
  /** Overrides every check's own timeout. */
  timeoutMs?: number;
  onEvent?: VerifySink;
  /** Aborting it stops every check at its current hop (reported as interrupted). */
  signal?: AbortSignal;
  /** How many log lines a diagnosis shows (default 12). */
  logLines?: number;
  /** How to reach the stack's containers (tests). */
  reach?: ReachOptions;
}

export interface HopRecord {
  hop: string;
  status: Exclude<HopStatus, "running">;
  ms: number | undefined;
  detail: string | undefined;
  owner: string | undefined;
  fix: string | undefined;
  diagnosis: Diagnosis | undefined;
}

export interface CheckResult {
  name: string;
  description: string | undefined;
  ok: boolean;
  ms: number;
  /** Every hop in the order it ended (skipped ones last). */
  hops: HopRecord[];
  /** The first hop that failed. */
  broken: HopRecord | undefined;
}

export interface VerifyResult {
  /** Every check passed (and nothing was interrupted). */
  ok: boolean;
  interrupted: boolean;
  checks: CheckResult[];
}

/** Runs the stack's checks (or the ones named) and returns each one's hops and verdict. */
export async function verify(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const checks = selectChecks(stack, opts.only);
  const reach = createReach(engine, stack, opts.reach);
  const shared = new Map<string, Promise<unknown>>();
  const secrets = [...stack.secrets];
  const logLines = opts.logLines ?? 12;
  try {
    const results = await Promise.all(
      checks.map((check) =>
        runCheck(check, {
          stack: stack.name,
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
          connections: (signal) => connectionsOf(reach, signal),
          exec: (service, cmd, signal) => execIn(engine, stack.name, service, cmd, signal),
          diagnose: (service) => diagnoseService(engine, stack.name, service, logLines, secrets),
          shared,
          secrets,
        }),
      ),
    );
    const interrupted = opts.signal?.aborted === true;
    return { ok: !interrupted && results.every((r) => r.ok), interrupted, checks: results };
  } finally {
    await reach.close();
  }
}

/** The checks to run: all of the stack's, or those named (each must exist). */
export function selectChecks(stack: ResolvedStack, only: string[] | undefined): ResolvedCheck[] {
  const names = stack.checks.map((c) => c.name);
  if (stack.checks.length === 0) {
    throw new UsageError(`stack ${stack.name} declares no checks`, {
      hint: "checks are declared in a TypeScript stack module (`checks: [{ name, timeout, run }]`); see docs/stack.md",
    });
  }
  if (!only || only.length === 0) return stack.checks;
  const unknown = only.filter((n) => !names.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `stack ${stack.name} has no check named ${unknown.map((n) => `"${n}"`).join(", ")}`,
      { hint: `its checks: ${names.join(", ")}` },
    );
  }
  return stack.checks.filter((c) => only.includes(c.name));
}

/** What one check runs with; verify builds it from the engine, tests from fakes. */
export interface CheckHarness {
  stack: string;
  /** Overrides the check's own timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: VerifySink;
  /** The stack connections for this check (given the check's signal). */
  connections: (signal: AbortSignal) => StackConnections;
  exec: (
    service: string,
    cmd: string[],
    signal: AbortSignal,
  ) => Promise<{ exitCode: number; output: string }>;
  diagnose: (service: string) => Promise<Diagnosis>;
  /** Work shared by the checks of one run (`once`); a new map per run. */
  shared?: Map<string, Promise<unknown>>;
  /** Values to redact; `secret()` adds to it (shared by the checks of one run). */
  secrets?: string[];
  now?: () => number;
}

/** Thrown out of `hop` after a failed hop was reported: the check ends there. */
class HopBroken extends Error {
  constructor(readonly hop: string) {
    super(`hop "${hop}" broke`);
  }
}

/** Thrown by `until` when the check runs out of time: says what it was still waiting for. */
class StillWaiting extends Error {}

/** Runs one check: its hops in the order it runs them, the first broken one, the rest skipped. */
export async function runCheck(
  check: Pick<ResolvedCheck, "name" | "run"> &
    Partial<Pick<ResolvedCheck, "description" | "hops" | "timeoutMs">>,
  h: CheckHarness,
): Promise<CheckResult> {
  const now = h.now ?? Date.now;
  const emit = h.onEvent ?? (() => {});
  const secrets = h.secrets ?? [];
  const shared = h.shared ?? new Map<string, Promise<unknown>>();
  const timeoutMs = h.timeoutMs ?? check.timeoutMs ?? 180_000;
  const declared = check.hops ?? [];
  const t0 = now();
  const deadline = t0 + timeoutMs;

  const expired = new AbortController();
  const timer = setTimeout(
    () => expired.abort(new Error(`the check's timeout (${formatDuration(timeoutMs)}) passed`)),
    timeoutMs,
  );
  const signal = h.signal ? AbortSignal.any([h.signal, expired.signal]) : expired.signal;
  const interrupted = () => h.signal?.aborted === true;
  const clean = (text: string) => redact(text, secrets);

  const hops: HopRecord[] = [];
  const reported = new Set<string>();
  const record = (r: HopRecord) => {
    hops.push(r);
    reported.add(r.hop);
    emit({
      type: "hop",
      check: check.name,
      hop: r.hop,
      status: r.status,
      ...(r.ms !== undefined ? { ms: r.ms } : {}),
      ...(r.detail !== undefined ? { detail: r.detail } : {}),
      ...(r.owner !== undefined ? { owner: r.owner } : {}),
      ...(r.fix !== undefined ? { fix: r.fix } : {}),
      ...(r.diagnosis !== undefined ? { diagnosis: r.diagnosis } : {}),
    });
  };

  /** What went wrong, in words: the error, or the timeout/interruption that cut it short. */
  const reason = (err: unknown): string => {
    const message = clean(errorMessage(err));
    if (err instanceof StillWaiting) return message;
    if (interrupted()) return "interrupted";
    if (expired.signal.aborted) {
      const cut = `no answer before the check's timeout (${formatDuration(timeoutMs)})`;
      return isAbort(err) || message === "" ? cut : `${cut}: ${message}`;
    }
    return message;
  };

  const failHop = async (
    name: string,
    started: number,
    owner: string | undefined,
    fix: string | undefined,
    err: unknown,
  ) => {
    const diagnosis = owner && !interrupted() ? await safeDiagnose(h.diagnose, owner, clean) : undefined;
    const hint = (err as { hint?: unknown })?.hint;
    record({
      hop: name,
      status: "failed",
      ms: now() - started,
      detail: reason(err),
      owner,
      fix: interrupted() ? undefined : typeof hint === "string" ? clean(hint) : fix,
      diagnosis,
    });
  };

  const ctx: CheckContext = {
    ...h.connections(signal),
    stack: h.stack,
    check: check.name,
    signal,
    timeLeft: () => Math.max(0, deadline - now()),
    exec: (service, cmd) => h.exec(service, cmd, signal),
    diagnose: (service) => safeDiagnose(h.diagnose, service, clean),
    once: <T>(key: string, fn: () => Promise<T>): Promise<T> => {
      let p = shared.get(key) as Promise<T> | undefined;
      if (!p) {
        p = fn();
        shared.set(key, p);
      }
      return p;
    },
    secret: (value: string) => {
      if (value.length >= 3 && !secrets.includes(value)) {
        secrets.push(value);
        secrets.sort((a, b) => b.length - a.length);
      }
    },
    until: async <T>(probe: () => Promise<PollResult<T>>, opts: { intervalMs?: number } = {}): Promise<T> => {
      const started = now();
      let why: string | undefined;
      for (;;) {
        if (signal.aborted) {
          if (interrupted()) throw new StillWaiting("interrupted");
          throw new StillWaiting(
            why
              ? `${why} (still so after ${formatDuration(now() - started)})`
              : `no answer within ${formatDuration(now() - started)}`,
          );
        }
        let r: PollResult<T>;
        try {
          r = await probe();
        } catch (err) {
          if (signal.aborted) continue; // cut short by the timeout: report what it waited for
          throw err;
        }
        if (r.ok) return r.value;
        // An answer the timeout cut short says nothing about what was waited for: keep the last one.
        if (signal.aborted && why !== undefined) continue;
        why = r.why;
        await sleep(opts.intervalMs ?? 1000, signal);
      }
    },
    hop: async <T>(name: string, opts: HopOptions, fn: (hc: HopControl) => Promise<T>): Promise<T> => {
      const started = now();
      let detail: string | undefined;
      let owner = opts.owner;
      emit({ type: "hop", check: check.name, hop: name, status: "running", ...(owner ? { owner } : {}) });
      const control: HopControl = {
        detail: (text) => {
          detail = text;
        },
        owner: (service) => {
          owner = service;
        },
        signal,
      };
      try {
        signal.throwIfAborted();
        const value = await fn(control);
        record({
          hop: name,
          status: "ok",
          ms: now() - started,
          detail: detail === undefined ? undefined : clean(detail),
          owner,
          fix: undefined,
          diagnosis: undefined,
        });
        return value;
      } catch (err) {
        if (err instanceof HopBroken) throw err; // a hop inside this one broke and was reported
        await failHop(name, started, owner, opts.fix, err);
        throw new HopBroken(name);
      }
    },
  };

  emit({
    type: "check",
    name: check.name,
    phase: "running",
    hops: declared,
    ...(check.description ? { description: check.description } : {}),
  });
  try {
    await check.run(ctx);
  } catch (err) {
    // A failure outside any hop (or a hop the check caught and rethrew as something else).
    if (!(err instanceof HopBroken)) await failHop("(check)", t0, undefined, undefined, err);
  } finally {
    clearTimeout(timer);
  }
  const broken = hops.find((r) => r.status === "failed");
  for (const name of declared) {
    if (reported.has(name)) continue;
    record({
      hop: name,
      status: "skipped",
      ms: undefined,
      detail: broken ? `after "${broken.hop}" broke` : "not run",
      owner: undefined,
      fix: undefined,
      diagnosis: undefined,
    });
  }
  const ok = broken === undefined && !interrupted();
  const ms = now() - t0;
  emit({ type: "check", name: check.name, phase: ok ? "passed" : "failed", ms });
  return { name: check.name, description: check.description, ok, ms, hops, broken };
}

/** A diagnosis that never throws and never takes more than 10 s. */
async function safeDiagnose(
  diagnose: (service: string) => Promise<Diagnosis>,
  service: string,
  clean: (s: string) => string,
): Promise<Diagnosis> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the engine did not answer within 10s")), 10_000);
  });
  try {
    const d = await Promise.race([diagnose(service), late]);
    return { ...d, logTail: d.logTail.map(clean) };
  } catch (err) {
    return {
      service,
      state: "unknown",
      health: undefined,
      restarts: 0,
      exitCode: undefined,
      startedAt: undefined,
      logTail: [],
      note: clean(errorMessage(err)),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A service's container state, restarts and last log lines, as the engine has them. */
export async function diagnoseService(
  engine: EngineClient,
  stack: string,
  service: string,
  logLines: number,
  secrets: readonly string[],
): Promise<Diagnosis> {
  const list = await engine.listContainers([`${LABEL.stack}=${stack}`, `${LABEL.name}=${service}`]);
  const c = list.find((x) => x.state === "running") ?? list[0];
  if (!c) {
    return {
      service,
      state: "missing",
      health: undefined,
      restarts: 0,
      exitCode: undefined,
      startedAt: undefined,
      logTail: [],
    };
  }
  const d = await engine.inspectContainer(c.id);
  const lines = logLines > 0 ? await engine.containerLogs(c.id, logLines).catch(() => []) : [];
  const state = d?.state ?? c.state;
  return {
    service,
    state,
    health: d?.health,
    restarts: d?.restartCount ?? 0,
    exitCode: state === "running" ? undefined : d?.exitCode,
    startedAt: state === "running" ? d?.startedAt : undefined,
    logTail: lines.map((l) => redact(l, secrets)),
  };
}

/** Runs a command in the running container of a stack's service. */
async function execIn(
  engine: EngineClient,
  stack: string,
  service: string,
  cmd: string[],
  signal: AbortSignal,
): Promise<{ exitCode: number; output: string }> {
  const list = await engine.listContainers([`${LABEL.stack}=${stack}`, `${LABEL.name}=${service}`]);
  const c = list.find((x) => x.state === "running");
  if (!c) {
    throw new Error(
      list[0]
        ? `service ${service} is not running (${list[0].state})`
        : `service ${service} has no container`,
    );
  }
  return engine.exec(c.id, cmd, signal);
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function isAbort(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === "AbortError" || name === "TimeoutError" || (err as { code?: string })?.code === "ABORT_ERR";
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
