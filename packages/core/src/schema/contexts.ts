import type { Diagnosis } from "../events.js";

/*
 * What a stack's functions run with (TypeScript stacks only): custom probes, `run` jobs, checks,
 * doctor checks and status extras. Types only; the schemas that hold the functions are in
 * workloads.ts and ../schema.ts.
 */

/**
 * Connections to the stack's containers that work wherever shctl runs: straight to a container's
 * address where this process can route to it, through the engine otherwise (Docker Desktop, a
 * remote engine). Hosts are names as the stack network knows them (a service, an alias, a
 * container name) or addresses.
 */
export interface StackConnections {
  /** A connected socket to a port of a container on the stack network. */
  connect(host: string, port: number): Promise<import("node:net").Socket>;
  /** A socket returned at once that connects in the background (for a client library's socket factory). */
  socket(host: string, port: number, onConnect?: () => void): import("node:net").Socket;
  /** An http.Agent for http.request or an HTTP client library's agent option. */
  httpAgent(): import("node:http").Agent;
}

export interface ProbeContext extends StackConnections {
  service: string;
  containerId: string;
  /**
   * A host and port this process can connect to for the service's `port`: the container's own
   * address, or a loopback forwarder through the engine. Prefer `connect`/`httpAgent`.
   */
  address(port: number): Promise<{ host: string; port: number }>;
  exec(cmd: string[]): Promise<{ exitCode: number; output: string }>;
  signal: AbortSignal;
}
/** A custom readiness check: resolves when ready, throws (with a reason) while not. */
export type ProbeCheck = (ctx: ProbeContext) => Promise<void>;

export interface JobContext extends StackConnections {
  stack: string;
  dataRoot: string;
  projectDir: string;
  signal: AbortSignal;
  /** Reports a line of progress; it is shown under the job's name. */
  log(line: string): void;
  /**
   * A host and port this process can connect to for a service's port: its address on the stack
   * network, or a loopback forwarder through the engine. Prefer `connect`/`socket`/`httpAgent`.
   */
  address(service: string, port: number): Promise<{ host: string; port: number }>;
  /** The engine's version and the CPUs and memory it has. */
  engineInfo(): Promise<EngineInfoSummary>;
  /**
   * How shctl reaches the stack's containers from where it runs ("direct": container addresses on
   * the stack network; or through the engine), in a line; for jobs to report.
   */
  reachMode?: string;
  /**
   * A file's bytes (undefined when it does not exist), read through the engine when this user may
   * not read it (a file a container's user owns): never mistake "not allowed" for "missing".
   */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Gives a file or directory under the data root to uid:gid, through the engine when not root. */
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** Runs the engine-side helper (a tiny static binary) with these arguments, e.g. ["cat", "/proc/cpuinfo"]. */
  runHelper(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /**
   * Runs a one-off container of a stack image (key or reference) to completion and returns its
   * exit code and output; the container carries the stack's labels and is removed afterwards.
   */
  runContainer(opts: RunContainerOptions): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export interface EngineInfoSummary {
  serverVersion: string;
  cpus: number;
  memoryBytes: number;
  /** The engine's OperatingSystem, e.g. "Debian GNU/Linux 12 (bookworm)" or "Docker Desktop". */
  os: string;
  /** The engine's machine architecture (`uname -m` of where it runs): "x86_64", "aarch64", … */
  architecture: string;
  /**
   * The CPU's feature flags as containers of this engine see them (`flags` of /proc/cpuinfo, e.g.
   * "sse4_2"), when known; undefined when they were not read.
   */
  cpuFlags?: string[];
  /** The CPU's model name as containers see it (`model name` of /proc/cpuinfo), when known. */
  cpuModel?: string;
}

export interface RunContainerOptions {
  image: string;
  command?: string[];
  entrypoint?: string[];
  env?: Record<string, string>;
  user?: string;
  /** Bind mounts; `source` is relative to the data root. */
  mounts?: { source: string; target: string; readOnly?: boolean }[];
  /** Attach to the stack's first network (default true), so services are reachable by name. */
  network?: boolean;
}
export type JobRun = (ctx: JobContext) => Promise<void>;

/** What a hop of a check is told and may say while it runs. */
export interface HopControl {
  /** What the hop found, shown beside it ("offset 41 → 42", "HTTP 200"); the last call wins. */
  detail(text: string): void;
  /** Names the service that owns the hop after all (e.g. the first of several that is down). */
  owner(service: string): void;
  /** Aborted when the check runs out of time or verify is interrupted. */
  signal: AbortSignal;
}

export interface HopOptions {
  /** The service that owns the hop: named and diagnosed when the hop breaks. */
  owner?: string;
  /** The likely fix when it breaks (an error with a `hint` overrides it). */
  fix?: string;
}

/** One answer of a polled condition: done (with a value), or not yet (and why not). */
export type PollResult<T> = { ok: true; value: T; detail?: string } | { ok: false; why: string };

/**
 * What a check runs with: connections to the stack's containers, commands in them, and hops.
 * A check is a sequence of hops; `hop` times one and reports it, and a hop that throws is the
 * check's first broken hop (the check ends there; the hops it declared after it are skipped).
 */
export interface CheckContext extends StackConnections {
  stack: string;
  check: string;
  /** Aborted when the check's timeout passes or verify is interrupted. */
  signal: AbortSignal;
  /** Milliseconds left before the check's timeout. */
  timeLeft(): number;
  /** Runs a command in the running container of a service; rejects when it has none. */
  exec(service: string, cmd: string[]): Promise<{ exitCode: number; output: string }>;
  /** Runs and times one hop; resolves to what `fn` returns, rejects (after reporting it) when it throws. */
  hop<T>(name: string, opts: HopOptions, fn: (h: HopControl) => Promise<T>): Promise<T>;
  /**
   * Asks `probe` until it answers ok (its value is returned) or the check runs out of time (the
   * last "why not" is the error). A probe that throws ends the wait at once.
   */
  until<T>(probe: () => Promise<PollResult<T>>, opts?: { intervalMs?: number }): Promise<T>;
  /** A service's container state, restarts and last log lines (secrets redacted). */
  diagnose(service: string): Promise<Diagnosis>;
  /** Work the checks of one verify run share: the first call runs `fn`, later calls get its promise. */
  once<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** A value to redact from everything this run reports (a token a check obtained, say). */
  secret(value: string): void;
}
export type CheckRun = (ctx: CheckContext) => Promise<void>;

/** What a stack's own doctor check runs with (see `doctor` in the stack). */
export interface DoctorContext extends StackConnections {
  stack: string;
  dataRoot: string;
  projectDir: string;
  /** Aborts when the check has taken too long. */
  signal: AbortSignal;
  /** The engine's version, CPUs, memory, OS, and the CPU flags its containers see (asked once). */
  engineInfo(): Promise<EngineInfoSummary>;
  /** The machine shctl runs on: platform, environment, WSL, mounts. */
  host: import("../host.js").HostFacts;
  /** How shctl reaches the stack's containers, in a line. */
  reachMode(): Promise<string>;
  /** The state of a service's container ("running", "exited", …), or "missing" when it has none. */
  serviceState(service: string): Promise<string>;
  /** The engine's name for a service's container (for commands a fix names). */
  containerName(service: string): string;
  /** Runs a command in a service's running container. */
  exec(service: string, cmd: string[]): Promise<{ exitCode: number; output: string }>;
  /** A host and port this process can connect to for a service's port. Prefer `connect`/`httpAgent`. */
  address(service: string, port: number): Promise<{ host: string; port: number }>;
}

/** What a doctor check found: ok, a warning, a failure, or skipped (it could not tell, and says why). */
export interface DoctorCheckResult {
  status: "ok" | "warning" | "failure" | "skipped";
  /** One line: what was found. */
  detail: string;
  /** More lines of detail, one item each. */
  lines?: string[];
  /** What to do about it, in words. */
  fix?: string;
  /** The exact commands that fix it, when there are some. */
  commands?: string[];
}
export type DoctorRun = (ctx: DoctorContext) => Promise<DoctorCheckResult>;

/** One figure a stack adds to a service's row in `status` (a column named by its key). */
export interface StatusExtra {
  /** What the cell shows, short: "0", "1234 stuck", "no commits yet". */
  text: string;
  /** How to colour it; a warning or failure with a `detail` is explained below the table. */
  state?: "ok" | "warning" | "failure";
  detail?: string;
  /** The figures behind the text, for --json. */
  data?: Record<string, unknown>;
}
export interface StatusExtrasContext extends StackConnections {
  stack: string;
  /** Each service of the stack with its container's state ("running", "exited", … or "missing"). */
  services: Record<string, { state: string; containerId: string | undefined }>;
  signal: AbortSignal;
}
/** By service, by column: the figures a stack adds to `status`. */
export type StatusExtras = (ctx: StatusExtrasContext) => Promise<Record<string, Record<string, StatusExtra>>>;
