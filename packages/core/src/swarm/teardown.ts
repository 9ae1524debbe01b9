import path from "node:path";
import pLimit from "p-limit";
import type { EngineClient } from "../engine/index.js";
import { StepFailedError } from "../errors.js";
import type { EventSink } from "../events.js";
import { LABEL, ownedByProject } from "../labels.js";
import type { ResolvedStack } from "../model.js";
import { checkDataRoot, removeDataRoot, type TeardownOptions, type TeardownResult } from "../teardown.js";
import { HOST_ROOT, runHelperTask } from "./helper-task.js";
import { checkManager } from "./observe.js";
import { createSwarmRun } from "./run.js";
import { waitTasksGone } from "./services.js";
import { readSwarmState, updateSwarmState } from "./state.js";

/*
 * `teardown` on a swarm: the stack's services (dependents first), then its configs, shctl's reach
 * helpers on this node and the overlay networks, all found by label. With `data`, after the same
 * checks as on one engine: each data directory shctl made on a node is removed there (by shctl's
 * helper on that node), then the data root here. A node that cannot be reached keeps its data and
 * the record of it: the error says which, and a later teardown --data finishes.
 */

export async function teardownSwarm(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: TeardownOptions = {},
): Promise<TeardownResult> {
  const emit: EventSink = opts.onEvent ?? (() => {});
  if (opts.data) await checkDataRoot(stack);
  const self = await checkManager(engine);
  const label = `${LABEL.stack}=${stack.name}`;
  const ours = (l: Record<string, string>) => ownedByProject(l, stack);
  const [services, configs, networks, containers, nodes] = await Promise.all([
    engine.listServices([label]),
    engine.listConfigs([label]),
    engine.listNetworks([label]),
    engine.listContainers([label]),
    engine.listNodes(),
  ]);
  const mine = services.filter((s) => ours(s.labels));
  const errors: Error[] = [];
  const step = async (resource: string, fn: () => Promise<void>) => {
    const t0 = Date.now();
    try {
      emit({ type: "phase", resource, phase: "removing" });
      await fn();
      emit({ type: "phase", resource, phase: "done", message: "removed", elapsedMs: Date.now() - t0 });
    } catch (err) {
      emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
      errors.push(err as Error);
    }
  };

  // Dependents go first: by depth in the dependency graph (from the spec, else the label).
  const depsOf = (name: string) =>
    stack.services[name]?.deps.map((d) => d.name) ??
    (mine.find((s) => s.labels[LABEL.name] === name)?.labels[LABEL.dependsOn] ?? "")
      .split(",")
      .filter(Boolean);
  const depth = new Map<string, number>();
  const depthOf = (name: string, trail = new Set<string>()): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (trail.has(name)) return 0;
    trail.add(name);
    const d = Math.max(-1, ...depsOf(name).map((x) => depthOf(x, trail))) + 1;
    depth.set(name, d);
    return d;
  };
  const limit = pLimit(opts.concurrency ?? 16);
  const waves = new Map<number, typeof mine>();
  for (const s of mine) {
    const d = depthOf(s.labels[LABEL.name] ?? s.name);
    waves.set(d, [...(waves.get(d) ?? []), s]);
  }
  for (const d of [...waves.keys()].sort((a, b) => b - a)) {
    await Promise.all(
      (waves.get(d) ?? []).map((s) =>
        limit(() =>
          step(`${s.labels[LABEL.kind] ?? "service"} ${s.labels[LABEL.name] ?? s.name}`, async () => {
            await engine.removeService(s.id);
            await waitTasksGone({ engine, stack }, s.id);
          }),
        ),
      ),
    );
  }
  for (const c of configs.filter((x) => ours(x.labels)))
    await step(`config ${c.name}`, () => engine.removeConfig(c.id));
  // shctl's own helpers on this node (a reach left by a process that died) are attached to the networks.
  for (const c of containers.filter((x) => ours(x.labels) && x.labels[LABEL.helper] === "true"))
    await step(`helper ${c.name}`, () => engine.removeContainer(c.id));
  for (const n of networks.filter((x) => ours(x.labels)))
    await step(`network ${n.labels[LABEL.name] ?? n.name}`, () => engine.removeNetwork(n.id));
  if (errors.length > 0) throw failure(stack, errors, "the data was not touched");

  let dataRemoved = false;
  if (opts.data) {
    await removeNodeDirs(stack, engine, self, nodes, emit);
    dataRemoved = await removeDataRoot(stack, engine);
    if (dataRemoved)
      emit({
        type: "phase",
        resource: `dir ${path.relative(stack.projectDir, stack.dataRoot)}`,
        phase: "done",
        message: "removed",
      });
  }
  return { containers: mine.length, networks: networks.filter((x) => ours(x.labels)).length, dataRemoved };
}

/** Each data directory shctl made on a node, removed there; what could not be removed stays recorded. */
async function removeNodeDirs(
  stack: ResolvedStack,
  engine: EngineClient,
  self: string,
  nodes: { id: string; hostname: string }[],
  emit: EventSink,
): Promise<void> {
  const made = (await readSwarmState(stack.dataRoot)).nodeDirs;
  if (Object.keys(made).length === 0) return;
  const run = createSwarmRun(
    {
      version: 2,
      stack: stack.name,
      dataRoot: stack.dataRoot,
      actions: [],
      conflicts: [],
      unchanged: [],
      unready: [],
      waitReady: [],
      containers: {},
    },
    stack,
    engine,
    emit,
    new AbortController().signal,
    new AbortController().signal,
    self,
    nodes,
  );
  const errors: Error[] = [];
  await Promise.all(
    Object.entries(made).map(async ([dir, where]) => {
      const resource = `dir ${path.relative(stack.dataRoot, dir)}`;
      const t0 = Date.now();
      try {
        if (!dir.startsWith(`${stack.dataRoot}/`)) throw new Error(`${dir} is not inside the data root`);
        emit({ type: "phase", resource, phase: "removing", message: `on ${where.nodeName}` });
        const r = await runHelperTask(engine, {
          stack: stack.name,
          dataRoot: stack.dataRoot,
          image: await run.helperImage(),
          nodeId: where.nodeId,
          nodeName: where.nodeName,
          args: ["purge", `${HOST_ROOT}${dir}`],
          what: `remove ${dir}`,
          timeoutMs: 60_000,
        });
        if (r.exitCode !== 0)
          throw new Error(`on ${where.nodeName}: ${r.output.trim() || `exit ${r.exitCode}`}`);
        await updateSwarmState(stack.dataRoot, (s) => {
          delete s.nodeDirs[dir];
        });
        emit({
          type: "phase",
          resource,
          phase: "done",
          message: `removed on ${where.nodeName}`,
          elapsedMs: Date.now() - t0,
        });
      } catch (err) {
        emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
        errors.push(err as Error);
      }
    }),
  );
  await run.close();
  if (errors.length > 0)
    throw failure(stack, errors, "the data root here was kept, with the record of what is left on the nodes");
}

function failure(stack: ResolvedStack, errors: Error[], kept: string): Error {
  const first = errors[0] as Error;
  if (errors.length === 1 && first instanceof StepFailedError) return first;
  return new StepFailedError(
    `stack ${stack.name}`,
    "teardown",
    `${errors.length} resource(s) could not be removed`,
    {
      details: errors.map((e) => e.message),
      hint: `fix what is named above and run teardown again; ${kept}`,
    },
  );
}
