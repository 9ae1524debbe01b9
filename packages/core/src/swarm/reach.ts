import net from "node:net";
import type { EngineClient, TaskSummary } from "../engine/index.js";
import { LABEL, ownedByProject } from "../labels.js";
import type { ResolvedStack } from "../model.js";
import { createReach, type Reach } from "../reach.js";
import type { ResolvedAddress } from "../reach-names.js";

/*
 * Reaching a swarm's tasks from shctl: names resolve from the swarm's own view (a service's name
 * or alias → its running tasks' addresses on the stack's overlay networks, on whichever node they
 * run); connections then go through the engine's reach, whose helper container on this node is
 * attached to the (attachable) overlay network and so reaches tasks on every node.
 */

type StackRef = Pick<ResolvedStack, "name" | "networks" | "dataRoot">;

/** The address a name has among the stack's running tasks (first by slot), on the first stack network. */
export function swarmResolver(engine: EngineClient, stack: StackRef) {
  const order = Object.values(stack.networks).map((n) => n.dockerName);
  return async (target: string): Promise<ResolvedAddress | undefined> => {
    const literal = target.replace(/^\[(.*)\]$/, "$1");
    if (net.isIP(literal)) return { ip: literal, network: undefined, container: undefined };
    const services = (await engine.listServices([`${LABEL.stack}=${stack.name}`])).filter(
      (s) => s.labels[LABEL.kind] === "service" && ownedByProject(s.labels, stack),
    );
    const answers = services.filter((s) => {
      if (s.labels[LABEL.name] === target || s.name === target) return true;
      const nets = ((s.spec.TaskTemplate as { Networks?: { Aliases?: string[] }[] })?.Networks ?? []) as {
        Aliases?: string[];
      }[];
      return nets.some((n) => (n.Aliases ?? []).includes(target));
    });
    if (answers.length === 0) return undefined;
    const tasks = await engine.listTasks(answers.map((s) => s.id));
    return pickTaskAddress(tasks, order);
  };
}

/** A running task's address on the first network of `order` it has one on. */
export function pickTaskAddress(tasks: TaskSummary[], order: string[]): ResolvedAddress | undefined {
  const running = tasks
    .filter((t) => t.state === "running" && t.desiredState === "running")
    .sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || (a.id < b.id ? -1 : 1));
  for (const network of order) {
    for (const t of running) {
      const a = t.addresses.find((x) => x.network === network && x.ip);
      if (a) return { ip: a.ip, network, container: t.containerId };
    }
  }
  return undefined;
}

/** The reach of a stack on a swarm. */
export function createSwarmReach(engine: EngineClient, stack: StackRef): Reach {
  return createReach(engine, stack, { resolve: swarmResolver(engine, stack) });
}
