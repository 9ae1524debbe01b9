import { describe, expect, it } from "vitest";
import { canonicalJson, HASH_RECIPE, jobKey, networkHash, serviceSnapshot, snapshotHash } from "./hash.js";
import type { ResolvedStack } from "./model.js";
import type { ObservedContainer, ObservedState } from "./observe.js";
import { plan } from "./plan/index.js";
import { nodesInOrder } from "./plan/order.js";
import type { Action, Plan } from "./plan/types.js";
import { resourceKey } from "./plan/util.js";
import type { StackInput } from "./schema.js";
import { validateStack } from "./validate.js";

const PROJECT = "/srv/shop";
const DATA = "/srv/shop/data";
const DB_PASSWORD = "pg-secret-one";

/** A database, a built web app with a migration job, and a worker that restarts with the database. */
type ServiceInput = NonNullable<StackInput["services"]>[string];
type JobInput = NonNullable<StackInput["jobs"]>[string];
type ShopSpec = StackInput & {
  services: { db: ServiceInput; web: ServiceInput; worker: ServiceInput };
  jobs: { migrate: JobInput };
};

function spec(): ShopSpec {
  return {
    name: "shop",
    dataRoot: "data",
    images: { app: { ref: "shop-app:latest", build: { context: "app" } } },
    services: {
      db: {
        image: "postgres:16",
        env: { POSTGRES_PASSWORD: { value: DB_PASSWORD, secret: true }, POSTGRES_DB: "shop" },
        mounts: [{ source: "db", target: "/var/lib/postgresql/data", owner: "999:999", mode: "0700" }],
        healthcheck: { test: "pg_isready" },
      },
      web: {
        image: "app",
        command: "gunicorn shop.wsgi",
        env: { LOG_LEVEL: "info" },
        ports: ["8080:8000"],
        mounts: [{ source: "uploads", target: "/uploads" }],
        dependsOn: { db: { condition: "healthy" }, migrate: { condition: "completed" } },
      },
      worker: {
        image: "app",
        dependsOn: { db: { condition: "healthy", restart: true } },
      },
    },
    jobs: {
      migrate: { image: "app", command: "manage migrate", dependsOn: { db: { condition: "healthy" } } },
    },
  };
}

function resolve(input: StackInput): ResolvedStack {
  return validateStack(input, { label: "test", projectDir: PROJECT, profile: undefined, env: {} });
}

/** Image IDs of the local images, by image key. */
const IMAGE_IDS: Record<string, string> = { app: "sha256:app-1", "postgres:16": "sha256:pg-1" };
const IMAGE_ENV = ["PATH=/usr/local/bin:/usr/bin"];

function emptyEngine(overrides: Partial<ObservedState> = {}): ObservedState {
  return {
    containers: [],
    foreignContainers: [],
    foreignPorts: [],
    networks: [],
    foreignNetworks: [],
    images: {},
    contextHashes: { app: "ctx-app-1" },
    inputs: {},
    dirs: {},
    files: {},
    jobs: {},
    jobRuns: {},
    otherProjects: [],
    escapes: {},
    ...overrides,
  };
}

/** The container execute.ts would have created for `name` of `stack`, as observe.ts reports it. */
function appliedContainer(
  stack: ResolvedStack,
  name: string,
  overrides: Partial<ObservedContainer> = {},
): ObservedContainer {
  const s = stack.services[name];
  if (!s) throw new Error(`no service ${name}`);
  const imageId = IMAGE_IDS[s.image] ?? "sha256:unknown";
  const ref = stack.images[s.image]?.ref ?? s.image;
  const snap = serviceSnapshot(s, imageId, ref, {});
  return {
    id: `id-${name}`,
    name: s.containerName,
    node: name,
    kind: "service",
    state: "running",
    health: s.healthcheck ? "healthy" : undefined,
    hash: snapshotHash(snap),
    recipe: HASH_RECIPE,
    // The label holds canonical JSON; observe parses it back.
    snapshot: JSON.parse(canonicalJson(snap)) as Record<string, unknown>,
    imageId,
    restartPolicy: s.restart,
    networks: s.networks.map((n) => stack.networks[n.name]?.dockerName ?? n.name).sort(),
    exitCode: undefined,
    jobKey: undefined,
    details: { env: [...IMAGE_ENV, ...s.env.map((e) => `${e.name}=${e.value}`)], cmd: s.command ?? null },
    ...overrides,
  };
}

/** What the engine holds after a successful apply of `stack`. */
function appliedEngine(stack: ResolvedStack, overrides: Partial<ObservedState> = {}): ObservedState {
  const images: ObservedState["images"] = {
    app: { id: IMAGE_IDS.app as string, labels: { "io.shctl.context": "ctx-app-1" }, env: IMAGE_ENV },
    "postgres:16": { id: IMAGE_IDS["postgres:16"] as string, labels: {}, env: IMAGE_ENV },
  };
  const jobs: ObservedState["jobs"] = {};
  for (const j of Object.values(stack.jobs)) {
    const image = j.container?.image ?? "";
    jobs[j.name] = {
      key: jobKey(j, IMAGE_IDS[image], stack.images[image]?.ref, {}),
      completedAt: "2024-05-01T12:00:00.000Z",
    };
  }
  const dirs: Record<string, boolean> = {};
  for (const s of Object.values(stack.services))
    for (const m of s.mounts) if (m.type === "bind") dirs[m.hostPath] = true;
  return emptyEngine({
    containers: Object.keys(stack.services)
      .sort()
      .map((n) => appliedContainer(stack, n)),
    networks: Object.values(stack.networks).map((n) => ({
      id: `net-${n.name}`,
      name: n.dockerName,
      node: n.name,
      hash: networkHash(n),
    })),
    images,
    dirs,
    jobs,
    ...overrides,
  });
}

/** The observed container of `node` is in `state` (stopped by hand, restarting, …). */
function setState(observed: ObservedState, node: string, state: ObservedContainer["state"]): void {
  observed.containers = observed.containers.map((c) => (c.node === node ? { ...c, state } : c));
}

const ids = (p: Plan) => p.actions.map((a) => a.id);
/** An action by id, its kind's fields readable without narrowing (the test checks them). */
type AnyAction = Action & Partial<Record<"changes" | "jobKey" | "recordedKey" | "containerId", unknown>>;
const byId = (p: Plan, id: string): AnyAction => {
  const a = p.actions.find((x) => x.id === id);
  if (!a) throw new Error(`no action ${id} in ${ids(p).join(", ")}`);
  return a;
};
/** Whether action `a` of the plan waits (directly or through others) for action `b`. */
function waitsFor(p: Plan, a: string, b: string): boolean {
  const seen = new Set<string>();
  const walk = (id: string): boolean => {
    if (seen.has(id)) return false;
    seen.add(id);
    return byId(p, id).after.some((dep) => dep === b || walk(dep));
  };
  return walk(a);
}
/** Every action is listed after the actions it waits for (so there is no cycle), and waits only for actions of the plan. */
function expectListedInOrder(p: Plan) {
  const seen = new Set<string>();
  for (const a of p.actions) {
    const waits = [...a.after, ...("startAfter" in a ? a.startAfter : [])];
    for (const dep of waits) expect(seen.has(dep), `${a.id} waits for ${dep}`).toBe(true);
    seen.add(a.id);
  }
  expect(new Set(ids(p)).size).toBe(p.actions.length);
}
/** The plan of `changed` against an engine where `applied` (default: the base spec) was applied. */
function planChange(
  changed: StackInput,
  applied: StackInput = spec(),
  overrides: Partial<ObservedState> = {},
) {
  return plan(resolve(changed), appliedEngine(resolve(applied), overrides));
}

describe("plan against an empty engine", () => {
  const stack = resolve(spec());
  const p = plan(stack, emptyEngine());

  it("creates everything, dependencies first", () => {
    expect(ids(p).join("\n")).toMatchInlineSnapshot(`
      "network.create:default
      image.build:app
      image.pull:postgres:16
      dir.create:/srv/shop/data/db
      dir.create:/srv/shop/data/uploads
      container.create:db
      job.run:migrate
      container.create:web
      container.create:worker"
    `);
    expect(p.conflicts).toEqual([]);
    expect(p.unchanged).toEqual([]);
    expect(p.containers).toEqual({});
    expect(p).toMatchObject({ version: 2, stack: "shop", dataRoot: DATA });
    expect(p).not.toHaveProperty("profile");
    expect(p.waitReady).toEqual(["db", "web", "worker"]);
  });

  it("creates missing directories with their owner and mode", () => {
    expect(byId(p, `dir.create:${DATA}/db`)).toMatchObject({
      kind: "dir.create",
      resource: { type: "dir", name: "db" },
      target: `${DATA}/db`,
      owner: { uid: 999, gid: 999 },
      mode: 0o700,
      after: [],
    });
    const uploads = byId(p, `dir.create:${DATA}/uploads`);
    expect(uploads).not.toHaveProperty("owner");
    expect(uploads).not.toHaveProperty("mode");
  });

  it("builds the built image and pulls the referenced one", () => {
    expect(byId(p, "image.build:app")).toMatchObject({ cause: "missing", contextHash: "ctx-app-1" });
    expect(byId(p, "image.pull:postgres:16")).toMatchObject({
      cause: "missing",
      ref: "postgres:16",
      sources: ["postgres:16"],
      after: [],
    });
  });

  it("creates containers after their images, dirs and networks, and starts them after their dependencies", () => {
    expect(byId(p, "container.create:db")).toMatchObject({
      after: ["image.pull:postgres:16", `dir.create:${DATA}/db`, "network.create:default"],
      startAfter: [],
      waitFor: [],
    });
    expect(byId(p, "job.run:migrate")).toMatchObject({
      cause: "never-completed",
      after: ["image.build:app", "network.create:default"],
      startAfter: ["container.create:db"],
      waitFor: [{ service: "db", condition: "healthy" }],
    });
    expect(byId(p, "job.run:migrate")).not.toHaveProperty("recordedKey");
    expect(byId(p, "container.create:web")).toMatchObject({
      after: ["image.build:app", `dir.create:${DATA}/uploads`, "network.create:default"],
      startAfter: ["container.create:db", "job.run:migrate"],
      waitFor: [{ service: "db", condition: "healthy" }],
    });
    expect(byId(p, "container.create:worker")).toMatchObject({
      after: ["image.build:app", "network.create:default"],
      startAfter: ["container.create:db"],
      waitFor: [{ service: "db", condition: "healthy" }],
    });
  });

  it("lists every action after the actions it waits for, and names only actions of the plan", () => {
    expectListedInOrder(p);
  });

  it("pulls from the registry mirror when one is set", () => {
    const mirrored = plan(resolve({ ...spec(), registryMirror: "mirror.local" }), emptyEngine());
    expect(byId(mirrored, "image.pull:postgres:16")).toMatchObject({
      ref: "postgres:16",
      sources: ["mirror.local/library/postgres:16", "mirror.local/postgres:16"],
    });
  });

  it("reports a missing image that may not be pulled as a conflict", () => {
    const s = spec();
    const never = plan(
      resolve({
        ...s,
        images: { ...s.images, pg: { ref: "postgres:16", pull: "never" } },
        services: {
          db: { ...s.services.db, image: "pg" },
        },
        jobs: {},
      }),
      emptyEngine(),
    );
    expect(never.conflicts).toEqual([
      { kind: "image-not-pullable", resource: { type: "image", name: "pg" }, ref: "postgres:16" },
    ]);
  });
});

describe("plan against an applied stack", () => {
  it("does nothing when everything matches", () => {
    const stack = resolve(spec());
    const p = plan(stack, appliedEngine(stack));
    expect(p.actions).toEqual([]);
    expect(p.conflicts).toEqual([]);
    expect(p.unchanged.map(resourceKey)).toEqual([
      "job migrate",
      "service db",
      "service web",
      "service worker",
    ]);
    expect(p.waitReady).toEqual([]);
    expect(p.containers).toEqual({ db: "id-db", web: "id-web", worker: "id-worker" });
  });

  it("recreates a service whose env changed, naming the field", () => {
    const s = spec();
    const p = planChange({
      ...s,
      services: { ...s.services, web: { ...s.services.web, env: { LOG_LEVEL: "debug" } } },
    });
    expect(p.actions).toEqual([
      {
        id: "container.recreate:web",
        kind: "container.recreate",
        resource: { type: "service", name: "web" },
        target: "web",
        cause: "spec",
        changes: [{ field: "env.LOG_LEVEL", before: "info", after: "debug", sensitive: false }],
        after: [],
        startAfter: [],
        waitFor: [{ service: "db", condition: "healthy" }],
        containerId: "id-web",
        networks: [],
        writers: [],
        onlyIfChanged: false,
        // It publishes 8080, which the old container holds: the old one stops first.
        order: "stop-first",
        orderCause: "host-port",
      },
    ]);
    expect(p.unchanged.map(resourceKey)).toEqual(["job migrate", "service db", "service worker"]);
    expect(p.waitReady).toEqual(["web"]);
  });

  it("names added and removed env variables", () => {
    const s = spec();
    const p = planChange({
      ...s,
      services: { ...s.services, web: { ...s.services.web, env: { WORKERS: 4 } } },
    });
    expect(byId(p, "container.recreate:web").changes).toEqual([
      { field: "env.LOG_LEVEL", before: "info", after: undefined, sensitive: false },
      { field: "env.WORKERS", before: undefined, after: "4", sensitive: false },
    ]);
  });

  it("marks a changed secret as sensitive and never shows its values", () => {
    const s = spec();
    const p = planChange({
      ...s,
      services: {
        ...s.services,
        db: {
          ...s.services.db,
          env: { POSTGRES_PASSWORD: { value: "pg-secret-two", secret: true }, POSTGRES_DB: "shop" },
        },
      },
    });
    expect(byId(p, "container.recreate:db").changes).toEqual([
      { field: "env.POSTGRES_PASSWORD", before: "(sensitive)", after: "(sensitive)", sensitive: true },
    ]);
    const text = JSON.stringify(p);
    expect(text).not.toContain(DB_PASSWORD);
    expect(text).not.toContain("pg-secret-two");
  });

  it("updates a changed restart policy in place", () => {
    const s = spec();
    const p = planChange({
      ...s,
      services: { ...s.services, web: { ...s.services.web, restart: "unless-stopped" } },
    });
    expect(p.actions).toEqual([
      {
        id: "container.update:web",
        kind: "container.update",
        resource: { type: "service", name: "web" },
        target: "web",
        cause: "restart-policy",
        changes: [{ field: "restart", before: "no", after: "unless-stopped", sensitive: false }],
        after: [],
        containerId: "id-web",
        restartPolicy: "unless-stopped",
      },
    ]);
  });

  it("updates the restart policy and then starts a stopped container", () => {
    const s = spec();
    const stack = resolve(s);
    const p = plan(
      resolve({ ...s, services: { ...s.services, web: { ...s.services.web, restart: "always" } } }),
      appliedEngine(stack, {
        containers: appliedEngine(stack).containers.map((c) =>
          c.node === "web" ? { ...c, state: "exited" } : c,
        ),
      }),
    );
    expect(ids(p)).toEqual(["container.update:web", "container.start:web"]);
    expect(byId(p, "container.start:web").after).toEqual(["container.update:web"]);
  });

  it("starts a stopped container", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    setState(observed, "web", "exited");
    const p = plan(stack, observed);
    expect(p.actions).toEqual([
      {
        id: "container.start:web",
        kind: "container.start",
        resource: { type: "service", name: "web" },
        target: "web",
        state: "exited",
        after: [],
        startAfter: [],
        waitFor: [{ service: "db", condition: "healthy" }],
        containerId: "id-web",
      },
    ]);
  });

  it("recreates a container changed outside shctl, naming the drift", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    observed.containers = observed.containers.map((c) =>
      c.node === "web"
        ? {
            ...c,
            details: { env: [...IMAGE_ENV, "LOG_LEVEL=trace", "HACK=1"], cmd: ["sleep", "infinity"] },
            imageId: "sha256:x",
          }
        : c,
    );
    const p = plan(stack, observed);
    expect(ids(p)).toEqual(["container.recreate:web"]);
    expect(byId(p, "container.recreate:web")).toMatchObject({
      cause: "drift",
      changes: [
        { field: "env.LOG_LEVEL", before: "trace", after: "info", sensitive: false },
        { field: "env.HACK", before: "1", sensitive: false },
        { field: "image", before: "sha256:x", after: IMAGE_IDS.app, sensitive: false },
        {
          field: "command",
          before: '["sleep","infinity"]',
          after: '["gunicorn","shop.wsgi"]',
          sensitive: false,
        },
      ],
    });
  });

  it("hides a secret that drifted outside shctl", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    observed.containers = observed.containers.map((c) =>
      c.node === "db" && c.details
        ? {
            ...c,
            details: { ...c.details, env: c.details.env.map((e) => e.replace(DB_PASSWORD, "typed-by-hand")) },
          }
        : c,
    );
    const p = plan(stack, observed);
    expect(byId(p, "container.recreate:db").changes).toEqual([
      { field: "env.POSTGRES_PASSWORD", before: "(sensitive)", after: "(sensitive)", sensitive: true },
    ]);
    expect(JSON.stringify(p)).not.toContain("typed-by-hand");
  });

  it("compares containers of another hash recipe field by field instead of by hash", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    observed.containers = observed.containers.map((c) => ({
      ...c,
      recipe: HASH_RECIPE - 1,
      hash: "old-recipe",
    }));
    expect(plan(stack, observed).actions).toEqual([]);

    const s = spec();
    const changed = resolve({
      ...s,
      services: { ...s.services, web: { ...s.services.web, env: { LOG_LEVEL: "x" } } },
    });
    expect(ids(plan(changed, observed))).toEqual(["container.recreate:web"]);
  });

  it("leaves a restarting container alone", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    setState(observed, "db", "restarting");
    expect(plan(stack, observed).actions).toEqual([]);
  });

  it("removes a container of a service no longer in the stack, and left-over job and helper containers", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    observed.containers.push(
      { ...appliedContainer(stack, "web"), id: "id-old", name: "shop-old", node: "old" },
      {
        ...appliedContainer(stack, "web"),
        id: "id-job",
        name: "shop-job-migrate",
        node: "migrate",
        kind: "job",
      },
      { ...appliedContainer(stack, "web"), id: "id-dup", name: "shop-web-copy", node: "web" },
    );
    const p = plan(stack, observed);
    // By container name, whatever order the engine listed them in.
    expect(
      p.actions.map((a) => [
        a.id,
        a.kind === "container.remove" && a.cause,
        a.kind === "container.remove" && a.containerId,
      ]),
    ).toEqual([
      ["container.remove:shop-job-migrate", "stale-job", "id-job"],
      ["container.remove:shop-old", "not-in-stack", "id-old"],
      ["container.remove:shop-web-copy", "duplicate", "id-dup"],
    ]);
    expect(byId(p, "container.remove:shop-old").resource).toEqual({ type: "service", name: "old" });
    expect(p.containers.web).toBe("id-web");
  });

  it("removes a network no longer in the stack after the container removals", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    observed.containers.push({
      ...appliedContainer(stack, "web"),
      id: "id-old",
      name: "shop-old",
      node: "old",
    });
    observed.networks.push({ id: "net-legacy", name: "shop_legacy", node: "legacy", hash: "whatever" });
    const p = plan(stack, observed);
    expect(ids(p)).toEqual(["container.remove:shop-old", "network.remove:shop_legacy"]);
    expect(byId(p, "network.remove:shop_legacy")).toMatchObject({
      resource: { type: "network", name: "legacy" },
      cause: "not-in-stack",
      networkId: "net-legacy",
      after: ["container.remove:shop-old"],
    });
  });

  it("recreates a network whose settings changed, and the containers on it", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    observed.networks = observed.networks.map((n) => ({ ...n, hash: "old-settings" }));
    const p = plan(stack, observed);
    // The old containers go first (dependents before what they depend on), then the network is
    // recreated, then the containers are created again on it.
    expect(ids(p)).toEqual([
      "container.remove:shop-worker",
      "container.remove:shop-web",
      "container.remove:shop-db",
      "network.remove:default",
      "network.create:default",
      "container.recreate:db",
      "container.recreate:web",
      "container.recreate:worker",
    ]);
    expect(byId(p, "container.remove:shop-db")).toMatchObject({
      resource: { type: "service", name: "db" },
      cause: "network-recreated",
      networks: ["default"],
      containerId: "id-db",
      after: ["container.remove:shop-web", "container.remove:shop-worker"],
    });
    expect(byId(p, "container.remove:shop-worker").after).toEqual([]);
    expect(byId(p, "network.create:default").after).toEqual(["network.remove:default"]);
    expect(byId(p, "container.recreate:db")).toMatchObject({
      cause: "network",
      networks: ["default"],
      after: ["network.create:default", "container.remove:shop-db"],
    });
    // The old container is gone by then: the recreate only creates.
    expect(byId(p, "container.recreate:db")).not.toHaveProperty("containerId");
    expect(p.containers).toEqual({ db: "id-db", web: "id-web", worker: "id-worker" });
    expectListedInOrder(p);
  });

  // Was a bug: network.remove waited only for removals of left-over containers, but the stack's
  // containers stayed attached to the old network until their recreate, which waited for
  // network.create, which waited for network.remove. The engine refuses to remove a network with
  // endpoints (403), so a change of driver/internal/labels could not be applied. A single recreate
  // cannot both precede the network's removal and follow its creation, so the old container is
  // removed on its own first, and the recreate creates the new one.
  it("removes a changed network only after the containers attached to it are gone", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    observed.networks = observed.networks.map((n) => ({ ...n, hash: "old-settings" }));
    const p = plan(stack, observed);
    for (const svc of ["db", "web", "worker"]) {
      const removal = p.actions.find((a) => a.kind === "container.remove" && a.containerId === `id-${svc}`);
      expect(removal, svc).toBeDefined();
      expect(waitsFor(p, "network.remove:default", removal?.id as string), svc).toBe(true);
      expect(waitsFor(p, `container.recreate:${svc}`, "network.create:default"), svc).toBe(true);
      expect(waitsFor(p, `container.recreate:${svc}`, removal?.id as string), svc).toBe(true);
    }
    // Nothing the new network waits for waits for a new container (no cycle).
    expect(byId(p, "network.remove:default").after.sort()).toEqual([
      "container.remove:shop-db",
      "container.remove:shop-web",
      "container.remove:shop-worker",
    ]);
    expectListedInOrder(p);
  });

  it("takes down only the containers attached to the recreated network, once their new image is built", () => {
    const s = spec();
    const before = resolve({
      ...s,
      networks: { front: {}, back: {} },
      services: { ...s.services, db: { ...s.services.db, networks: ["back"] } },
    });
    const after = resolve({
      ...s,
      networks: { front: { internal: true }, back: {} },
      services: { ...s.services, db: { ...s.services.db, networks: ["back"] } },
    });
    const p = plan(after, appliedEngine(before, { contextHashes: { app: "ctx-app-2" } }));
    expect(ids(p).filter((id) => id.startsWith("container.remove"))).toEqual([
      "container.remove:shop-worker",
      "container.remove:shop-web",
    ]);
    // The old web keeps running while the new image is built: a failed build leaves it alone.
    expect(byId(p, "container.remove:shop-web").after).toEqual(["image.build:app"]);
    expect(byId(p, "network.remove:front").after).toEqual([
      "container.remove:shop-web",
      "container.remove:shop-worker",
    ]);
    // db is on the other network only: it stays as it is, and its container with it.
    expect(p.unchanged.map(resourceKey)).toContain("service db");
    expect(byId(p, "container.recreate:web")).toMatchObject({ cause: "image" });
    expect(byId(p, "container.recreate:web").after).toContain("network.create:front");
    expectListedInOrder(p);
  });

  // Was a bug: same for a network dropped from the stack while a kept service was on it: the
  // service is recreated (its networks changed), but network.remove did not wait for that.
  it("removes a dropped network only after the services on it are recreated", () => {
    const s = spec();
    const before = resolve({ ...s, networks: { front: {}, legacy: {} } });
    const after = resolve({ ...s, networks: { front: {} } });
    const p = plan(after, appliedEngine(before));
    expect(ids(p)).toContain("container.recreate:web");
    expect(waitsFor(p, "network.remove:shop_legacy", "container.recreate:web")).toBe(true);
  });

  it("reports a network name held by a network shctl did not create", () => {
    const p = plan(resolve(spec()), emptyEngine({ foreignNetworks: ["shop_default"] }));
    expect(p.conflicts).toEqual([
      { kind: "network-name-taken", resource: { type: "network", name: "default" }, name: "shop_default" },
    ]);
    expect(ids(p)).not.toContain("network.create:default");
  });
});

describe("jobs", () => {
  it("does not re-run a job whose recorded key matches", () => {
    const p = planChange(spec());
    expect(ids(p)).not.toContain("job.run:migrate");
    expect(p.unchanged.map(resourceKey)).toContain("job migrate");
  });

  it("re-runs a job marked `always`, with the key it last completed with", () => {
    const s = spec();
    const always = { ...s, jobs: { migrate: { ...s.jobs.migrate, always: true } } };
    const recorded = appliedEngine(resolve(s)).jobs.migrate?.key;
    const p = plan(resolve(always), appliedEngine(resolve(s)));
    expect(ids(p)).toEqual(["job.run:migrate"]);
    expect(byId(p, "job.run:migrate")).toMatchObject({
      cause: "always",
      onlyIfKeyChanged: false,
      recordedKey: recorded,
    });
    expect(byId(p, "job.run:migrate").jobKey).toBe(recorded);
  });

  it("re-runs a job whose spec changed", () => {
    const s = spec();
    const changed = {
      ...s,
      jobs: { migrate: { ...s.jobs.migrate, command: "manage migrate --noinput" } },
    };
    const p = planChange(changed);
    expect(ids(p)).toEqual(["job.run:migrate"]);
    const a = byId(p, "job.run:migrate");
    expect(a).toMatchObject({ cause: "changed" });
    expect(a.jobKey).not.toBe(a.recordedKey);
  });

  it("reports a job container name held by a foreign container", () => {
    const p = plan(
      resolve(spec()),
      emptyEngine({ foreignContainers: [{ id: "f1", name: "shop-job-migrate" }] }),
    );
    expect(p.conflicts.map((c) => resourceKey(c.resource))).toEqual(["job migrate"]);
    expect(ids(p)).not.toContain("job.run:migrate");
  });
});

describe("images", () => {
  it("rebuilds an image whose context changed and replaces what runs it", () => {
    const stack = resolve(spec());
    const p = plan(stack, appliedEngine(stack, { contextHashes: { app: "ctx-app-2" } }));
    expect(ids(p)).toEqual([
      "image.build:app",
      "job.run:migrate",
      "container.recreate:web",
      "container.recreate:worker",
    ]);
    expect(byId(p, "image.build:app")).toMatchObject({
      cause: "context-changed",
      contextHash: "ctx-app-2",
    });
    expect(byId(p, "job.run:migrate")).toMatchObject({
      cause: "image-pending",
      onlyIfKeyChanged: true,
      after: ["image.build:app"],
    });
    expect(byId(p, "container.recreate:web")).toMatchObject({
      after: ["image.build:app"],
      startAfter: ["job.run:migrate"],
      onlyIfChanged: true,
    });
    expect(byId(p, "container.recreate:worker").after).toEqual(["image.build:app"]);
    expect(p.unchanged.map(resourceKey)).toEqual(["service db"]);
  });

  it("rebuilds an image whose base image is pulled in this apply", () => {
    const s = spec();
    const withBase: StackInput = {
      ...s,
      images: {
        base: { ref: "python:3.12" },
        app: { ref: "shop-app:latest", build: { context: "app" }, needs: ["base"] },
      },
    };
    const p = plan(resolve(withBase), emptyEngine());
    expect(ids(p).slice(0, 4)).toEqual([
      "network.create:default",
      "image.pull:base",
      "image.build:app",
      "image.pull:postgres:16",
    ]);
    expect(byId(p, "image.build:app").after).toEqual(["image.pull:base"]);
  });

  it("pulls a missing image and recreates its service", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    delete observed.images["postgres:16"];
    const p = plan(stack, observed);
    expect(ids(p)).toEqual(["image.pull:postgres:16", "container.recreate:db", "container.restart:worker"]);
    expect(byId(p, "container.recreate:db").after).toEqual(["image.pull:postgres:16"]);
  });

  // Was a bug: while the image was still to be built or pulled, the desired snapshot named the
  // placeholder "(built or pulled during apply)" as the image, so the recreate carried an `image`
  // FieldChange and the reason "image changed" instead of saying why.
  it("recreates for a pending image with no field changes and the pending-image reason", () => {
    const stack = resolve(spec());
    const p = plan(stack, appliedEngine(stack, { contextHashes: { app: "ctx-app-2" } }));
    expect(byId(p, "container.recreate:web")).toMatchObject({
      cause: "image",
      changes: [],
      onlyIfChanged: true,
    });
  });
});

describe("conflicts and restarts", () => {
  it("reports a host port that a running container outside the stack publishes", () => {
    const holder = { container: "legacy-web", hostIp: "0.0.0.0", port: 8080, protocol: "tcp" };
    const p = plan(resolve(spec()), emptyEngine({ foreignPorts: [holder] }));
    expect(p.conflicts).toEqual([
      {
        kind: "host-port-held",
        resource: { type: "service", name: "web" },
        port: 8080,
        protocol: "tcp",
        holder: "legacy-web",
        index: 0,
      },
    ]);
    // The same for a stopped service that would be started.
    const stack = resolve(spec());
    const stopped = appliedEngine(stack, { foreignPorts: [holder] });
    stopped.containers = stopped.containers.map((c) => (c.node === "web" ? { ...c, state: "exited" } : c));
    expect(plan(stack, stopped).conflicts.map((c) => resourceKey(c.resource))).toEqual(["service web"]);
  });

  it("sees no port conflict for another protocol, another address, or a service left running", () => {
    const s = spec();
    s.services.web.ports = ["127.0.0.1:8080:8000"];
    const others = [
      { container: "a", hostIp: "0.0.0.0", port: 8080, protocol: "udp" },
      { container: "b", hostIp: "10.0.0.5", port: 8080, protocol: "tcp" },
      { container: "c", hostIp: "0.0.0.0", port: 8081, protocol: "tcp" },
    ];
    expect(plan(resolve(s), emptyEngine({ foreignPorts: others })).conflicts).toEqual([]);
    // "::" is every address too.
    const v6 = [{ container: "d", hostIp: "::", port: 8080, protocol: "tcp" }];
    expect(plan(resolve(s), emptyEngine({ foreignPorts: v6 })).conflicts).toHaveLength(1);
    const stack = resolve(spec());
    const holder = { container: "x", hostIp: "0.0.0.0", port: 8080, protocol: "tcp" };
    expect(plan(stack, appliedEngine(stack, { foreignPorts: [holder] })).conflicts).toEqual([]);
  });

  it("reports a foreign container holding a service's name and does not create it", () => {
    const p = plan(resolve(spec()), emptyEngine({ foreignContainers: [{ id: "f1", name: "shop-web" }] }));
    expect(p.conflicts).toEqual([
      { kind: "container-name-taken", resource: { type: "service", name: "web" }, name: "shop-web" },
    ]);
    expect(ids(p)).not.toContain("container.create:web");
    expect(ids(p)).toContain("container.create:worker");
  });

  it("restarts a dependent with `restart: true` when its dependency is recreated", () => {
    const s = spec();
    const p = planChange({
      ...s,
      services: {
        ...s.services,
        db: { ...s.services.db, env: { ...s.services.db.env, POSTGRES_DB: "shop2" } },
      },
    });
    expect(ids(p)).toEqual(["container.recreate:db", "container.restart:worker"]);
    expect(byId(p, "container.restart:worker")).toMatchObject({
      resource: { type: "service", name: "worker" },
      triggers: [{ name: "db", change: "replaced" }],
      containerId: "id-worker",
      after: ["container.recreate:db"],
    });
    // web depends on db without `restart`, so it keeps running.
    expect(p.unchanged.map(resourceKey)).toEqual(["job migrate", "service web"]);
  });

  it("does not restart a dependent that is not running", () => {
    const s = spec();
    const applied = resolve(s);
    const observed = appliedEngine(applied);
    setState(observed, "worker", "exited");
    const changed = resolve({
      ...s,
      services: {
        ...s.services,
        db: { ...s.services.db, env: { POSTGRES_PASSWORD: "x", POSTGRES_DB: "y" } },
      },
    });
    const p = plan(changed, observed);
    expect(ids(p)).toEqual(["container.recreate:db", "container.start:worker"]);
  });
});

describe("ordering", () => {
  // Was a bug: a new container waited only for the removal of a left-over container of its own
  // name, so a renamed service could start while the old one still held its host port (the start
  // fails) or ran on the same data directory.
  it("starts a renamed service only after the container it replaces is removed", () => {
    const s = spec();
    const { web, ...others } = s.services;
    const p = planChange({ ...s, services: { ...others, front: web } });
    expect(ids(p)).toEqual(["container.remove:shop-web", "container.create:front"]);
    expect(byId(p, "container.create:front").after).toEqual(["container.remove:shop-web"]);
    expectListedInOrder(p);
  });

  it("runs a job and starts a stopped service only after left-over containers are removed", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack);
    setState(observed, "web", "exited");
    observed.containers.push({
      ...appliedContainer(stack, "web"),
      id: "id-old",
      name: "shop-old",
      node: "old",
    });
    delete observed.jobs.migrate;
    const p = plan(stack, observed);
    expect(byId(p, "job.run:migrate").after).toEqual(["container.remove:shop-old"]);
    expect(byId(p, "container.start:web")).toMatchObject({
      after: ["container.remove:shop-old"],
      startAfter: ["job.run:migrate"],
    });
    expectListedInOrder(p);
  });

  // Was a bug: only a replaced or restarted service counted as a reason to restart a dependent with
  // `restart: true`; a job it depends on could run again (and change what it reads) unnoticed.
  it("restarts a dependent with `restart: true` when a job it depends on runs again", () => {
    const s = spec();
    const base = {
      ...s,
      services: {
        ...s.services,
        web: {
          ...s.services.web,
          dependsOn: {
            db: { condition: "healthy" as const },
            migrate: { condition: "completed" as const, restart: true },
          },
        },
      },
    };
    const p = planChange(
      { ...base, jobs: { migrate: { ...s.jobs.migrate, command: "manage migrate --noinput" } } },
      base,
    );
    expect(ids(p)).toEqual(["job.run:migrate", "container.restart:web"]);
    expect(byId(p, "container.restart:web")).toMatchObject({
      triggers: [{ name: "migrate", change: "rerun" }],
      containerId: "id-web",
      after: ["job.run:migrate"],
    });
  });

  // Was a bug: restarts were planned after every other action, so what depends on a restarted
  // service did not wait for its restart, and the plan listed it before the restart.
  it("plans a restart before what depends on the restarted service", () => {
    const s = spec();
    const base: StackInput = {
      ...s,
      jobs: {
        ...s.jobs,
        report: { image: "app", always: true, dependsOn: { worker: { condition: "started" } } },
      },
    };
    const p = planChange(
      {
        ...base,
        services: {
          ...s.services,
          db: { ...s.services.db, env: { ...s.services.db.env, POSTGRES_DB: "shop2" } },
        },
      },
      base,
    );
    expect(ids(p)).toEqual(["container.recreate:db", "container.restart:worker", "job.run:report"]);
    expect(byId(p, "job.run:report")).toMatchObject({ after: [], startAfter: ["container.restart:worker"] });
    expectListedInOrder(p);
  });

  // Was a bug: a service whose restart policy was updated in place was not restarted when a
  // dependency it restarts with was replaced.
  it("updates a restart policy in place and still restarts for a replaced dependency", () => {
    const s = spec();
    const p = planChange({
      ...s,
      services: {
        ...s.services,
        db: { ...s.services.db, env: { ...s.services.db.env, POSTGRES_DB: "shop2" } },
        worker: { ...s.services.worker, restart: "always" },
      },
    });
    expect(ids(p)).toEqual(["container.recreate:db", "container.update:worker", "container.restart:worker"]);
    expect(byId(p, "container.update:worker").after).toEqual([]);
    expect(byId(p, "container.restart:worker").after).toEqual([
      "container.update:worker",
      "container.recreate:db",
    ]);
    expect(p.unchanged.map(resourceKey)).toEqual(["job migrate", "service web"]);
  });

  // Was a bug: after an in-place update and a start, dependents waited for the update only.
  it("makes dependents wait for the start that follows an in-place update", () => {
    const s = spec();
    const base = { ...s, services: { ...s.services, proxy: { image: "nginx:1", dependsOn: ["web"] } } };
    const applied = resolve(s);
    const observed = appliedEngine(applied);
    setState(observed, "web", "exited");
    observed.images["nginx:1"] = { id: "sha256:nginx", labels: {}, env: [] };
    const p = plan(
      resolve({ ...base, services: { ...base.services, web: { ...s.services.web, restart: "always" } } }),
      observed,
    );
    expect(ids(p)).toEqual(["container.update:web", "container.start:web", "container.create:proxy"]);
    expect(byId(p, "container.create:proxy")).toMatchObject({
      after: [],
      startAfter: ["container.start:web"],
    });
  });

  it("names real field changes, not the pending image, when a rebuilt service also changed", () => {
    const s = spec();
    const stack = resolve({
      ...s,
      services: { ...s.services, web: { ...s.services.web, env: { LOG_LEVEL: "debug" } } },
    });
    const p = plan(stack, appliedEngine(resolve(s), { contextHashes: { app: "ctx-app-2" } }));
    expect(byId(p, "container.recreate:web")).toMatchObject({
      cause: "spec",
      onlyIfChanged: false,
      changes: [{ field: "env.LOG_LEVEL", before: "info", after: "debug", sensitive: false }],
    });
    // A new image reference is a real change, even while its ID is not known yet.
    const renamed = plan(
      resolve({ ...s, images: { app: { ref: "shop-app:v2", build: { context: "app" } } } }),
      // The reference is part of the build recipe: the context hash changes with it.
      appliedEngine(resolve(s), { contextHashes: { app: "ctx-app-2" } }),
    );
    expect(byId(renamed, "container.recreate:web").changes).toEqual([
      {
        field: "image",
        before: "shop-app:latest@sha256:app-1",
        after: "shop-app:v2@(pending)",
        sensitive: false,
      },
    ]);
  });

  it("still sees a change made by hand while the image is rebuilt", () => {
    const stack = resolve(spec());
    const observed = appliedEngine(stack, { contextHashes: { app: "ctx-app-2" } });
    observed.containers = observed.containers.map((c) =>
      c.node === "web" && c.details
        ? { ...c, details: { ...c.details, env: [...IMAGE_ENV, "LOG_LEVEL=trace"] } }
        : c,
    );
    expect(byId(plan(stack, observed), "container.recreate:web")).toMatchObject({
      cause: "drift",
      changes: [{ field: "env.LOG_LEVEL", before: "trace", after: "info", sensitive: false }],
    });
  });
});

describe("plan as data", () => {
  const stack = resolve(spec());
  function busyEngine(): ObservedState {
    const observed = appliedEngine(stack, { contextHashes: { app: "ctx-app-2" } });
    setState(observed, "db", "exited");
    observed.containers.push(
      { ...appliedContainer(stack, "web"), id: "id-a", name: "shop-aaa", node: "aaa" },
      { ...appliedContainer(stack, "web"), id: "id-b", name: "shop-bbb", node: "bbb" },
      { ...appliedContainer(stack, "web"), id: "id-h", name: "shop-helper", node: "helper", kind: "helper" },
    );
    observed.networks.push({ id: "net-x", name: "shop_x", node: "x", hash: "h" });
    return observed;
  }

  it("is JSON-serializable", () => {
    const p = plan(stack, busyEngine());
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  it("is the same for the same input", () => {
    expect(plan(stack, busyEngine())).toEqual(plan(stack, busyEngine()));
  });

  function shuffledEngines(): ObservedState[] {
    const sorted = busyEngine();
    const c = sorted.containers;
    return [
      [...c].reverse(),
      [...c].sort((a, b) => a.id.localeCompare(b.id)).reverse(),
      [c[3], c[0], c[5], ...c],
    ].map((order) => ({ ...sorted, containers: [...new Set(order)] as ObservedContainer[] }));
  }

  /** The plan with actions and their `after` lists sorted: what it does, regardless of listing order. */
  const normalized = (p: Plan) => ({
    ...p,
    actions: p.actions
      .map((a) => ({
        ...a,
        after: [...a.after].sort(),
        ...("startAfter" in a ? { startAfter: [...a.startAfter].sort() } : {}),
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  });

  it("has the same actions and edges for any order of observed containers", () => {
    const expected = normalized(plan(stack, busyEngine()));
    for (const observed of shuffledEngines()) expect(normalized(plan(stack, observed))).toEqual(expected);
  });

  // Was a bug (minor): container.remove actions (and the `after` list of network.remove) followed
  // the order of `observed.containers`, so plan() itself was not order-independent.
  it("lists actions in the same order for any order of observed containers", () => {
    const expected = plan(stack, busyEngine());
    for (const observed of shuffledEngines()) expect(plan(stack, observed)).toEqual(expected);
  });

  it("orders nodes by dependency, ties by name", () => {
    expect(nodesInOrder(stack).map((n) => n.name)).toEqual(["db", "migrate", "web", "worker"]);
  });
});

describe("plan: files a job writes that services read", () => {
  // `render` writes web.conf; web reads it and depends on render, cache reads it without a dependency.
  const withRender = (version: string): ResolvedStack => {
    const s = spec();
    return resolve({
      ...s,
      services: {
        ...s.services,
        web: { ...s.services.web, inputs: [{ path: "config/web.conf" }] },
        cache: { image: "postgres:16", inputs: [{ path: "config/web.conf" }] },
      },
      jobs: {
        ...s.jobs,
        render: { run: async () => {}, version, outputs: [{ path: "config/web.conf" }] },
      },
    });
  };
  const engineAfter = (stack: ResolvedStack) =>
    appliedEngine(stack, {
      containers: ["db", "web", "worker", "cache"].map((n) => appliedContainer(stack, n)),
    });

  it("recreates each reader after the job re-runs, with no field change and the job as reason", () => {
    const before = withRender("1");
    const p = plan(withRender("2"), engineAfter(before));
    expect(byId(p, "job.run:render")).toMatchObject({ cause: "changed" });
    for (const svc of ["web", "cache"]) {
      const a = byId(p, `container.recreate:${svc}`);
      expect(a).toMatchObject({
        cause: "inputs",
        writers: ["render"],
        onlyIfChanged: true,
        changes: [],
        containerId: `id-${svc}`,
      });
      expect(a.after).toContain("job.run:render");
    }
    expect(p.unchanged.map(resourceKey)).toEqual(expect.arrayContaining(["service db", "service worker"]));
    expectListedInOrder(p);
  });

  it("leaves the readers alone when the job does not run", () => {
    const stack = withRender("1");
    expect(plan(stack, engineAfter(stack)).actions).toEqual([]);
  });

  it("orders a writer before every reader, dependency or not", () => {
    const order = nodesInOrder(withRender("1")).map((n) => n.name);
    expect(order.indexOf("render")).toBeLessThan(order.indexOf("cache"));
    expect(order.indexOf("render")).toBeLessThan(order.indexOf("web"));
  });
});

// Was a bug: when shctl (or the engine) stopped after a job's container exited 0 but before the
// run was recorded, the next apply ran the job again.
describe("a job that finished before its run was recorded", () => {
  const stack = resolve(spec());
  const applied = appliedEngine(stack);
  const key = applied.jobs.migrate?.key as string;
  delete applied.jobs.migrate;
  const left = (exitCode: number, jobKey: string) => ({
    ...appliedContainer(stack, "web"),
    id: "id-job",
    name: "shop-job-migrate",
    node: "migrate",
    kind: "job" as const,
    state: "exited",
    exitCode,
    jobKey,
  });

  it("is recorded from its container, not run again", () => {
    const p = plan(stack, { ...applied, containers: [...applied.containers, left(0, key)] });
    expect(p.actions).toEqual([
      {
        id: "job.record:migrate",
        kind: "job.record",
        resource: { type: "job", name: "migrate" },
        target: "migrate",
        after: [],
        jobKey: key,
        containerId: "id-job",
        cause: "finished-unrecorded",
      },
    ]);
  });

  it("runs again when its container failed or ran another key, and that container goes", () => {
    for (const c of [left(1, key), left(0, "another-key")]) {
      const p = plan(stack, { ...applied, containers: [...applied.containers, c] });
      expect(ids(p)).toEqual(["container.remove:shop-job-migrate", "job.run:migrate"]);
    }
  });
});

// Was a bug: after `docker network rm` of a stopped stack's network (what `docker network prune`
// does), every apply failed with "container.start failed (404): network … not found"; and a
// container disconnected from its network by hand showed "No changes".
describe("network attachments", () => {
  const stack = resolve(spec());
  it("a network removed by hand is created again, and the containers that named it are made anew on it", () => {
    const observed = appliedEngine(stack, { networks: [] });
    observed.containers = observed.containers.map((c) => ({ ...c, state: "exited" }));
    const p = plan(stack, observed);
    expect(ids(p)).toEqual([
      "network.create:default",
      "container.recreate:db",
      "container.recreate:web",
      "container.recreate:worker",
    ]);
    expect(byId(p, "container.recreate:db")).toMatchObject({
      cause: "network",
      networks: ["default"],
      after: ["network.create:default"],
    });
  });

  it("a container disconnected from its network by hand is drift, made anew", () => {
    const observed = appliedEngine(stack);
    observed.containers = observed.containers.map((c) => (c.node === "web" ? { ...c, networks: [] } : c));
    const p = plan(stack, observed);
    expect(ids(p)).toEqual(["container.recreate:web"]);
    expect(byId(p, "container.recreate:web")).toMatchObject({
      cause: "drift",
      changes: [{ field: "networks", before: "", after: "default", sensitive: false }],
    });
  });
});

// Was a bug: a mount source that is a symbolic link inside the data root was followed, and a
// container wrote outside the data root.
it("a mount source that leads out of its root through a symbolic link is a conflict", () => {
  const stack = resolve(spec());
  const p = plan(stack, emptyEngine({ escapes: { [`${DATA}/db`]: "/etc" } }));
  expect(p.conflicts).toContainEqual({
    kind: "mount-escapes-root",
    resource: { type: "service", name: "db" },
    source: `${DATA}/db`,
    realPath: "/etc",
    root: DATA,
  });
  expect(ids(p)).not.toContain("container.create:db");
});

describe("how a changed container is replaced", () => {
  const withWeb = (web: Record<string, unknown>) => {
    const s = spec();
    return { ...s, services: { ...s.services, web: { ...s.services.web, mounts: [], ...web } } };
  };
  const order = (changed: StackInput, applied: StackInput) => {
    const a = byId(planChange(changed, applied), "container.recreate:web") as Extract<
      Action,
      { kind: "container.recreate" }
    >;
    return [a.order, a.orderCause];
  };
  it("starts the new one beside the old by default", () => {
    expect(order(withWeb({ ports: [], env: { LOG_LEVEL: "debug" } }), withWeb({ ports: [] }))).toEqual([
      "start-first",
      undefined,
    ]);
  });
  it("stops the old one first when the new one publishes a host port it holds", () => {
    expect(order(withWeb({ env: { LOG_LEVEL: "debug" } }), withWeb({}))).toEqual(["stop-first", "host-port"]);
  });
  it("stops first for a data directory only it mounts, or when the spec says so", () => {
    const own = { ports: [], mounts: [{ source: "uploads", target: "/u" }] };
    expect(order(withWeb({ ...own, env: { LOG_LEVEL: "debug" } }), withWeb(own))).toEqual([
      "stop-first",
      "own-data",
    ]);
    expect(
      order(withWeb({ ports: [], update: "stop-first", env: { A: "1" } }), withWeb({ ports: [] })),
    ).toEqual(["stop-first", "spec"]);
  });
});
