import type { EngineClient } from "./engine/index.js";
import { UsageError } from "./errors.js";
import type { Diagnosis, VerifySink } from "./events.js";
import { LABEL } from "./labels.js";
import type { ResolvedCheck, ResolvedStack } from "./model.js";
import { connectionsOf } from "./probe.js";
import { createReach, type ReachOptions } from "./reach.js";
import { redact } from "./redact.js";
import { type CheckResult, runCheck } from "./verify-check.js";

export type { CheckHarness, CheckResult, HopRecord } from "./verify-check.js";
export { runCheck } from "./verify-check.js";

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
