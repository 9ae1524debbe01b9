import net from "node:net";
import type { ContainerDetails, EngineClient } from "./engine/index.js";
import { LABEL } from "./labels.js";

/*
 * Names as the engine's DNS answers them on a stack network: a container's name, its network
 * aliases (a service's name is one), its id or short id. Resolved from the engine's own view of
 * the stack's running containers, so a name works the same from this process as from a container.
 */

export interface ResolvedAddress {
  ip: string;
  /** The engine network the address is on (undefined for an IP literal). */
  network: string | undefined;
  /** The container it belongs to (undefined for an IP literal). */
  container: string | undefined;
}

type Candidate = Pick<ContainerDetails, "id" | "name" | "networks">;

function answers(c: Candidate, name: string, aliases: string[]): boolean {
  const n = name.toLowerCase();
  if (c.name.toLowerCase() === n) return true;
  if (n.length >= 12 && /^[0-9a-f]+$/.test(n) && c.id.startsWith(n)) return true;
  return aliases.some((a) => a.toLowerCase() === n);
}

/**
 * The address `name` has on the first of `networks` (engine names, in order) where a container
 * answers to it; among several containers, the one first by name (the engine would rotate).
 */
export function pickAddress(
  containers: Candidate[],
  name: string,
  networks: string[],
): ResolvedAddress | undefined {
  const sorted = [...containers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const network of networks) {
    for (const c of sorted) {
      const on = c.networks[network];
      if (!on || !answers(c, name, on.aliases)) continue;
      const ip = on.ip || on.ipv6;
      if (ip) return { ip, network, container: c.id };
    }
  }
  return undefined;
}

/**
 * Resolves a name (or passes an IP literal through) among the stack's running containers. The
 * likely containers (the service of that name, a container of that name or id) are inspected
 * first; the others only if none of those answers.
 */
export async function resolveName(
  engine: EngineClient,
  stack: string,
  networks: string[],
  name: string,
  owned: (labels: Record<string, string>) => boolean = () => true,
): Promise<ResolvedAddress | undefined> {
  const literal = name.replace(/^\[(.*)\]$/, "$1");
  if (net.isIP(literal)) return { ip: literal, network: undefined, container: undefined };
  const running = (await engine.listContainers([`${LABEL.stack}=${stack}`])).filter(
    (c) => c.state === "running" && c.labels[LABEL.helper] !== "true" && owned(c.labels),
  );
  const likely = (c: (typeof running)[number]) =>
    c.labels[LABEL.name] === name || c.name === name || (name.length >= 12 && c.id.startsWith(name));
  for (const group of [running.filter(likely), running.filter((c) => !likely(c))]) {
    if (group.length === 0) continue;
    const details = await Promise.all(group.map((c) => engine.inspectContainer(c.id)));
    const found = pickAddress(
      details.filter((d): d is ContainerDetails => d !== undefined),
      name,
      networks,
    );
    if (found) return found;
  }
  return undefined;
}
