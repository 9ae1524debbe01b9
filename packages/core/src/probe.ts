import net from "node:net";
import type { EngineClient } from "./engine.js";
import type { ResolvedProbe, ResolvedService } from "./model.js";

/*
 * Readiness probes, run by the reconciler itself: during apply until a service is ready, and once
 * per service for `status`. A probe reaches a container port through its published host port when
 * there is one, else through the container's address on its network.
 */

/** Where a service's container port is reached from here. */
export async function probeAddress(
  engine: EngineClient,
  s: ResolvedService,
  id: string,
  port: number,
): Promise<{ host: string; port: number }> {
  const published = s.ports.find((p) => p.container === port && p.protocol === "tcp");
  if (published) {
    const ip = published.hostIp;
    return {
      host: ip === "0.0.0.0" || ip === "" ? "127.0.0.1" : ip === "::" ? "::1" : ip,
      port: published.host,
    };
  }
  const info = await engine.inspectContainer(id);
  const ip = Object.values(info?.networks ?? {}).find((n) => n.ip)?.ip;
  if (!ip) throw new Error("the container has no IP address yet");
  return { host: ip, port };
}

/** Runs one probe once; resolves when the service answers, throws with why it does not. */
export async function runProbe(
  engine: EngineClient,
  s: ResolvedService,
  id: string,
  probe: ResolvedProbe,
  signal: AbortSignal,
): Promise<void> {
  switch (probe.type) {
    case "tcp": {
      const { host, port } = await probeAddress(engine, s, id, probe.port);
      await tcpConnect(host, port, 2000, signal);
      return;
    }
    case "http": {
      const { host, port } = await probeAddress(engine, s, id, probe.port);
      const res = await fetch(`http://${net.isIPv6(host) ? `[${host}]` : host}:${port}${probe.path}`, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]),
      });
      const body = await res.text();
      if (res.status >= 400) throw new Error(`HTTP ${res.status}`);
      if (probe.expectBody !== undefined && !body.includes(probe.expectBody))
        throw new Error(`body lacks "${probe.expectBody}"`);
      return;
    }
    case "exec": {
      const r = await engine.exec(id, probe.command, signal);
      if (r.exitCode !== 0)
        throw new Error(`exit ${r.exitCode}: ${r.output.trim().split("\n").slice(-2).join(" | ")}`);
      return;
    }
    case "custom":
      await probe.check({
        service: s.name,
        containerId: id,
        address: (port) => probeAddress(engine, s, id, port),
        exec: (cmd) => engine.exec(id, cmd, signal),
        signal,
      });
      return;
    default: {
      const never: never = probe;
      throw new Error(`unknown probe ${String(never)}`);
    }
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const finish = (err?: Error) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      if (err) {
        sock.destroy();
        reject(err);
      } else {
        sock.end();
        resolve();
      }
    };
    const abort = () => finish(signal.reason ?? new Error("aborted"));
    const timer = setTimeout(
      () => finish(new Error(`no answer from ${host}:${port} within ${timeoutMs}ms`)),
      timeoutMs,
    );
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    sock.once("connect", () => finish());
    sock.once("error", (err) => finish(new Error(`${host}:${port}: ${err.message}`)));
  });
}
