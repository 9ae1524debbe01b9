import type { Readable } from "node:stream";
import type { BuildOptions, EngineClient, LayerMessage } from "../engine/index.js";
import { EngineError } from "../errors.js";
import { LABEL } from "../labels.js";
import { FakeContainers } from "./fake-containers.js";
import { matchesLabel } from "./fake-engine-base.js";

export type { Call, FakeContainer, Fault } from "./fake-engine-base.js";

/*
 * An in-memory Docker Engine for the executor's unit tier: it keeps containers, networks and
 * images, records every call in order, and lets a test inject failures, hangs and dropped
 * connections per operation. It is never a stand-in for the real engine in integration tests.
 * Its state and call recording are in fake-engine-base.ts, its containers in fake-containers.ts.
 */

export class FakeEngine extends FakeContainers implements EngineClient {
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

/** The stack label filter, for tests. */
export const stackLabel = (stack: string) => `${LABEL.stack}=${stack}`;
