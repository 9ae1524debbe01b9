import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { extract, pack } from "tar-stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { backup } from "./backup.js";
import { restartPlan } from "./backup-services.js";
import { BackupArchiveError, InterruptedError, RefusedError } from "./errors.js";
import type { ProgressEvent } from "./events.js";
import { execute } from "./execute/index.js";
import { LABEL } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { observe } from "./observe.js";
import { plan } from "./plan/index.js";
import { restore } from "./restore.js";
import { restoreOwners } from "./restore-extract.js";
import { stagingDir } from "./restore-staging.js";
import { FakeEngine } from "./testing/fake-engine.js";
import { validateStack } from "./validate.js";

/*
 * backup() and restore() against the in-memory engine: the order services stop and start in, what
 * a failure or an interrupt while packing leaves (no archive, the services running again), and
 * what a restore refuses before it writes anything. The real engine's archives, owners and the
 * a product stack's infrastructure are the integration tier's (test/backup.test.ts).
 */

let dir: string;
let engine: FakeEngine;
let events: ProgressEvent[];
let stack: ResolvedStack;

function load(): ResolvedStack {
  return validateStack(
    {
      name: "s",
      version: "9.9",
      dataRoot: "data",
      services: {
        db: { image: "db:1", readiness: [{ exec: ["ready"], interval: "10ms" }], readyTimeout: "2s" },
        app: { image: "app:1", dependsOn: { db: { condition: "healthy" } } },
        web: { image: "app:1", dependsOn: { app: { condition: "started" } } },
      },
    },
    { label: "t", projectDir: dir, profile: undefined, env: {} },
  );
}

/** The data root as the engine's archive of a directory mounted at /data would hand it over. */
function dataTar(stall = false): Readable {
  const p = pack();
  const mtime = new Date("2025-01-01T00:00:00Z");
  p.entry({ name: "data/", type: "directory", mode: 0o755, mtime });
  p.entry({ name: "data/db/", type: "directory", mode: 0o700, uid: 999, gid: 999, mtime });
  p.entry(
    { name: "data/db/table", type: "file", mode: 0o600, uid: 999, gid: 999, mtime },
    Buffer.alloc(5000, "r"),
  );
  if (stall) {
    // Never finalized: it stalls. Its pipe fails when the reader goes; nobody needs to hear it.
    (p as unknown as Readable).on("error", () => undefined);
    return (p as unknown as Readable).pipe(new PassThrough());
  }
  p.entry({ name: "data/.shctl/", type: "directory", mode: 0o755, mtime });
  p.entry({ name: "data/.shctl/lock", type: "file", mode: 0o644, mtime }, Buffer.from("{}"));
  p.finalize();
  return p as unknown as Readable;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shctl-backup-"));
  engine = new FakeEngine();
  engine.addImage("db:1");
  engine.addImage("app:1");
  engine.onExec = () => ({ exitCode: 0, output: "" });
  events = [];
  stack = load();
  await execute(plan(stack, await observe(engine, stack)), stack, engine);
  await mkdir(path.join(dir, "data/db"), { recursive: true });
  await writeFile(path.join(dir, "data/db/table"), "rows");
  engine.log.length = 0;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const onEvent = (e: ProgressEvent) => events.push(e);
/** The services whose containers run now. */
const running = () =>
  [...engine.containers.values()]
    .filter((c) => c.labels[LABEL.kind] === "service" && c.state === "running")
    .map((c) => c.labels[LABEL.name])
    .sort();
/** The order of a container operation's calls, by service name. */
const order = (op: string) =>
  engine.log
    .filter((c) => c.op === op)
    .map((c) => [...engine.containers.values()].find((x) => x.id === c.args[0])?.labels[LABEL.name])
    .filter((n) => n !== "backup");

describe("backup", () => {
  it("stops dependents first, packs, starts in dependency order again and waits for readiness", async () => {
    engine.onGetArchive = (_c, p) => (p === "/data" ? dataTar() : undefined);
    const file = path.join(dir, "b.tar.gz");
    const r = await backup(stack, engine, { file, onEvent, tool: "shctl test" });
    expect(order("container.stop")).toEqual(["web", "app", "db"]);
    expect(order("container.start")).toEqual(["db", "app", "web"]);
    expect(running()).toEqual(["app", "db", "web"]);
    expect(r.stopped).toEqual(["web", "app", "db"]);
    expect(r.compressed).toBe(true);
    expect(r.manifest).toMatchObject({
      stack: { name: "s", version: "9.9" },
      tool: "shctl test",
      totals: { entries: 4, files: 1, bytes: 5000 },
    });
    expect(existsSync(file)).toBe(true);
    expect(existsSync(`${file}.partial`)).toBe(false);
    // The helper that handed over the data was never started, and is gone.
    const helper = engine.log.find(
      (c) =>
        c.op === "container.create" &&
        (c.args[0] as { Labels: Record<string, string> }).Labels[LABEL.name] === "backup",
    );
    const body = helper?.args[0] as { HostConfig: { Binds: string[] } } | undefined;
    expect(body?.HostConfig.Binds).toEqual([`${stack.dataRoot}:/data:ro`]);
    expect([...engine.containers.values()].some((c) => c.labels[LABEL.name] === "backup")).toBe(false);
    // Progress: phases for the archive, transfers with the content bytes, the last one complete.
    const transfers = events.filter((e) => e.type === "progress");
    expect(transfers.at(-1)).toMatchObject({ what: "backup", bytes: { done: 5000 }, files: 1 });
    expect(
      events
        .filter((e) => e.type === "phase" && e.resource.startsWith("archive"))
        .map((e) => e.type === "phase" && e.phase),
    ).toEqual(["packing", "done"]);
    // The lock was released.
    expect(existsSync(path.join(stack.dataRoot, ".shctl/lock"))).toBe(false);
    // And the archive is what a restore accepts.
    await rm(stack.dataRoot, { recursive: true, force: true });
    for (const c of [...engine.containers.values()]) await engine.stopContainer(c.id);
    let put: string[] = [];
    engine.onPutArchive = async (_c, p, tar) => {
      expect(p).toBe("/");
      put = await names(tar);
    };
    const rr = await restore(stack, engine, { file, onEvent });
    expect(rr.restored).toBe(true);
    expect(put).toEqual(["data/", "data/db/", "data/db/table", "data/.shctl/"]);
  });

  it("a failure while packing leaves no archive and the services running again", async () => {
    engine.onGetArchive = () => {
      const s = new PassThrough();
      setTimeout(() => s.destroy(new Error("connection reset by the engine")), 20);
      return s;
    };
    const file = path.join(dir, "b.tar");
    await expect(backup(stack, engine, { file, onEvent })).rejects.toThrow(/connection reset/);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(false);
    expect(running()).toEqual(["app", "db", "web"]);
  });

  it("an interrupt while packing removes the partial archive and starts the services again", async () => {
    engine.onGetArchive = () => dataTar(true);
    const ac = new AbortController();
    const file = path.join(dir, "b.tar.gz");
    const p = backup(stack, engine, { file, onEvent, signal: ac.signal });
    // Packing has begun once the partial archive exists (on a loaded machine, later than 100 ms).
    await vi.waitFor(() => expect(existsSync(`${file}.partial`)).toBe(true), {
      timeout: 10_000,
      interval: 20,
    });
    expect(running()).toEqual([]);
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as Error).message).toMatch(/interrupted while packing: no archive was written/);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(false);
    expect(running()).toEqual(["app", "db", "web"]);
  });

  it("refuses before anything changes: no data root, the archive inside it, an existing file", async () => {
    const refused = async (file: string, o: { overwrite?: boolean } = {}) => {
      const err = await backup(stack, engine, { file, ...o }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RefusedError);
      expect((err as RefusedError).exitCode).toBe(2);
      return (err as Error).message;
    };
    expect(await refused(path.join(stack.dataRoot, "db/x.tar"))).toMatch(/inside the data root/);
    await writeFile(path.join(dir, "old.tar"), "x");
    expect(await refused(path.join(dir, "old.tar"))).toMatch(/exists already/);
    expect(await refused(path.join(dir, "no/such/dir/b.tar"))).toMatch(/does not exist/);
    await rm(stack.dataRoot, { recursive: true });
    expect(await refused(path.join(dir, "b.tar"))).toMatch(/nothing to back up/);
    expect(engine.log.filter((c) => c.op === "container.stop")).toEqual([]);
    expect(await readFile(path.join(dir, "old.tar"), "utf8")).toBe("x");
  });

  it("the restart plan starts exactly the stopped containers, each after what it depends on", () => {
    const p = restartPlan(stack, [
      { name: "web", id: "w" },
      { name: "db", id: "d" },
    ]);
    expect(p.actions.map((a) => [a.id, a.kind === "container.start" ? a.startAfter : []])).toEqual([
      ["container.start:web", []],
      ["container.start:db", []],
    ]);
    const all = restartPlan(stack, [
      { name: "web", id: "w" },
      { name: "app", id: "a" },
      { name: "db", id: "d" },
    ]);
    const app = all.actions.find((a) => a.target === "app");
    expect(app).toMatchObject({
      startAfter: ["container.start:db"],
      waitFor: [{ service: "db", condition: "healthy" }],
      containerId: "a",
    });
    expect(all.waitReady).toEqual(["app", "db", "web"]);
  });
});

/** The host directory a fake helper container mounts. */
function boundDir(c: { body: Record<string, unknown> }): string {
  const binds = (c.body.HostConfig as { Binds: string[] }).Binds;
  return (binds[0] as string).split(":")[0] as string;
}

async function names(tar: Readable): Promise<string[]> {
  const ex = extract();
  tar.pipe(ex);
  const out: string[] = [];
  for await (const e of ex) {
    out.push(e.header.name);
    e.resume();
  }
  return out;
}

describe("restore refuses before it writes anything", () => {
  async function archive(): Promise<string> {
    engine.onGetArchive = () => dataTar();
    const file = path.join(dir, "b.tar.gz");
    await backup(stack, engine, { file });
    return file;
  }

  it("a data root that holds anything", async () => {
    const file = await archive();
    for (const c of [...engine.containers.values()]) await engine.stopContainer(c.id);
    engine.onPutArchive = async () => {
      throw new Error("must not be called");
    };
    const err = await restore(stack, engine, { file }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toMatch(/is not empty: nothing was restored/);
    expect((err as RefusedError).details.join()).toContain("db");
    expect(await readFile(path.join(dir, "data/db/table"), "utf8")).toBe("rows");
  });

  it("a stack that runs", async () => {
    const file = await archive();
    await rm(stack.dataRoot, { recursive: true, force: true });
    const err = await restore(stack, engine, { file }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toMatch(/stack s is running \(app, db, web\)/);
    expect(existsSync(stack.dataRoot)).toBe(false);
  });

  it("a damaged archive (and it makes no data root)", async () => {
    const file = await archive();
    for (const c of [...engine.containers.values()]) await engine.stopContainer(c.id);
    await rm(stack.dataRoot, { recursive: true, force: true });
    const bytes = await readFile(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0xff;
    await writeFile(file, bytes);
    const err = await restore(stack, engine, { file }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupArchiveError);
    expect(existsSync(stack.dataRoot)).toBe(false);
  });

  it("checks only, when asked: a stack that runs and a full data root do not matter", async () => {
    const file = await archive();
    const r = await restore(stack, engine, { file, checkOnly: true });
    expect(r.restored).toBe(false);
    expect(r.manifest.totals.files).toBe(1);
  });

  it("an extraction that fails leaves the data root as it was (missing)", async () => {
    const file = await archive();
    for (const c of [...engine.containers.values()]) await engine.stopContainer(c.id);
    await rm(stack.dataRoot, { recursive: true, force: true });
    engine.onPutArchive = async (c, _p, tar) => {
      tar.resume();
      await writeFile(path.join(boundDir(c), "half-written"), "x");
      throw new Error("no space left on device");
    };
    await expect(restore(stack, engine, { file })).rejects.toThrow(/no space left/);
    expect(existsSync(stack.dataRoot)).toBe(false);
    expect(await readdir(dir)).not.toContainEqual(expect.stringMatching(/restoring/));
  });

  it("unpacks beside the data root and renames it into place; removes what a killed restore left", async () => {
    const file = await archive();
    for (const c of [...engine.containers.values()]) await engine.stopContainer(c.id);
    await rm(stack.dataRoot, { recursive: true, force: true });
    // A restore killed outright (its pid is gone) left this.
    const stale = stagingDir(stack.dataRoot, 999_999_999);
    await mkdir(path.join(stale, "db"), { recursive: true });
    let into = "";
    engine.onPutArchive = async (c, _p, tar) => {
      into = boundDir(c);
      expect(existsSync(path.join(stack.dataRoot, ".shctl/lock"))).toBe(true);
      await names(tar);
      await writeFile(path.join(into, "restored"), "x");
    };
    await restore(stack, engine, { file, onEvent });
    expect(into).toBe(stagingDir(stack.dataRoot));
    expect(await readdir(stack.dataRoot)).toEqual(["restored"]);
    expect(await readdir(dir)).not.toContainEqual(expect.stringMatching(/restoring/));
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "warning",
        message: expect.stringMatching(/left by a restore that did not finish \(pid 999999999\)/),
      }),
    );
  });
});

describe("owners on restore", () => {
  it("the backup user's files go to a different non-root user restoring; root restores as they were", () => {
    const map = restoreOwners({ uid: 0, gid: 0 }, { uid: 1000, gid: 998 });
    expect(map?.(0, 0)).toEqual([1000, 998]);
    expect(map?.(999, 999)).toEqual([999, 999]);
    expect(restoreOwners({ uid: 1000, gid: 998 }, { uid: 0, gid: 0 })).toBeUndefined();
    expect(restoreOwners({ uid: 1000, gid: 998 }, { uid: 1000, gid: 998 })).toBeUndefined();
    expect(restoreOwners(null, { uid: 1000, gid: 998 })).toBeUndefined();
  });
});
