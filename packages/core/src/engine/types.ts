import type { Duplex, Readable } from "node:stream";

/*
 * What shctl asks of a Docker Engine, as data: everything outside engine/ speaks to the engine
 * through `EngineClient` (engine/client.ts implements it with dockerode; tests use a fake).
 */

export interface ContainerSummary {
  id: string;
  name: string;
  imageId: string;
  state: string;
  /** From the listing's status: "healthy", "unhealthy", "starting", or undefined without a healthcheck. */
  health: string | undefined;
  /** The listing's status line ("Up 3 minutes (healthy)", "Exited (0) 2 seconds ago"). */
  status: string;
  labels: Record<string, string>;
  /** Host ports it publishes (while it runs). */
  published: { hostIp: string; port: number; protocol: string }[];
  /** The networks it is attached to, by Docker name, with its address on each. */
  networks: Record<string, { ip: string }>;
}

export interface ContainerDetails
  extends Omit<ContainerSummary, "published" | "health" | "networks" | "status"> {
  health: string | undefined;
  healthLog: string[];
  exitCode: number;
  restartCount: number;
  startedAt: string;
  env: string[];
  cmd: string[] | null;
  entrypoint: string[] | null;
  user: string;
  restartPolicy: string;
  /** By network name: the addresses and the names the engine's DNS gives the container there. */
  networks: Record<string, { ip: string; ipv6: string; aliases: string[] }>;
  ports: Record<string, { hostIp: string; hostPort: string }[] | null>;
}

export interface NetworkSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export interface ImageDetails {
  id: string;
  labels: Record<string, string>;
  env: string[];
}

export interface EngineEvent {
  id: string;
  action: string;
  labels: Record<string, string>;
}

export interface EngineInfo {
  serverVersion: string;
  cpus: number;
  memoryBytes: number;
  /** The engine's OperatingSystem: "Debian GNU/Linux 12 (bookworm)", "Docker Desktop", … */
  os: string;
  kernel: string;
  /** The engine's machine architecture as `uname -m` names it: "x86_64", "aarch64", … */
  architecture: string;
  /** "linux" or "windows". */
  osType: string;
  /** The engine's clock when it answered (RFC 3339 with nanoseconds), when it says. */
  systemTime?: string;
}

/** This engine's part in a swarm (the `Swarm` of the engine's info). */
export interface SwarmInfo {
  /** "inactive", "pending", "active", "error" or "locked". */
  state: string;
  /** This engine's node ID in the swarm ("" outside one). */
  nodeId: string;
  /** Whether this engine is a manager (may change services, networks and configs). */
  manager: boolean;
}

/** A node of the swarm (managers only list them). */
export interface NodeSummary {
  id: string;
  hostname: string;
  role: string;
  /** "active", "pause" or "drain" (the spec's). */
  availability: string;
  /** "ready", "down", "disconnected" or "unknown" (the status's). */
  state: string;
  /** The node's spec labels (`docker node update --label-add`). */
  labels: Record<string, string>;
  /** The address the node is reached at. */
  addr: string;
}

/** A swarm service as the engine keeps it. */
export interface ServiceSummary {
  id: string;
  name: string;
  /** The version the next update must name (optimistic concurrency). */
  version: number;
  labels: Record<string, string>;
  /** The spec as the engine stores it (the Engine API's ServiceSpec). */
  spec: Record<string, unknown>;
  /** The state of its latest update or rollback, if any ("updating", "completed", "rollback_completed", …). */
  updateStatus: { state: string; message: string } | undefined;
}

/** A task of a swarm service: one slot's container on one node. */
export interface TaskSummary {
  id: string;
  serviceId: string;
  /** The replica's slot (replicated services); undefined for job tasks without one. */
  slot: number | undefined;
  /** The node it is assigned to ("" while not yet scheduled). */
  nodeId: string;
  desiredState: string;
  /** new, pending, assigned, accepted, preparing, starting, running, complete, failed, rejected, shutdown, orphaned, … */
  state: string;
  message: string;
  /** Why it failed or cannot be scheduled, as the swarm says it. */
  err: string | undefined;
  containerId: string | undefined;
  exitCode: number | undefined;
  /** When it entered its state (RFC 3339). */
  timestamp: string;
  createdAt: string;
  /** The labels of its container spec (shctl keeps the applied hash there). */
  labels: Record<string, string>;
  /** Its addresses on the service's networks (prefix length removed). */
  addresses: { network: string; networkId: string; ip: string }[];
}

/** A swarm config (a file delivered to tasks). */
export interface ConfigSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export interface CallCounts {
  read: number;
  mutating: number;
  byOperation: Record<string, number>;
}

export interface EngineClient {
  readonly where: string;
  readonly calls: CallCounts;
  resetCalls(): void;
  version(): Promise<{ version: string; apiVersion: string }>;
  listContainers(labels: string[]): Promise<ContainerSummary[]>;
  inspectContainer(id: string): Promise<ContainerDetails | undefined>;
  createContainer(body: Record<string, unknown>): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string, timeoutSeconds?: number): Promise<void>;
  restartContainer(id: string, timeoutSeconds?: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  renameContainer(id: string, name: string): Promise<void>;
  updateContainer(id: string, body: Record<string, unknown>): Promise<void>;
  waitContainer(id: string, signal?: AbortSignal): Promise<number>;
  killContainer(id: string): Promise<void>;
  containerLogs(id: string, tail: number, streams?: { stdout: boolean; stderr: boolean }): Promise<string[]>;
  info(): Promise<EngineInfo>;
  followLogs(id: string, tail: number, onLine: (line: string) => void, signal: AbortSignal): Promise<void>;
  /** Runs a command in a running container; with a signal, stops waiting for it on abort (rejects). */
  exec(id: string, cmd: string[], signal?: AbortSignal): Promise<{ exitCode: number; output: string }>;
  /**
   * Starts a command in a running container with stdin attached and hands back the hijacked
   * connection: writes go to its stdin (end() closes it), reads are its stdout and stderr
   * multiplexed in frames with 8-byte headers (no TTY). The connection ends when the command exits.
   */
  execStream(id: string, cmd: string[]): Promise<Duplex>;
  listNetworks(labels: string[]): Promise<NetworkSummary[]>;
  createNetwork(body: Record<string, unknown>): Promise<string>;
  removeNetwork(id: string): Promise<void>;
  connectNetwork(network: string, container: string, aliases: string[]): Promise<void>;
  /**
   * Local images by reference; absent references are missing from the result. `repoDigests`: the
   * registries' digests it is known by (none for an image built or loaded here).
   */
  listImages(
    refs: string[],
  ): Promise<Record<string, { id: string; labels: Record<string, string>; repoDigests?: string[] }>>;
  inspectImage(ref: string): Promise<ImageDetails | undefined>;
  /**
   * Pulls `ref`. Each message of the engine's progress stream is given as a line; a layer's
   * message (it names a layer id) also as data, for figures (onProgress's second argument).
   */
  pullImage(ref: string, onProgress: (line: string, layer?: LayerMessage) => void): Promise<void>;
  tagImage(source: string, ref: string): Promise<void>;
  /** Creates an image from a root filesystem tar (image import, nothing pulled); resolves to its id. */
  importImage(tar: Buffer, opts: { ref: string; changes: string[] }): Promise<string>;
  /** A tar of `path` in a container (created or running; its mounts included); 404 → undefined. */
  getArchive(id: string, path: string): Promise<Readable | undefined>;
  /** Extracts a tar into directory `path` of a container (created or running; its mounts included). */
  putArchive(id: string, path: string, tar: Readable): Promise<void>;
  buildImage(context: Readable, opts: BuildOptions, onProgress: (line: string) => void): Promise<string>;
  /**
   * The images as one archive in the engine's save format (`docker save`: manifest.json, one
   * config per image, layers shared once), as a stream to read to its end.
   */
  exportImages(refs: string[]): Promise<Readable>;
  /**
   * Loads an archive in the engine's save format (`docker load`). The engine reads all of it
   * before it loads anything: a body that ends in an error loads nothing. Each line the engine
   * reports ("Loaded image: REF") is given to `onProgress`.
   */
  loadImages(tar: Readable, onProgress: (line: string) => void): Promise<void>;
  /** Container events with these labels, until the signal aborts. */
  events(labels: string[], signal: AbortSignal, onEvent: (e: EngineEvent) => void): Promise<void>;

  // Swarm mode (the swarm target, swarm/): services, tasks, nodes and configs, through a manager.
  /** This engine's part in a swarm. */
  swarmInfo(): Promise<SwarmInfo>;
  listNodes(): Promise<NodeSummary[]>;
  listServices(labels: string[]): Promise<ServiceSummary[]>;
  inspectService(id: string): Promise<ServiceSummary | undefined>;
  /** Creates a service from a ServiceSpec; resolves to its ID. */
  createService(spec: Record<string, unknown>): Promise<string>;
  /** Replaces a service's spec (at `version`); with `rollback`, the swarm goes back to the previous spec. */
  updateService(
    id: string,
    version: number,
    spec: Record<string, unknown>,
    opts?: { rollback?: boolean },
  ): Promise<void>;
  removeService(id: string): Promise<void>;
  /** Tasks of these services (IDs or names; a service that is gone has none); without a list, every task. */
  listTasks(services?: string[]): Promise<TaskSummary[]>;
  listConfigs(labels: string[]): Promise<ConfigSummary[]>;
  /** Creates a config from a ConfigSpec (Data base64); resolves to its ID. */
  createConfig(spec: Record<string, unknown>): Promise<string>;
  removeConfig(id: string): Promise<void>;
  /** The last `tail` lines a service's tasks logged, from every node (0: all). */
  serviceLogs(id: string, tail: number): Promise<string[]>;
  followServiceLogs(
    id: string,
    tail: number,
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** Pushes a local image to the registry its reference names; resolves to the pushed digest. */
  pushImage(ref: string, onProgress: (line: string) => void): Promise<string>;
}

/** One message of a pull's progress stream about a layer, as the engine sent it. */
export interface LayerMessage {
  /** The layer's short id ("183e151c2314"). */
  id: string;
  /** "Pulling fs layer", "Waiting", "Downloading", "Download complete", "Extracting", "Pull complete", "Already exists", … */
  status: string;
  /** From progressDetail, while downloading (compressed bytes) or extracting. */
  current?: number;
  total?: number;
}

export interface BuildOptions {
  ref: string;
  dockerfile: string;
  args: Record<string, string>;
  target: string | undefined;
  labels: Record<string, string>;
}
