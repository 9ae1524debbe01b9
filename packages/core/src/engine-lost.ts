import type { EngineClient } from "./engine/index.js";
import { EngineUnreachableError, JobFailedError } from "./errors.js";

/*
 * Whether a failed command's real cause is the engine going away: a build "aborted", a create's
 * EPIPE, a job or a healthcheck's container stopped with 143 by the engine's shutdown, a 5xx
 * "transport is closing" are what each step saw of it. Asked once steps failed, never before.
 */

const TIMING = {
  /** How long the engine has to answer before a failed run counts it as gone. */
  answerMs: 5_000,
  /** How long a failed run whose container died of a signal watches for the engine shutting down. */
  shutdownMs: 3_000,
};

/**
 * Sets how long a failed run watches for the engine shutting down; returns what puts it back. For
 * the executor's unit tests (a fake engine's scripted answers need a second, not three).
 */
export function setShutdownWatch(ms: number): () => void {
  const was = TIMING.shutdownMs;
  TIMING.shutdownMs = ms;
  return () => {
    TIMING.shutdownMs = was;
  };
}

/** Codes of a connection to the engine that could not be made or was cut. */
const LOST_CODES = new Set(["ECONNREFUSED", "ENOENT", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENOTFOUND"]);

/** Whether an engine call failed for want of the engine (not an answer from it). */
function connectionLost(err: unknown): boolean {
  if (err instanceof EngineUnreachableError) return true;
  return causes(err).some((e) => {
    const x = e as { code?: unknown; statusCode?: unknown };
    return x.statusCode === undefined && typeof x.code === "string" && LOST_CODES.has(x.code);
  });
}

/** A failure the engine answered with a 5xx (its own trouble: "transport is closing" while it stops). */
function engineInternal(err: unknown): boolean {
  return causes(err).some((e) => {
    const x = e as { statusCode?: unknown; message?: unknown };
    if (typeof x.statusCode === "number" && x.statusCode >= 500) return true;
    // A build's or a pull's stream carries the engine's own error as text, with no status.
    return typeof x.message === "string" && STOPPING_TEXT.test(x.message);
  });
}

/**
 * What the engine says of its own connections while it stops (containerd's gRPC, its shutdown),
 * and what a build's step saw of its layer store being unmounted under it.
 */
const STOPPING_TEXT =
  /transport is closing|client connection is closing|daemon is shutting down|error creating overlay mount/i;

/** A failure whose container ended by a signal (exit code 129–159: 143 SIGTERM, 137 SIGKILL). */
function killedBySignal(err: unknown): boolean {
  if (err instanceof JobFailedError) return err.jobExitCode > 128 && err.jobExitCode < 160;
  const m = /exited with code (\d+)/.exec(String((err as Error)?.message ?? ""));
  return m !== null && Number(m[1]) > 128 && Number(m[1]) < 160;
}

/**
 * When the engine no longer answers (or not within TIMING.answerMs), an EngineUnreachableError
 * saying it went away during `shctl COMMAND`, the steps it cut short and what to run; undefined
 * when it answers. When a failure looks like an engine stopping (a container died of a signal, a
 * 5xx, a connection reset), it is asked again for TIMING.shutdownMs: an engine stopping gracefully stops its containers
 * first and answers meanwhile.
 */
export async function engineLost(
  engine: EngineClient,
  errors: readonly unknown[],
  steps: string[],
  command: "apply" | "teardown",
): Promise<EngineUnreachableError | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), TIMING.answerMs);
  });
  let cause: unknown;
  try {
    const suspect = errors.some((e) => killedBySignal(e) || engineInternal(e) || connectionLost(e));
    const until = Date.now() + (suspect ? TIMING.shutdownMs : 0);
    for (;;) {
      const answer = await Promise.race([engine.version(), late]);
      if (answer === "late") {
        cause = new Error(`no answer in ${TIMING.answerMs / 1000}s`);
        break;
      }
      if (Date.now() >= until) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } catch (err) {
    if (!connectionLost(err)) return undefined;
    cause = err instanceof EngineUnreachableError ? (err.cause ?? err) : err;
  } finally {
    clearTimeout(timer);
  }
  return new EngineUnreachableError(engine.where, cause, {
    during: `shctl ${command}`,
    steps,
    hint: `start the Docker Engine again, then run \`shctl ${command}\`: what completed is kept, and what was cut short is done again`,
  });
}

function causes(err: unknown): object[] {
  const out: object[] = [];
  for (let e = err; e && typeof e === "object" && !out.includes(e); e = (e as { cause?: unknown }).cause)
    out.push(e);
  return out;
}
