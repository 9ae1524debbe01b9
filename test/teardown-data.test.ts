import { existsSync } from "node:fs";
import { chown, lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { type ResolvedStack, teardown, UnsafeDataRootError } from "@sh/core";
import { type EngineEvent, LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
 * `teardown` keeps the data root and a later apply finds what the services stored there;
 * `teardown --data` removes exactly the data root, even files that belong to a container's user
 * which the invoking (non-root) user cannot delete, and refuses a data root outside the project
 * dir or behind a symbolic link without touching anything.
 */

/**
 * A plain user, run with the engine socket's group as its group: it can reach the engine without
 * any permission changing (even a root:root socket is group-accessible with gid 0), yet cannot
 * delete the files of other users.
 */
const USER = 1000;
const dockerHost = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
const SOCKET_GID = dockerHost.startsWith("unix://")
  ? (await stat(dockerHost.slice("unix://".length))).gid
  : 0;

/** Runs the CLI as USER with the engine socket's group, in `cwd`. */
function asUser(args: string[], cwd: string) {
  return runCli(args, { cwd, uid: USER, gid: SOCKET_GID, env: { HOME: cwd } });
}

/** The stack file, written by root and handed to USER. */
async function writeStack(dir: string, spec: unknown, owner?: number): Promise<void> {
  const file = path.join(dir, "stack.yaml");
  await writeFile(file, JSON.stringify(spec, null, 2));
  if (owner !== undefined) await chown(file, owner, SOCKET_GID);
}

const listing = async (dir: string) => (await readdir(dir)).sort();

describe("teardown keeps the data; --data removes it, files of other users included (run as uid 1000)", () => {
  const name = stackName("td");
  let projectDir: string;
  let stack: ResolvedStack | undefined;

  // A job that logs each run, and a service running as uid 999 that keeps its files in 0700
  // directories of its mount and counts its boots there.
  const spec = {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    jobs: {
      seed: {
        image: "tools",
        command: ["sh", "-c", "echo run >> /out/runs.log"],
        user: "1000:1000",
        mounts: [{ source: "seed", target: "/out", owner: "1000:1000" }],
      },
    },
    services: {
      store: {
        image: "tools",
        user: "999:999",
        command: [
          "sh",
          "-c",
          "umask 077 && mkdir -p /data/deep/inner && echo boot >> /data/deep/inner/boots && exec sleep infinity",
        ],
        mounts: [{ source: "store", target: "/data", owner: "999:999", mode: "0700" }],
        healthcheck: { test: ["CMD", "test", "-s", "/data/deep/inner/boots"], interval: "1s" },
        dependsOn: { seed: { condition: "completed" as const } },
        stopGracePeriod: "1s",
      },
    },
  };

  beforeAll(async () => {
    projectDir = await tempProject("shctl-td-");
    await chown(projectDir, USER, SOCKET_GID);
    await writeStack(projectDir, spec, USER);
    stack = await load(spec, projectDir);
  });
  afterAll(async () => {
    await cleanup(stack, projectDir);
  });

  it("apply, teardown (data kept), apply again: the service sees its old files and the job does not re-run", async () => {
    const first = await asUser(["apply", "-f", "stack.yaml"], projectDir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const before = await containersOf(name);
    expect(before.store?.state).toBe("running");
    expect((await stat(path.join(projectDir, "data/.shctl"))).uid).toBe(USER); // it really ran as USER
    const boots = path.join(projectDir, "data/store/deep/inner/boots");
    expect(await readFile(boots, "utf8")).toBe("boot\n");
    expect(await readFile(path.join(projectDir, "data/seed/runs.log"), "utf8")).toBe("run\n");

    const down = await asUser(["teardown", "-f", "stack.yaml"], projectDir);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toContain("Data kept");
    expect(await containersOf(name)).toEqual({});
    expect(await readFile(boots, "utf8")).toBe("boot\n");

    const again = await asUser(["apply", "-f", "stack.yaml"], projectDir);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/job seed/);
    const after = await containersOf(name);
    expect(after.store?.state).toBe("running");
    expect(after.store?.id).not.toBe(before.store?.id);
    // The new container found the file the old one wrote, and added its own boot to it.
    const seen = await engine.exec(after.store?.id as string, ["cat", "/data/deep/inner/boots"]);
    expect(seen.output.trim().split(/\s+/)).toEqual(["boot", "boot"]);
    // The job's completion survived teardown: it ran once.
    expect(await readFile(path.join(projectDir, "data/seed/runs.log"), "utf8")).toBe("run\n");
  });

  it("teardown --data removes exactly the data root, through a helper container for uid 999's files", async () => {
    // What USER cannot remove alone: a 0700 directory of uid 999 with files inside.
    const deep = await stat(path.join(projectDir, "data/store/deep"));
    expect([deep.uid, deep.mode & 0o777]).toEqual([999, 0o700]);
    // Siblings of the data root, some with names that start like it.
    await writeFile(path.join(projectDir, "keep.txt"), "beside the data root");
    await writeFile(path.join(projectDir, "data.bak"), "not the data root");
    await mkdir(path.join(projectDir, "data-other"));
    await writeFile(path.join(projectDir, "data-other/file"), "not the data root either");
    const siblings = (await listing(projectDir)).filter((f) => f !== "data");

    const helperEvents: EngineEvent[] = [];
    const watching = new AbortController();
    const watched = engine.events([`${LABEL.stack}=${name}`, `${LABEL.helper}=true`], watching.signal, (e) =>
      helperEvents.push(e),
    );
    await new Promise((r) => setTimeout(r, 500)); // the event stream is open before teardown starts
    const r = await asUser(["teardown", "-f", "stack.yaml", "--data", "--yes"], projectDir);
    await new Promise((r) => setTimeout(r, 500));
    watching.abort();
    await watched.catch(() => undefined);

    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("Deleted the data root");
    expect(existsSync(path.join(projectDir, "data"))).toBe(false);
    expect(await listing(projectDir)).toEqual(siblings);
    expect(await readFile(path.join(projectDir, "data-other/file"), "utf8")).toBe("not the data root either");
    expect(await containersOf(name)).toEqual({});
    // uid 1000 could not delete uid 999's files itself: a helper container of this stack did.
    expect(helperEvents.map((e) => e.action)).toContain("start");
  });
});

describe("teardown --data refuses an unsafe data root and touches nothing", () => {
  const name = stackName("tdref");
  let projectDir: string;
  let outside: string;
  let stack: ResolvedStack | undefined;

  const spec = (dataRoot: string) => ({
    name,
    dataRoot,
    images: { tools: toolsImage() },
    services: {
      idle: {
        image: "tools",
        command: ["sleep", "infinity"],
        mounts: [{ source: "keep", target: "/keep" }],
        stopGracePeriod: "1s",
      },
    },
  });

  beforeAll(async () => {
    projectDir = await tempProject("shctl-tdref-");
    outside = await tempProject("shctl-tdref-outside-");
    await writeFile(path.join(outside, "precious.txt"), "must survive");
  });
  afterAll(async () => {
    await cleanup(stack, projectDir);
    await cleanup(undefined, outside);
  });

  it("a data root outside the project dir: exit 2, nothing stopped, nothing removed", async () => {
    stack = await load(spec(outside), projectDir);
    await writeStack(projectDir, spec(outside));
    const up = await runCli(["apply", "-f", "stack.yaml"], { cwd: projectDir });
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const running = await containersOf(name);
    const before = await listing(outside);
    expect(before).toContain("keep");

    const r = await runCli(["teardown", "-f", "stack.yaml", "--data", "--yes"], { cwd: projectDir });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain("refusing to remove the data root");
    expect(r.stderr).toContain("outside the project dir");
    expect(await containersOf(name)).toEqual(running);
    expect(await listing(outside)).toEqual(before);
    expect(await readFile(path.join(outside, "precious.txt"), "utf8")).toBe("must survive");
  });

  it("a data root that is a symlink inside the project pointing outside: exit 2, nothing removed", async () => {
    await cleanup(stack, undefined);
    stack = await load(spec("./data"), projectDir);
    await symlink(outside, path.join(projectDir, "data"));
    await writeStack(projectDir, spec("./data"));
    const before = await listing(outside);

    const r = await runCli(["teardown", "-f", "stack.yaml", "--data", "--yes"], { cwd: projectDir });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain("refusing to remove the data root");
    expect(r.stderr).toContain("symbolic link");
    expect((await lstat(path.join(projectDir, "data"))).isSymbolicLink()).toBe(true);
    expect(await listing(outside)).toEqual(before);

    // The library refuses the same way, before its lock writes anything there.
    await expect(teardown(stack, engine, { data: true })).rejects.toBeInstanceOf(UnsafeDataRootError);
    expect(await listing(outside)).toEqual(before);
  });

  it("a data root reached through a symlinked directory on its path: exit 2, nothing removed", async () => {
    stack = await load(spec("./link/data"), projectDir);
    await mkdir(path.join(outside, "data"), { recursive: true });
    await writeFile(path.join(outside, "data/inside.txt"), "also must survive");
    await symlink(outside, path.join(projectDir, "link"));
    await writeStack(projectDir, spec("./link/data"));
    const before = await listing(path.join(outside, "data"));

    const r = await runCli(["teardown", "-f", "stack.yaml", "--data", "--yes"], { cwd: projectDir });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain("refusing to remove the data root");
    expect(r.stderr).toContain("symbolic link");
    expect(await listing(path.join(outside, "data"))).toEqual(before);
    expect(await readFile(path.join(outside, "precious.txt"), "utf8")).toBe("must survive");
  });
});
