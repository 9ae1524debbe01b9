import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ExpectStatic } from "vitest";
import { type RunningCli, toolsImage } from "../helpers.js";
import {
  type Baseline,
  baseline,
  cli,
  containerRunning,
  idle,
  keeper,
  openGate,
  type Project,
  runBounded,
  runCounts,
  seedJob,
  show,
  until,
  WORK,
  writeSpec,
} from "./support.js";

/*
 * The phases a fault is injected into, as small stacks of the fixture image. Every stack starts
 * from the same baseline, applied once before the fault: a job `seed` that writes random bytes
 * under work/seed, and a service `keeper` that writes work/keep once; both are what must survive.
 * Each phase then adds what makes its window:
 *
 *  pull      an image `pulled` pulled from the second engine's own registry, frozen meanwhile
 *            (engine faults only), and a service of it;
 *  build     an image `slow` built FROM the fixture image with a RUN that takes 4 s, and a service of it;
 *  wave      six new services created and started together;
 *  job       a job `slow` that waits for work/gate/job-go (the test opens it);
 *  health    a service `gated` whose healthcheck waits for work/gate/health-go, and `after`, which
 *            waits for it to be healthy;
 *  teardown  the baseline plus the six services, applied; the fault hits `shctl teardown`.
 *
 * Jobs append their name to work/runs.log when (and only when) their run completes.
 */

export type PhaseName = "pull" | "build" | "wave" | "job" | "health" | "teardown";
// In this order, a project reused from phase to phase finds the stack of the teardown phase (the
// baseline and the wave) already applied by the wave phase before it.
export const PHASES: PhaseName[] = ["build", "job", "health", "wave", "teardown"];
/** The engine faults add a pull (from a registry of the second engine's own, frozen while it pulls). */
export const ENGINE_PHASES: PhaseName[] = ["pull", ...PHASES];

/** The image of the pull phase, in the second engine's registry (engine2.ts startRegistry). */
export const PULL_REF = "127.0.0.1:5000/shctl-fault/pull:1";

const WAVE = Array.from({ length: 6 }, (_, i) => `w${String(i + 1).padStart(2, "0")}`);

/** The image `slow` of the build phase: unique per stack, removed by the test that made it. */
export const slowImageRef = (stack: string) => `shctl-fault/slow-${stack}:latest`;

export function baseSpec(name: string): Record<string, unknown> & {
  images: Record<string, unknown>;
  jobs: Record<string, unknown>;
  services: Record<string, unknown>;
} {
  return {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    jobs: { seed: seedJob(65536, "date +%s%N > /work/seed/stamp") },
    services: { keeper: keeper() },
  };
}

/** The stack of a phase (the baseline plus what makes the phase's window). */
export function phaseSpec(name: string, phase: PhaseName) {
  const s = baseSpec(name);
  if (phase === "pull") {
    s.images.pulled = { ref: PULL_REF };
    s.services.pulledsvc = idle({ image: "pulled" });
  }
  if (phase === "build") {
    s.images.slow = { ref: slowImageRef(name), build: { context: "slowctx" }, needs: ["tools"] };
    s.services.slowsvc = idle({ image: "slow" });
  }
  if (phase === "wave" || phase === "teardown") for (const w of WAVE) s.services[w] = idle();
  if (phase === "job") {
    s.jobs.slow = {
      image: "tools",
      command: [
        "sh",
        "-c",
        "while [ ! -e /work/gate/job-go ]; do sleep 0.2; done; echo slow >> /work/runs.log",
      ],
      mounts: [WORK],
    };
  }
  if (phase === "health") {
    s.services.gated = idle({
      mounts: [{ ...WORK, readOnly: true }],
      healthcheck: { test: ["CMD", "test", "-e", "/work/gate/health-go"], interval: "1s" },
    });
    s.services.after = idle({ dependsOn: { gated: { condition: "healthy" } } });
  }
  return s;
}

/** The services each phase's stack runs once converged. */
export function phaseServices(phase: PhaseName): string[] {
  const base = ["keeper"];
  if (phase === "pull") return [...base, "pulledsvc"];
  if (phase === "build") return [...base, "slowsvc"];
  if (phase === "wave" || phase === "teardown") return [...base, ...WAVE];
  if (phase === "health") return [...base, "after", "gated"];
  return base;
}

/** How often each job may have completed by the end (each completes once; none runs twice). */
export function phaseRuns(phase: PhaseName): Record<string, number> {
  return phase === "job" ? { seed: 1, slow: 1 } : { seed: 1 };
}

/**
 * Brings the project to its state before the fault and takes its digest: the baseline (for the
 * teardown phase, the whole stack) applied. A project may be reused from phase to phase: the
 * baseline apply then removes what the previous phase added. Then writes the phase's stack.
 * Fails the test at once when that does not apply: nothing to fault then.
 */
export async function prepare(expect: ExpectStatic, p: Project, phase: PhaseName): Promise<Baseline> {
  await mkdir(path.join(p.dir, "data/work/gate"), { recursive: true });
  for (const gate of ["job-go", "health-go"])
    await rm(path.join(p.dir, "data/work/gate", gate), { force: true });
  await writeSpec(p, phase === "teardown" ? phaseSpec(p.name, phase) : baseSpec(p.name));
  const first = await runBounded(p, ["apply", "--yes"], 150_000);
  expect(first.code, `the stack before the fault did not apply:\n${show(first)}`).toBe(0);
  // `keeper` counts as started once its process runs: the digest waits for its file's last byte
  // (on a loaded machine a digest taken at once saw the file half-written, and later "changed").
  const kept = path.join(p.dir, "data/work/keep/first");
  await until(
    "keeper wrote work/keep/first",
    async () => (await stat(kept).catch(() => undefined))?.size === 4096,
  );
  const base = await baseline(p);
  expect([...base.digest.keys()]).toEqual(
    expect.arrayContaining(["work/seed/blob", "work/seed/stamp", "work/keep/first"]),
  );
  if (phase === "build") {
    const ctx = path.join(p.dir, "slowctx");
    await rm(ctx, { recursive: true, force: true });
    await mkdir(ctx, { recursive: true });
    // The stack's name and a counter make every step its own: never a cached layer of another build.
    const tag = `${p.name}-${Date.now()}`;
    await writeFile(
      path.join(ctx, "Dockerfile"),
      `FROM shctl-test/tools:latest\nRUN echo ${tag} > /built && sleep 4\n`,
    );
  }
  if (phase !== "teardown") await writeSpec(p, phaseSpec(p.name, phase));
  return base;
}

/** What the phase's plain output shows once its window is open. */
const TRIGGER: Record<PhaseName, RegExp> = {
  pull: /image pulled: pulling/,
  build: /image slow .*---> Running in/, // the RUN step's container runs
  wave: /service w\d\d: (creating|starting)/,
  job: /job slow: running/,
  health: /service after: waiting/,
  teardown: /service \S+: (stopping|removing)/,
};

/** Starts the phase's command (apply, or teardown) and resolves once its window is open. */
export async function startPhase(p: Project, phase: PhaseName): Promise<RunningCli> {
  const run = cli(p, phase === "teardown" ? ["teardown"] : ["apply", "--yes"]);
  await run.waitFor(TRIGGER[phase], 120_000);
  if (phase === "job") await containerRunning(p, "slow");
  return run;
}

/** Opens every gate, so that whatever waits (a job, a healthcheck) can finish. */
export async function openGates(p: Project): Promise<void> {
  await openGate(p, "job-go");
  await openGate(p, "health-go");
}

/**
 * After a kill in the job phase the job's container lives on (it outlived what was killed): opens
 * its gate and waits for its run to complete.
 */
export async function slowJobCompletes(p: Project): Promise<void> {
  await openGates(p);
  await until("the job's run completes", async () => (await runCounts(p)).slow === 1, 30_000);
}
