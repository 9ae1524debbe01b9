import type { EngineClient } from "../engine/index.js";
import { StepFailedError } from "../errors.js";
import type { EventSink, Phase } from "../events.js";
import { fileReader } from "../helper-files.js";
import type { FileReader } from "../inputs.js";
import type { ResolvedStack } from "../model.js";
import type { Plan } from "../plan/types.js";
import { createReach, type Reach } from "../reach.js";
import { redact } from "../redact.js";

/*
 * What every operation of one execution shares: the plan, the stack, the engine, where events go,
 * the signal that ends waits, and what the run has learnt so far (container and image IDs).
 */

export interface RunContext {
  readonly plan: Plan;
  readonly stack: ResolvedStack;
  readonly engine: EngineClient;
  readonly emit: EventSink;
  /** Aborted on the first failure or on interrupt: waits end, nothing new begins. */
  readonly signal: AbortSignal;
  /** The caller's signal (Ctrl-C); what a job in flight stops for (a failure elsewhere does not stop it). */
  readonly interruptSignal: AbortSignal;
  /** Container ID of each service, as observed or as created in this run. */
  readonly containerIds: Map<string, string>;
  /** Emits a phase of a resource, its message redacted, with the time since `since`. */
  phase(resource: string, phase: Phase, message?: string, since?: number): void;
  /** Redacts the stack's secrets from a text. */
  redact(text: string): string;
  /** The local image ID of an image key, looked up once per key and shared by concurrent callers. */
  imageId(key: string): Promise<string>;
  /** Records an image ID learnt by a pull or a build. */
  setImageId(key: string, id: string): void;
  /** How this run reaches container ports (made on first use; closed with `close`). */
  reach(): Reach;
  /** Reads a file, through the engine where this user may not (undefined: it does not exist). */
  readonly read: FileReader;
  /** Releases what the run opened (the reach's helper container and sockets). */
  close(): Promise<void>;
}

export function createRunContext(
  plan: Plan,
  stack: ResolvedStack,
  engine: EngineClient,
  emit: EventSink,
  signal: AbortSignal,
  interruptSignal: AbortSignal = new AbortController().signal,
  /** How this run reaches container ports, when not the stack's own engine reach (the swarm's tasks). */
  makeReach: () => Reach = () => createReach(engine, stack),
): RunContext {
  const imageIds = new Map<string, string>();
  const lookups = new Map<string, Promise<string>>();
  const containerIds = new Map(Object.entries(plan.containers));
  let reach: Reach | undefined;
  for (const a of plan.actions) {
    if ("containerId" in a && a.containerId && a.resource.type === "service")
      containerIds.set(a.target, a.containerId);
  }
  return {
    plan,
    stack,
    engine,
    emit,
    signal,
    interruptSignal,
    containerIds,
    read: fileReader(engine, stack.name),
    phase(resource, phase, message, since) {
      emit({
        type: "phase",
        resource,
        phase,
        ...(message !== undefined ? { message: redact(message, stack.secrets) } : {}),
        ...(since !== undefined ? { elapsedMs: Date.now() - since } : {}),
      });
    },
    redact: (text) => redact(text, stack.secrets),
    imageId(key) {
      const known = imageIds.get(key);
      if (known) return Promise.resolve(known);
      let lookup = lookups.get(key);
      if (!lookup) {
        lookup = (async () => {
          const ref = stack.images[key]?.ref ?? key;
          const info = await engine.inspectImage(ref);
          if (!info) throw new StepFailedError(`image ${key}`, "resolve", `${ref} is not present locally`);
          if (!imageIds.has(key)) imageIds.set(key, info.id);
          return info.id;
        })();
        lookups.set(key, lookup);
        lookup.catch(() => lookups.delete(key));
      }
      return lookup;
    },
    setImageId(key, id) {
      imageIds.set(key, id);
    },
    reach() {
      reach ??= makeReach();
      return reach;
    },
    async close() {
      await reach?.close();
    },
  };
}

/** Runs a clean-up step after a failure without letting its own error hide the first one. */
export async function cleanupAfter(ctx: RunContext, what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    ctx.emit({ type: "warning", message: `${what}: ${ctx.redact((err as Error)?.message ?? String(err))}` });
  }
}
