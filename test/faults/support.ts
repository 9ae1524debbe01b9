import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { EngineClient } from "@sh/core";
import { LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, type ExpectStatic } from "vitest";
import { type CliResult, type RunningCli, startCli } from "../helpers.js";

/*
 * What every fault case checks, in the same words, so that scripts/fault-report.mjs can count them
 * from the suite's results. Each property is a soft assertion whose message starts with its tag:
 *
 *  [nothing-lost] the data the stack's jobs and services wrote is byte-identical, every recorded job
 *                 key is kept (state.json `jobs`), and no job whose run completed ran again (each
 *                 job appends its name to `work/runs.log` when, and only when, its run completes);
 *  [converged]    after the fault one `shctl apply` completes and a second finds nothing to do
 *                 (`shctl diff --exit-code` exits 0);
 *  [clear-exit]   the faulted run ends with exit 1 (or 130 for an interrupt) and says on stderr what
 *                 failed and what to do: never a silent exit, never Node's 13 (unsettled await);
 *  [required]     a behaviour the brief requires beyond those three (a rollback, a conflict, …).
 */

export const TAG = {
  lost: "[nothing-lost]",
  converged: "[converged]",
  clear: "[clear-exit]",
  required: "[required]",
} as const;

/** A test project: its directory, its stack file and the environment its CLI runs need. */
export interface Project {
  name: string;
  dir: string;
  /** Extra environment for the CLI (DOCKER_HOST of a second engine). */
  env: Record<string, string>;
  /** The engine the stack lives on, for checks. */
  engine: EngineClient;
}

export const dataDir = (p: Project) => path.join(p.dir, "data");
export const workDir = (p: Project) => path.join(p.dir, "data/work");

export async function writeSpec(p: Project, spec: unknown): Promise<void> {
  await writeFile(path.join(p.dir, "stack.yaml"), `${JSON.stringify(spec, null, 2)}\n`);
}

/** The data root's work/ at /work: where the stacks' jobs and services keep what must survive. */
export const WORK = { source: "work", target: "/work" };

/** A service of the fixture image that sleeps; `extra` adds fields or replaces them. */
export const idle = (extra: Record<string, unknown> = {}) => ({
  image: "tools",
  command: ["sleep", "infinity"],
  stopGracePeriod: "1s",
  ...extra,
});

/**
 * The job `seed`: writes `bytes` random bytes to work/seed/blob (then runs `more`, a shell
 * command, if given) and appends its name to work/runs.log.
 */
export function seedJob(bytes: number, more?: string) {
  return {
    image: "tools",
    command: [
      "sh",
      "-c",
      `mkdir -p /work/seed && head -c ${bytes} /dev/urandom > /work/seed/blob && ${more ? `${more} && ` : ""}echo seed >> /work/runs.log`,
    ],
    mounts: [WORK],
  };
}

/** The service `keeper`: writes 4 KB of random bytes to work/keep/first once, then sleeps. */
export const keeper = () =>
  idle({
    command: [
      "sh",
      "-c",
      "mkdir -p /work/keep && { [ -e /work/keep/first ] || head -c 4096 /dev/urandom > /work/keep/first; } && exec sleep infinity",
    ],
    mounts: [WORK],
  });

/** Opens a gate file the stack's jobs and healthchecks wait for (work/gate/NAME). */
export async function openGate(p: Project, gate: string): Promise<void> {
  await mkdir(path.join(workDir(p), "gate"), { recursive: true });
  await writeFile(path.join(workDir(p), "gate", gate), "");
}

export function cli(p: Project, args: string[]): RunningCli {
  return startCli([...args, "-f", "stack.yaml"], { cwd: p.dir, env: p.env });
}

/** Runs the CLI to its end; one still running after `timeoutMs` is SIGKILLed and reported as hung. */
export async function runBounded(
  p: Project,
  args: string[],
  timeoutMs = 120_000,
): Promise<CliResult & { hung: boolean; signal?: string }> {
  const r = cli(p, args);
  return settle(r, timeoutMs);
}

/** Waits for a running CLI to end, at most `timeoutMs`; then SIGKILLs it and says it hung. */
export async function settle(
  r: RunningCli,
  timeoutMs: number,
): Promise<CliResult & { hung: boolean; signal?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => resolve("hung"), timeoutMs);
  });
  const first = await Promise.race([r.done, hung]);
  clearTimeout(timer);
  if (first === "hung") {
    r.kill("SIGKILL");
    const res = await r.done;
    return { ...res, hung: true };
  }
  return { ...first, hung: false };
}

export const show = (r: { code: number | null; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

/* ------------------------------------------------------------------------------------------------
 * Nothing lost
 * --------------------------------------------------------------------------------------------- */

/** Every file, directory and symbolic link under `root` (relative path → digest), minus `skip`. */
export async function treeDigest(root: string, skip: (rel: string) => boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(rel: string): Promise<void> {
    const abs = path.join(root, rel);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) out.set(rel, `link:${await readlink(abs)}`);
    else if (st.isDirectory()) {
      if (rel !== "") out.set(`${rel}/`, "dir");
      for (const e of (await readdir(abs)).sort()) {
        const child = rel === "" ? e : `${rel}/${e}`;
        if (!skip(child)) await walk(child);
      }
    } else if (st.isFile()) {
      out.set(
        rel,
        createHash("sha256")
          .update(await readFile(abs))
          .digest("hex"),
      );
    } else out.set(rel, `other:${st.mode}`);
  }
  if (existsSync(root)) await walk("");
  return out;
}

/** What the data root holds that must survive: everything but shctl's own files, the run log and the gates. */
const volatile = (rel: string) =>
  rel === ".shctl" || rel === "work/runs.log" || rel === "work/gate" || rel.startsWith("work/scratch");

export interface Baseline {
  digest: Map<string, string>;
  jobs: Record<string, { key: string }>;
}

export async function readStateFile(p: Project): Promise<{
  jobs: Record<string, { key: string; completedAt: string }>;
  containers: Record<string, { id: string }>;
}> {
  return JSON.parse(await readFile(path.join(dataDir(p), ".shctl/state.json"), "utf8"));
}

export async function baseline(p: Project): Promise<Baseline> {
  return { digest: await treeDigest(dataDir(p), volatile), jobs: (await readStateFile(p)).jobs };
}

/** How many times each job's run completed (lines of work/runs.log). */
export async function runCounts(p: Project): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let text = "";
  try {
    text = await readFile(path.join(workDir(p), "runs.log"), "utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n").filter(Boolean)) counts[line] = (counts[line] ?? 0) + 1;
  return counts;
}

/**
 * [nothing-lost]: every file of the baseline is still there with the same bytes, state.json parses
 * and keeps every recorded job key, and each job's run completed at most `maxRuns[job]` times (1).
 */
export async function expectNothingLost(
  expect: ExpectStatic,
  p: Project,
  base: Baseline,
  maxRuns: Record<string, number>,
): Promise<void> {
  const now = await treeDigest(dataDir(p), volatile);
  const changed: string[] = [];
  for (const [rel, digest] of base.digest) {
    const after = now.get(rel);
    if (after === undefined) changed.push(`${rel}: gone`);
    else if (after !== digest) changed.push(`${rel}: changed`);
  }
  expect.soft(changed, `${TAG.lost} data files differ from before the fault`).toEqual([]);

  let jobs: Record<string, { key: string }> = {};
  try {
    jobs = (await readStateFile(p)).jobs;
  } catch (err) {
    expect.soft(false, `${TAG.lost} state.json is unreadable: ${(err as Error).message}`).toBe(true);
  }
  const dropped = Object.entries(base.jobs)
    .filter(([job, rec]) => jobs[job]?.key !== rec.key)
    .map(([job, rec]) => `${job} (${rec.key} → ${jobs[job]?.key ?? "gone"})`);
  expect.soft(dropped, `${TAG.lost} recorded job keys were lost or changed`).toEqual([]);

  const counts = await runCounts(p);
  const rerun = Object.entries(maxRuns)
    .filter(([job, max]) => (counts[job] ?? 0) > max)
    .map(([job, max]) => `${job}: completed ${counts[job]} times (at most ${max} expected)`);
  expect.soft(rerun, `${TAG.lost} a job whose run had completed ran again`).toEqual([]);
}

/* ------------------------------------------------------------------------------------------------
 * Converged
 * --------------------------------------------------------------------------------------------- */

/** [converged]: one apply completes, then `diff --exit-code` exits 0. Returns the apply's result. */
export async function expectConverges(
  expect: ExpectStatic,
  p: Project,
  timeoutMs = 150_000,
): Promise<CliResult> {
  const a = await runBounded(p, ["apply", "--yes"], timeoutMs);
  expect.soft(a.hung, `${TAG.converged} the apply after the fault hung:\n${show(a)}`).toBe(false);
  expect.soft(a.code, `${TAG.converged} the apply after the fault failed:\n${show(a)}`).toBe(0);
  const d = await runBounded(p, ["diff", "--exit-code"], 60_000);
  expect.soft(d.code, `${TAG.converged} a second apply would still change something:\n${show(d)}`).toBe(0);
  return a;
}

/** Every service of the stack has exactly one container and it runs. */
export async function expectServicesRunning(
  expect: ExpectStatic,
  p: Project,
  services: string[],
): Promise<void> {
  const byName: Record<string, string[]> = {};
  for (const c of await p.engine.listContainers([`${LABEL.stack}=${p.name}`])) {
    const n = c.labels[LABEL.name] ?? c.name;
    if ((c.labels[LABEL.kind] ?? "service") !== "service") continue;
    byName[n] = [...(byName[n] ?? []), c.state];
  }
  const want = Object.fromEntries(services.map((s) => [s, ["running"]]));
  expect.soft(byName, `${TAG.converged} each service runs in exactly one container`).toEqual(want);
}

/* ------------------------------------------------------------------------------------------------
 * Clear exit
 * --------------------------------------------------------------------------------------------- */

/**
 * [clear-exit]: the faulted run exited with `code` (1: failed, 130: interrupted), printed an
 * `error:` line naming what failed (matching `names`, when given) and a `hint:` with the fix.
 */
export function expectClearExit(
  expect: ExpectStatic,
  r: CliResult & { hung?: boolean },
  code: 1 | 130,
  names?: RegExp,
): void {
  if (process.env.SHCTL_FAULT_VERBOSE) console.log(`the faulted run:\n${show(r)}`);
  expect.soft(r.hung ?? false, `${TAG.clear} the run did not end after the fault:\n${show(r)}`).toBe(false);
  expect.soft(r.code, `${TAG.clear} exit code after the fault:\n${show(r)}`).toBe(code);
  if (code === 130) {
    expect
      .soft(r.stderr, `${TAG.clear} an interrupt says so and what to do:\n${show(r)}`)
      .toMatch(/interrupted[\s\S]*(run (apply|it) again|apply again)/i);
    return;
  }
  expect.soft(r.stderr, `${TAG.clear} stderr names what failed:\n${show(r)}`).toMatch(/error: \S/);
  expect.soft(r.stderr, `${TAG.clear} stderr says how to fix it:\n${show(r)}`).toMatch(/hint: \S/);
  if (names) expect.soft(r.stderr, `${TAG.clear} stderr names the cause:\n${show(r)}`).toMatch(names);
}

/* ------------------------------------------------------------------------------------------------
 * Waiting
 * --------------------------------------------------------------------------------------------- */

export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the stack's container for `name` (service or job) runs. */
export async function containerRunning(p: Project, name: string, timeoutMs = 60_000): Promise<string> {
  let id = "";
  await until(
    `${name}'s container runs`,
    async () => {
      const c = (await p.engine.listContainers([`${LABEL.stack}=${p.name}`])).find(
        (x) => x.labels[LABEL.name] === name && x.state === "running",
      );
      id = c?.id ?? "";
      return c !== undefined;
    },
    timeoutMs,
  );
  return id;
}

/* ------------------------------------------------------------------------------------------------
 * Projects
 * --------------------------------------------------------------------------------------------- */

/** A new project directory for a stack on `engine` (CLI runs get `env`, e.g. a second engine's DOCKER_HOST). */
export async function newProject(
  tag: string,
  engine: EngineClient,
  env: Record<string, string> = {},
): Promise<Project> {
  const { stackName, tempProject } = await import("../helpers.js");
  return { name: stackName(tag), dir: await tempProject("shctl-fault-"), env, engine };
}

/**
 * Removes what a test left: opens the gates (so nothing waits), tears the stack down with the CLI,
 * and when that fails removes its containers and networks by label; then the project directory.
 */
export async function dispose(p: Project | undefined): Promise<void> {
  if (!p) return;
  const { rm } = await import("node:fs/promises");
  await openGate(p, "job-go").catch(() => undefined);
  await openGate(p, "health-go").catch(() => undefined);
  const r = await runBounded(p, ["teardown"], 90_000).catch(() => undefined);
  if (r?.code !== 0) {
    try {
      for (const c of await p.engine.listContainers([`${LABEL.stack}=${p.name}`]))
        await p.engine.removeContainer(c.id);
      for (const n of await p.engine.listNetworks([`${LABEL.stack}=${p.name}`]))
        await p.engine.removeNetwork(n.id);
    } catch {
      // The engine may be gone (a second engine's destroy removes everything anyway).
    }
  }
  await rm(p.dir, { recursive: true, force: true });
}

/** Time spent per stage of a case, printed with SHCTL_FAULT_TIMING=1 (SHCTL_FAULT_VERBOSE=1 prints each faulted run's output). */
export function timer(): { lap(what: string): void; done(label?: string): void } {
  const t0 = Date.now();
  let last = t0;
  const laps: string[] = [];
  return {
    lap(what) {
      const now = Date.now();
      laps.push(`${what} ${((now - last) / 1000).toFixed(1)}s`);
      last = now;
    },
    done(label = "") {
      if (process.env.SHCTL_FAULT_TIMING)
        console.log(`timing ${label}: ${laps.join(", ")}; total ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    },
  };
}

/* ------------------------------------------------------------------------------------------------
 * The host's docker0
 * --------------------------------------------------------------------------------------------- */

/** The host's docker0 as the kernel knows it now: its interface index, or undefined when there is none. */
export function hostDocker0(): number | undefined {
  try {
    return Number(readFileSync("/sys/class/net/docker0/ifindex", "utf8").trim());
  } catch {
    return undefined;
  }
}

/**
 * Guards the shared engine's default bridge for a whole file: the docker0 there before the file
 * (its interface index) must still be there after it. A docker0 deleted and made again (by a
 * watcher, by the shared engine's restart) has another index and fails too. A host without a
 * docker0 before the file is told, not failed.
 */
export function guardHostDocker0(): void {
  let before: number | undefined;
  beforeAll(() => {
    before = hostDocker0();
    if (before === undefined)
      console.warn("the host has no docker0 before this file: its survival is not checked");
  });
  afterAll(() => {
    if (before === undefined) return;
    const after = hostDocker0();
    if (after !== before)
      throw new Error(
        `the host's docker0 (the shared engine's default bridge, ifindex ${before}) was ${after === undefined ? "deleted" : `deleted and made again (now ifindex ${after})`} while this file ran`,
      );
  });
}
