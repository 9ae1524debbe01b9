import type { Duplex, Readable } from "node:stream";
import type { ContainerDetails, ContainerSummary } from "../engine/index.js";
import { EngineError } from "../errors.js";
import { FakeEngineBase, matchesLabel } from "./fake-engine-base.js";

/** The fake engine's containers: their lifecycle, logs, exec and archives. */
export abstract class FakeContainers extends FakeEngineBase {
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
}
