import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import type { ResolvedStack } from "@sh/core";
import { LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  engine,
  load,
  type RunningCli,
  stackName,
  startCli,
  tempProject,
  toolsImage,
} from "./helpers.js";

/*
 * Two applies on one stack never overlap: while one holds the lock, a second fails at once naming
 * the holder, or with --wait-lock waits and then finds nothing to do; the stack ends intact. A lock
 * left by a process that is gone is taken over with a warning.
 */

const name = stackName("lock");
let projectDir: string;
let stack: ResolvedStack | undefined;
const running: RunningCli[] = [];

// The job waits for a file the test creates, so the first apply holds the lock for as long as needed.
const spec = {
  name,
  dataRoot: "./data",
  images: { tools: toolsImage() },
  jobs: {
    gate: {
      image: "tools",
      command: ["sh", "-c", "while [ ! -e /gate/go ]; do sleep 0.2; done; echo run >> /gate/runs.log"],
      mounts: [{ source: "gate", target: "/gate" }],
    },
  },
  services: {
    api: {
      image: "tools",
      command: ["sleep", "infinity"],
      mounts: [{ source: "gate", target: "/gate", readOnly: true }],
      healthcheck: { test: ["CMD", "test", "-s", "/gate/runs.log"], interval: "1s" },
      dependsOn: { gate: { condition: "completed" as const } },
      stopGracePeriod: "1s",
    },
    web: {
      image: "tools",
      command: ["sleep", "infinity"],
      dependsOn: { api: { condition: "healthy" as const } },
      stopGracePeriod: "1s",
    },
  },
};

const lockFile = () => path.join(projectDir, "data/.shctl/lock");

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the CLI; one that does not end within a minute (e.g. it took a live lock over) is killed and fails the test. */
async function runBounded(args: string[]) {
  const r = startCli(args, { cwd: projectDir });
  running.push(r);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      r.kill("SIGKILL");
      reject(new Error(`shctl ${args.join(" ")} did not end:\n${r.output()}`));
    }, 60_000);
  });
  try {
    return await Promise.race([r.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  projectDir = await tempProject("shctl-lock-");
  await writeFile(path.join(projectDir, "stack.yaml"), JSON.stringify(spec, null, 2));
  stack = await load(spec, projectDir);
});
afterAll(async () => {
  for (const r of running) if (!r.exited()) r.kill("SIGKILL");
  await writeFile(path.join(projectDir, "data/gate/go"), "").catch(() => undefined);
  await cleanup(stack, projectDir);
});

describe("two applies on one stack", () => {
  it("the second fails at once naming the holder, or waits with --wait-lock and then changes nothing", async () => {
    const first = startCli(["apply", "-f", "stack.yaml"], { cwd: projectDir });
    running.push(first);
    await first.waitFor(/job gate: running/);
    const holder = JSON.parse(await readFile(lockFile(), "utf8")) as { pid: number; command: string };
    expect(holder.pid).toBe(first.pid);

    const second = await runBounded(["apply", "-f", "stack.yaml"]);
    expect(second.code, second.stdout + second.stderr).toBe(1);
    expect(second.stderr).toContain("the stack is locked by `shctl apply`");
    expect(second.stderr).toContain(`pid ${first.pid}`);
    expect(second.stderr).toContain("--wait-lock");

    const waiter = startCli(["apply", "-f", "stack.yaml", "--wait-lock", "2m"], { cwd: projectDir });
    running.push(waiter);
    // A waiter keeps its prepared lock content next to the lock until it gets the lock.
    await until("the waiter waits for the lock", async () =>
      (await readdir(path.dirname(lockFile()))).some((f) => f.startsWith(`lock.${waiter.pid}.`)),
    );
    expect(waiter.exited()).toBe(false);
    expect(first.exited()).toBe(false);

    await writeFile(path.join(projectDir, "data/gate/go"), "");
    const a = await first.done;
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const w = await waiter.done;
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(w.stdout).toContain("No changes.");
    expect(w.stdout).not.toMatch(/job gate|service (api|web): (creating|starting)/);

    // Intact: each service once, running, the health-checked one healthy; the job ran and is recorded once.
    const containers = await engine.listContainers([`${LABEL.stack}=${name}`]);
    expect(containers.map((c) => c.labels[LABEL.name]).sort()).toEqual(["api", "web"]);
    for (const c of containers) expect(c.state).toBe("running");
    const api = containers.find((c) => c.labels[LABEL.name] === "api");
    expect((await engine.inspectContainer(api?.id as string))?.health).toBe("healthy");
    expect(await readFile(path.join(projectDir, "data/gate/runs.log"), "utf8")).toBe("run\n");
    const state = JSON.parse(await readFile(path.join(projectDir, "data/.shctl/state.json"), "utf8")) as {
      jobs: Record<string, { key: string }>;
    };
    expect(Object.keys(state.jobs)).toEqual(["gate"]);
    expect(state.jobs.gate?.key).toMatch(/\S/);
    expect(existsSync(lockFile())).toBe(false);
    expect((await readdir(path.dirname(lockFile()))).filter((f) => f.startsWith("lock"))).toEqual([]);
  });

  it("a lock left by a process that is gone is taken over with a warning", async () => {
    const gone = spawnSync("true").pid;
    expect(gone).toBeGreaterThan(0);
    await writeFile(
      lockFile(),
      JSON.stringify({
        pid: gone,
        host: hostname(),
        command: "shctl apply",
        startedAt: new Date(Date.now() - 60_000).toISOString(),
      }),
    );
    const r = await runBounded(["apply", "-f", "stack.yaml"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(new RegExp(`warning: .*took over a lock left by pid ${gone}\\b`));
    expect(r.stdout).toContain("No changes.");
    expect(existsSync(lockFile())).toBe(false);
  });

  it("Ctrl-C while waiting for the lock exits 130 at once, changing nothing", async () => {
    const held = JSON.stringify({
      pid: process.pid,
      host: hostname(),
      command: "shctl apply",
      startedAt: new Date().toISOString(),
    });
    await writeFile(lockFile(), held);
    // The containers and their states (the engine's status text counts the seconds up).
    const seen = async () =>
      (await engine.listContainers([`${LABEL.stack}=${name}`])).map((c) => [c.id, c.state]).sort();
    const before = await seen();
    const waiter = startCli(["apply", "-f", "stack.yaml", "--wait-lock", "10m"], { cwd: projectDir });
    running.push(waiter);
    await until("the waiter waits for the lock", async () =>
      (await readdir(path.dirname(lockFile()))).some((f) => f.startsWith(`lock.${waiter.pid}.`)),
    );
    waiter.kill("SIGINT");
    // At once: not after the ten minutes it would wait for the lock.
    const r = await Promise.race([
      waiter.done,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`Ctrl-C did not end the wait:\n${waiter.output()}`)), 30_000),
      ),
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stderr).toContain("nothing was changed");
    expect(await readFile(lockFile(), "utf8")).toBe(held); // the holder's lock is untouched
    expect((await readdir(path.dirname(lockFile()))).filter((f) => f.startsWith("lock"))).toEqual(["lock"]);
    expect(await seen()).toEqual(before);
    await rm(lockFile());
  });

  it("a lock of a live process is not taken over, even when its file is old", async () => {
    // This test process is alive: its lock holds.
    await writeFile(
      lockFile(),
      JSON.stringify({
        pid: process.pid,
        host: hostname(),
        command: "shctl teardown",
        startedAt: "2020-01-01T00:00:00.000Z",
      }),
    );
    const r = await runBounded(["apply", "-f", "stack.yaml"]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain(`the stack is locked by \`shctl teardown\` (pid ${process.pid}`);
    expect(existsSync(lockFile())).toBe(true);
    await rm(lockFile());
  });

  // Was a bug: a lock whose pid was alive but not shctl's (a pid reused after a reboot, a lock
  // copied with the data root) said "wait for that run to finish" forever.
  it("a lock whose pid now belongs to another process (another start time) is taken over", async () => {
    const other = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      await writeFile(
        lockFile(),
        JSON.stringify({
          pid: other.pid,
          host: hostname(),
          command: "shctl apply",
          startedAt: "2020-01-01T00:00:00.000Z",
          procStart: "1",
          bootId: readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(),
        }),
      );
      const r = await runBounded(["apply", "-f", "stack.yaml"]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toContain(`took over a lock left by pid ${other.pid}`);
      expect(existsSync(lockFile())).toBe(false);
    } finally {
      other.kill();
    }
  });

  it("a lock of another boot is taken over", async () => {
    await writeFile(
      lockFile(),
      JSON.stringify({
        pid: process.pid,
        host: hostname(),
        command: "shctl apply",
        startedAt: "2020-01-01T00:00:00.000Z",
        bootId: "00000000-0000-0000-0000-000000000000",
      }),
    );
    const r = await runBounded(["apply", "-f", "stack.yaml"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(existsSync(lockFile())).toBe(false);
  });

  it("--force-unlock takes a lock that looks held, naming its holder", async () => {
    await writeFile(
      lockFile(),
      JSON.stringify({
        pid: process.pid,
        host: hostname(),
        command: "shctl teardown",
        startedAt: "2020-01-01T00:00:00.000Z",
      }),
    );
    const held = await runBounded(["apply", "-f", "stack.yaml"]);
    expect(held.stderr).toContain("pass --force-unlock");
    const r = await runBounded(["apply", "-f", "stack.yaml", "--force-unlock"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain(`--force-unlock: took the lock held by pid ${process.pid}`);
    expect(existsSync(lockFile())).toBe(false);
  });
});
