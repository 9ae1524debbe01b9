import type { CheckRun, DoctorCheckSpec, JobRun, ProbeCheck, StatusExtras } from "./schema.js";

/*
 * The resolved stack: what `loadStack` returns after validation. Paths are absolute, durations are
 * milliseconds, env values are strings, and only the services and jobs of the selected profile remain.
 */

export interface ResolvedEnv {
  name: string;
  value: string;
  secret: boolean;
}

export type ResolvedMount =
  | {
      type: "bind";
      /** Absolute path on the host. */
      hostPath: string;
      /** The path as written in the spec, relative to its root (for messages and labels). */
      source: string;
      root: "data" | "project";
      target: string;
      readOnly: boolean;
      kind: "dir" | "file";
      owner: { uid: number; gid: number } | undefined;
      mode: number | undefined;
      selinux: "z" | "Z" | undefined;
    }
  | { type: "tmpfs"; target: string; sizeBytes: number | undefined };

export interface ResolvedPort {
  hostIp: string;
  host: number;
  container: number;
  protocol: "tcp" | "udp";
}

export interface ResolvedDependency {
  name: string;
  kind: "service" | "job";
  condition: "started" | "healthy" | "completed";
  restart: boolean;
}

export type ResolvedProbe =
  | { type: "tcp"; port: number; intervalMs: number; label: string }
  | {
      type: "http";
      port: number;
      path: string;
      expectBody: string | undefined;
      intervalMs: number;
      label: string;
    }
  | { type: "exec"; command: string[]; intervalMs: number; label: string }
  | { type: "custom"; name: string; check: ProbeCheck; intervalMs: number; label: string };

export interface ResolvedHealthcheck {
  /** Engine form: ["CMD", ...] or ["CMD-SHELL", "..."]. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

/** The container part shared by services and container jobs. */
export interface ContainerSpec {
  /** Key into `ResolvedStack.images`. */
  image: string;
  command: string[] | undefined;
  entrypoint: string[] | undefined;
  env: ResolvedEnv[];
  user: string | undefined;
  workingDir: string | undefined;
  networks: { name: string; aliases: string[] }[];
  mounts: ResolvedMount[];
  labels: Record<string, string>;
  extraHosts: string[];
  /** Absolute paths of declared input files. */
  inputs: string[];
}

export interface ResolvedService extends ContainerSpec {
  kind: "service";
  name: string;
  containerName: string;
  hostname: string | undefined;
  ports: ResolvedPort[];
  healthcheck: ResolvedHealthcheck | undefined;
  readiness: ResolvedProbe[];
  readyTimeoutMs: number;
  restart: "no" | "always" | "unless-stopped" | "on-failure";
  ulimits: { name: string; soft: number; hard: number }[];
  stopSignal: string | undefined;
  stopGraceMs: number;
  init: boolean;
  /** How a changed container is replaced, when the stack says (else the plan decides). */
  update: "start-first" | "stop-first" | undefined;
  deps: ResolvedDependency[];
  /** target: swarm only: the node role it is pinned to (node label shctl.ROLE=true). */
  placement?: string;
  /** target: swarm only: how many tasks run. */
  replicas?: number;
}

export interface ResolvedJob {
  kind: "job";
  name: string;
  containerName: string;
  /** Present for container jobs. */
  container: ContainerSpec | undefined;
  /** Present for function jobs. */
  run: JobRun | undefined;
  version: string | undefined;
  /** Image keys a function job uses. */
  uses: string[];
  timeoutMs: number;
  always: boolean;
  deps: ResolvedDependency[];
  inputs: string[];
  /** Absolute paths of the files the job writes. */
  outputs: string[];
  /** target: swarm only: the node role a container job runs on. */
  placement?: string;
}

export interface ResolvedImage {
  key: string;
  ref: string;
  build:
    | { contextDir: string; dockerfile: string; args: Record<string, string>; target: string | undefined }
    | undefined;
  pull: "missing" | "never";
  /** Image keys this one is built from. */
  needs: string[];
  /**
   * Where to pull from when a registry mirror applies to this image (the first of `pullSources`);
   * tagged `ref` afterwards. Undefined for built images, without a mirror, and for references that
   * name a registry other than Docker Hub (a Docker Hub mirror does not serve them).
   */
  mirrorRef: string | undefined;
  /**
   * The references to pull, in the order to try them: a later one only when the registry answered
   * "not found" for the one before. `[ref]` without a mirror; with one, the mirror's references
   * (`MIRROR/library/NAME:TAG`, then `MIRROR/NAME:TAG` for an official image), and `ref` is tagged
   * afterwards. Empty for built images. See image-ref.ts.
   */
  pullSources: string[];
}

export interface ResolvedNetwork {
  name: string;
  dockerName: string;
  driver: string;
  internal: boolean;
  labels: Record<string, string>;
}

/** The swarm target's settings (ResolvedStack.swarm). */
export interface ResolvedSwarm {
  /** A registry every node pulls from; undefined: nodes use the images they have or pull themselves. */
  registry: string | undefined;
  /** Absolute paths of data directories on storage every node shares. */
  sharedDirs: string[];
}

/** An end-to-end check of the running stack (see verify.ts). */
export interface ResolvedCheck {
  name: string;
  description: string | undefined;
  timeoutMs: number;
  /** The hops it declares, in order (may be empty). */
  hops: string[];
  run: CheckRun;
}

export interface ResolvedStack {
  name: string;
  /**
   * Where the stack runs: absent for one engine (containers), "swarm" for the services of the swarm
   * the engine manages (see swarm/).
   */
  target?: "swarm";
  swarm?: ResolvedSwarm;
  /** The version of what the stack runs, if its spec says (recorded in backups). */
  version: string | undefined;
  /** Where the stack came from (a file path, or "(module)"). */
  source: string;
  projectDir: string;
  dataRoot: string;
  /** The stack named no data root: `dataRoot` is the default (./data, or the caller's). */
  dataRootDefaulted?: boolean;
  profile: string | undefined;
  bindAddress: string;
  networks: Record<string, ResolvedNetwork>;
  images: Record<string, ResolvedImage>;
  services: Record<string, ResolvedService>;
  jobs: Record<string, ResolvedJob>;
  /** End-to-end checks `verify` runs, in the stack's order. */
  checks: ResolvedCheck[];
  /** Lines to show after a successful apply. */
  notes: string[];
  /** Every secret value, so output can be redacted. */
  secrets: string[];
  /** The Docker Hub mirror images are pulled through, when set. */
  registryMirror?: string;
  /** The stack's own `shctl doctor` checks (module stacks). */
  doctor?: DoctorCheckSpec[];
  /** Figures the stack adds to `status` rows (module stacks). */
  statusExtras?: StatusExtras;
}

export type StackNode = ResolvedService | ResolvedJob;
