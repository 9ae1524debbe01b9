import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { apply, diff, hasChanges, LockedError, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, type ExpectStatic, it } from "vitest";
import { engine, ensureToolsImage, load, toolsImage } from "../helpers.js";
import {
  cli,
  dataDir,
  dispose,
  expectServicesRunning,
  guardHostDocker0,
  idle,
  newProject,
  type Project,
  readStateFile,
  runBounded,
  runCounts,
  settle,
  show,
  TAG,
  WORK,
  writeSpec,
} from "./support.js";

guardHostDocker0();

/*
 * Two applies at once on one stack, and a lock that outlived its holder:
 *  - two CLI processes: one runs, the other fails at once naming the holder (or waits); the stack
 *    ends consistent (each service once, the job run and recorded once, nothing left to do);
 *  - two callers of @sh/core's apply() in one process: one fails with LockedError (or they
 *    serialize); the stack ends consistent;
 *  - a lock whose pid is a live process that is not shctl (a `sleep`; the lock claims to be older
 *    than that process): REQUIRED: apply proves the holder is not shctl and takes the lock over
 *    with a warning; and `shctl apply --force-unlock` (documented in --help) removes a lock it
 *    cannot prove stale and applies.
 */

function spec(name: string) {
  return {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    jobs: {
      seed: {
        image: "tools",
        command: ["sh", "-c", "mkdir -p /work/seed && sleep 1 && echo seed >> /work/runs.log"],
        mounts: [WORK],
      },
    },
    services: {
      api: idle({ dependsOn: { seed: { condition: "completed" as const } } }),
      web: idle({ dependsOn: ["api"] }),
    },
  };
}

const lockFile = (p: Project) => path.join(dataDir(p), ".shctl/lock");

// The cases are independent (a stack each) and mostly wait: they run side by side.
const projects: Project[] = [];
const sleepers: ChildProcess[] = [];
beforeAll(() => ensureToolsImage(), 300_000);
afterAll(async () => {
  for (const s of sleepers) if (s.exitCode === null && s.signalCode === null) s.kill("SIGKILL");
  await Promise.all(projects.map((p) => dispose(p)));
}, 180_000);

async function setUp(tag: string): Promise<{ p: Project; stack: ResolvedStack }> {
  const p = await newProject(tag, engine);
  projects.push(p);
  await writeSpec(p, spec(p.name));
  return { p, stack: await load(spec(p.name), p.dir) };
}

/** The stack is whole: each service once and running, the job completed once and recorded, no lock left. */
async function expectConsistent(expect: ExpectStatic, p: Project): Promise<void> {
  await expectServicesRunning(expect, p, ["api", "web"]);
  expect.soft((await runCounts(p)).seed, `${TAG.lost} the job completed exactly once`).toBe(1);
  expect
    .soft(Object.keys((await readStateFile(p)).jobs), `${TAG.lost} the job is recorded`)
    .toEqual(["seed"]);
  expect.soft(existsSync(lockFile(p)), `${TAG.converged} no lock is left`).toBe(false);
  const d = await runBounded(p, ["diff", "--exit-code"]);
  expect.soft(d.code, `${TAG.converged} nothing is left to do:\n${show(d)}`).toBe(0);
}

describe.concurrent("concurrent applies on one stack", () => {
  it("two CLI processes at once: one applies, the other fails at once naming the holder; the stack is consistent", async ({
    expect,
  }) => {
    const { p } = await setUp("lk2p");
    const one = cli(p, ["apply", "--yes"]);
    const two = cli(p, ["apply", "--yes"]);
    const [r1, r2] = await Promise.all([settle(one, 120_000), settle(two, 120_000)]);
    const codes = [r1.code, r2.code].sort();
    expect
      .soft(codes, `${TAG.required} one applies (0), the other refuses (1):\n${show(r1)}\n${show(r2)}`)
      .toEqual([0, 1]);
    const refused = [r1, r2].find((r) => r.code === 1);
    if (refused) {
      expect
        .soft(refused.stderr, `${TAG.clear} the refusal names the holder:\n${show(refused)}`)
        .toMatch(/locked by `shctl apply` \(pid \d+/);
      expect.soft(refused.stderr, `${TAG.clear} and how to wait:\n${show(refused)}`).toMatch(/--wait-lock/);
      const holder = refused === r1 ? two : one;
      expect
        .soft(refused.stderr, `${TAG.clear} the holder named is the other run`)
        .toContain(`pid ${holder.pid} `);
    }
    await expectConsistent(expect, p);
  });

  it("two apply() callers in one process: one fails with LockedError (or they serialize); the stack is consistent", async ({
    expect,
  }) => {
    const { p, stack } = await setUp("lkapi");
    await mkdir(dataDir(p), { recursive: true });
    const results = await Promise.allSettled([apply(stack, engine), apply(stack, engine)]);
    const outcome = results.map((r) =>
      r.status === "fulfilled"
        ? "applied"
        : r.reason instanceof LockedError
          ? "LockedError"
          : `other: ${r.reason}`,
    );
    console.log(`two apply() callers in one process: ${outcome.join(", ")}`);
    expect
      .soft(
        outcome.slice().sort(),
        `${TAG.required} one applies, the other fails with LockedError (or both apply)`,
      )
      .toSatisfy(
        (o: string[]) =>
          (o[0] === "LockedError" && o[1] === "applied") || (o[0] === "applied" && o[1] === "applied"),
      );
    const rejected = results.find((r) => r.status === "rejected");
    if (rejected?.status === "rejected" && rejected.reason instanceof LockedError)
      expect.soft((rejected.reason as LockedError).message).toMatch(/locked by `shctl apply`/);
    expect
      .soft(hasChanges(await diff(stack, engine)), `${TAG.converged} core's diff has nothing to do`)
      .toBe(false);
    await expectConsistent(expect, p);
  });
});

describe.concurrent("a lock left with the pid of a live process that is not shctl", () => {
  /** A live process that is not shctl, and a lock naming its pid that claims to be an hour older than it. */
  async function staleLock(p: Project): Promise<number> {
    const sleeper = spawn("sleep", ["600"], { stdio: "ignore" });
    sleepers.push(sleeper);
    const pid = sleeper.pid as number;
    await mkdir(path.dirname(lockFile(p)), { recursive: true });
    await writeFile(
      lockFile(p),
      JSON.stringify({
        pid,
        host: hostname(),
        command: "shctl apply",
        startedAt: new Date(Date.now() - 3_600_000).toISOString(),
      }),
    );
    return pid;
  }

  it("apply proves the holder is not shctl and takes the lock over with a warning", async ({ expect }) => {
    const { p } = await setUp("lkstale");
    const pid = await staleLock(p);
    const r = await runBounded(p, ["apply", "--yes"], 120_000);
    expect
      .soft(r.code, `${TAG.required} apply takes over a lock whose pid is not shctl:\n${show(r)}`)
      .toBe(0);
    expect
      .soft(r.stdout + r.stderr, `${TAG.required} with a warning naming the old holder:\n${show(r)}`)
      .toMatch(new RegExp(`warning: .*took over a lock .*${pid}`));
    if (r.code === 0) await expectConsistent(expect, p);
  });

  it("shctl apply --force-unlock (documented in --help) removes the lock and applies", async ({ expect }) => {
    const { p } = await setUp("lkforce");
    await staleLock(p);
    const help = await runBounded(p, ["apply", "--help"]);
    expect
      .soft(help.stdout, `${TAG.required} apply --help documents --force-unlock`)
      .toMatch(/--force-unlock/);
    const r = await runBounded(p, ["apply", "--yes", "--force-unlock"], 120_000);
    expect.soft(r.code, `${TAG.required} apply --force-unlock applies:\n${show(r)}`).toBe(0);
    if (r.code === 0) {
      expect
        .soft(r.stdout + r.stderr, `${TAG.required} it says whose lock it removed:\n${show(r)}`)
        .toMatch(/lock/);
      await expectConsistent(expect, p);
    }
  });
});
