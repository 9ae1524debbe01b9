import http from "node:http";
import type { EngineClient } from "./engine/index.js";
import type { ResolvedProbe, ResolvedService } from "./model.js";
import type { Reach } from "./reach.js";
import type { ProbeContext, StackConnections } from "./schema.js";

/*
 * Readiness probes, run by the reconciler itself: during apply until a service is ready, and once
 * per service for `status`. A probe reaches the container's own listener at its address on the
 * stack network (never a published host port, where the engine's proxy would accept a connection
 * for a container that does not listen), straight from this process or through the engine.
 */

/** What a probe runs with: the engine, a way to reach containers, and the container probed. */
export interface ProbeTarget {
  engine: EngineClient;
  reach: Reach;
  service: ResolvedService;
  containerId: string;
}

/** The container's address on the first stack network that gave it one. */
export async function containerAddress(engine: EngineClient, id: string): Promise<string> {
  const info = await engine.inspectContainer(id);
  const on = Object.values(info?.networks ?? {}).find((n) => n.ip || n.ipv6);
  const ip = on?.ip || on?.ipv6;
  if (!ip)
    throw new Error(
      info?.state === "running" ? "the container has no address yet" : `it is ${info?.state ?? "gone"}`,
    );
  return ip;
}

/** The stack connections of a reach, as probes and jobs are given them. */
export function connectionsOf(reach: Reach, signal?: AbortSignal): StackConnections {
  let agent: http.Agent | undefined;
  return {
    connect: (host, port) =>
      reach.connect(host, port, signal) as unknown as Promise<import("node:net").Socket>,
    socket: (host, port, onConnect) =>
      reach.socket(host, port, onConnect) as unknown as import("node:net").Socket,
    httpAgent: () => {
      agent ??= reach.httpAgent();
      return agent;
    },
  };
}

/** Runs one probe once; resolves when the service answers, throws with why it does not. */
export async function runProbe(t: ProbeTarget, probe: ResolvedProbe, signal: AbortSignal): Promise<void> {
  switch (probe.type) {
    case "tcp": {
      const ip = await containerAddress(t.engine, t.containerId);
      const socket = await t.reach.connect(ip, probe.port, signal);
      socket.destroy();
      return;
    }
    case "http": {
      const ip = await containerAddress(t.engine, t.containerId);
      const { status, body } = await httpGet(t.reach, ip, probe.port, probe.path, signal);
      if (status >= 400) throw new Error(`HTTP ${status}`);
      if (probe.expectBody !== undefined && !body.includes(probe.expectBody))
        throw new Error(`body lacks "${probe.expectBody}"`);
      return;
    }
    case "exec": {
      const r = await t.engine.exec(t.containerId, probe.command, signal);
      if (r.exitCode !== 0)
        throw new Error(`exit ${r.exitCode}: ${r.output.trim().split("\n").slice(-2).join(" | ")}`);
      return;
    }
    case "custom": {
      const ctx: ProbeContext = {
        service: t.service.name,
        containerId: t.containerId,
        ...connectionsOf(t.reach, signal),
        address: async (port) => t.reach.address(await containerAddress(t.engine, t.containerId), port),
        exec: (cmd) => t.engine.exec(t.containerId, cmd, signal),
        signal,
      };
      await probe.check(ctx);
      return;
    }
    default: {
      const never: never = probe;
      throw new Error(`unknown probe ${String(never)}`);
    }
  }
}

/** Errno-like codes a failed connection carries (ReachError.code), in a word. */
const CODE_WORDS: Record<string, string> = {
  ECONNREFUSED: "refused",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "unreachable",
  ENETUNREACH: "unreachable",
  ECONNRESET: "connection reset",
};

/**
 * A failed probe's answer in a few words, for a progress line that a terminal's width may cut:
 * "http :8080/ → 404", "tcp :9092 refused", else "LABEL: MESSAGE".
 */
export function probeAnswer(label: string, err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  const word = typeof code === "string" ? CODE_WORDS[code] : undefined;
  if (word) return `${label} ${word}`;
  const message = String((err as Error | undefined)?.message ?? err);
  const status = /^HTTP (\d{3})$/.exec(message);
  if (status) return `${label} → ${status[1]}`;
  return `${label}: ${message}`;
}

/** A GET of `path` on ip:port through the reach, within 3 s; its status and body. */
export function httpGet(
  reach: Reach,
  ip: string,
  port: number,
  path: string,
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: ip,
        port,
        path,
        // No agent: each request gets its own connection from the reach (an agent would connect itself).
        createConnection: () => reach.socket(ip, port) as unknown as import("node:net").Socket,
        signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]),
        headers: { connection: "close" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", (err) => {
      const timedOut = err.name === "AbortError" && !signal.aborted;
      reject(timedOut ? new Error(`no answer from ${ip}:${port} within 3s`) : err);
    });
  });
}
