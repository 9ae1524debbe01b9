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
  if (published)
    return { host: published.hostIp === "0.0.0.0" ? "127.0.0.1" : published.hostIp, port: published.host };
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
      await tcpConnect(host, port, 2000);
      return;
    }
    case "http": {
      const { host, port } = await probeAddress(engine, s, id, probe.port);
      const res = await fetch(`http://${host}:${port}${probe.path}`, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]),
      });
      const body = await res.text();
      if (res.status >= 400) throw new Error(`HTTP ${res.status}`);
      if (probe.expectBody !== undefined && !body.includes(probe.expectBody))
        throw new Error(`body lacks "${probe.expectBody}"`);
      return;
    }
    case "exec": {
      const r = await engine.exec(id, probe.command);
      if (r.exitCode !== 0)
        throw new Error(`exit ${r.exitCode}: ${r.output.trim().split("\n").slice(-2).join(" | ")}`);
      return;
    }
    case "custom":
      await probe.check({
        service: s.name,
        containerId: id,
        address: (port) => probeAddress(engine, s, id, port),
        exec: (cmd) => engine.exec(id, cmd),
        signal,
      });
      return;
    default: {
      const never: never = probe;
      throw new Error(`unknown probe ${String(never)}`);
    }
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs}ms`));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.end();
      resolve();
    });
    sock.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${host}:${port}: ${err.message}`));
    });
  });
}
