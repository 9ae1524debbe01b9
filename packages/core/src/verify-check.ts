import { setTimeout as delay } from "node:timers/promises";
import { formatDuration } from "./duration.js";
import type { Diagnosis, HopStatus, VerifyEvent, VerifySink } from "./events.js";
import type { ResolvedCheck } from "./model.js";
import { redact } from "./redact.js";
import type { CheckContext, HopControl, HopOptions, PollResult, StackConnections } from "./schema.js";

/*
 * One check of `verify`: its hops in the order it runs them, each timed and reported as it starts
 * and ends; the first one that breaks ends the check (with its owner's diagnosis), the hops it
 * declared after that are reported as skipped.
 */

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

type CheckSpec = Pick<ResolvedCheck, "name" | "run"> &
  Partial<Pick<ResolvedCheck, "description" | "hops" | "timeoutMs">>;

/** Thrown out of `hop` after a failed hop was reported: the check ends there. */
class HopBroken extends Error {
  constructor(readonly hop: string) {
    super(`hop "${hop}" broke`);
  }
}

/** Thrown by `until` when the check runs out of time: says what it was still waiting for. */
class StillWaiting extends Error {}

/** Runs one check: its hops in the order it runs them, the first broken one, the rest skipped. */
export function runCheck(check: CheckSpec, h: CheckHarness): Promise<CheckResult> {
  return new CheckRun(check, h).run();
}

class CheckRun {
  private readonly now: () => number;
  private readonly emit: VerifySink;
  private readonly secrets: string[];
  private readonly shared: Map<string, Promise<unknown>>;
  private readonly timeoutMs: number;
  private readonly declared: string[];
  private readonly t0: number;
  private readonly expired = new AbortController();
  private readonly signal: AbortSignal;
  private readonly hops: HopRecord[] = [];
  private readonly reported = new Set<string>();

  constructor(
    private readonly check: CheckSpec,
    private readonly h: CheckHarness,
  ) {
    this.now = h.now ?? Date.now;
    this.emit = h.onEvent ?? (() => {});
    this.secrets = h.secrets ?? [];
    this.shared = h.shared ?? new Map<string, Promise<unknown>>();
    this.timeoutMs = h.timeoutMs ?? check.timeoutMs ?? 180_000;
    this.declared = check.hops ?? [];
    this.t0 = this.now();
    this.signal = h.signal ? AbortSignal.any([h.signal, this.expired.signal]) : this.expired.signal;
  }

  async run(): Promise<CheckResult> {
    const { check } = this;
    const timer = setTimeout(
      () => this.expired.abort(new Error(`the check's timeout (${formatDuration(this.timeoutMs)}) passed`)),
      this.timeoutMs,
    );
    this.emit({
      type: "check",
      name: check.name,
      phase: "running",
      hops: this.declared,
      ...(check.description ? { description: check.description } : {}),
    });
    try {
      await check.run(this.context());
    } catch (err) {
      // A failure outside any hop (or a hop the check caught and rethrew as something else).
      if (!(err instanceof HopBroken)) await this.failHop("(check)", this.t0, undefined, undefined, err);
    } finally {
      clearTimeout(timer);
    }
    const broken = this.hops.find((r) => r.status === "failed");
    for (const name of this.declared) {
      if (this.reported.has(name)) continue;
      this.record({
        hop: name,
        status: "skipped",
        ms: undefined,
        detail: broken ? `after "${broken.hop}" broke` : "not run",
        owner: undefined,
        fix: undefined,
        diagnosis: undefined,
      });
    }
    const ok = broken === undefined && !this.interrupted();
    const ms = this.now() - this.t0;
    this.emit({ type: "check", name: check.name, phase: ok ? "passed" : "failed", ms });
    return { name: check.name, description: check.description, ok, ms, hops: this.hops, broken };
  }

  private interrupted(): boolean {
    return this.h.signal?.aborted === true;
  }

  private clean(text: string): string {
    return redact(text, this.secrets);
  }

  private record(r: HopRecord): void {
    this.hops.push(r);
    this.reported.add(r.hop);
    const event: VerifyEvent = { type: "hop", check: this.check.name, hop: r.hop, status: r.status };
    if (r.ms !== undefined) event.ms = r.ms;
    if (r.detail !== undefined) event.detail = r.detail;
    if (r.owner !== undefined) event.owner = r.owner;
    if (r.fix !== undefined) event.fix = r.fix;
    if (r.diagnosis !== undefined) event.diagnosis = r.diagnosis;
    this.emit(event);
  }

  /** What went wrong, in words: the error, or the timeout/interruption that cut it short. */
  private reason(err: unknown): string {
    const message = this.clean(errorMessage(err));
    if (err instanceof StillWaiting) return message;
    if (this.interrupted()) return "interrupted";
    if (this.expired.signal.aborted) {
      const cut = `no answer before the check's timeout (${formatDuration(this.timeoutMs)})`;
      return isAbort(err) || message === "" ? cut : `${cut}: ${message}`;
    }
    return message;
  }

  private async failHop(
    name: string,
    started: number,
    owner: string | undefined,
    fix: string | undefined,
    err: unknown,
  ): Promise<void> {
    const clean = (s: string) => this.clean(s);
    const diagnosis =
      owner && !this.interrupted() ? await safeDiagnose(this.h.diagnose, owner, clean) : undefined;
    const hint = (err as { hint?: unknown })?.hint;
    this.record({
      hop: name,
      status: "failed",
      ms: this.now() - started,
      detail: this.reason(err),
      owner,
      fix: this.interrupted() ? undefined : typeof hint === "string" ? this.clean(hint) : fix,
      diagnosis,
    });
  }

  private context(): CheckContext {
    const { h, signal } = this;
    return {
      ...h.connections(signal),
      stack: h.stack,
      check: this.check.name,
      signal,
      timeLeft: () => Math.max(0, this.t0 + this.timeoutMs - this.now()),
      exec: (service, cmd) => h.exec(service, cmd, signal),
      diagnose: (service) => safeDiagnose(h.diagnose, service, (s) => this.clean(s)),
      once: <T>(key: string, fn: () => Promise<T>): Promise<T> => {
        let p = this.shared.get(key) as Promise<T> | undefined;
        if (!p) {
          p = fn();
          this.shared.set(key, p);
        }
        return p;
      },
      secret: (value: string) => {
        if (value.length >= 3 && !this.secrets.includes(value)) {
          this.secrets.push(value);
          this.secrets.sort((a, b) => b.length - a.length);
        }
      },
      until: (probe, opts) => this.until(probe, opts),
      hop: (name, opts, fn) => this.hop(name, opts, fn),
    };
  }

  /** Polls `probe` until it answers ok; at the timeout, says what it was still waiting for. */
  private async until<T>(
    probe: () => Promise<PollResult<T>>,
    opts: { intervalMs?: number } = {},
  ): Promise<T> {
    const { signal } = this;
    const started = this.now();
    let why: string | undefined;
    for (;;) {
      if (signal.aborted) {
        if (this.interrupted()) throw new StillWaiting("interrupted");
        const waited = formatDuration(this.now() - started);
        throw new StillWaiting(why ? `${why} (still so after ${waited})` : `no answer within ${waited}`);
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
      await delay(opts.intervalMs ?? 1000, undefined, { signal }).catch(() => undefined);
    }
  }

  /** One hop: timed, reported as it starts and ends; a failure is reported once and ends the check. */
  private async hop<T>(name: string, opts: HopOptions, fn: (hc: HopControl) => Promise<T>): Promise<T> {
    const started = this.now();
    let detail: string | undefined;
    let owner = opts.owner;
    this.emit({
      type: "hop",
      check: this.check.name,
      hop: name,
      status: "running",
      ...(owner ? { owner } : {}),
    });
    const control: HopControl = {
      detail: (text) => {
        detail = text;
      },
      owner: (service) => {
        owner = service;
      },
      signal: this.signal,
    };
    try {
      this.signal.throwIfAborted();
      const value = await fn(control);
      this.record({
        hop: name,
        status: "ok",
        ms: this.now() - started,
        detail: detail === undefined ? undefined : this.clean(detail),
        owner,
        fix: undefined,
        diagnosis: undefined,
      });
      return value;
    } catch (err) {
      if (err instanceof HopBroken) throw err; // a hop inside this one broke and was reported
      await this.failHop(name, started, owner, opts.fix, err);
      throw new HopBroken(name);
    }
  }
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

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function isAbort(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === "AbortError" || name === "TimeoutError" || (err as { code?: string })?.code === "ABORT_ERR";
}
