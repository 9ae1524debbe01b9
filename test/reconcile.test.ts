import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, diff, JobFailedError, type ResolvedStack, teardown } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  cleanup,
  containersOf,
  engine,
  load,
  runCli,
  stackName,
  tempProject,
  toolsImage,
} from "./helpers.js";

/*
 * The reconciler end to end against the real engine: a cold apply of a stack with a build, a job,
 * health- and probe-gated dependencies; a no-op; a one-field change; a failing job; teardown.
 */

const name = stackName("rec");
let projectDir: string;
let stack: ResolvedStack | undefined;

const spec = (greeting: string, webEnv = "1") => ({
  name,
  dataRoot: "./data",
  networks: { back: {} },
  images: { tools: toolsImage() },
  jobs: {
    seed: {
      image: "tools",
      command: ["sh", "-c", `echo ${greeting} > /out/greeting.txt`],
      user: "1000:1000",
      mounts: [{ source: "shared", target: "/out", owner: "1000:1000", mode: "0750" }],
    },
  },
  services: {
    db: {
      image: "tools",
      command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
      mounts: [{ source: "shared", target: "/www", readOnly: true }],
      healthcheck: {
        test: ["CMD", "sh", "-c", "timeout 5 wget -q -O- http://127.0.0.1:8080/greeting.txt"],
        interval: "1s",
      },
      dependsOn: { seed: { condition: "completed" as const } },
      stopGracePeriod: "1s",
    },
    cache: {
      image: "tools",
      command: ["sh", "-c", "sleep 1; exec httpd -f -p 6000 -h /tmp"],
      readiness: [{ tcp: { port: 6000 } }],
      mounts: [{ source: "cache", target: "/var/cache/app", owner: "999:999", mode: "0700" }],
      stopGracePeriod: "1s",
    },
    web: {
      image: "tools",
      command: ["sleep", "infinity"],
      env: { MODE: webEnv, TOKEN: { value: "tok-secret-123", secret: true } },
      dependsOn: { db: { condition: "healthy" as const }, cache: { condition: "healthy" as const } },
      stopGracePeriod: "1s",
    },
  },
});

beforeAll(async () => {
  projectDir = await tempProject();
});
afterAll(async () => {
  await cleanup(stack, projectDir);
});

describe("reconciling a stack on the real engine", () => {
  it("cold apply: builds, runs the job once, creates dirs with owners, gates on health and readiness", async () => {
    stack = await load(spec("hello"), projectDir);
    const { plan } = await apply(stack, engine);
    const ids = plan.actions.map((a) => a.id);
    // Built through shctl's build path (now or by an earlier run): the image carries its context hash.
    expect((await engine.inspectImage("shctl-test/tools:latest"))?.labels["io.shctl.context"]).toMatch(
      /^[0-9a-f]{32}$/,
    );
    expect(ids.indexOf("job.run:seed")).toBeLessThan(ids.indexOf("container.create:db"));
    const running = await containersOf(name);
    expect(Object.keys(running).sort()).toEqual(["cache", "db", "web"]);
    for (const c of Object.values(running)) expect(c.state).toBe("running");
    // Ready once its healthcheck's command succeeded; the engine says so at its next check.
    await vi.waitFor(
      async () => expect((await engine.inspectContainer(running.db?.id as string))?.health).toBe("healthy"),
      { timeout: 10_000, interval: 250 },
    );
    const shared = await stat(path.join(projectDir, "data/shared"));
    expect([shared.uid, shared.gid, shared.mode & 0o777]).toEqual([1000, 1000, 0o750]);
    const cache = await stat(path.join(projectDir, "data/cache"));
    expect([cache.uid, cache.mode & 0o777]).toEqual([999, 0o700]);
    // web reads what the job wrote, through db.
    const r = await engine.exec(running.web?.id as string, [
      "sh",
      "-c",
      "timeout 5 wget -q -O- http://db:8080/greeting.txt",
    ]);
    expect(r.output.trim()).toBe("hello");
  });

  it("a second apply changes nothing and makes no mutating call", async () => {
    const before = await containersOf(name);
    expect((await diff(stack as ResolvedStack, engine)).actions).toEqual([]);
    engine.resetCalls();
    await apply(stack as ResolvedStack, engine);
    expect(engine.calls.mutating).toBe(0);
    expect(await containersOf(name)).toEqual(before);
  });

  it("changing one env value recreates that service only, and diff names the field", async () => {
    const before = await containersOf(name);
    stack = await load(spec("hello", "2"), projectDir);
    const p = await diff(stack, engine);
    expect(p.actions.map((a) => a.id)).toEqual(["container.recreate:web"]);
    expect(p.actions[0]).toMatchObject({
      changes: [{ field: "env.MODE", before: "1", after: "2", sensitive: false }],
    });
    await apply(stack, engine);
    const after = await containersOf(name);
    expect(after.web?.id).not.toBe(before.web?.id);
    expect(after.db?.id).toBe(before.db?.id);
    expect(after.cache?.id).toBe(before.cache?.id);
  });

  it("the CLI diff shows the plan, keeps secrets out, and exits 3 with --exit-code", async () => {
    await writeFile(
      path.join(projectDir, "stack.json"),
      JSON.stringify({ ...spec("hello", "3"), images: { tools: toolsImage() } }),
    );
    const r = await runCli(["diff", "-f", "stack.json", "--exit-code"], { cwd: projectDir });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("env.MODE");
    expect(`${r.stdout}${r.stderr}`).not.toContain("tok-secret-123");
  });

  it("a failing job exits with its code and log tail, starts nothing after it, and keeps the data", async () => {
    const failing = spec("hello", "2");
    failing.jobs.seed.command = ["sh", "-c", "echo boom-line; exit 3"];
    stack = await load(failing, projectDir);
    const err = await apply(stack, engine).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).jobExitCode).toBe(3);
    expect((err as JobFailedError).details.join("\n")).toContain("boom-line");
    expect(await readFile(path.join(projectDir, "data/shared/greeting.txt"), "utf8")).toBe("hello\n");
    // The job re-runs next time: its failure was not recorded.
    expect((await diff(stack, engine)).actions.map((a) => a.id)).toContain("job.run:seed");
  });

  it("teardown keeps the data; teardown --data removes exactly the data root", async () => {
    stack = await load(spec("hello", "2"), projectDir);
    await teardown(stack, engine);
    expect(await containersOf(name)).toEqual({});
    expect(existsSync(path.join(projectDir, "data/shared/greeting.txt"))).toBe(true);
    await writeFile(path.join(projectDir, "keep.txt"), "beside the data root");
    await teardown(stack, engine, { data: true });
    expect(existsSync(path.join(projectDir, "data"))).toBe(false);
    expect(existsSync(path.join(projectDir, "keep.txt"))).toBe(true);
  });
});
