import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ResolvedStack } from "@sh/core";
import { LABEL } from "@sh/core/internals";
import { afterEach, describe, expect, it } from "vitest";
import {
  cleanup,
  engine,
  load,
  type RunningCli,
  runCli,
  stackName,
  startCli,
  tempProject,
  toolsImage,
} from "./helpers.js";

/*
 * Ctrl-C during apply: the first SIGINT lets the steps in flight finish, starts nothing new and
 * exits 130 with a summary; a second SIGINT exits at once. Either way the next apply completes the
 * stack. The windows are made by files the test creates: a job waits for one, a healthcheck for another.
 */

let projectDir: string | undefined;
let stack: ResolvedStack | undefined;
let running: RunningCli | undefined;

afterEach(async () => {
  if (running && !running.exited()) running.kill("SIGKILL");
  // Let whatever still waits for its file end, then remove the stack.
  if (projectDir) {
    for (const f of ["job-go", "health-go"])
      await writeFile(path.join(projectDir, "data/gate", f), "").catch(() => undefined);
  }
  await cleanup(stack, projectDir);
  running = undefined;
  stack = undefined;
  projectDir = undefined;
});

/**
 * A job that waits for `gate/job-go`, a service whose healthcheck waits for `gate/health-go`, and a
 * service that needs both. The job counts its runs in `gate/runs.log`.
 */
function spec(name: string) {
  return {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    jobs: {
      work: {
        image: "tools",
        command: ["sh", "-c", "while [ ! -e /gate/job-go ]; do sleep 0.2; done; echo run >> /gate/runs.log"],
        mounts: [{ source: "gate", target: "/gate" }],
      },
    },
    services: {
      slow: {
        image: "tools",
        command: ["sleep", "infinity"],
        mounts: [{ source: "gate", target: "/gate", readOnly: true }],
        healthcheck: { test: ["CMD", "test", "-e", "/gate/health-go"], interval: "1s" },
        stopGracePeriod: "1s",
      },
      after: {
        image: "tools",
        command: ["sleep", "infinity"],
        dependsOn: { work: { condition: "completed" as const }, slow: { condition: "healthy" as const } },
        stopGracePeriod: "1s",
      },
    },
  };
}

async function setUp(tag: string): Promise<string> {
  const name = stackName(tag);
  const dir = await tempProject("shctl-int-");
  projectDir = dir;
  await mkdir(path.join(dir, "data/gate"), { recursive: true }); // so the test can open the gates early
  await writeFile(path.join(dir, "stack.yaml"), JSON.stringify(spec(name), null, 2));
  stack = await load(spec(name), dir);
  return name;
}

const gate = (file: string) => writeFile(path.join(projectDir as string, "data/gate", file), "");

async function byName(name: string) {
  const out: Record<string, { id: string; state: string; kind: string }[]> = {};
  for (const c of await engine.listContainers([`${LABEL.stack}=${name}`])) {
    const n = c.labels[LABEL.name] ?? c.name;
    out[n] = [...(out[n] ?? []), { id: c.id, state: c.state, kind: c.labels[LABEL.kind] ?? "" }];
  }
  return out;
}

/** No container, or one that was created and never started. */
const neverStarted = (list: { state: string }[] | undefined) =>
  (list ?? []).every((c) => c.state === "created");

/** Waits until the job's container runs (the "running" line comes just before the engine starts it). */
async function jobContainerRunning(name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await byName(name)).work?.[0]?.state !== "running") {
    if (Date.now() > deadline) throw new Error("the job's container did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function jobRecords(): Promise<string[]> {
  const state = JSON.parse(
    await readFile(path.join(projectDir as string, "data/.shctl/state.json"), "utf8"),
  ) as { jobs: Record<string, unknown> };
  return Object.keys(state.jobs);
}

/** The next apply completes the stack: everything runs once, slow is healthy, the job is recorded. */
async function expectCompletedByNextApply(name: string) {
  const r = await runCli(["apply", "-f", "stack.yaml"], { cwd: projectDir as string });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const containers = await byName(name);
  expect(Object.keys(containers).sort()).toEqual(["after", "slow"]);
  for (const list of Object.values(containers)) {
    expect(list).toHaveLength(1);
    expect(list[0]?.state).toBe("running");
  }
  expect((await engine.inspectContainer(containers.slow?.[0]?.id as string))?.health).toBe("healthy");
  expect(await jobRecords()).toEqual(["work"]);
  expect(existsSync(path.join(projectDir as string, "data/.shctl/lock"))).toBe(false);
  return r;
}

describe("Ctrl-C during apply", () => {
  it("while a job runs: the job finishes and is recorded, nothing new starts, exit 130; the next apply completes", async () => {
    const name = await setUp("intjob");
    await gate("health-go"); // only the job holds the apply up
    running = startCli(["apply", "-f", "stack.yaml"], { cwd: projectDir as string });
    await running.waitFor(/job work: running/);
    await jobContainerRunning(name);
    running.kill("SIGINT");
    await running.waitFor(/finishing the steps in flight, starting nothing new/);
    expect(running.exited()).toBe(false); // the job in flight is waited for

    await gate("job-go");
    const r = await running.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted: \d+ of \d+ steps done, nothing new was started/);
    expect(r.stderr).toMatch(/not done: .*service after/);
    expect(r.stderr).toContain("run apply again");
    // The job finished and was recorded; `after`, which waited for it, was never started (its
    // container is made as soon as its image is there, and started once what it needs is ready).
    expect(await jobRecords()).toEqual(["work"]);
    const left = await byName(name);
    expect(neverStarted(left.after)).toBe(true);
    expect(left.work).toBeUndefined(); // the job's container is gone
    expect(existsSync(path.join(projectDir as string, "data/.shctl/lock"))).toBe(false);

    const next = await expectCompletedByNextApply(name);
    expect(next.stdout).not.toMatch(/job work/); // recorded, so not run again
    expect(await readFile(path.join(projectDir as string, "data/gate/runs.log"), "utf8")).toBe("run\n");
  });

  it("while a service's health is awaited: exit 130 at once, its dependent is not started; the next apply completes", async () => {
    const name = await setUp("inthealth");
    await gate("job-go");
    running = startCli(["apply", "-f", "stack.yaml"], { cwd: projectDir as string });
    await running.waitFor(/service after: waiting — for slow to be healthy/);
    await running.waitFor(/job work: done/);
    running.kill("SIGINT");
    const r = await running.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted: \d+ of \d+ steps done, nothing new was started/);
    expect(r.stdout + r.stderr).not.toMatch(/service slow: healthy/);
    const left = await byName(name);
    expect(neverStarted(left.after)).toBe(true);
    expect(left.slow?.map((c) => c.state)).toEqual(["running"]);

    await gate("health-go");
    await expectCompletedByNextApply(name);
    expect(await readFile(path.join(projectDir as string, "data/gate/runs.log"), "utf8")).toBe("run\n");
  });

  it("a second Ctrl-C exits at once, even with a job in flight; the next apply completes", async () => {
    const name = await setUp("int2");
    await gate("health-go");
    running = startCli(["apply", "-f", "stack.yaml"], { cwd: projectDir as string });
    await running.waitFor(/job work: running/);
    await jobContainerRunning(name);
    running.kill("SIGINT");
    await running.waitFor(/finishing the steps in flight/);
    running.kill("SIGINT");
    // At once: not after the job (which waits for a file the test has not made yet).
    const r = await Promise.race([
      running.done,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("the second SIGINT did not end the CLI")), 30_000),
      ),
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(130);
    // The lock goes with the process, so the next apply finds no stale lock to take over.
    expect(existsSync(path.join(projectDir as string, "data/.shctl/lock"))).toBe(false);
    // It did not wait for the job: its container still waits for its file.
    const left = await byName(name);
    expect(left.work?.map((c) => c.state)).toEqual(["running"]);
    expect(neverStarted(left.after)).toBe(true);

    await gate("job-go");
    const next = await expectCompletedByNextApply(name);
    expect(next.stdout + next.stderr).not.toContain("took over a lock");
    expect((await byName(name)).work).toBeUndefined(); // the job's leftover container is gone
  });
});
