import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { setShutdownWatch } from "../engine-lost.js";
import { EngineUnreachableError, InterruptedError, JobFailedError, StepFailedError } from "../errors.js";
import type { ProgressEvent } from "../events.js";
import type { ResolvedStack } from "../model.js";
import { observe } from "../observe.js";
import { plan } from "../plan/index.js";
import type { StackInput } from "../schema.js";
import { FakeEngine } from "../testing/fake-engine.js";
import { validateStack } from "../validate.js";
import { execute } from "./index.js";

/*
 * The executor against an in-memory engine: the order of its calls, what a failure, an interrupt,
 * a timeout or a dropped connection does, and that no clean-up error hides the first failure.
 * (The real engine is exercised by the integration tier.)
 */

let dir: string;
let engine: FakeEngine;
let events: ProgressEvent[];

// A failed run watches a moment for an engine shutting down (3 s); a second is enough here.
let restoreWatch = () => {};
beforeAll(() => {
  restoreWatch = setShutdownWatch(1000);
});
afterAll(() => restoreWatch());

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shctl-exec-"));
  engine = new FakeEngine();
  engine.addImage("db:1");
  engine.addImage("app:1");
  events = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function load(input: Partial<StackInput>): ResolvedStack {
  return validateStack(
    { name: "s", dataRoot: "data", ...input },
    { label: "t", projectDir: dir, profile: undefined, env: {} },
  );
}

/** A database with a probe, a job after it, and an app that waits for both. */
function shop(extra: Partial<StackInput> = {}): ResolvedStack {
  return load({
    services: {
      db: { image: "db:1", readiness: [{ exec: ["ready"], interval: "10ms" }], readyTimeout: "2s" },
      app: {
        image: "app:1",
        dependsOn: { db: { condition: "healthy" }, migrate: { condition: "completed" } },
      },
    },
    jobs: {
      migrate: {
        image: "app:1",
        command: ["migrate"],
        dependsOn: { db: { condition: "healthy" } },
        timeout: "1s",
      },
    },
    ...extra,
  });
}

async function run(stack: ResolvedStack, opts: Parameters<typeof execute>[3] = {}) {
  const p = plan(stack, await observe(engine, stack));
  engine.log.length = 0;
  const result = await execute(p, stack, engine, { onEvent: (e) => events.push(e), ...opts });
  return { plan: p, result };
}

/** Index of the first call of `op` whose first argument (or the created container's name) matches. */
function at(op: string, match: (args: unknown[]) => boolean): number {
  const i = engine.log.findIndex((c) => c.op === op && match(c.args));
  if (i < 0) throw new Error(`no ${op} call matched: ${engine.ops().join(", ")}`);
  return i;
}
const created = (name: string) =>
  at("container.create", (a) => (a[0] as { name?: string }).name === `s-${name}`);
const idOf = (name: string) => [...engine.containers.values()].find((c) => c.name === `s-${name}`)?.id;

/** The engine refuses connections once it has answered `version` `answered` times: it is shutting down. */
function goneAfter(answered: number): void {
  engine.inject(
    "version",
    { kind: "fail", code: "ECONNREFUSED" },
    { times: 10, match: () => engine.ops("version").length > answered },
  );
}

/** A stack whose image ghost:1 is missing, and its plan, which pulls it from a mirror's two paths. */
async function pullFromTwoSources() {
  const stack = load({ services: { x: { image: "ghost:1" } } });
  const p = plan(stack, await observe(engine, stack));
  const pull = p.actions.find((a) => a.kind === "image.pull");
  if (pull?.kind !== "image.pull") throw new Error("no pull");
  pull.sources = ["mirror/library/ghost:1", "mirror/ghost:1"];
  return { stack, p };
}
const started = (name: string) => at("container.start", (a) => a[0] === idOf(name));

describe("execute: order", () => {
  it("creates a container as soon as its image is there and starts it once its dependencies are ready", async () => {
    // The job's container exits 0 at once; the app's keeps running.
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 0 : undefined);
    let ready = false;
    engine.onExec = () => ({ exitCode: ready ? 0 : 1, output: "" });
    setTimeout(() => {
      ready = true;
    }, 100);
    await run(shop());
    // The app is made while the database is not ready yet, but started only after it and the job.
    expect(created("app")).toBeLessThan(started("db") + 10);
    expect(started("app")).toBeGreaterThan(at("container.exec", () => true));
    expect(started("app")).toBeGreaterThan(at("container.remove", (a) => a[0] === "c3" || true));
    expect(events).toContainEqual(expect.objectContaining({ resource: "service db", phase: "healthy" }));
    const state = JSON.parse(await readFile(path.join(dir, "data/.shctl/state.json"), "utf8"));
    expect(Object.keys(state.jobs)).toEqual(["migrate"]);
    expect(Object.keys(state.containers).sort()).toEqual(["app", "db"]);
  });

  it("replaces a container beside the old one: the new starts, then the old goes and the new takes its name", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 0 : undefined);
    engine.onExec = () => ({ exitCode: 0, output: "" });
    await run(shop());
    const old = idOf("app");
    const changed = shop({});
    changed.services.app?.env.push({ name: "X", value: "1", secret: false });
    const { plan: p } = await run(changed);
    expect(p.actions[0]).toMatchObject({ kind: "container.recreate", order: "start-first" });
    expect(
      engine.ops(
        "container.create",
        "container.start",
        "container.stop",
        "container.remove",
        "container.rename",
      ),
    ).toEqual([
      "container.create",
      "container.start",
      "container.stop",
      "container.remove",
      "container.rename",
    ]);
    expect(engine.containers.has(old as string)).toBe(false);
    expect(idOf("app")).toBeDefined();
  });

  // Was a bug: changing a healthy service into one that never becomes ready stopped the old
  // container first; after readyTimeout the service was simply gone.
  it("rolls back a new container that does not get ready: the old one runs on, the new one goes", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 0 : undefined);
    engine.onExec = (c) => ({ exitCode: c.name === "s-db-next" ? 1 : 0, output: "not yet" });
    await run(shop());
    const old = idOf("db");
    const changed = shop();
    if (changed.services.db) {
      changed.services.db.env.push({ name: "X", value: "1", secret: false });
      changed.services.db.readyTimeoutMs = 300;
    }
    const err = await run(changed).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/rolled back to the previous version of db/);
    expect(idOf("db")).toBe(old);
    expect(engine.containers.get(old as string)?.state).toBe("running");
    expect([...engine.containers.values()].map((c) => c.name)).not.toContain("s-db-next");
  });

  it("stops first for a data directory only it mounts, and puts the old one back under its name on failure", async () => {
    let first: string | undefined;
    // The first container gets ready; the one that replaces it never does.
    engine.onExec = (c) => ({ exitCode: first === undefined || c.id === first ? 0 : 1, output: "not yet" });
    const base = {
      services: {
        pg: {
          image: "db:1",
          mounts: [{ source: "pg", target: "/var/lib/pg" }],
          readiness: [{ exec: ["ready"], interval: "10ms" }],
          readyTimeout: "300ms",
        },
      },
    };
    await run(load(base));
    first = idOf("pg");
    const changed = load({ services: { pg: { ...base.services.pg, env: { X: "1" } } } });
    const p = plan(changed, await observe(engine, changed));
    expect(p.actions[0]).toMatchObject({ order: "stop-first", orderCause: "own-data" });
    const err = await run(changed).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/rolled back to the previous version of pg/);
    expect(idOf("pg")).toBe(first);
    expect(engine.containers.get(first as string)?.state).toBe("running");
    expect(engine.containers.size).toBe(1);
  });

  it("keeps a container whose image came out the same after a planned rebuild (the plan's condition)", async () => {
    await writeFile(path.join(dir, "Dockerfile"), "FROM scratch\n");
    const stack = load({
      images: { app: { ref: "app:1", build: { context: "." } } },
      services: { app: { image: "app" } },
    });
    await run(stack);
    const first = idOf("app");
    // The context changed, so the plan rebuilds and recreates only if the image comes out different.
    engine.buildImage = async (_c, opts) => {
      engine.log.push({ op: "image.build", args: [opts] });
      return (engine.images.get("app:1") as { id: string }).id;
    };
    const p = plan(stack, { ...(await observe(engine, stack)), contextHashes: { app: "changed" } });
    expect(p.actions.map((a) => a.id)).toEqual(["image.build:app", "container.recreate:app"]);
    await execute(p, stack, engine, { onEvent: (e) => events.push(e) });
    expect(idOf("app")).toBe(first);
    expect(events).toContainEqual(expect.objectContaining({ resource: "service app", phase: "unchanged" }));
  });
});

describe("execute: failures", () => {
  it("stops at the first failure: what waits for it never starts, and the error is the first one", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 3 : undefined);
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect(() => started("app")).toThrow();
    const outcome = events.find((e) => e.type === "outcome");
    expect(outcome).toMatchObject({
      notDone: expect.arrayContaining(["job.run:migrate", "container.create:app"]),
    });
  });

  it("never lets a clean-up error hide the failure it cleans up after", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 3 : undefined);
    engine.inject("container.remove", { kind: "fail", status: 500, message: "device busy" });
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "warning",
        message: expect.stringContaining("could not remove its container"),
      }),
    );
  });

  it("stops a job at its timeout, kills it and says so", async () => {
    // The job's container never exits by itself.
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as Error).message).toMatch(/job migrate: run failed: still running after 1s; stopped/);
    expect(engine.ops()).toContain("container.kill");
  });

  it("ends a readiness wait as soon as the container exits, with its exit code", async () => {
    engine.onExec = () => ({ exitCode: 1, output: "not yet" });
    engine.onStart = (c) => (c.name === "s-db" ? 2 : undefined);
    const t0 = Date.now();
    const err = await run(shop()).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /service db: wait for health failed: the container exited with code 2/,
    );
    expect(Date.now() - t0).toBeLessThan(1500); // not its 2s readyTimeout
  });

  it("names the step when the engine's connection drops during it", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 0 : undefined);
    engine.onExec = () => ({ exitCode: 0, output: "" });
    engine.inject("network.create", { kind: "drop" });
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as Error).message).toMatch(/^network default: network\.create failed: socket hang up/);
  });

  it("says the engine went away, the steps it cut short and what to run, when it no longer answers after a failure", async () => {
    engine.inject("network.create", { kind: "drop" });
    engine.inject("version", { kind: "fail", code: "ECONNREFUSED" }, { times: 10 });
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnreachableError);
    const e = err as EngineUnreachableError;
    expect(e.message).toBe(
      `cannot reach the Docker Engine at ${engine.where}: it went away during shctl apply`,
    );
    expect(e.details[0]).toBe("cut short: network default (create)");
    expect(e.hint).toMatch(/start the Docker Engine again, then run `shctl apply`/);
  });

  it("watches a moment for an engine shutting down when a job's container died of a signal", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 143 : undefined);
    engine.onExec = () => ({ exitCode: 0, output: "" });
    // The engine answers once more (it stops its containers first), then is gone.
    goneAfter(1);
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnreachableError);
    expect((err as Error).message).toMatch(/went away during shctl apply/);
  });

  it("watches a moment for an engine shutting down when it failed a step inside (5xx)", async () => {
    engine.inject("container.start", {
      kind: "fail",
      status: 500,
      message: "transport is closing: unavailable",
    });
    goneAfter(2);
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnreachableError);
  });

  it("watches a moment for an engine shutting down when a step's stream says its connections close", async () => {
    engine.inject("network.create", { kind: "fail", message: "transport is closing: unavailable" });
    goneAfter(2);
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnreachableError);
  });

  it("watches a moment for an engine shutting down when its storage failed a step (a build's overlay mount)", async () => {
    // What a build saw of dockerd stopping (SIGTERM) under it: its layer store unmounting.
    engine.inject("network.create", {
      kind: "fail",
      message: "error creating overlay mount to /var/lib/docker/overlay2/0c6c/merged: invalid argument",
    });
    goneAfter(2);
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnreachableError);
  });

  it("watches a moment for an engine shutting down when it reset a step's connection", async () => {
    engine.inject("network.create", { kind: "drop" });
    goneAfter(2);
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnreachableError);
  });

  it("keeps a job's own failure when the engine still answers", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 143 : undefined);
    engine.onExec = () => ({ exitCode: 0, output: "" });
    const err = await run(shop()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
  });

  it("reports a network the engine will not remove with what to do", async () => {
    await run(load({ networks: { a: {} }, services: { x: { image: "app:1" } } }));
    engine.inject("network.remove", { kind: "fail", status: 403, message: "has active endpoints" });
    const err = await run(
      load({ networks: { b: {} }, services: { x: { image: "app:1", networks: ["b"] } } }),
    ).catch((e: unknown) => e);
    expect((err as StepFailedError).hint).toMatch(/moby#43286/);
  });
});

describe("execute: interrupt", () => {
  it("finishes the step in flight, begins nothing new, and says what was not done", async () => {
    const controller = new AbortController();
    engine.onExec = () => ({ exitCode: 0, output: "" });
    engine.onStart = (c) => {
      if (c.name !== "s-job-migrate") return undefined;
      controller.abort();
      setTimeout(() => engine.exit(c.id, 0), 20);
      return undefined;
    };
    const err = await run(shop(), { signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as InterruptedError).details.join("\n")).toContain("service app");
    const state = JSON.parse(await readFile(path.join(dir, "data/.shctl/state.json"), "utf8"));
    expect(Object.keys(state.jobs)).toEqual(["migrate"]); // the job in flight finished and was recorded
    expect(() => started("app")).toThrow();
  });
});

describe("execute: each operation's calls", () => {
  it("pulls from the next source only when one has no such image, then tags the reference", async () => {
    const { stack, p } = await pullFromTwoSources();
    engine.inject("image.pull", { kind: "fail", status: 404, message: "manifest unknown" }, { times: 1 });
    engine.log.length = 0;
    await execute(p, stack, engine);
    expect(
      engine.log.filter((c) => c.op === "image.pull" || c.op === "image.tag").map((c) => c.args),
    ).toEqual([["mirror/library/ghost:1"], ["mirror/ghost:1"], ["mirror/ghost:1", "ghost:1"]]);
  });

  it("does not try another source when the registry fails otherwise", async () => {
    const { stack, p } = await pullFromTwoSources();
    engine.inject("image.pull", { kind: "fail", message: "connection refused" });
    await expect(execute(p, stack, engine)).rejects.toThrow(/image ghost:1: pull failed/);
    expect(engine.ops("image.pull")).toHaveLength(1);
  });

  it("updates a restart policy in place, and restarts with the service's grace period", async () => {
    const base = { services: { x: { image: "app:1", stopGracePeriod: "7s" } } };
    await run(load(base));
    await run(load({ services: { x: { image: "app:1", stopGracePeriod: "7s", restart: "always" } } }));
    expect(engine.log.find((c) => c.op === "container.update")?.args[1]).toEqual({
      RestartPolicy: { Name: "always" },
    });
    expect(engine.ops("container.stop", "container.remove", "container.create")).toEqual([]);
  });
});

describe("execute: a job that finished before its run was recorded", () => {
  it("records it from its container (log kept, container removed) instead of running it again", async () => {
    engine.onStart = (c) => (c.name === "s-job-migrate" ? 0 : undefined);
    engine.onExec = () => ({ exitCode: 0, output: "" });
    const stack = shop();
    await run(stack);
    const stateFile = path.join(dir, "data/.shctl/state.json");
    const state = JSON.parse(await readFile(stateFile, "utf8"));
    const key = state.jobs.migrate.key as string;
    // As if shctl had stopped between the job's exit and its record.
    delete state.jobs.migrate;
    await writeFile(stateFile, JSON.stringify(state));
    const id = await engine.createContainer({
      name: "s-job-migrate",
      Image: "app:1",
      Labels: {
        "io.shctl.stack": "s",
        "io.shctl.name": "migrate",
        "io.shctl.kind": "job",
        "io.shctl.job-key": key,
      },
    });
    const left = engine.containers.get(id);
    if (left) {
      left.state = "exited";
      left.logs = ["migrated"];
    }
    const { plan: p } = await run(stack);
    expect(p.actions.map((a) => a.id)).toEqual(["job.record:migrate"]);
    expect(engine.ops("container.start")).toEqual([]);
    expect(engine.containers.has(id)).toBe(false);
    expect(JSON.parse(await readFile(stateFile, "utf8")).jobs.migrate.key).toBe(key);
    const log = await readFile(path.join(dir, "data/.shctl/logs/migrate.log"), "utf8");
    expect(log).toContain("migrated");
  });
});

describe("execute: a service with only a Docker healthcheck", () => {
  /** A service whose engine healthcheck runs every 30 s; the engine never reports it healthy here. */
  function checked(test: string | string[], readyTimeout = "1s"): ResolvedStack {
    return load({
      services: {
        db: { image: "db:1", healthcheck: { test, interval: "30s", timeout: "30s" }, readyTimeout },
        app: { image: "app:1", dependsOn: { db: { condition: "healthy" } } },
      },
    });
  }
  const healthExecs = () => engine.log.filter((c) => c.op === "container.exec").map((c) => c.args[1]);

  it("is ready as soon as its healthcheck's own command passes in the container, not an interval later", async () => {
    let ready = false;
    engine.onExec = (_c, cmd) => ({
      exitCode: ready && cmd.join(" ") === "pg_isready -q" ? 0 : 1,
      output: "",
    });
    setTimeout(() => {
      ready = true;
    }, 300);
    const t0 = Date.now();
    await run(checked(["CMD", "pg_isready", "-q"], "5s"));
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(started("app")).toBeGreaterThan(at("container.exec", () => true));
    expect(events).toContainEqual(expect.objectContaining({ resource: "service db", phase: "healthy" }));
  });

  it("runs a string test in /bin/sh -c, as the engine does", async () => {
    await run(checked("wget -q -O /dev/null http://127.0.0.1:8080/"));
    expect(healthExecs()[0]).toEqual(["/bin/sh", "-c", "wget -q -O /dev/null http://127.0.0.1:8080/"]);
  });

  it("does not spin while the container is not running (restarting): it looks again every so often", async () => {
    engine.onStart = (c) => {
      setTimeout(() => {
        c.state = "restarting";
      }, 20);
      return undefined;
    };
    engine.onExec = () => ({ exitCode: 1, output: "" });
    await expect(run(checked(["CMD", "true"]), {})).rejects.toThrow(/service db: wait for health failed/);
    // A second of waiting: a few looks, not hundreds.
    expect(engine.ops("container.inspect").length).toBeLessThan(20);
  });

  it("a command that hangs ends with the wait's deadline, not the healthcheck's 30 s timeout", async () => {
    engine.inject("container.exec", { kind: "hang" }, { times: 100 });
    const t0 = Date.now();
    await expect(run(checked(["CMD", "true"]))).rejects.toThrow(/service db: wait for health failed/);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it("leaves the verdict to the engine when the command cannot run in the container (exit 126/127)", async () => {
    engine.onExec = () => ({ exitCode: 127, output: "sh: pg_isready: not found" });
    await expect(run(checked(["CMD", "pg_isready"]))).rejects.toThrow(/service db: wait for health failed/);
    expect(healthExecs()).toHaveLength(1);
  });
});
