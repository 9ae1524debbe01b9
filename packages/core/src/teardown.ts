import { lstat, readdir, realpath, rm } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import pLimit from "p-limit";
import type { ContainerSummary, EngineClient } from "./engine/index.js";
import { engineLost } from "./engine-lost.js";
import { EngineError, StepFailedError, UnsafeDataRootError } from "./errors.js";
import type { EventSink } from "./events.js";
import { runHelperCommand } from "./helper-container.js";
import { LABEL, ownedByProject } from "./labels.js";
import type { ResolvedStack } from "./model.js";

export interface TeardownOptions {
  /** Also remove the data root (after the safety checks). */
  data?: boolean;
  onEvent?: EventSink;
  concurrency?: number;
}

export interface TeardownResult {
  containers: number;
  networks: number;
  dataRemoved: boolean;
}

/**
 * Removes the stack's containers (dependents first) and networks, found by label only; with
 * `data`, the data root too. Every failure is reported; none is swallowed.
 */
export async function teardownStack(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: TeardownOptions = {},
): Promise<TeardownResult> {
  const emit = opts.onEvent ?? (() => {});
  if (opts.data) await checkDataRoot(stack); // refuse before anything is stopped
  const label = `${LABEL.stack}=${stack.name}`;
  // Both lists up front: the networks are removed once the containers are gone.
  const [allContainers, allNetworks] = await Promise.all([
    engine.listContainers([label]),
    engine.listNetworks([label]),
  ]);
  // Another project's stack of the same name is never touched.
  const containers = allContainers.filter((c) => ownedByProject(c.labels, stack));
  const networks = allNetworks.filter((n) => ownedByProject(n.labels, stack));
  const others = allContainers.length + allNetworks.length - containers.length - networks.length;
  if (others > 0)
    emit({
      type: "warning",
      message: `left alone: ${others} container(s) or network(s) of a stack named ${stack.name} in another project`,
    });
  const limit = pLimit(opts.concurrency ?? 16);

  const errors: Error[] = [];
  /** What failed, for a lost engine's message: "service web (remove)". */
  const failed: string[] = [];
  for (const wave of removalWaves(stack, containers)) {
    await Promise.all(
      wave.map((c) =>
        limit(async () => {
          const resource = `${c.labels[LABEL.kind] ?? "service"} ${c.labels[LABEL.name] ?? c.name}`;
          const t0 = Date.now();
          try {
            if (c.state === "running" || c.state === "restarting" || c.state === "paused") {
              emit({ type: "phase", resource, phase: "stopping" });
              await engine.stopContainer(c.id);
            }
            emit({ type: "phase", resource, phase: "removing" });
            await engine.removeContainer(c.id);
            emit({ type: "phase", resource, phase: "done", message: "removed", elapsedMs: Date.now() - t0 });
          } catch (err) {
            emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
            errors.push(err as Error);
            failed.push(`${resource} (remove)`);
          }
        }),
      ),
    );
  }

  for (const n of networks) {
    const resource = `network ${n.labels[LABEL.name] ?? n.name}`;
    try {
      emit({ type: "phase", resource, phase: "removing" });
      await engine.removeNetwork(n.id);
      emit({ type: "phase", resource, phase: "done", message: "removed" });
    } catch (err) {
      const active = err instanceof EngineError && err.statusCode === 403;
      emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
      failed.push(`${resource} (remove)`);
      errors.push(
        active
          ? new StepFailedError(resource, "remove", (err as Error).message, {
              cause: err,
              hint:
                "something is still attached (`docker network inspect " +
                n.name +
                "`); Docker 20.10 can also keep stale endpoints (moby#43286), which an engine restart clears",
            })
          : (err as Error),
      );
    }
  }
  if (errors.length > 0) {
    const lost = await engineLost(engine, errors, failed, "teardown");
    if (lost) throw lost;
    const first = errors[0] as Error;
    if (errors.length === 1 && first instanceof StepFailedError) throw first;
    throw new StepFailedError(
      `stack ${stack.name}`,
      "teardown",
      `${errors.length} resource(s) could not be removed`,
      {
        details: errors.map((e) => e.message),
        hint: "fix what is named above and run teardown again; the data root was not touched",
      },
    );
  }

  let dataRemoved = false;
  if (opts.data) {
    dataRemoved = await removeDataRoot(stack, engine);
    if (dataRemoved)
      emit({
        type: "phase",
        resource: `dir ${path.relative(stack.projectDir, stack.dataRoot)}`,
        phase: "done",
        message: "removed",
      });
  }
  return { containers: containers.length, networks: networks.length, dataRemoved };
}

/**
 * The containers in the order they are removed: dependents before what they depend on, grouped by
 * depth in the dependency graph (the spec's, or the labels' for a container the spec no longer has),
 * deepest first.
 */
function removalWaves(stack: ResolvedStack, containers: ContainerSummary[]): ContainerSummary[][] {
  const depsOf = new Map<string, string[]>();
  for (const c of containers) {
    const node = c.labels[LABEL.name] ?? "";
    const fromSpec =
      stack.services[node]?.deps.map((d) => d.name) ?? stack.jobs[node]?.deps.map((d) => d.name);
    depsOf.set(node, fromSpec ?? (c.labels[LABEL.dependsOn] ?? "").split(",").filter(Boolean));
  }
  const depth = new Map<string, number>();
  const depthOf = (node: string, trail: Set<string> = new Set()): number => {
    const known = depth.get(node);
    if (known !== undefined) return known;
    if (trail.has(node)) return 0;
    trail.add(node);
    const d = Math.max(-1, ...(depsOf.get(node) ?? []).map((x) => depthOf(x, trail))) + 1;
    depth.set(node, d);
    return d;
  };
  const waves = new Map<number, ContainerSummary[]>();
  for (const c of containers) {
    const d = depthOf(c.labels[LABEL.name] ?? "");
    waves.set(d, [...(waves.get(d) ?? []), c]);
  }
  return [...waves.keys()].sort((a, b) => b - a).map((d) => waves.get(d) ?? []);
}

/**
 * The checks before the data root may be removed: it is a real directory (no symlink on the way),
 * strictly inside the project dir, and not "/", the home dir or the project dir itself.
 */
export async function checkDataRoot(stack: ResolvedStack): Promise<"missing" | "ok"> {
  const configured = stack.dataRoot;
  const refuse = (why: string) =>
    new UnsafeDataRootError(`refusing to remove the data root ${configured}: ${why}`, {
      hint: "set `dataRoot` to a directory inside the project dir, or remove it by hand",
    });
  const st = await lstat(configured).catch(() => undefined);
  if (!st) return "missing";
  if (st.isSymbolicLink()) throw refuse("it is a symbolic link");
  if (!st.isDirectory()) throw refuse("it is not a directory");
  const project = await realpath(stack.projectDir);
  const real = await realpath(configured);
  const expected = path.join(project, path.relative(stack.projectDir, configured));
  if (real !== expected) throw refuse(`a symbolic link on its path leads to ${real}`);
  if (real === "/" || real === homedir() || real === project)
    throw refuse("it is /, the home dir or the project dir itself");
  const rel = path.relative(project, real);
  if (rel.startsWith("..") || path.isAbsolute(rel)) throw refuse(`it is outside the project dir ${project}`);
  return "ok";
}

/** Removes the data root after the safety checks (through a helper container where this user may not). */
export async function removeDataRoot(stack: ResolvedStack, engine: EngineClient): Promise<boolean> {
  if ((await checkDataRoot(stack)) === "missing") return false;
  try {
    await rm(stack.dataRoot, { recursive: true, force: true });
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw err;
  }
  // Files owned by container users (e.g. 999, 101): a root helper container (shctl's own helper
  // image) empties the directory.
  const r = await runHelperCommand(engine, {
    stack: stack.name,
    args: ["rmtree", "/target"],
    binds: [`${stack.dataRoot}:/target`],
  });
  // If the helper left something, this fails too: the error below says so, with the way out.
  const removed = await rm(stack.dataRoot, { recursive: true, force: true }).then(
    () => true,
    () => false,
  );
  if (r.exitCode !== 0 || !removed || (await readdir(stack.dataRoot).catch(() => null)) !== null) {
    throw new StepFailedError(
      `dir ${stack.dataRoot}`,
      "remove",
      `the helper container could not empty it (exit ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split("\n").slice(-1)[0]}` : ""})`,
      { hint: `remove it as root: sudo rm -rf ${stack.dataRoot}` },
    );
  }
  return true;
}
