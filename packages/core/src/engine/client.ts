import type { Duplex, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import pRetry, { AbortError } from "p-retry";
import { EngineError, EngineUnreachableError, UsageError } from "../errors.js";
import { tagParts } from "../image-ref.js";
import { DockerClient } from "./load.js";
import { toDetails, toSummary } from "./mapping.js";
import {
  demuxLines,
  execCollect,
  familiarRef,
  followEvents,
  followLogs,
  followProgress,
  followServiceLogs,
  layerMessage,
  normalizeRef,
} from "./streams.js";
import { toNode, toService, toTask } from "./swarm-mapping.js";
import type {
  BuildOptions,
  CallCounts,
  EngineClient,
  EngineEvent,
  LayerMessage,
  SwarmInfo,
} from "./types.js";

const TRANSIENT_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN"]);
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "EHOSTUNREACH", "ENOTFOUND"]);
/** How often a container wait checks the container itself (see watchExit). */
const WAIT_CHECK_MS = 2_000;

function status(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

/** Creates the dockerode-backed client; the connection is resolved the way docker-modem does (DOCKER_HOST, …). */
export function connectEngine(opts?: Docker.DockerOptions): EngineClient {
  if (!opts) checkDockerHost(process.env.DOCKER_HOST);
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
      return list.map(toSummary);
    });
  }

  inspectContainer(id: string) {
    return this.call("container.inspect", false, async () => {
      try {
        return toDetails(await this.docker.getContainer(id).inspect());
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

  renameContainer(id: string, name: string) {
    return this.call("container.rename", true, async () => {
      await this.docker.getContainer(id).rename({ name });
    });
  }

  updateContainer(id: string, body: Record<string, unknown>) {
    return this.call("container.update", true, async () => {
      await this.docker.getContainer(id).update(body);
    });
  }

  waitContainer(id: string, signal?: AbortSignal) {
    return this.call("container.wait", false, async () => {
      const done = new AbortController();
      const stop = signal ? AbortSignal.any([signal, done.signal]) : done.signal;
      try {
        // "next-exit": a wait issued before start would otherwise return at once with code 0.
        const waited = this.docker
          .getContainer(id)
          .wait({ condition: "next-exit", abortSignal: stop })
          .then((res: { StatusCode: number }) => res.StatusCode);
        return await Promise.race([waited, this.watchExit(id, stop)]);
      } finally {
        done.abort();
      }
    });
  }

  /**
   * The wait's connection can end without an answer (an engine killed outright) or its answer can
   * be lost with a retried wait (a container that exited in between is never "next" to exit):
   * every WAIT_CHECK_MS the container is inspected, and one that has started and no longer runs
   * gives its exit code. An engine that no longer answers fails the wait (unreachable).
   */
  private async watchExit(id: string, signal: AbortSignal): Promise<number> {
    for (;;) {
      await sleep(WAIT_CHECK_MS, undefined, { signal });
      let state: { Running?: boolean; StartedAt?: string; ExitCode?: number } | undefined;
      try {
        state = (
          (await this.docker.getContainer(id).inspect({ abortSignal: signal })) as { State?: typeof state }
        ).State;
      } catch (err) {
        if (signal.aborted) throw err;
        const code = (err as NodeJS.ErrnoException)?.code;
        if (status(err) === undefined && code && UNREACHABLE_CODES.has(code)) throw err;
        continue; // a passing hiccup: the wait or the next check answers
      }
      const started = state?.StartedAt !== undefined && !state.StartedAt.startsWith("0001-");
      if (started && state?.Running === false) return state.ExitCode ?? -1;
    }
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
        SystemTime?: string;
      };
      return {
        serverVersion: i.ServerVersion,
        cpus: i.NCPU,
        memoryBytes: i.MemTotal,
        os: i.OperatingSystem,
        kernel: i.KernelVersion,
        architecture: i.Architecture,
        osType: i.OSType ?? "",
        ...(i.SystemTime ? { systemTime: i.SystemTime } : {}),
      };
    });
  }

  followLogs(id: string, tail: number, onLine: (line: string) => void, signal: AbortSignal) {
    return this.call("container.logs", false, () => followLogs(this.docker, id, tail, onLine, signal));
  }

  exec(id: string, cmd: string[], signal?: AbortSignal) {
    return this.call("container.exec", true, () => execCollect(this.docker, id, cmd, signal));
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
      const out: Record<string, { id: string; labels: Record<string, string>; repoDigests: string[] }> = {};
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
            out[r] = { id: img.Id, labels: img.Labels ?? {}, repoDigests: img.RepoDigests ?? [] };
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

  pullImage(ref: string, onProgress: (line: string, layer?: LayerMessage) => void) {
    return this.call(
      "image.pull",
      true,
      async () => {
        const stream = (await this.docker.pull(ref)) as Readable;
        await followProgress(this.docker, stream, (line, ev) => {
          const layer = layerMessage(ev);
          if (layer) onProgress(line, layer);
          else onProgress(line);
        });
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
        await followProgress(
          this.docker,
          stream,
          (line) => onProgress(line),
          (ev) => {
            const aux = ev.aux as { ID?: string } | undefined;
            if (aux?.ID) id = aux.ID;
          },
        );
        return id;
      },
      opts.ref,
    );
  }

  exportImages(refs: string[]) {
    return this.call("image.export", false, async () => {
      // GET /images/get?names=…: dockerode has it, its types do not.
      const docker = this.docker as unknown as { getImages(opts: { names: string[] }): Promise<Readable> };
      return await docker.getImages({ names: refs });
    });
  }

  loadImages(tar: Readable, onProgress: (line: string) => void) {
    return this.call("image.load", true, async () => {
      const stream = (await this.docker.loadImage(tar as unknown as NodeJS.ReadableStream, {
        quiet: false,
      })) as unknown as NodeJS.ReadableStream;
      await followProgress(this.docker, stream, (line) => onProgress(line));
    });
  }

  events(labels: string[], signal: AbortSignal, onEvent: (e: EngineEvent) => void) {
    return this.call("events", false, () => followEvents(this.docker, labels, signal, onEvent));
  }

  swarmInfo() {
    return this.call("info", false, async (): Promise<SwarmInfo> => {
      const i = (await this.docker.info()) as {
        Swarm?: { LocalNodeState?: string; NodeID?: string; ControlAvailable?: boolean };
      };
      return {
        state: i.Swarm?.LocalNodeState ?? "inactive",
        nodeId: i.Swarm?.NodeID ?? "",
        manager: i.Swarm?.ControlAvailable === true,
      };
    });
  }

  listNodes() {
    return this.call("node.list", false, async () => (await this.docker.listNodes()).map(toNode));
  }

  listServices(labels: string[]) {
    return this.call("service.list", false, async () =>
      (await this.docker.listServices({ filters: { label: labels } } as Docker.ServiceListOptions)).map(
        toService,
      ),
    );
  }

  inspectService(id: string) {
    return this.call("service.inspect", false, async () => {
      try {
        return toService(await this.docker.getService(id).inspect());
      } catch (err) {
        if (status(err) === 404) return undefined;
        throw err;
      }
    });
  }

  createService(spec: Record<string, unknown>) {
    return this.call(
      "service.create",
      true,
      async () => (await this.docker.createService(spec as never)).id as string,
      String(spec.Name ?? ""),
    );
  }

  updateService(
    id: string,
    version: number,
    spec: Record<string, unknown>,
    opts: { rollback?: boolean } = {},
  ) {
    return this.call(
      "service.update",
      true,
      async () => {
        await this.docker.getService(id).update({
          _query: { version, ...(opts.rollback ? { rollback: "previous" } : {}) },
          _body: spec,
        } as never);
      },
      String(spec.Name ?? id),
    );
  }

  removeService(id: string) {
    return this.call("service.remove", true, async () => {
      try {
        await this.docker.getService(id).remove();
      } catch (err) {
        if (status(err) !== 404) throw err; // already gone
      }
    });
  }

  listTasks(services?: string[]) {
    return this.call("task.list", false, async () => {
      if (services?.length === 0) return [];
      try {
        const opts = services ? { filters: { service: services } } : {};
        return (await this.docker.listTasks(opts as object)).map(toTask);
      } catch (err) {
        if (status(err) === 404) return []; // a service of the filter is gone
        throw err;
      }
    });
  }

  listConfigs(labels: string[]) {
    return this.call("config.list", false, async () => {
      const list = (await this.docker.listConfigs({ filters: { label: labels } } as object)) as unknown as {
        ID: string;
        Spec?: { Name?: string; Labels?: Record<string, string> };
      }[];
      return list.map((c) => ({ id: c.ID, name: c.Spec?.Name ?? "", labels: c.Spec?.Labels ?? {} }));
    });
  }

  createConfig(spec: Record<string, unknown>) {
    return this.call(
      "config.create",
      true,
      async () => {
        const c = (await this.docker.createConfig(spec as never)) as unknown as { id: string };
        return c.id;
      },
      String(spec.Name ?? ""),
    );
  }

  removeConfig(id: string) {
    return this.call("config.remove", true, async () => {
      try {
        await this.docker.getConfig(id).remove();
      } catch (err) {
        if (status(err) !== 404) throw err;
      }
    });
  }

  serviceLogs(id: string, tail: number) {
    return this.call("service.logs", false, async () => {
      const buf = (await this.docker.getService(id).logs({
        stdout: true,
        stderr: true,
        follow: false,
        ...(tail > 0 ? { tail } : {}),
      } as never)) as unknown as Buffer;
      return demuxLines(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf ?? "")));
    });
  }

  followServiceLogs(id: string, tail: number, onLine: (line: string) => void, signal: AbortSignal) {
    return this.call("service.logs", false, () => followServiceLogs(this.docker, id, tail, onLine, signal));
  }

  pushImage(ref: string, onProgress: (line: string) => void) {
    return this.call(
      "image.push",
      true,
      async () => {
        // The engine wants X-Registry-Auth even for a registry without auth.
        const stream = (await this.docker
          .getImage(ref)
          .push({ authconfig: {} } as object)) as unknown as Readable;
        let digest = "";
        await followProgress(this.docker, stream, onProgress, (ev) => {
          const aux = ev.aux as { Digest?: string } | undefined;
          if (aux?.Digest) digest = aux.Digest;
        });
        return digest;
      },
      ref,
    );
  }
}

/**
 * DOCKER_HOST names the engine by scheme; one shctl cannot speak (a typo: `bogus://x`) is a usage
 * error, not an HTTP address to try.
 */
export function checkDockerHost(value: string | undefined): void {
  if (value === undefined || value.trim() === "") return;
  if (/^(unix|tcp|http|https|ssh|npipe):\/\//i.test(value.trim())) return;
  throw new UsageError(`DOCKER_HOST=${value} is not an engine address shctl can use`, {
    hint: "use unix:///var/run/docker.sock, tcp://HOST:2376 (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or ssh://USER@HOST; or unset it",
  });
}
