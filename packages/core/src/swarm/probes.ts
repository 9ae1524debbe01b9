import type { EngineClient, TaskSummary } from "../engine/index.js";
import type { ResolvedProbe, ResolvedService, ResolvedStack } from "../model.js";
import { connectionsOf, httpGet } from "../probe.js";
import type { Reach } from "../reach.js";
import type { ProbeContext } from "../schema.js";

/*
 * A readiness probe against one task of a swarm service: tcp and http over the overlay network
 * through the reach (any node), exec in a task of this engine's node only; a custom probe gets the
 * task's address, and exec where the task is local.
 */

export interface ProbeEnv {
  engine: EngineClient;
  reach: Reach;
  /** The node this engine is. */
  self: string;
  nodeName(id: string): string;
  stack: Pick<ResolvedStack, "networks">;
  signal: AbortSignal;
}

/** The task's address on the first stack network it has one on. */
export function taskAddress(stack: Pick<ResolvedStack, "networks">, t: TaskSummary): string | undefined {
  for (const n of Object.values(stack.networks)) {
    const a = t.addresses.find((x) => x.network === n.dockerName && x.ip);
    if (a) return a.ip;
  }
  return undefined;
}

/** Runs one probe against one task; resolves when it answers. `note` hears of what could not be checked. */
export async function probeTask(
  env: ProbeEnv,
  s: ResolvedService,
  t: TaskSummary,
  probe: ResolvedProbe,
  note: (message: string) => void,
): Promise<void> {
  const ip = taskAddress(env.stack, t);
  const { reach } = env;
  const signal = AbortSignal.any([env.signal, AbortSignal.timeout(5000)]);
  const local = t.nodeId === env.self && t.containerId !== undefined;
  const where = `task${t.slot !== undefined ? ` ${t.slot}` : ""} on ${env.nodeName(t.nodeId)}`;
  const address = () => {
    if (!ip) throw new Error(`${where} has no address on the stack's networks`);
    return ip;
  };
  switch (probe.type) {
    case "tcp": {
      (await reach.connect(address(), probe.port, signal)).destroy();
      return;
    }
    case "http": {
      const r = await httpGet(reach, address(), probe.port, probe.path, signal);
      if (r.status >= 400) throw new Error(`${where}: HTTP ${r.status}`);
      if (probe.expectBody !== undefined && !r.body.includes(probe.expectBody))
        throw new Error(`${where}: body lacks "${probe.expectBody}"`);
      return;
    }
    case "exec": {
      if (!local) {
        note(
          `service ${s.name}: its exec probe runs in tasks of this node only; ${where} counts as ready once it runs${s.healthcheck ? " (its healthcheck passed)" : ""}`,
        );
        return;
      }
      const r = await env.engine.exec(t.containerId as string, probe.command, signal);
      if (r.exitCode !== 0)
        throw new Error(`${where}: exit ${r.exitCode}: ${r.output.trim().split("\n").slice(-2).join(" | ")}`);
      return;
    }
    case "custom": {
      const ctx: ProbeContext = {
        service: s.name,
        containerId: local ? (t.containerId as string) : "",
        ...connectionsOf(reach, signal),
        address: async (port) => reach.address(address(), port),
        exec: async (cmd) => {
          if (!local) throw new Error(`${where} is on another node: shctl cannot exec there`);
          return env.engine.exec(t.containerId as string, cmd, signal);
        },
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
