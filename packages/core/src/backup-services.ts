import type { ContainerSummary, EngineClient } from "./engine/index.js";
import type { EventSink } from "./events.js";
import { execute } from "./execute/index.js";
import { depths } from "./graph.js";
import { LABEL } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import type { ActionOf, Plan } from "./plan/types.js";
import { PLAN_VERSION } from "./plan/util.js";

/*
 * The stack's services around a backup: those that run are stopped, dependents first (their
 * containers are kept), and started again in dependency order afterwards. (A restore asks which
 * run, too: it refuses a running stack.)
 */

export interface Stopped {
  name: string;
  id: string;
  /** In the stack (started again through a plan, waited for) or a leftover (just started). */
  inStack: boolean;
}

/** The stack's service containers that run now (leftovers of services no longer in it included). */
export async function runningServices(
  stack: ResolvedStack,
  engine: EngineClient,
): Promise<ContainerSummary[]> {
  const all = await engine.listContainers([`${LABEL.stack}=${stack.name}`]);
  return all.filter(
    (c) => c.labels[LABEL.kind] === "service" && (c.state === "running" || c.state === "restarting"),
  );
}

/** Stops these containers in reverse dependency order, dependents first (the containers are kept). */
export async function stopServices(
  stack: ResolvedStack,
  engine: EngineClient,
  running: ContainerSummary[],
  emit: EventSink,
  signal: AbortSignal | undefined,
): Promise<Stopped[]> {
  const nameOf = (c: ContainerSummary) => c.labels[LABEL.name] ?? c.name;
  const depsOf = (name: string): string[] =>
    stack.services[name]?.deps.map((d) => d.name) ??
    (running.find((c) => nameOf(c) === name)?.labels[LABEL.dependsOn] ?? "").split(",").filter(Boolean);
  const depth = depths(running.map(nameOf), depsOf);
  const waves = new Map<number, ContainerSummary[]>();
  for (const c of running) {
    const d = depth.get(nameOf(c)) ?? 0;
    waves.set(d, [...(waves.get(d) ?? []), c]);
  }
  const stopped: Stopped[] = [];
  for (const d of [...waves.keys()].sort((a, b) => b - a)) {
    if (signal?.aborted) break;
    const wave = (waves.get(d) ?? []).sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : 1));
    const results = await Promise.allSettled(
      wave.map(async (c) => {
        const resource = `service ${nameOf(c)}`;
        const t0 = Date.now();
        emit({ type: "phase", resource, phase: "stopping" });
        try {
          await engine.stopContainer(c.id);
        } catch (err) {
          emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
          throw err;
        }
        stopped.push({ name: nameOf(c), id: c.id, inStack: stack.services[nameOf(c)] !== undefined });
        emit({ type: "phase", resource, phase: "done", message: "stopped", elapsedMs: Date.now() - t0 });
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw Object.assign(new StoppingError(failed.reason), { stopped });
  }
  return stopped;
}

export class StoppingError extends Error {
  stopped: Stopped[] = [];
  constructor(readonly reason: unknown) {
    super(String((reason as Error)?.message ?? reason));
  }
}

/** A plan that starts exactly these containers again, in dependency order, and waits for them. */
export function restartPlan(stack: ResolvedStack, stopped: readonly { name: string; id: string }[]): Plan {
  const names = new Set(stopped.map((s) => s.name).filter((n) => stack.services[n] !== undefined));
  const actions: ActionOf<"container.start">[] = [];
  for (const s of stopped) {
    const svc = stack.services[s.name];
    if (!svc) continue;
    const deps = svc.deps.filter((d) => d.kind === "service" && names.has(d.name));
    actions.push({
      id: `container.start:${s.name}`,
      kind: "container.start",
      resource: { type: "service", name: s.name },
      target: s.name,
      after: [],
      startAfter: deps.map((d) => `container.start:${d.name}`),
      waitFor: deps
        .filter((d) => d.condition === "healthy")
        .map((d) => ({ service: d.name, condition: "healthy" as const })),
      containerId: s.id,
      state: "exited",
    });
  }
  return {
    version: PLAN_VERSION,
    stack: stack.name,
    ...(stack.profile !== undefined ? { profile: stack.profile } : {}),
    dataRoot: stack.dataRoot,
    actions,
    conflicts: [],
    unchanged: [],
    unready: [],
    waitReady: [...names].sort(),
    containers: Object.fromEntries(stopped.map((s) => [s.name, s.id])),
  };
}

/** Starts what the backup stopped: the stack's services through a plan (waited for), leftovers as they are. */
export async function startAgain(
  stack: ResolvedStack,
  engine: EngineClient,
  stopped: Stopped[],
  emit: EventSink,
  wait: boolean,
): Promise<void> {
  if (stopped.length === 0) return;
  const inStack = stopped.filter((s) => s.inStack);
  let failure: unknown;
  if (inStack.length > 0) {
    await execute(restartPlan(stack, inStack), stack, engine, { onEvent: emit, wait }).catch(
      (err: unknown) => {
        failure = err;
      },
    );
  }
  for (const s of stopped.filter((x) => !x.inStack)) {
    const resource = `service ${s.name}`;
    try {
      emit({ type: "phase", resource, phase: "starting" });
      await engine.startContainer(s.id);
      emit({ type: "phase", resource, phase: "running" });
    } catch (err) {
      emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}
