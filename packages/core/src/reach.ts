import http from "node:http";
import type net from "node:net";
import os from "node:os";
import type { Duplex } from "node:stream";
import type { EngineClient } from "./engine/index.js";
import { EngineError, ReachError, ShctlError } from "./errors.js";
import { WarmExecs } from "./exec-pool.js";
import { type LongLivedHelper, startLongLivedHelper } from "./helper-container.js";
import { ownedByProject } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { type Opened, type Opener, ProxySocket, type TransportSink } from "./proxy-socket.js";
import {
  decideMode,
  describeFacts,
  type ModeDecision,
  type ReachFacts,
  type ReachMode,
  type ReachSetting,
  reachSetting,
} from "./reach-mode.js";
import { type ResolvedAddress, resolveName } from "./reach-names.js";
import { directOpener, type Forwarder, startForwarder, withTimeout } from "./reach-transport.js";
import { connectExec, engineOpener, formatAddress, HelperExitedError, whenConnected } from "./tunnel.js";

/*
 * One way to reach the stack's container ports for the length of a command: by name or address,
 * directly from this process where container addresses are routable, else through the engine.
 */

export interface ReachOptions {
  /** Overrides SHCTL_REACH. */
  setting?: ReachSetting;
  env?: NodeJS.ProcessEnv;
  /** This process's interfaces (tests pass their own). */
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Longest time to open one connection, resolving included (default 15 s). */
  openTimeoutMs?: number;
  /** Another repository for the helper image (tests). */
  helperImageRepo?: string;
  /** How many connect execs wait ready in the helper (default 2; 0: start one per connection). */
  warmExecs?: number;
  /**
   * Resolves a name to an address on a stack network, instead of the engine's view of the stack's
   * containers (the swarm target resolves names from its services' tasks, on every node).
   */
  resolve?: (target: string) => Promise<ResolvedAddress | undefined>;
}

export interface ReachDescription {
  setting: ReachSetting;
  engine: string;
  /** One line: the setting and what it means here. */
  summary: string;
}

export interface Reach {
  /** A connected socket to a container port; `target` is a service, container name or id, alias, or IP. */
  connect(target: string, port: number, signal?: AbortSignal): Promise<ProxySocket>;
  /** A socket returned at once (a client library's socketFactory); `onConnect` is called once it connects. */
  socket(host: string, port: number, onConnect?: () => void): ProxySocket;
  /** An http.Agent whose connections go where this reach sends them (http.request, HTTP client libraries). */
  httpAgent(opts?: http.AgentOptions): http.Agent;
  /** A host:port for callers that connect themselves: the container's own, or a loopback forwarder. */
  address(target: string, port: number): Promise<{ host: string; port: number }>;
  /** How an address (or a name) would be reached, and why. */
  modeFor(target: string): Promise<ModeDecision & { ip: string }>;
  describe(): Promise<ReachDescription>;
  /** Closes forwarders and open sockets and removes the helper container. */
  close(): Promise<void>;
}

type StackRef = Pick<ResolvedStack, "name" | "networks"> & Partial<Pick<ResolvedStack, "dataRoot">>;

interface HelperState {
  container: LongLivedHelper;
  execs: WarmExecs;
}

export function createReach(engine: EngineClient, stack: StackRef, opts: ReachOptions = {}): Reach {
  return new EngineReach(engine, stack, opts);
}

class EngineReach implements Reach {
  private engineOs: Promise<string> | undefined;
  private helper: Promise<HelperState> | undefined;
  private readonly attached = new Set<string>();
  private readonly sockets = new Set<ProxySocket>();
  private readonly forwarders = new Map<string, Promise<Forwarder>>();
  private closed = false;
  private readonly setting: ReachSetting;
  private readonly networks: string[];

  constructor(
    private readonly engine: EngineClient,
    private readonly stack: StackRef,
    private readonly opts: ReachOptions,
  ) {
    this.setting = opts.setting ?? reachSetting(opts.env);
    this.networks = Object.values(stack.networks).map((n) => n.dockerName);
  }

  /** What the mode depends on; interfaces are read each time (a network made later adds a bridge). */
  private async getFacts(): Promise<ReachFacts> {
    // Only auto mode needs to know what the engine runs on (asked once).
    this.engineOs ??= this.setting === "auto" ? this.engine.info().then((i) => i.os) : Promise.resolve("");
    const pending = this.engineOs;
    pending.catch(() => {
      if (this.engineOs === pending) this.engineOs = undefined;
    });
    return {
      setting: this.setting,
      engineWhere: this.engine.where,
      engineOs: await pending,
      interfaces: (this.opts.interfaces ?? os.networkInterfaces)(),
    };
  }

  private async resolve(target: string): Promise<ResolvedAddress> {
    const { dataRoot } = this.stack;
    const owned =
      dataRoot === undefined ? undefined : (l: Record<string, string>) => ownedByProject(l, { dataRoot });
    const found = this.opts.resolve
      ? await this.opts.resolve(target)
      : await resolveName(this.engine, this.stack.name, this.networks, target, owned);
    if (found) return found;
    throw new ReachError(target, `no running container of stack ${this.stack.name} answers to that name`, {
      code: "ENOTFOUND",
      hint: "check that the service runs (`shctl status`) and the name is a service, container or alias of the stack",
    });
  }

  async modeFor(target: string): Promise<ModeDecision & { ip: string }> {
    const { ip } = await this.resolve(target);
    return { ...decideMode(await this.getFacts(), ip), ip };
  }

  async describe(): Promise<ReachDescription> {
    const facts = await this.getFacts();
    return { setting: this.setting, engine: this.engine.where, summary: describeFacts(facts) };
  }

  /** The long-lived helper, started on first use, attached to every existing stack network and `network`. */
  private helperFor(network: string | undefined): Promise<HelperState> {
    if (this.closed) return Promise.reject(new Error("this reach is closed"));
    this.helper ??= this.startHelper();
    const started = this.helper;
    started.catch(() => {
      if (this.helper === started) this.helper = undefined;
    });
    return started.then(async (h) => {
      if (network && !this.attached.has(network)) {
        await this.engine.connectNetwork(network, h.container.id, []).catch((err: unknown) => {
          // Already attached (another connection did it first) is fine.
          if (!(err instanceof EngineError && err.statusCode === 403)) throw err;
        });
        this.attached.add(network);
      }
      return h;
    });
  }

  private async startHelper(): Promise<HelperState> {
    const existing = new Set((await this.engine.listNetworks([])).map((n) => n.name));
    const networks = this.networks.filter((n) => existing.has(n));
    if (networks.length === 0)
      throw new Error(`none of the stack's networks exists yet (${this.networks.join(", ") || "none"})`);
    const container = await startLongLivedHelper(this.engine, {
      stack: this.stack.name,
      namePrefix: `${this.stack.name}-reach-${process.pid}`,
      name: "reach",
      networks,
      ...(this.opts.helperImageRepo ? { repo: this.opts.helperImageRepo } : {}),
    });
    this.attached.clear();
    for (const n of networks) this.attached.add(n);
    const execs = new WarmExecs(() => connectExec(this.engine, container.id), this.opts.warmExecs ?? 2);
    if (this.closed) await container.close();
    else execs.fill();
    return { container, execs };
  }

  /** Drops a helper that turned out gone, so the next connection starts another. */
  private forgetHelper(h: HelperState) {
    h.execs.close();
    void h.container.close().catch(() => undefined);
    this.helper = undefined;
  }

  /** Through the engine: a waiting exec; if it was dead, a new one; if the helper is gone, a new helper. */
  private async openThroughEngine(
    where: ResolvedAddress,
    port: number,
    sink: TransportSink,
    signal: AbortSignal,
  ): Promise<Opened> {
    let helper: HelperState | undefined;
    const open = async (take: (h: HelperState) => Promise<Duplex>) => {
      const h = await this.helperFor(where.network);
      helper = h;
      return engineOpener(where.ip, port, { exec: () => take(h) })(sink, signal);
    };
    const gone = (err: unknown) =>
      err instanceof HelperExitedError ||
      (err instanceof EngineError && (err.statusCode === 404 || err.statusCode === 409));
    try {
      return await open((h) => h.execs.take());
    } catch (err) {
      if (!gone(err) || signal.aborted) throw err;
    }
    try {
      return await open((h) => h.execs.fresh());
    } catch (err) {
      if (!gone(err) || signal.aborted) throw err;
      if (helper) this.forgetHelper(helper);
    }
    return open((h) => h.execs.take());
  }

  /** The opener for `target`: resolves it, picks the mode, and opens the connection that way. */
  private opener(target: string, port: number, onMode?: (m: ReachMode, where: string) => void): Opener {
    return withTimeout(this.opts.openTimeoutMs ?? 15_000, async (sink, signal) => {
      const where = await this.resolve(target);
      const { mode } = decideMode(await this.getFacts(), where.ip);
      onMode?.(mode, formatAddress(where.ip, port));
      if (mode === "direct") return directOpener(where.ip, port)(sink, signal);
      return this.openThroughEngine(where, port, sink, signal);
    });
  }

  socket(host: string, port: number, onConnect?: () => void): ProxySocket {
    if (this.closed) throw new Error("this reach is closed");
    const s = new ProxySocket(this.opener(host, port));
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
    if (onConnect) s.once("connect", onConnect);
    return s;
  }

  async connect(target: string, port: number, signal?: AbortSignal): Promise<ProxySocket> {
    let how: { mode: ReachMode; where: string } | undefined;
    const s = new ProxySocket(this.opener(target, port, (mode, where) => (how = { mode, where })));
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
    const abort = () => s.destroy(signal?.reason ?? new Error("aborted"));
    signal?.addEventListener("abort", abort, { once: true });
    try {
      return await whenConnected(s);
    } catch (err) {
      if (err instanceof ReachError) throw err;
      const e = err as NodeJS.ErrnoException;
      const where = how?.where ?? formatAddress(target, port);
      throw new ReachError(
        where === formatAddress(target, port) ? where : `${formatAddress(target, port)} (${where})`,
        e.message.replace(`${where} `, ""),
        {
          ...(how ? { mode: how.mode } : {}),
          ...(e.code ? { code: e.code } : {}),
          ...(err instanceof ShctlError && err.hint ? { hint: err.hint } : {}),
          cause: err,
        },
      );
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  httpAgent(opts: http.AgentOptions = {}): http.Agent {
    const reach = this;
    return new (class extends http.Agent {
      override createConnection(o: net.NetConnectOpts & { host?: string; port?: number }) {
        return reach.socket(o.host ?? "localhost", Number(o.port ?? 80)) as unknown as net.Socket;
      }
    })(opts);
  }

  async address(target: string, port: number): Promise<{ host: string; port: number }> {
    const { ip, mode } = await this.modeFor(target);
    if (mode === "direct") return { host: ip, port };
    const key = `${target}\0${port}`;
    let fwd = this.forwarders.get(key);
    if (!fwd) {
      fwd = startForwarder(() => this.socket(target, port));
      this.forwarders.set(key, fwd);
      fwd.catch(() => this.forwarders.delete(key));
    }
    return (await fwd).address;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    const forwarders = [...this.forwarders.values()];
    this.forwarders.clear();
    await Promise.all(forwarders.map((f) => f.then((x) => x.close()).catch(() => undefined)));
    const helper = this.helper;
    this.helper = undefined;
    if (helper)
      await helper
        .then((h) => {
          h.execs.close();
          return h.container.close();
        })
        .catch(() => undefined);
  }
}
