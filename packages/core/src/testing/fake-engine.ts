import type { Duplex, Readable } from "node:stream";
import type {
  BuildOptions,
  CallCounts,
  ContainerDetails,
  ContainerSummary,
  EngineClient,
  EngineEvent,
  EngineInfo,
  ImageDetails,
  LayerMessage,
  NetworkSummary,
} from "../engine/index.js";
import { EngineError } from "../errors.js";
import { LABEL } from "../labels.js";

/*
 * An in-memory Docker Engine for the executor's unit tier: it keeps containers, networks and
 * images, records every call in order, and lets a test inject failures, hangs and dropped
 * connections per operation. It is never a stand-in for the real engine in integration tests.
 */

export interface FakeContainer {
  id: string;
  name: string;
  image: string;
  state: "created" | "running" | "exited" | "dead";
  exitCode: number;
  health: string | undefined;
  labels: Record<string, string>;
  env: string[];
  cmd: string[] | null;
  restartPolicy: string;
  networks: Record<string, { ip: string }>;
  logs: string[];
  body: Record<string, unknown>;
}

export interface Call {
  op: string;
  args: unknown[];
}

/** What an operation does instead of its normal behaviour. */
export type Fault =
  | { kind: "fail"; status?: number; message?: string; code?: string }
  | { kind: "hang" }
  /** The connection drops: rejects like a socket reset (code ECONNRESET). */
  | { kind: "drop" };

type FaultRule = { op: string; match?: (args: unknown[]) => boolean; fault: Fault; times: number };

export class FakeEngine implements EngineClient {
  readonly where = "unix:///fake/docker.sock";
  readonly calls: CallCounts = { read: 0, mutating: 0, byOperation: {} };
  readonly log: Call[] = [];
  readonly containers = new Map<string, FakeContainer>();
  readonly networks = new Map<string, NetworkSummary>();
  readonly images = new Map<string, ImageDetails>();
  /** What a started container does: default, it keeps running. Return an exit code to exit at once. */
  onStart: (c: FakeContainer) => number | undefined = () => undefined;
  /** What a probe exec answers. */
  onExec: (c: FakeContainer, cmd: string[]) => { exitCode: number; output: string } = () => ({
    exitCode: 0,
    output: "",
  });
  /** What getArchive answers (default: the fake engine has no archives). */
  onGetArchive: ((c: FakeContainer, path: string) => Readable | undefined) | undefined;
  /** What putArchive does with the tar (default: the fake engine has no archives). */
  onPutArchive: ((c: FakeContainer, path: string, tar: Readable) => Promise<void>) | undefined;
  private readonly faults: FaultRule[] = [];
  private readonly waiters = new Map<string, ((code: number) => void)[]>();
  private readonly eventSinks = new Set<(e: EngineEvent) => void>();
  private nextId = 1;

  /** Makes the next `times` calls of `op` (optionally only those `match` picks) do `fault`. */
  inject(
    op: string,
    fault: Fault,
    opts: { times?: number; match?: (args: unknown[]) => boolean } = {},
  ): void {
    this.faults.push({ op, fault, times: opts.times ?? 1, ...(opts.match ? { match: opts.match } : {}) });
  }

  /** The operations called, in order (optionally only those of some kinds). */
  ops(...only: string[]): string[] {
    return this.log.map((c) => c.op).filter((op) => only.length === 0 || only.includes(op));
  }

  addImage(ref: string, id = `sha256:${ref}`, labels: Record<string, string> = {}): void {
    this.images.set(ref, { id, labels, env: [] });
  }

  /** Ends a running container with an exit code, as its process would. */
  exit(id: string, code: number): void {
    const c = this.containers.get(id);
    if (!c) return;
    c.state = "exited";
    c.exitCode = code;
    this.emitEvent(c, "die");
    for (const w of this.waiters.get(id) ?? []) w(code);
    this.waiters.delete(id);
  }

  resetCalls(): void {
    this.calls.read = 0;
    this.calls.mutating = 0;
    this.calls.byOperation = {};
  }

  private async call<T>(
    op: string,
    mutating: boolean,
    args: unknown[],
    fn: () => T | Promise<T>,
  ): Promise<T> {
    this.log.push({ op, args });
    this.calls[mutating ? "mutating" : "read"]++;
    this.calls.byOperation[op] = (this.calls.byOperation[op] ?? 0) + 1;
    const rule = this.faults.find((f) => f.op === op && f.times > 0 && (!f.match || f.match(args)));
    if (rule) {
      rule.times--;
      if (rule.fault.kind === "hang") return new Promise<T>(() => {});
      if (rule.fault.kind === "drop")
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      const status = rule.fault.status;
      const cause = Object.assign(new Error(rule.fault.message ?? `${op} failed`), {
        ...(status !== undefined ? { statusCode: status, json: { message: rule.fault.message ?? "" } } : {}),
        ...(rule.fault.code ? { code: rule.fault.code } : {}),
      });
      throw new EngineError(op, cause);
    }
    await Promise.resolve();
    return fn();
  }

  private container(id: string): FakeContainer {
    const c = this.containers.get(id) ?? [...this.containers.values()].find((x) => x.name === id);
    if (!c)
      throw new EngineError("container", Object.assign(new Error("no such container"), { statusCode: 404 }));
    return c;
  }

  private emitEvent(c: FakeContainer, action: string): void {
    for (const sink of this.eventSinks) sink({ id: c.id, action, labels: c.labels });
  }

  version() {
    return this.call("version", false, [], () => ({ version: "20.10.24", apiVersion: "1.41" }));
  }

  listContainers(labels: string[]) {
    return this.call("container.list", false, [labels], () =>
      [...this.containers.values()]
        .filter((c) => labels.every((l) => matchesLabel(c.labels, l)))
        .map(
          (c): ContainerSummary => ({
            id: c.id,
            name: c.name,
            imageId: this.images.get(c.image)?.id ?? c.image,
            state: c.state,
            health: c.health,
            status: c.state === "exited" ? `Exited (${c.exitCode}) 1 second ago` : "Up 1 second",
            labels: c.labels,
            published: [],
            networks: c.networks,
          }),
        ),
    );
  }

  inspectContainer(id: string) {
    return this.call("container.inspect", false, [id], (): ContainerDetails | undefined => {
      const c = this.containers.get(id);
      if (!c) return undefined;
      return {
        id: c.id,
        name: c.name,
        imageId: this.images.get(c.image)?.id ?? c.image,
        state: c.state,
        labels: c.labels,
        health: c.health,
        healthLog: [],
        exitCode: c.exitCode,
        restartCount: 0,
        startedAt: "",
        env: c.env,
        cmd: c.cmd,
        entrypoint: null,
        user: "",
        restartPolicy: c.restartPolicy,
        networks: Object.fromEntries(
          Object.entries(c.networks).map(([n, v]) => [n, { ip: v.ip, ipv6: "", aliases: [] }]),
        ),
        ports: {},
      };
    });
  }

  createContainer(body: Record<string, unknown>) {
    return this.call("container.create", true, [body], () => {
      const name = String(body.name ?? `anon-${this.nextId}`);
      if ([...this.containers.values()].some((c) => c.name === name))
        throw new EngineError(
          "container.create",
          Object.assign(new Error("name in use"), { statusCode: 409 }),
        );
      const id = `c${this.nextId++}`;
      const host = (body.HostConfig ?? {}) as { NetworkMode?: string; RestartPolicy?: { Name?: string } };
      this.containers.set(id, {
        id,
        name,
        image: String(body.Image),
        state: "created",
        exitCode: 0,
        health: body.Healthcheck ? "starting" : undefined,
        labels: (body.Labels ?? {}) as Record<string, string>,
        env: (body.Env ?? []) as string[],
        cmd: (body.Cmd ?? null) as string[] | null,
        restartPolicy: host.RestartPolicy?.Name ?? "no",
        networks:
          host.NetworkMode && host.NetworkMode !== "none"
            ? { [host.NetworkMode]: { ip: `10.0.0.${this.nextId}` } }
            : {},
        logs: [],
        body,
      });
      return id;
    });
  }

  startContainer(id: string) {
    return this.call("container.start", true, [id], () => {
      const c = this.container(id);
      if (c.state === "running") return;
      c.state = "running";
      this.emitEvent(c, "start");
      const code = this.onStart(c);
      if (code !== undefined) queueMicrotask(() => this.exit(c.id, code));
    });
  }

  stopContainer(id: string, timeoutSeconds?: number) {
    return this.call("container.stop", true, [id, timeoutSeconds], () => {
      const c = this.containers.get(id);
      if (c?.state === "running") this.exit(id, 143);
    });
  }

  restartContainer(id: string, timeoutSeconds?: number) {
    return this.call("container.restart", true, [id, timeoutSeconds], () => {
      const c = this.container(id);
      c.state = "running";
      this.emitEvent(c, "restart");
    });
  }

  removeContainer(id: string) {
    return this.call("container.remove", true, [id], () => {
      this.containers.delete(id);
    });
  }

  renameContainer(id: string, name: string) {
    return this.call("container.rename", true, [id, name], () => {
      if ([...this.containers.values()].some((c) => c.name === name && c.id !== id))
        throw new EngineError(
          "container.rename",
          Object.assign(new Error("name in use"), { statusCode: 409 }),
        );
      this.container(id).name = name;
    });
  }

  updateContainer(id: string, body: Record<string, unknown>) {
    return this.call("container.update", true, [id, body], () => {
      const c = this.container(id);
      c.restartPolicy = (body.RestartPolicy as { Name?: string })?.Name ?? c.restartPolicy;
    });
  }

  waitContainer(id: string, signal?: AbortSignal) {
    return this.call("container.wait", false, [id], () => {
      this.container(id);
      // "next-exit", as the real client asks: the next time it stops.
      return new Promise<number>((resolve, reject) => {
        const list = this.waiters.get(id) ?? [];
        list.push(resolve);
        this.waiters.set(id, list);
        signal?.addEventListener("abort", () => reject(signal.reason ?? new Error("aborted")), {
          once: true,
        });
      });
    });
  }

  killContainer(id: string) {
    return this.call("container.kill", true, [id], () => {
      if (this.containers.get(id)?.state === "running") this.exit(id, 137);
    });
  }

  containerLogs(id: string, tail: number) {
    return this.call("container.logs", false, [id, tail], () => {
      const lines = this.containers.get(id)?.logs ?? [];
      return tail > 0 ? lines.slice(-tail) : [...lines];
    });
  }

  info() {
    return this.call(
      "info",
      false,
      [],
      (): EngineInfo => ({
        serverVersion: "20.10.24",
        cpus: 2,
        memoryBytes: 8e9,
        os: "Fake OS",
        kernel: "6",
        architecture: "x86_64",
        osType: "linux",
      }),
    );
  }

  followLogs(id: string, tail: number, onLine: (line: string) => void, signal: AbortSignal) {
    return this.call("container.logs", false, [id, tail], async () => {
      for (const l of this.containers.get(id)?.logs ?? []) onLine(l);
      // The stream ends with the container, or when the reader stops.
      await new Promise<void>((resolve) => {
        if (signal.aborted || this.containers.get(id)?.state !== "running") return resolve();
        signal.addEventListener("abort", () => resolve(), { once: true });
        const list = this.waiters.get(id) ?? [];
        list.push(() => resolve());
        this.waiters.set(id, list);
      });
    });
  }

  exec(id: string, cmd: string[], signal?: AbortSignal) {
    return this.call("container.exec", true, [id, cmd], () => {
      signal?.throwIfAborted();
      return this.onExec(this.container(id), cmd);
    });
  }

  listNetworks(labels: string[]) {
    return this.call("network.list", false, [labels], () =>
      [...this.networks.values()].filter((n) => labels.every((l) => matchesLabel(n.labels, l))),
    );
  }

  createNetwork(body: Record<string, unknown>) {
    return this.call("network.create", true, [body], () => {
      const id = `n${this.nextId++}`;
      this.networks.set(id, {
        id,
        name: String(body.Name),
        labels: (body.Labels ?? {}) as Record<string, string>,
      });
      return id;
    });
  }

  removeNetwork(id: string) {
    return this.call("network.remove", true, [id], () => {
      this.networks.delete(id);
    });
  }

  connectNetwork(network: string, container: string, aliases: string[]) {
    return this.call("network.connect", true, [network, container, aliases], () => {
      this.container(container).networks[network] = { ip: `10.1.0.${this.nextId++}` };
    });
  }

  listImages(refs: string[]) {
    return this.call("image.list", false, [refs], () => {
      const out: Record<string, { id: string; labels: Record<string, string> }> = {};
      for (const r of refs) {
        const img = this.images.get(r);
        if (img) out[r] = { id: img.id, labels: img.labels };
      }
      return out;
    });
  }

  inspectImage(ref: string) {
    return this.call(
      "image.inspect",
      false,
      [ref],
      () => this.images.get(ref) ?? [...this.images.values()].find((i) => i.id === ref),
    );
  }

  /** What a pull reports about layers, as the engine would (none by default). */
  pullLayers: (ref: string) => LayerMessage[] = () => [];

  pullImage(ref: string, onProgress: (line: string, layer?: LayerMessage) => void) {
    return this.call("image.pull", true, [ref], () => {
      onProgress(`Pulling ${ref}`);
      for (const m of this.pullLayers(ref)) onProgress(`${m.status}`, m);
      this.addImage(ref);
    });
  }

  execStream(id: string, cmd: string[]) {
    return this.call("container.exec", true, [id, cmd], (): Duplex => {
      throw new Error("the fake engine has no exec streams");
    });
  }

  getArchive(id: string, path: string) {
    return this.call("container.archive", false, [id, path], (): Readable | undefined => {
      if (!this.onGetArchive) throw new Error("the fake engine has no archives");
      return this.onGetArchive(this.container(id), path);
    });
  }

  putArchive(id: string, path: string, tar?: Readable) {
    return this.call("container.put-archive", true, [id, path], async () => {
      if (!this.onPutArchive || !tar) throw new Error("the fake engine has no archives");
      await this.onPutArchive(this.container(id), path, tar);
    });
  }

  exportImages(refs: string[]) {
    return this.call("image.export", false, [refs], (): Readable => {
      throw new Error("the fake engine has no image archives");
    });
  }

  loadImages(_tar: Readable) {
    return this.call("image.load", true, [], () => {
      throw new Error("the fake engine has no image archives");
    });
  }

  importImage(_tar: Buffer, opts: { ref: string; changes: string[] }) {
    return this.call("image.import", true, [opts], () => {
      const id = `sha256:imported-${opts.ref}-${this.nextId++}`;
      this.images.set(opts.ref, { id, labels: {}, env: [] });
      return id;
    });
  }

  tagImage(source: string, ref: string) {
    return this.call("image.tag", true, [source, ref], () => {
      const img = this.images.get(source);
      if (!img)
        throw new EngineError("image.tag", Object.assign(new Error("no such image"), { statusCode: 404 }));
      this.images.set(ref, img);
    });
  }

  buildImage(_context: Readable, opts: BuildOptions, onProgress: (line: string) => void) {
    _context.resume?.();
    return this.call("image.build", true, [opts], () => {
      onProgress(`Step 1/1 : FROM scratch`);
      const id = `sha256:built-${opts.ref}-${this.nextId++}`;
      this.images.set(opts.ref, { id, labels: opts.labels, env: [] });
      return id;
    });
  }

  events(labels: string[], signal: AbortSignal, onEvent: (e: EngineEvent) => void) {
    return this.call("events", false, [labels], async () => {
      const sink = (e: EngineEvent) => {
        if (labels.every((l) => matchesLabel(e.labels, l))) onEvent(e);
      };
      this.eventSinks.add(sink);
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
      this.eventSinks.delete(sink);
    });
  }
  // Swarm mode: the fake engine is not in a swarm (reads answer empty, changes fail with 503).
  swarmInfo() {
    return this.call("info", false, [], () => ({ state: "inactive", nodeId: "", manager: false }));
  }
  listNodes() {
    return this.call("node.list", false, [], () => notInSwarm());
  }
  listServices(labels: string[]) {
    return this.call("service.list", false, [labels], () => notInSwarm());
  }
  inspectService(id: string) {
    return this.call("service.inspect", false, [id], () => notInSwarm());
  }
  createService(spec: Record<string, unknown>) {
    return this.call("service.create", true, [spec], () => notInSwarm());
  }
  updateService(id: string, version: number, spec: Record<string, unknown>, opts?: { rollback?: boolean }) {
    return this.call("service.update", true, [id, version, spec, opts], () => notInSwarm());
  }
  removeService(id: string) {
    return this.call("service.remove", true, [id], () => notInSwarm());
  }
  listTasks(services?: string[]) {
    return this.call("task.list", false, [services], () => notInSwarm());
  }
  listConfigs(labels: string[]) {
    return this.call("config.list", false, [labels], () => notInSwarm());
  }
  createConfig(spec: Record<string, unknown>) {
    return this.call("config.create", true, [spec], () => notInSwarm());
  }
  removeConfig(id: string) {
    return this.call("config.remove", true, [id], () => notInSwarm());
  }
  serviceLogs(id: string, tail: number) {
    return this.call("service.logs", false, [id, tail], () => notInSwarm());
  }
  followServiceLogs(id: string, tail: number, _onLine: (line: string) => void, _signal: AbortSignal) {
    return this.call("service.logs", false, [id, tail], () => notInSwarm());
  }
  pushImage(ref: string, _onProgress: (line: string) => void) {
    return this.call("image.push", true, [ref], () => notInSwarm());
  }
}

/** What an engine outside a swarm answers to a swarm request. */
function notInSwarm(): never {
  throw new EngineError(
    "swarm",
    Object.assign(new Error("This node is not a swarm manager."), { statusCode: 503 }),
  );
}

function matchesLabel(labels: Record<string, string>, filter: string): boolean {
  const i = filter.indexOf("=");
  return i < 0 ? filter in labels : labels[filter.slice(0, i)] === filter.slice(i + 1);
}

/** The stack label filter, for tests. */
export const stackLabel = (stack: string) => `${LABEL.stack}=${stack}`;
