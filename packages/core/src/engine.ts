import { createRequire, Module } from "node:module";
import type { Duplex, Readable } from "node:stream";
import type Docker from "dockerode";
import pRetry, { AbortError } from "p-retry";
import { EngineError, EngineUnreachableError } from "./errors.js";
import { canonicalImageRef, familiarImageRef, tagParts, tryParseImageRef } from "./image-ref.js";

const require = createRequire(import.meta.url);

/**
 * dockerode loads its BuildKit session client (gRPC and protobuf), its own tar-fs and docker-modem
 * its SSH transport (ssh2) as soon as it is loaded, though shctl needs the first never (it builds
 * with the classic builder), the second never (it packs build contexts itself) and the third only
 * for an ssh:// engine: more than half of dockerode's load time, paid by every command. Until one
 * of their functions is first called, a stand-in holds each module's place in the module cache and
 * loads the real one on the call. If dockerode's layout ever differs, the stand-ins are simply not
 * installed.
 */
function loadDockerode(): typeof Docker {
  // The module, and the names of its exported functions (none: it exports a single function).
  const deferred: [request: string, methods: string[]][] = [
    ["./session.js", []],
    ["tar-fs", ["pack", "extract"]],
    ["docker-modem/lib/ssh.js", []],
  ];
  const fromDockerode = createRequire(require.resolve("dockerode"));
  for (const [request, methods] of deferred) {
    let file: string;
    try {
      file = fromDockerode.resolve(request);
    } catch {
      continue;
    }
    if (require.cache[file]) continue;
    const standIn = new Module(file);
    const real = (): Record<string, (...a: unknown[]) => unknown> => {
      if (require.cache[file] === standIn) delete require.cache[file];
      return require(file);
    };
    standIn.filename = file;
    standIn.loaded = true;
    standIn.exports =
      methods.length === 0
        ? (...args: unknown[]) => (real() as unknown as (...a: unknown[]) => unknown)(...args)
        : Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) => real()[m]?.(...args)]));
    require.cache[file] = standIn;
  }
  return require("dockerode") as typeof Docker;
}

const DockerClient = loadDockerode();

/*
 * The only module that imports dockerode. Everything else speaks to the engine through
 * `EngineClient`, which counts calls (read vs mutating) so tests and the benchmark can see them.
 */

export interface ContainerSummary {
  id: string;
  name: string;
  imageId: string;
  state: string;
  /** From the listing's status: "healthy", "unhealthy", "starting", or undefined without a healthcheck. */
  health: string | undefined;
  labels: Record<string, string>;
  /** Host ports it publishes (while it runs). */
  published: { hostIp: string; port: number; protocol: string }[];
  /** The networks it is attached to, by Docker name, with its address on each. */
  networks: Record<string, { ip: string }>;
}

export interface ContainerDetails extends Omit<ContainerSummary, "published" | "health" | "networks"> {
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
  /** Local images by reference; absent references are missing from the result. */
  listImages(refs: string[]): Promise<Record<string, { id: string; labels: Record<string, string> }>>;
  inspectImage(ref: string): Promise<ImageDetails | undefined>;
  pullImage(ref: string, onProgress: (line: string) => void): Promise<void>;
  tagImage(source: string, ref: string): Promise<void>;
  /** Creates an image from a root filesystem tar (image import, nothing pulled); resolves to its id. */
  importImage(tar: Buffer, opts: { ref: string; changes: string[] }): Promise<string>;
  /** A tar of `path` in a container (created or running; its mounts included); 404 → undefined. */
  getArchive(id: string, path: string): Promise<Readable | undefined>;
  /** Extracts a tar into directory `path` of a container (created or running; its mounts included). */
  putArchive(id: string, path: string, tar: Readable): Promise<void>;
  buildImage(context: Readable, opts: BuildOptions, onProgress: (line: string) => void): Promise<string>;
  /** Container events with these labels, until the signal aborts. */
  events(labels: string[], signal: AbortSignal, onEvent: (e: EngineEvent) => void): Promise<void>;
}

export interface BuildOptions {
  ref: string;
  dockerfile: string;
  args: Record<string, string>;
  target: string | undefined;
  labels: Record<string, string>;
}

const TRANSIENT_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN"]);
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "EHOSTUNREACH", "ENOTFOUND"]);

function status(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

/** Creates the dockerode-backed client; the connection is resolved the way docker-modem does (DOCKER_HOST, …). */
export function connectEngine(opts?: Docker.DockerOptions): EngineClient {
  return new DockerEngine(new DockerClient(opts));
}

class DockerEngine implements EngineClient {
  readonly calls: CallCounts = { read: 0, mutating: 0, byOperation: {} };
  readonly where: string;

  constructor(private readonly docker: Docker) {
    const m = docker.modem as unknown as {
      socketPath?: string;
      host?: string;
      port?: number;
      protocol?: string;
    };
    // docker-modem's default socketPath is a function that probes candidates: name the usual one.
    const socket =
      typeof m.socketPath === "string" ? m.socketPath : m.socketPath ? "/var/run/docker.sock" : undefined;
    this.where = socket ? `unix://${socket}` : `${m.protocol ?? "http"}://${m.host}:${m.port ?? ""}`;
  }

  resetCalls(): void {
    this.calls.read = 0;
    this.calls.mutating = 0;
    this.calls.byOperation = {};
  }

  /** Runs one API call: counts it, retries transient transport errors for reads, and types its failure. */
  private async call<T>(
    operation: string,
    mutating: boolean,
    fn: () => Promise<T>,
    resource?: string,
  ): Promise<T> {
    this.calls[mutating ? "mutating" : "read"]++;
    this.calls.byOperation[operation] = (this.calls.byOperation[operation] ?? 0) + 1;
    try {
      return await pRetry(
        async () => {
          try {
            return await fn();
          } catch (err) {
            const code = (err as NodeJS.ErrnoException)?.code;
            if (!mutating && code && TRANSIENT_CODES.has(code)) throw err;
            throw new AbortError(err as Error);
          }
        },
        { retries: 3, minTimeout: 200, factor: 2 },
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code && UNREACHABLE_CODES.has(code) && status(err) === undefined)
        throw new EngineUnreachableError(this.where, err);
      if (err instanceof EngineError || err instanceof EngineUnreachableError) throw err;
      throw new EngineError(operation, err, resource ? { resource } : {});
    }
  }

  version() {
    return this.call("version", false, async () => {
      const v = await this.docker.version();
      return { version: v.Version, apiVersion: v.ApiVersion };
    });
  }

  listContainers(labels: string[]) {
    return this.call("container.list", false, async () => {
      const list = await this.docker.listContainers({ all: true, filters: { label: labels } });
      return list.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? "").replace(/^\//, ""),
        imageId: c.ImageID,
        state: c.State,
        health: healthOfStatus(c.Status),
        labels: c.Labels ?? {},
        published: (c.Ports ?? []).flatMap((p) =>
          p.PublicPort ? [{ hostIp: p.IP ?? "0.0.0.0", port: p.PublicPort, protocol: p.Type }] : [],
        ),
        networks: Object.fromEntries(
          Object.entries(c.NetworkSettings?.Networks ?? {}).map(([n, v]) => [n, { ip: v.IPAddress ?? "" }]),
        ),
      }));
    });
  }

  inspectContainer(id: string) {
    return this.call("container.inspect", false, async () => {
      try {
        const c = await this.docker.getContainer(id).inspect();
        const nets = c.NetworkSettings?.Networks ?? {};
        return {
          id: c.Id,
          name: c.Name.replace(/^\//, ""),
          imageId: c.Image,
          state: c.State.Status,
          labels: c.Config.Labels ?? {},
          health: c.State.Health?.Status,
          healthLog: (c.State.Health?.Log ?? []).map((l) => `[exit ${l.ExitCode}] ${l.Output.trim()}`),
          exitCode: c.State.ExitCode,
          restartCount: c.RestartCount,
          startedAt: c.State.StartedAt,
          env: c.Config.Env ?? [],
          cmd: (c.Config.Cmd as string[] | null) ?? null,
          entrypoint: (c.Config.Entrypoint as string[] | null) ?? null,
          user: c.Config.User ?? "",
          restartPolicy: c.HostConfig.RestartPolicy?.Name ?? "no",
          networks: Object.fromEntries(
            Object.entries(nets).map(([n, v]) => [
              n,
              { ip: v.IPAddress, ipv6: v.GlobalIPv6Address ?? "", aliases: v.Aliases ?? [] },
            ]),
          ),
          ports: Object.fromEntries(
            Object.entries(c.NetworkSettings?.Ports ?? {}).map(([k, v]) => [
              k,
              v ? v.map((b) => ({ hostIp: b.HostIp, hostPort: b.HostPort })) : null,
            ]),
          ),
        } satisfies ContainerDetails;
      } catch (err) {
        if (status(err) === 404) return undefined;
        throw err;
      }
    });
  }

  createContainer(body: Record<string, unknown>) {
    return this.call(
      "container.create",
      true,
      async () => (await this.docker.createContainer(body as Docker.ContainerCreateOptions)).id,
      String(body.name ?? ""),
    );
  }

  startContainer(id: string) {
    return this.call("container.start", true, async () => {
      try {
        await this.docker.getContainer(id).start();
      } catch (err) {
        if (status(err) !== 304) throw err; // already started
      }
    });
  }

  stopContainer(id: string, timeoutSeconds?: number) {
    return this.call("container.stop", true, async () => {
      try {
        await this.docker.getContainer(id).stop(timeoutSeconds === undefined ? {} : { t: timeoutSeconds });
      } catch (err) {
        if (status(err) !== 304 && status(err) !== 404) throw err; // already stopped, or gone
      }
    });
  }

  restartContainer(id: string, timeoutSeconds?: number) {
    return this.call("container.restart", true, async () => {
      await this.docker.getContainer(id).restart(timeoutSeconds === undefined ? {} : { t: timeoutSeconds });
    });
  }

  removeContainer(id: string) {
    return this.call("container.remove", true, async () => {
      try {
        await this.docker.getContainer(id).remove({ force: true });
      } catch (err) {
        if (status(err) !== 404) throw err; // already gone
      }
    });
  }

  updateContainer(id: string, body: Record<string, unknown>) {
    return this.call("container.update", true, async () => {
      await this.docker.getContainer(id).update(body);
    });
  }

  waitContainer(id: string, signal?: AbortSignal) {
    return this.call("container.wait", false, async () => {
      // "next-exit": a wait issued before start would otherwise return at once with code 0.
      const res = (await this.docker
        .getContainer(id)
        .wait({ condition: "next-exit", ...(signal ? { abortSignal: signal } : {}) })) as {
        StatusCode: number;
      };
      return res.StatusCode;
    });
  }

  killContainer(id: string) {
    return this.call("container.kill", true, async () => {
      try {
        await this.docker.getContainer(id).kill();
      } catch (err) {
        if (status(err) !== 404 && status(err) !== 409) throw err; // gone, or not running
      }
    });
  }

  containerLogs(id: string, tail: number, streams = { stdout: true, stderr: true }) {
    return this.call("container.logs", false, async () => {
      const buf = (await this.docker.getContainer(id).logs({
        ...streams,
        ...(tail > 0 ? { tail } : {}),
        follow: false,
      })) as unknown as Buffer;
      return demuxLines(buf);
    });
  }

  info() {
    return this.call("info", false, async () => {
      const i = (await this.docker.info()) as {
        ServerVersion: string;
        NCPU: number;
        MemTotal: number;
        OperatingSystem: string;
        KernelVersion: string;
        Architecture: string;
        OSType: string;
      };
      return {
        serverVersion: i.ServerVersion,
        cpus: i.NCPU,
        memoryBytes: i.MemTotal,
        os: i.OperatingSystem,
        kernel: i.KernelVersion,
        architecture: i.Architecture,
        osType: i.OSType ?? "",
      };
    });
  }

  followLogs(id: string, tail: number, onLine: (line: string) => void, signal: AbortSignal) {
    return this.call("container.logs", false, async () => {
      const c = this.docker.getContainer(id);
      const info = await c.inspect();
      const stream = (await c.logs({
        stdout: true,
        stderr: true,
        tail,
        follow: true,
      })) as unknown as Readable;
      signal.addEventListener("abort", () => stream.destroy(), { once: true });
      // One line buffer per stream: a partial stdout line must not take in a line of stderr.
      const splitter = () => {
        const state = { pending: "" };
        const write = (chunk: Buffer) => {
          state.pending += chunk.toString("utf8");
          const lines = state.pending.split("\n");
          state.pending = lines.pop() ?? "";
          for (const l of lines) onLine(l);
        };
        return { state, write };
      };
      const out = splitter();
      const err = splitter();
      if (info.Config.Tty) stream.on("data", out.write);
      else this.docker.modem.demuxStream(stream, out as never, err as never);
      await new Promise<void>((resolve) => {
        stream.on("end", resolve);
        stream.on("close", resolve);
        stream.on("error", () => resolve());
      });
      for (const s of [out, err]) if (s.state.pending) onLine(s.state.pending);
    });
  }

  exec(id: string, cmd: string[], signal?: AbortSignal) {
    return this.call("container.exec", true, async () => {
      signal?.throwIfAborted();
      const exec = await this.docker
        .getContainer(id)
        .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: false });
      const chunks: Buffer[] = [];
      const sink = { write: (c: Buffer) => chunks.push(c) };
      this.docker.modem.demuxStream(stream, sink as never, sink as never);
      await new Promise<void>((resolve, reject) => {
        // Aborted: stop reading (the connection closes; the command may still end on its own).
        const abort = () => {
          stream.destroy();
          reject(signal?.reason ?? new Error("aborted"));
        };
        if (signal?.aborted) return abort();
        signal?.addEventListener("abort", abort, { once: true });
        const done = () => {
          signal?.removeEventListener("abort", abort);
          resolve();
        };
        stream.on("end", done);
        stream.on("close", done);
        stream.on("error", (err) => {
          signal?.removeEventListener("abort", abort);
          reject(err);
        });
      });
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString("utf8") };
    });
  }

  execStream(id: string, cmd: string[]) {
    return this.call("container.exec", true, async () => {
      const exec = await this.docker.getContainer(id).exec({
        Cmd: cmd,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      return (await exec.start({ hijack: true, stdin: true })) as Duplex;
    });
  }

  listNetworks(labels: string[]) {
    return this.call("network.list", false, async () => {
      const list = await this.docker.listNetworks({ filters: { label: labels } });
      return list.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
    });
  }

  createNetwork(body: Record<string, unknown>) {
    return this.call(
      "network.create",
      true,
      async () => (await this.docker.createNetwork(body as unknown as Docker.NetworkCreateOptions)).id,
    );
  }

  removeNetwork(id: string) {
    return this.call("network.remove", true, async () => {
      try {
        await this.docker.getNetwork(id).remove();
      } catch (err) {
        if (status(err) !== 404) throw err;
      }
    });
  }

  connectNetwork(network: string, container: string, aliases: string[]) {
    return this.call("network.connect", true, async () => {
      await this.docker
        .getNetwork(network)
        .connect({ Container: container, EndpointConfig: { Aliases: aliases } });
    });
  }

  listImages(refs: string[]) {
    return this.call("image.list", false, async () => {
      const out: Record<string, { id: string; labels: Record<string, string> }> = {};
      if (refs.length === 0) return out;
      // The filter matches the short form the engine shows (`postgres:14.5`), not `docker.io/library/…`.
      const patterns = [...new Set(refs.map((r) => familiarRef(r)))];
      const list = await this.docker.listImages({ filters: { reference: patterns } });
      // The engine's filter matches patterns: keep only the images that really are one of the
      // references. An image pulled by digest is known by NAME@DIGEST (RepoDigests), not by a tag.
      const wanted = new Map<string, string[]>();
      for (const r of refs) {
        const n = normalizeRef(r);
        wanted.set(n, [...(wanted.get(n) ?? []), r]);
      }
      for (const img of list) {
        for (const known of [...(img.RepoTags ?? []), ...(img.RepoDigests ?? [])]) {
          for (const r of wanted.get(normalizeRef(known)) ?? [])
            out[r] = { id: img.Id, labels: img.Labels ?? {} };
        }
      }
      return out;
    });
  }

  inspectImage(ref: string) {
    return this.call("image.inspect", false, async () => {
      try {
        const i = await this.docker.getImage(ref).inspect();
        return { id: i.Id, labels: i.Config?.Labels ?? {}, env: i.Config?.Env ?? [] };
      } catch (err) {
        if (status(err) === 404) return undefined;
        throw err;
      }
    });
  }

  pullImage(ref: string, onProgress: (line: string) => void) {
    return this.call(
      "image.pull",
      true,
      async () => {
        const stream = (await this.docker.pull(ref)) as Readable;
        await followProgress(this.docker, stream, onProgress);
      },
      ref,
    );
  }

  tagImage(source: string, ref: string) {
    return this.call("image.tag", true, async () => {
      await this.docker.getImage(source).tag(tagParts(ref));
    });
  }

  getArchive(id: string, path: string) {
    return this.call("container.archive", false, async () => {
      try {
        return (await this.docker.getContainer(id).getArchive({ path })) as unknown as Readable;
      } catch (err) {
        if (status(err) === 404) return undefined;
        throw err;
      }
    });
  }

  putArchive(id: string, path: string, tar: Readable) {
    return this.call("container.put-archive", true, async () => {
      await this.docker.getContainer(id).putArchive(tar as unknown as NodeJS.ReadableStream, { path });
    });
  }

  importImage(tar: Buffer, opts: { ref: string; changes: string[] }) {
    return this.call(
      "image.import",
      true,
      async () => {
        const stream = (await this.docker.importImage(
          tar as never,
          {
            ...tagParts(opts.ref),
            changes: opts.changes,
          } as never,
        )) as unknown as NodeJS.ReadableStream;
        let id = "";
        await followProgress(
          this.docker,
          stream,
          () => undefined,
          (ev) => {
            if (typeof ev.status === "string" && ev.status.startsWith("sha256:")) id = ev.status;
          },
        );
        return id;
      },
      opts.ref,
    );
  }

  buildImage(context: Readable, opts: BuildOptions, onProgress: (line: string) => void) {
    return this.call(
      "image.build",
      true,
      async () => {
        const stream = await this.docker.buildImage(context as unknown as NodeJS.ReadableStream, {
          t: opts.ref,
          dockerfile: opts.dockerfile,
          buildargs: opts.args,
          labels: opts.labels,
          rm: true,
          forcerm: true,
          ...(opts.target ? { target: opts.target } : {}),
        });
        let id = "";
        await followProgress(this.docker, stream, onProgress, (ev) => {
          const aux = ev.aux as { ID?: string } | undefined;
          if (aux?.ID) id = aux.ID;
        });
        return id;
      },
      opts.ref,
    );
  }

  events(labels: string[], signal: AbortSignal, onEvent: (e: EngineEvent) => void) {
    return this.call("events", false, async () => {
      const stream = (await this.docker.getEvents({
        filters: { type: ["container"], label: labels },
      })) as unknown as Readable;
      const stop = () => stream.destroy();
      if (signal.aborted) stop();
      signal.addEventListener("abort", stop, { once: true });
      let pending = "";
      stream.on("data", (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.trim()) continue;
          try {
            const ev = JSON.parse(line) as {
              id?: string;
              Action?: string;
              status?: string;
              Actor?: { ID?: string; Attributes?: Record<string, string> };
            };
            onEvent({
              id: ev.Actor?.ID ?? ev.id ?? "",
              action: ev.Action ?? ev.status ?? "",
              labels: ev.Actor?.Attributes ?? {},
            });
          } catch {
            // A partial or non-JSON line cannot be acted on; the waiters fall back to inspect.
          }
        }
      });
      await new Promise<void>((resolve) => {
        stream.on("close", resolve);
        stream.on("end", resolve);
        stream.on("error", () => resolve());
      });
    });
  }
}

/** The health a container listing's status shows: "Up 3 minutes (healthy)", "(health: starting)". */
export function healthOfStatus(status: string | undefined): string | undefined {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status ?? "");
  if (!m) return undefined;
  return m[1] === "health: starting" ? "starting" : m[1];
}

function familiarRef(ref: string): string {
  const r = tryParseImageRef(ref);
  return r ? familiarImageRef(r) : ref;
}

/** One form for every way of writing a reference (image-ref.ts); what is not a reference stays as it is. */
function normalizeRef(ref: string): string {
  const r = tryParseImageRef(ref);
  return r ? canonicalImageRef(r) : ref;
}

/** Reads a pull/build progress stream; a message with `error` fails it (the engine reports build errors in-band). */
function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onProgress: (line: string) => void,
  onEvent?: (ev: Record<string, unknown>) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (err) reject(err);
        else if (failure) reject(Object.assign(new Error(failure), { json: { message: failure } }));
        else resolve();
      },
      (ev: Record<string, unknown>) => {
        onEvent?.(ev);
        if (typeof ev.error === "string") failure = ev.error;
        const text =
          typeof ev.stream === "string"
            ? ev.stream
            : typeof ev.status === "string"
              ? `${ev.status}${ev.progress ? ` ${ev.progress}` : ""}`
              : "";
        for (const line of text.split("\n")) if (line.trim()) onProgress(line.trimEnd());
      },
    );
  });
}

/** Splits the engine's multiplexed log format (8-byte frame headers) into lines. */
export function demuxLines(buf: Buffer): string[] {
  const parts: Buffer[] = [];
  let i = 0;
  const framed =
    buf.length >= 8 && (buf[0] === 1 || buf[0] === 2) && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
  if (!framed) parts.push(buf);
  else {
    while (i + 8 <= buf.length) {
      const size = buf.readUInt32BE(i + 4);
      parts.push(buf.subarray(i + 8, i + 8 + size));
      i += 8 + size;
    }
  }
  const text = Buffer.concat(parts).toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
