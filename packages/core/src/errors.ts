import type { Conflict } from "./plan/types.js";

/**
 * Every failure shctl reports is one of these. Each says what failed, where, and what to do;
 * the CLI maps `exitCode` to the process exit status and prints `message`, `details` and `hint`.
 */
export abstract class ShctlError extends Error {
  abstract readonly exitCode: number;
  /** What the user can do about it. */
  readonly hint: string | undefined;
  /** Extra lines shown under the message (log tails, health output, each spec problem). */
  readonly details: string[];

  constructor(message: string, opts: { hint?: string; details?: string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.hint = opts.hint;
    this.details = opts.details ?? [];
  }
}

export interface SpecIssue {
  /** Where in the stack the problem is, e.g. ["services", "web", "healthcheck", "interval"]. */
  path: (string | number)[];
  message: string;
}

export function formatIssuePath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("") || "(root)";
}

/** The stack or options are invalid: exit 2, one line per problem with its path. */
export class SpecError extends ShctlError {
  readonly exitCode = 2;
  readonly issues: SpecIssue[];
  constructor(source: string, issues: SpecIssue[]) {
    super(`${source}: ${issues.length} problem${issues.length === 1 ? "" : "s"} in the stack`, {
      details: issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`),
      hint: "fix the fields named above and run the command again",
    });
    this.issues = issues;
  }
}

/** Bad command-line usage: exit 2. */
export class UsageError extends ShctlError {
  readonly exitCode = 2;
}

/** A service or job name the stack does not have (and no container of the stack carries): exit 2. */
export class UnknownNameError extends UsageError {
  readonly stackName: string;
  readonly unknown: string;
  /** The services and jobs the stack has. */
  readonly names: string[];
  constructor(stack: string, unknown: string, names: string[]) {
    super(`stack ${stack} has no service or job named "${unknown}"`, {
      hint: `the stack has: ${names.join(", ")}`,
    });
    this.stackName = stack;
    this.unknown = unknown;
    this.names = names;
  }
}

/** The plan was not confirmed (the question was answered no): nothing was changed. */
export class CancelledError extends ShctlError {
  readonly exitCode = 1;
}

/**
 * The Docker Engine could not be reached at all; with `lost`, it went away while a command ran:
 * the message says during what, the details name the steps it cut short.
 */
export class EngineUnreachableError extends ShctlError {
  readonly exitCode = 1;
  constructor(where: string, cause: unknown, lost?: { during: string; steps: string[]; hint: string }) {
    super(`cannot reach the Docker Engine at ${where}${lost ? `: it went away during ${lost.during}` : ""}`, {
      cause,
      hint: lost?.hint ?? "start the engine (e.g. `dockerd` or Docker Desktop), or point DOCKER_HOST at it",
      details: [
        ...(lost && lost.steps.length > 0 ? [`cut short: ${lost.steps.join(", ")}`] : []),
        String((cause as Error)?.message ?? cause),
      ],
    });
  }
}

/** An Engine API call failed; `statusCode` is the HTTP status the engine answered with, if any. */
export class EngineError extends ShctlError {
  readonly exitCode = 1;
  readonly statusCode: number | undefined;
  readonly operation: string;
  constructor(operation: string, cause: unknown, opts: { hint?: string; resource?: string } = {}) {
    const status = (cause as { statusCode?: number })?.statusCode;
    const reason = engineReason(cause);
    super(
      `${opts.resource ? `${opts.resource}: ` : ""}${operation} failed${status ? ` (${status})` : ""}: ${reason}`,
      {
        cause,
        ...(opts.hint ? { hint: opts.hint } : {}),
      },
    );
    this.statusCode = status;
    this.operation = operation;
  }
}

function engineReason(cause: unknown): string {
  const c = cause as { json?: { message?: string }; reason?: string; message?: string };
  return engineWords(c?.json?.message ?? c?.message ?? c?.reason ?? String(cause));
}

/**
 * The engine's own words in an error message: without the "(HTTP code 500) server error - "
 * docker-modem puts before them (the status is said on its own) and the space it leaves after.
 */
export function engineWords(message: string): string {
  return message.replace(/^\(HTTP code \d+\) [^-]*- /, "").trim();
}

/** A step of the apply failed: which resource, which step, and the log lines that explain it. */
export class StepFailedError extends ShctlError {
  readonly exitCode = 1;
  readonly resource: string;
  readonly step: string;
  constructor(
    resource: string,
    step: string,
    message: string,
    opts: { hint?: string; details?: string[]; cause?: unknown } = {},
  ) {
    super(`${resource}: ${step} failed: ${message}`, opts);
    this.resource = resource;
    this.step = step;
  }
}

/** Failures of one run that share a cause: what it was and whom it hit. */
export interface FailureGroup {
  /**
   * What went wrong, as a code where shctl can tell (a pull's: "name-lookup", "refused",
   * "timeout", "unreachable", "tls", "unauthorized", "not-found", "broken-off", "disk-full"),
   * undefined otherwise.
   */
  code: string | undefined;
  /** The cause in words, without the resources: "registry unreachable (name lookup failed)". */
  cause: string;
  /** The group in one line: "13 images could not be pulled from docker.io: registry unreachable (…)". */
  headline: string;
  /** The resources it hit, in the order they failed: "image postgres:14.5", "service web", … */
  resources: string[];
  /** Each resource's own error, in the same order. */
  errors: ShctlError[];
}

/**
 * Several steps of one run failed (pulls run side by side, so a registry outage fails many at
 * once): each cause is said once, with the resources it hit.
 */
export class StepsFailedError extends ShctlError {
  readonly exitCode = 1;
  readonly groups: FailureGroup[];
  constructor(message: string, groups: FailureGroup[], opts: { hint?: string; details?: string[] } = {}) {
    super(message, opts);
    this.groups = groups;
  }
}

export class JobFailedError extends StepFailedError {
  readonly jobExitCode: number;
  constructor(job: string, exitCode: number, logTail: string[], hint?: string) {
    super(`job ${job}`, "run", `exited with code ${exitCode}`, {
      details:
        logTail.length > 0
          ? ["last log lines:", ...logTail.map((l) => `  ${l}`)]
          : ["(the job printed nothing)"],
      hint:
        hint ??
        `read the log lines above, fix the cause, then run apply again: the job re-runs, services that depend on it start after it`,
    });
    this.jobExitCode = exitCode;
  }
}

export class HealthTimeoutError extends StepFailedError {
  constructor(service: string, waitedMs: number, lastOutput: string[], what: string) {
    super(`service ${service}`, "wait for health", `not ${what} after ${Math.round(waitedMs / 1000)}s`, {
      details: lastOutput.length > 0 ? ["last health-check output:", ...lastOutput.map((l) => `  ${l}`)] : [],
      hint: `check \`shctl logs ${service}\`; if the service is only slow, raise services.${service}.readyTimeout`,
    });
  }
}

/**
 * A recreated service's new container did not become ready, so the previous one was put back: the
 * service runs as before, the change is still to be applied (`diff` shows it).
 */
export class RolledBackError extends StepFailedError {
  readonly service: string;
  constructor(service: string, why: string, opts: { details?: string[]; cause?: unknown } = {}) {
    super(`service ${service}`, "recreate", `${why}; rolled back to the previous version of ${service}`, {
      ...opts,
      hint: `the previous container of ${service} runs again and \`shctl diff\` still shows the change: fix the cause above, then run apply again`,
    });
    this.service = service;
  }
}

/**
 * An image bundle that cannot be used as it is: not a bundle, damaged, truncated or changed since
 * it was written (exit 2, as for other invalid input). Nothing was loaded from it.
 */
export class BundleError extends ShctlError {
  readonly exitCode = 2;
}

/** Another shctl process holds the stack's lock. */
export class LockedError extends ShctlError {
  readonly exitCode = 1;
}

/** teardown --data refused because the data root failed a safety check. */
export class UnsafeDataRootError extends ShctlError {
  readonly exitCode = 2;
}

/**
 * A backup archive shctl will not restore: not a shctl backup, damaged (a checksum or the
 * compression does not match) or truncated. Nothing was written: exit 2.
 */
export class BackupArchiveError extends ShctlError {
  readonly exitCode = 2;
  readonly file: string;
  constructor(
    file: string,
    message: string,
    opts: { hint?: string; details?: string[]; cause?: unknown } = {},
  ) {
    super(`${file}: ${message}`, opts);
    this.file = file;
  }
}

/**
 * A backup or restore refused before anything was changed: a restore target that holds data, a
 * stack still running over it, an archive path inside the data root. Exit 2.
 */
export class RefusedError extends ShctlError {
  readonly exitCode = 2;
}

/** The run was interrupted (SIGINT/SIGTERM); in-flight steps were finished, nothing new started. */
export class InterruptedError extends ShctlError {
  readonly exitCode = 130;
}

/** Something the plan cannot resolve by itself (e.g. a name taken by a container shctl does not own). */
export class ConflictError extends ShctlError {
  readonly exitCode = 1;
  /** The plan's conflicts, when the plan found them (none for one found while applying). */
  readonly conflicts: readonly Conflict[];
  constructor(
    message: string,
    opts: { hint?: string; details?: string[]; cause?: unknown; conflicts?: readonly Conflict[] } = {},
  ) {
    super(message, opts);
    this.conflicts = opts.conflicts ?? [];
  }
}

export function isShctlError(err: unknown): err is ShctlError {
  return err instanceof ShctlError;
}

/** The engine runs on a CPU that shctl's helper binary is not built for. */
export class UnsupportedArchitectureError extends ShctlError {
  readonly exitCode = 1;
  readonly architecture: string;
  constructor(architecture: string, osType: string) {
    super(
      `shctl's helper supports amd64 and arm64 Linux engines; this engine is ${osType || "?"}/${architecture || "?"}`,
      {
        hint: "use a Docker Engine on an x86_64 or aarch64 Linux machine (or VM)",
      },
    );
    this.architecture = architecture;
  }
}

/**
 * A container port could not be reached: `address` is what was tried, `mode` how (directly from
 * this process, or through the engine; unset when the name did not resolve), `code` an errno-like
 * name (ECONNREFUSED, ETIMEDOUT, ENOTFOUND, …).
 */
export class ReachError extends ShctlError {
  readonly exitCode = 1;
  readonly address: string;
  readonly mode: "direct" | "engine" | undefined;
  readonly code: string | undefined;
  constructor(
    address: string,
    reason: string,
    opts: { mode?: "direct" | "engine"; code?: string; cause?: unknown; hint?: string } = {},
  ) {
    const how =
      opts.mode === "direct"
        ? " directly from this process"
        : opts.mode === "engine"
          ? " through the engine"
          : "";
    super(`cannot reach ${address}${how}: ${reason}`, {
      cause: opts.cause,
      hint:
        opts.hint ??
        (opts.mode === "direct"
          ? "if container addresses are not routable from here (Docker Desktop, a remote DOCKER_HOST), set SHCTL_REACH=engine"
          : opts.mode === "engine"
            ? "check that the service listens on that port and that the engine is reachable; SHCTL_REACH=direct connects from this process instead"
            : undefined),
    });
    this.address = address;
    this.mode = opts.mode;
    this.code = opts.code;
  }
}
