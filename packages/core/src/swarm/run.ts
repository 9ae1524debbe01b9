import type { EngineClient } from "../engine/index.js";
import type { EventSink } from "../events.js";
import { createRunContext, type RunContext } from "../execute/context.js";
import { ensureHelperImage } from "../helper-image.js";
import type { ResolvedStack } from "../model.js";
import type { Plan } from "../plan/types.js";
import { pushRefOf } from "./images.js";
import { createSwarmReach } from "./reach.js";

/*
 * What one execution of a swarm plan shares: the engine run context (events, reach, images), and
 * what the run learns about the swarm: its nodes' names, the services' IDs, the references tasks
 * run (a pushed image by digest), and shctl's helper image as the nodes can get it.
 */

export interface SwarmRun extends RunContext {
  /** This engine's node ID. */
  readonly self: string;
  /** A node's name for people (hostname; with its ID when two nodes share one). */
  nodeName(id: string): string;
  /** Each stack service's swarm service ID, as observed or as created. */
  readonly serviceIds: Map<string, string>;
  /** The reference tasks run for each image key, when not the stack's own (pushed by digest). */
  readonly runRefs: Map<string, string>;
  /** shctl's helper image as every node can get it (pushed to the registry when the stack has one). */
  helperImage(): Promise<string>;
}

export function createSwarmRun(
  plan: Plan,
  stack: ResolvedStack,
  engine: EngineClient,
  emit: EventSink,
  signal: AbortSignal,
  interruptSignal: AbortSignal,
  self: string,
  nodes: { id: string; hostname: string }[],
): SwarmRun {
  const ctx = createRunContext(plan, stack, engine, emit, signal, interruptSignal, () =>
    createSwarmReach(engine, stack),
  );
  let helper: Promise<string> | undefined;
  const byId = new Map(nodes.map((n) => [n.id, n.hostname]));
  const shared = new Set(nodes.map((n) => n.hostname).filter((h, i, all) => all.indexOf(h) !== i));
  return Object.assign(ctx, {
    self,
    nodeName(id: string) {
      const host = byId.get(id);
      if (!host) return id.slice(0, 12);
      return shared.has(host) ? `${host} (${id.slice(0, 12)})` : host;
    },
    serviceIds: new Map(Object.entries(plan.containers)),
    runRefs: new Map<string, string>(),
    helperImage() {
      helper ??= (async () => {
        const ref = await ensureHelperImage(engine);
        const registry = stack.swarm?.registry;
        if (!registry) return ref;
        const pushRef = pushRefOf(registry, ref);
        await engine.tagImage(ref, pushRef);
        const digest = await engine.pushImage(pushRef, () => undefined);
        return digest ? `${pushRef}@${digest}` : pushRef;
      })();
      helper.catch(() => {
        helper = undefined;
      });
      return helper;
    },
  });
}
