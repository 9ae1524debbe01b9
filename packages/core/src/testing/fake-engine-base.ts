import type { Readable } from "node:stream";
import type { CallCounts, EngineEvent, EngineInfo, ImageDetails, NetworkSummary } from "../engine/index.js";
import { EngineError } from "../errors.js";

/*
 * The fake engine's state and its recording of calls (with injected faults), and its engine-wide
 * calls (version, info, events). FakeContainers (fake-containers.ts) and FakeEngine
 * (fake-engine.ts) build on it.
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

export abstract class FakeEngineBase {
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
  protected readonly faults: FaultRule[] = [];
  protected readonly waiters = new Map<string, ((code: number) => void)[]>();
  protected readonly eventSinks = new Set<(e: EngineEvent) => void>();
  protected nextId = 1;

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

  protected async call<T>(
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

  protected container(id: string): FakeContainer {
    const c = this.containers.get(id) ?? [...this.containers.values()].find((x) => x.name === id);
    if (!c)
      throw new EngineError("container", Object.assign(new Error("no such container"), { statusCode: 404 }));
    return c;
  }

  protected emitEvent(c: FakeContainer, action: string): void {
    for (const sink of this.eventSinks) sink({ id: c.id, action, labels: c.labels });
  }

  version() {
    return this.call("version", false, [], () => ({ version: "20.10.24", apiVersion: "1.41" }));
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
}

export function matchesLabel(labels: Record<string, string>, filter: string): boolean {
  const i = filter.indexOf("=");
  return i < 0 ? filter in labels : labels[filter.slice(0, i)] === filter.slice(i + 1);
}
