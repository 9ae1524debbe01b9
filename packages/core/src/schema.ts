import { z } from "zod";
import { parseDuration } from "./duration.js";
import type { Diagnosis } from "./events.js";

/*
 * The stack model. One schema validates YAML files and TypeScript modules alike; the inferred
 * `StackInput` type is what `defineStack` accepts. Durations are strings ("30s", "1m30s", "500ms")
 * and are kept as text here; `resolve.ts` turns them into milliseconds.
 */

const NAME_RE = /^[a-z0-9][a-z0-9_.-]*$/;
const nameMessage = "use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit";
export const ResourceName = z.string().regex(NAME_RE, { message: nameMessage });

export const Duration = z
  .string({ error: 'expected a duration like "30s"' })
  .refine((s) => parseDuration(s) !== undefined, {
    message: 'expected a duration like "30s", "500ms" or "1m30s"',
  });

const Owner = z
  .string()
  .regex(/^\d+:\d+$/, { message: 'expected "uid:gid" with numbers, e.g. "999:999"' })
  .describe('Numeric owner of a created directory, "uid:gid"');
const Mode = z
  .string()
  .regex(/^0?[0-7]{3}$/, { message: 'expected an octal mode as a string, e.g. "0755"' })
  .describe('Permission bits of a created directory, e.g. "0700"');

/** A command: a list of words, or one string split on whitespace (quotes keep words together). */
export const Command = z.union([z.array(z.string()), z.string()]);

/** Environment values; a secret is never printed (shown as "(sensitive)") nor stored in labels. */
export const EnvValue = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.strictObject({ value: z.union([z.string(), z.number()]), secret: z.boolean().default(false) }),
  z.strictObject({
    fromEnv: z.string().describe("Name of a variable in shctl's own environment"),
    default: z.string().optional(),
    secret: z.boolean().default(false),
  }),
]);

export const HostPath = z.strictObject({
  path: z.string().min(1),
  root: z.enum(["data", "project"]).default("data").describe("Relative to the data root or the project dir"),
});

export const BindMount = z.strictObject({
  type: z.literal("bind").default("bind"),
  source: z.string().min(1).describe("Path relative to `root`; must stay inside it"),
  root: z.enum(["data", "project"]).default("data"),
  target: z.string().startsWith("/", { message: "expected an absolute path inside the container" }),
  readOnly: z.boolean().default(false),
  kind: z.enum(["dir", "file"]).default("dir").describe("A dir is created when missing; a file must exist"),
  owner: Owner.optional(),
  mode: Mode.optional(),
  selinux: z.enum(["z", "Z"]).optional().describe("SELinux relabel flag"),
});

export const TmpfsMount = z.strictObject({
  type: z.literal("tmpfs"),
  target: z.string().startsWith("/", { message: "expected an absolute path inside the container" }),
  sizeBytes: z.number().int().positive().optional(),
});

export const Mount = z.union([TmpfsMount, BindMount]);

export const Healthcheck = z.strictObject({
  test: Command.describe('A list is run as-is (exec form); a string runs in "/bin/sh -c"'),
  interval: Duration.default("30s"),
  timeout: Duration.default("30s"),
  retries: z.number().int().min(0).default(3),
  startPeriod: Duration.default("0s"),
});

const PORT_SHAPE =
  /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3})|\[[0-9a-fA-F:]+\]):)?(\d{1,5}):(\d{1,5})(?:\/(?:tcp|udp))?$/;
const inPortRange = (n: string | undefined) => n !== undefined && Number(n) >= 1 && Number(n) <= 65535;

export const PortSpec = z.union([
  z.string().superRefine((p, ctx) => {
    const m = PORT_SHAPE.exec(p);
    if (!m) {
      ctx.addIssue({
        code: "custom",
        message: 'expected "HOST:CONTAINER", "IP:HOST:CONTAINER" or with "/udp", e.g. "9006:80"',
      });
    } else if (
      !inPortRange(m[2]) ||
      !inPortRange(m[3]) ||
      (m[1] ?? "").split(".").some((x) => Number(x) > 255)
    ) {
      ctx.addIssue({ code: "custom", message: "ports must be 1-65535 and an IPv4 address's parts 0-255" });
    }
  }),
  z.strictObject({
    host: z.number().int().min(1).max(65535),
    container: z.number().int().min(1).max(65535),
    hostIp: z.string().optional(),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
  }),
]);

/**
 * Connections to the stack's containers that work wherever shctl runs: straight to a container's
 * address where this process can route to it, through the engine otherwise (Docker Desktop, a
 * remote engine). Hosts are names as the stack network knows them (a service, an alias, a
 * container name) or addresses.
 */
export interface StackConnections {
  /** A connected socket to a port of a container on the stack network. */
  connect(host: string, port: number): Promise<import("node:net").Socket>;
  /** A socket returned at once that connects in the background (e.g. kafkajs' `socketFactory`). */
  socket(host: string, port: number, onConnect?: () => void): import("node:net").Socket;
  /** An http.Agent for http.request or @clickhouse/client's `http_agent`. */
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

const probeTiming = {
  interval: Duration.default("500ms"),
};
export const Probe = z.union([
  z.strictObject({ tcp: z.strictObject({ port: z.number().int().min(1).max(65535) }), ...probeTiming }),
  z.strictObject({
    http: z.strictObject({
      port: z.number().int().min(1).max(65535),
      path: z.string().default("/"),
      expectBody: z.string().optional().describe("Text the body must contain"),
    }),
    ...probeTiming,
  }),
  z.strictObject({ exec: Command, ...probeTiming }),
  z.strictObject({
    custom: z.strictObject({
      name: z.string(),
      check: z.custom<ProbeCheck>((v) => typeof v === "function", { message: "expected a function" }),
    }),
    ...probeTiming,
  }),
]);

export const DependencyCondition = z.enum(["started", "healthy", "completed"]);
export const Dependency = z.strictObject({
  condition: DependencyCondition.default("started"),
  restart: z
    .boolean()
    .default(false)
    .describe("Restart this service when the dependency is recreated or restarted, or (a job) runs again"),
});
export const DependsOn = z.union([z.array(ResourceName), z.record(ResourceName, Dependency)]);

const NetworkAttachment = z.union([
  z.array(ResourceName),
  z.record(ResourceName, z.strictObject({ aliases: z.array(z.string()).default([]) })),
]);

/** Where a swarm runs a service or job (target: swarm only). */
export const Placement = z
  .strictObject({
    node: ResourceName.describe(
      "The node role: it runs on the node labelled shctl.ROLE=true (docker node update --label-add shctl.ROLE=true NODE)",
    ),
  })
  .describe("target: swarm only. Pins it to one node; a service with data mounts must be pinned");

const Ulimit = z.union([
  z.number().int(),
  z.strictObject({ soft: z.number().int(), hard: z.number().int() }),
]);

const containerFields = {
  image: z.string().min(1).describe("A key of `images`, or an image reference to pull"),
  command: Command.optional(),
  entrypoint: Command.optional(),
  env: z.record(z.string(), EnvValue).default({}),
  user: z.string().optional(),
  workingDir: z.string().optional(),
  networks: NetworkAttachment.optional().describe("Defaults to every network of the stack"),
  mounts: z.array(Mount).default([]),
  dependsOn: DependsOn.default([]),
  profiles: z.array(ResourceName).optional().describe("Profiles this belongs to; omitted: every profile"),
  inputs: z
    .array(HostPath)
    .default([])
    .describe("Files whose content is part of the spec hash: editing one recreates or re-runs this"),
  labels: z.record(z.string(), z.string()).default({}),
  extraHosts: z.array(z.string()).default([]),
};

export const Service = z.strictObject({
  ...containerFields,
  hostname: z.string().optional(),
  aliases: z.array(z.string()).default([]).describe("Extra DNS names on every network"),
  ports: z.array(PortSpec).default([]),
  healthcheck: Healthcheck.optional(),
  readiness: z.array(Probe).default([]),
  readyTimeout: Duration.default("5m"),
  restart: z.enum(["no", "always", "unless-stopped", "on-failure"]).default("no"),
  ulimits: z.record(z.string(), Ulimit).default({}),
  stopSignal: z.string().optional(),
  stopGracePeriod: Duration.default("10s"),
  init: z.boolean().default(false).describe("Run an init process as PID 1 (reaps zombies, forwards signals)"),
  placement: Placement.optional(),
  replicas: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("target: swarm only. How many tasks run (default 1); a service with data mounts runs 1"),
  update: z
    .enum(["start-first", "stop-first"])
    .optional()
    .describe(
      "How a changed container is replaced: the new one started beside the old (start-first) or after it stops (stop-first); default: stop-first when it publishes a host port the old one holds or has a data directory no other container mounts",
    ),
});

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

export const Job = z
  .strictObject({
    ...containerFields,
    image: z.string().min(1).optional(),
    run: z
      .custom<JobRun>((v) => typeof v === "function", { message: "expected a function" })
      .optional()
      .describe("TypeScript stacks only: a function run by the reconciler instead of a container"),
    version: z.string().optional().describe("Part of the job key; bump it to re-run a `run` job"),
    uses: z
      .array(z.string())
      .default([])
      .describe(
        "Images a `run` job starts containers of (keys or references): pulled or built before it runs",
      ),
    timeout: Duration.default("10m"),
    placement: Placement.optional(),
    always: z.boolean().default(false).describe("Run on every apply, not only when the job key changes"),
    outputs: z
      .array(HostPath)
      .default([])
      .describe(
        "Files the job writes: a service with one of them in its `inputs` is recreated after the job runs, if the file changed",
      ),
  })
  .superRefine((job, ctx) => {
    if ((job.image === undefined) === (job.run === undefined)) {
      ctx.addIssue({
        code: "custom",
        message: "a job needs exactly one of `image` (a container) or `run` (a function)",
      });
    }
  });

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

export const Check = z.strictObject({
  name: ResourceName.describe("Selects the check on the command line (`shctl verify --pipeline NAME`)"),
  description: z.string().optional(),
  timeout: Duration.default("3m").describe("How long the whole check may take"),
  hops: z
    .array(z.string())
    .default([])
    .describe("The hops' names in order, when known up front: shown pending, and skipped after a broken one"),
  run: z
    .custom<CheckRun>((v) => typeof v === "function", { message: "expected a function" })
    .describe("TypeScript stacks only: runs the check's hops"),
});

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
  host: import("./host.js").HostFacts;
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

export const DoctorCheck = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.:-]*$/, { message: "use lowercase letters, digits, '.', '_', ':' or '-'" })
    .describe("A stable name; a stack check with the id of a built-in check takes its place"),
  title: z.string().min(1),
  run: z.custom<DoctorRun>((v) => typeof v === "function", { message: "expected a function" }),
});

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

export const Network = z.strictObject({
  driver: z.string().default("bridge"),
  internal: z.boolean().default(false),
  labels: z.record(z.string(), z.string()).default({}),
});

export const Image = z
  .strictObject({
    ref: z.string().min(1).describe('The name containers run, e.g. "postgres:14.5" or "myapp-local:latest"'),
    build: z
      .strictObject({
        context: z.string().min(1).describe("Directory relative to the project dir"),
        dockerfile: z.string().default("Dockerfile"),
        args: z.record(z.string(), z.string()).default({}),
        target: z.string().optional(),
      })
      .optional(),
    pull: z.enum(["missing", "never"]).default("missing").describe("Pull when missing locally, or never"),
    needs: z
      .array(ResourceName)
      .default([])
      .describe(
        "Images (keys) this build starts FROM: built or pulled first, and a change to them rebuilds this one",
      ),
  })
  .describe("An image pulled by reference, or built from a local context");

/** Settings of the swarm target (target: swarm). */
export const SwarmSettings = z.strictObject({
  registry: z
    .string()
    .min(1)
    .optional()
    .describe(
      "A registry every node can pull from (host[:port][/path]): shctl pushes the images it builds and its own helper image there, and services run them by digest",
    ),
  sharedDirs: z
    .array(z.string().min(1))
    .default([])
    .describe(
      "Data directories (relative to the data root) on storage every node mounts at the same path (NFS, a cluster file system): services that write them may run anywhere",
    ),
});

export const Stack = z.strictObject({
  $schema: z.string().optional(),
  name: ResourceName,
  target: z
    .enum(["engine", "swarm"])
    .default("engine")
    .describe(
      "engine: containers on one Docker Engine (default); swarm: services of the swarm this engine manages",
    ),
  swarm: SwarmSettings.optional(),
  version: z
    .string()
    .optional()
    .describe("The version of what the stack runs (e.g. its product's release); recorded in backups"),
  dataRoot: z
    .string()
    .optional()
    .describe(
      "Where everything the stack keeps lives, relative to the project dir; default: the product's (./sentrydata with shctl)",
    ),
  bindAddress: z.string().default("0.0.0.0").describe("Host address for ports that name none"),
  registryMirror: z
    .string()
    .optional()
    .describe(
      "A Docker Hub mirror (a registry host or host/path prefix): Docker Hub images are pulled from it (official ones as MIRROR/library/NAME:TAG, then MIRROR/NAME:TAG) and tagged NAME:TAG; other registries' images are not",
    ),
  defaultProfile: ResourceName.optional(),
  profiles: z
    .array(ResourceName)
    .default([])
    .describe("Profile names this stack offers (besides those its services name)"),
  notes: z.array(z.string()).default([]).describe("Lines shown after a successful apply (URLs, next steps)"),
  networks: z.record(ResourceName, Network).default({}),
  images: z.record(ResourceName, Image).default({}),
  services: z.record(ResourceName, Service).default({}),
  jobs: z.record(ResourceName, Job).default({}),
  checks: z
    .array(Check)
    .default([])
    .describe("End-to-end checks `shctl verify` runs against the running stack (TypeScript stacks only)"),
  doctor: z
    .array(DoctorCheck)
    .default([])
    .describe("TypeScript stacks only: the stack's own checks for `shctl doctor`"),
  statusExtras: z
    .custom<StatusExtras>((v) => typeof v === "function", { message: "expected a function" })
    .optional()
    .describe("TypeScript stacks only: figures `shctl status` adds to service rows (e.g. consumer lag)"),
});

export type StackInput = z.input<typeof Stack>;
export type StackSpec = z.output<typeof Stack>;
export type ServiceSpec = z.output<typeof Service>;
export type JobSpec = z.output<typeof Job>;
export type MountSpec = z.output<typeof Mount>;
export type ProbeSpec = z.output<typeof Probe>;
export type DoctorCheckSpec = z.output<typeof DoctorCheck>;
export type SwarmSettingsSpec = z.output<typeof SwarmSettings>;
export type EnvValueSpec = z.output<typeof EnvValue>;
export type CheckSpec = z.output<typeof Check>;

/** The JSON Schema of stack files (for editors); functions (`run`, custom probes) are TypeScript-only. */
export function stackJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(Stack, { io: "input", unrepresentable: "any", target: "draft-7" }) as Record<
    string,
    unknown
  >;
}
