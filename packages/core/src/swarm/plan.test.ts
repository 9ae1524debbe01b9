import { describe, expect, it } from "vitest";
import { networkHash } from "../hash.js";
import { LABEL } from "../labels.js";
import type { ResolvedStack } from "../model.js";
import type { Action, Plan } from "../plan/types.js";
import { validateStack } from "../validate.js";
import { taskFiles } from "./files.js";
import { configName, serviceName } from "./names.js";
import type { ObservedSwarmService, SwarmObserved } from "./observe.js";
import { planSwarm } from "./plan.js";
import { jobServiceSpec, serviceSpec, swarmSnapshot, taskHash } from "./spec.js";

/*
 * The swarm plan as a pure function: observed-state literals in, the plan's lines out; no engine.
 */

const PROJECT = "/srv/shop";
const DATA = `${PROJECT}/data`;

function stackOf(raw: Record<string, unknown>): ResolvedStack {
  return validateStack(
    { name: "shop", target: "swarm", ...raw },
    { label: "stack.yaml", projectDir: PROJECT, profile: undefined, env: {} },
  );
}

const base = {
  networks: { back: {} },
  services: {
    db: {
      image: "postgres:16",
      placement: { node: "db" },
      env: { POSTGRES_PASSWORD: { value: "s3cret-pw", secret: true } },
      mounts: [
        { source: "db", target: "/var/lib/postgresql/data", owner: "999:999", mode: "0700" },
        { source: "config/db", target: "/etc/db", readOnly: true },
      ],
      healthcheck: { test: "pg_isready" },
    },
    web: {
      image: "shop/web:1",
      replicas: 2,
      env: { LOG: "info" },
      dependsOn: { db: { condition: "healthy" }, migrate: { condition: "completed" } },
    },
  },
  jobs: { migrate: { image: "shop/web:1", dependsOn: { db: { condition: "healthy" } } } },
};

const nodes: SwarmObserved["nodes"] = [
  { id: "n1", hostname: "manager", availability: "active", state: "ready", labels: {} },
  { id: "n2", hostname: "worker", availability: "active", state: "ready", labels: { "shctl.db": "true" } },
];

function observed(over: Partial<SwarmObserved> = {}): SwarmObserved {
  return {
    self: "n1",
    nodes,
    services: [],
    foreignServices: [],
    networks: [],
    foreignNetworks: [],
    configs: [],
    images: {},
    contextHashes: {},
    inputs: {},
    sources: {
      [`${DATA}/config/db`]: {
        exists: true,
        files: [{ rel: "db.conf", digest: "a".repeat(64), mode: 0o644, size: 10 }],
      },
    },
    dirs: {},
    jobs: {},
    jobRuns: {},
    swarm: { nodeDirs: {}, pushed: {} },
    engineContainers: 0,
    otherProjects: [],
    ...over,
  };
}

/** The swarm service shctl would have made for a stack service, with its tasks running. */
function applied(
  stack: ResolvedStack,
  name: string,
  o: SwarmObserved,
  edit: (spec: Record<string, unknown>) => void = () => {},
): ObservedSwarmService {
  const s = stack.services[name];
  if (!s) throw new Error(name);
  const ref = stack.images[s.image]?.ref ?? s.image;
  const files = taskFiles(s, o.sources);
  const snapshot = swarmSnapshot(s, { run: ref, ref, identity: undefined }, {}, files);
  const spec = serviceSpec(stack, s, {
    image: ref,
    configs: files.map((f) => ({
      file: f,
      id: `id-${f.digest.slice(0, 4)}`,
      name: configName("shop", DATA, f.digest),
    })),
    snapshot,
    order: "start-first",
    forceUpdate: 0,
  });
  // The engine keeps networks by ID.
  const task = spec.TaskTemplate as { Networks: { Target: string }[] };
  for (const n of task.Networks) n.Target = `net-${n.Target}`;
  edit(spec);
  const labels = spec.Labels as Record<string, string>;
  return {
    id: `svc-${name}`,
    name: serviceName("shop", name),
    node: name,
    kind: "service",
    version: 7,
    hash: labels[LABEL.hash],
    recipe: Number(labels[LABEL.recipe]),
    snapshot: JSON.parse(labels[LABEL.snapshot] as string),
    jobKey: undefined,
    spec,
    updateState: "completed",
    updateMessage: undefined,
    tasks: Array.from({ length: s.replicas ?? 1 }, (_, i) => ({
      id: `task-${name}-${i}`,
      serviceId: `svc-${name}`,
      slot: i + 1,
      nodeId: name === "db" ? "n2" : "n1",
      desiredState: "running",
      state: "running",
      message: "started",
      err: undefined,
      containerId: `c-${name}-${i}`,
      exitCode: undefined,
      timestamp: "2026-01-01T00:00:00Z",
      createdAt: "2026-01-01T00:00:00Z",
      labels: { "io.shctl.task-hash": taskHash(snapshot) },
      addresses: [{ network: "shop_back", networkId: "net-shop_back", ip: `10.0.1.${i + 2}` }],
    })),
  };
}

/** The applied state of the whole stack: networks, services, the node dir, the job's record. */
function deployed(stack: ResolvedStack, over: Partial<SwarmObserved> = {}): SwarmObserved {
  const o = observed(over);
  const key = planSwarm(stack, o).actions.find((a) => a.kind === "job.run");
  return {
    ...o,
    networks: [
      {
        id: "net-shop_back",
        name: "shop_back",
        node: "back",
        hash: networkHash(stack.networks.back as never),
      },
    ],
    services: ["db", "web"].map((n) => applied(stack, n, o)),
    configs: [{ id: "cfg-1", name: configName("shop", DATA, "a".repeat(64)) }],
    swarm: {
      nodeDirs: { [`${DATA}/db`]: { nodeId: "n2", nodeName: "worker", madeAt: "2026-01-01T00:00:00Z" } },
      pushed: {},
    },
    jobs: {
      migrate: { key: key?.kind === "job.run" ? key.jobKey : "", completedAt: "2026-01-01T00:00:00Z" },
    },
    ...over,
  };
}

/** One line per action: kind, target, cause, what it waits for. */
function lines(p: Plan): string[] {
  return p.actions.map((a: Action) => {
    const cause = "cause" in a ? ` (${a.cause})` : "";
    const after = a.after.length ? ` after ${a.after.join(", ")}` : "";
    const waits =
      "waitFor" in a && a.waitFor.length
        ? ` waits ${a.waitFor.map((w) => `${w.service}:${w.condition}`).join(", ")}`
        : "";
    return `${a.kind} ${a.target}${cause}${after}${waits}`;
  });
}

describe("planSwarm", () => {
  const stack = stackOf(base);

  it("from nothing: the overlay network, the data directory on the role's node, the services in order", () => {
    const p = planSwarm(stack, observed());
    expect(p.target).toBe("swarm");
    expect(p.conflicts).toEqual([]);
    expect(lines(p)).toMatchInlineSnapshot(`
      [
        "network.create back (missing)",
        "node-dir.create /srv/shop/data/db (missing)",
        "service.create db (missing) after node-dir.create:/srv/shop/data/db, network.create:back",
        "job.run migrate (never-completed) after network.create:back waits db:healthy",
        "service.create web (missing) after network.create:back waits db:healthy",
      ]
    `);
    const dir = p.actions.find((a) => a.kind === "node-dir.create");
    expect(dir).toMatchObject({
      role: "db",
      nodeId: "n2",
      nodeName: "worker",
      owner: { uid: 999, gid: 999 },
      mode: 0o700,
    });
    const web = p.actions.find((a) => a.target === "web");
    expect(web).toMatchObject({ startAfter: ["service.create:db", "job.run:migrate"] });
    expect(p.waitReady).toEqual(["db", "web"]);
  });

  it("as applied: nothing to do, whatever order the engine lists things in", () => {
    const o = deployed(stack);
    const p = planSwarm(stack, o);
    expect(lines(p)).toEqual([]);
    expect(p.conflicts).toEqual([]);
    expect(p.unchanged.map((r) => `${r.type} ${r.name}`)).toEqual([
      "job migrate",
      "service db",
      "service web",
    ]);
    const shuffled = { ...o, services: [...o.services].reverse(), nodes: [...o.nodes].reverse() };
    expect(planSwarm(stack, shuffled)).toEqual(p);
  });

  it("a task not running the current spec keeps the service unready: apply waits for it", () => {
    const o = deployed(stack);
    const web = o.services.find((s) => s.node === "web") as ObservedSwarmService;
    web.tasks[1] = {
      ...(web.tasks[1] as ObservedSwarmService["tasks"][number]),
      state: "pending",
      err: "no suitable node",
    };
    const p = planSwarm(stack, o);
    expect(lines(p)).toEqual([]);
    expect(p.unready).toEqual(["web"]);
    expect(p.waitReady).toEqual(["web"]);
  });

  it("a change rolls the service: start-first where it may, stop-first for a database's own data; scaling restarts nothing", () => {
    const changed = stackOf({
      ...base,
      services: {
        ...base.services,
        db: { ...base.services.db, env: { ...base.services.db.env, TZ: "UTC" } },
        web: { ...base.services.web, env: { LOG: "debug" }, replicas: 3 },
      },
    });
    const p = planSwarm(changed, deployed(stack));
    expect(lines(p)).toEqual(["service.update db (spec)", "service.update web (spec) waits db:healthy"]);
    expect(p.actions[0]).toMatchObject({
      changes: [{ field: "env.TZ", after: "UTC", sensitive: false }],
      order: "stop-first",
      orderCause: "own-data",
      onlyIfChanged: false,
    });
    expect(p.actions[1]).toMatchObject({
      changes: [
        { field: "env.LOG", before: "info", after: "debug" },
        { field: "replicas", before: "2", after: "3" },
      ],
      order: "start-first",
      startAfter: ["service.update:db"],
    });
    const scaled = stackOf({
      ...base,
      services: { ...base.services, web: { ...base.services.web, replicas: 5 } },
    });
    const scale = planSwarm(scaled, deployed(stack));
    expect(lines(scale)).toEqual(["service.update web (scale) waits db:healthy"]);
    expect(scale.waitReady).toEqual(["web"]);
  });

  it("a service changed by hand (env added, scaled) is drift, put back; its secret stays hidden", () => {
    const o = deployed(stack);
    o.services = o.services.map((svc) =>
      svc.node !== "db"
        ? svc
        : applied(stack, "db", o, (spec) => {
            const c = (spec.TaskTemplate as { ContainerSpec: { Env: string[] } }).ContainerSpec;
            c.Env = [
              ...c.Env.filter((e) => !e.startsWith("POSTGRES_PASSWORD=")),
              "POSTGRES_PASSWORD=changed",
              "DEBUG=1",
            ];
          }),
    );
    o.services = o.services.map((svc) =>
      svc.node !== "web"
        ? svc
        : applied(stack, "web", o, (spec) => Object.assign(spec, { Mode: { Replicated: { Replicas: 9 } } })),
    );
    const p = planSwarm(stack, o);
    expect(lines(p)).toEqual(["service.update db (drift)", "service.update web (drift) waits db:healthy"]);
    expect(p.actions[0]).toMatchObject({
      changes: [
        { field: "env.DEBUG", before: "1", sensitive: false },
        { field: "env.POSTGRES_PASSWORD", before: "(sensitive)", after: "(sensitive)", sensitive: true },
      ],
    });
    expect(p.actions[1]).toMatchObject({ changes: [{ field: "replicas", before: "9", after: "2" }] });
  });

  it("conflicts: a role no node takes, a role of data on two nodes, data made on another node, a name taken", () => {
    const twoDb = observed({
      nodes: nodes.map((n) => ({ ...n, labels: { "shctl.db": "true" } })),
    });
    expect(planSwarm(stack, twoDb).conflicts).toEqual([
      {
        kind: "node-role-ambiguous",
        resource: { type: "service", name: "db" },
        role: "db",
        label: "shctl.db",
        nodes: ["manager", "worker"],
      },
    ]);
    const none = planSwarm(
      stack,
      observed({ nodes: nodes.map((n) => ({ ...n, labels: {} })), foreignServices: ["shop_web"] }),
    );
    expect(none.conflicts.map((c) => c.kind)).toEqual(["node-role-missing", "service-name-taken"]);
    expect(lines(none)).toEqual([
      "network.create back (missing)",
      "job.run migrate (never-completed) after network.create:back waits db:healthy",
    ]);
    const moved = deployed(stack, {
      nodes: [
        {
          id: "n1",
          hostname: "manager",
          availability: "active",
          state: "ready",
          labels: { "shctl.db": "true" },
        },
        { id: "n2", hostname: "worker", availability: "active", state: "ready", labels: {} },
      ],
    });
    expect(planSwarm(stack, moved).conflicts).toEqual([
      {
        kind: "data-on-other-node",
        resource: { type: "service", name: "db" },
        path: `${DATA}/db`,
        madeOn: "worker",
        roleNode: "manager",
        role: "db",
      },
    ]);
    const engine = planSwarm(stack, observed({ engineContainers: 3 }));
    expect(engine.conflicts).toEqual([
      { kind: "stack-on-other-target", resource: { type: "stack", name: "shop" }, other: "engine", count: 3 },
    ]);
  });

  it("a directory removed from its node by hand (a task says so) is made again", () => {
    const o = deployed(stack);
    const db = o.services.find((s) => s.node === "db") as ObservedSwarmService;
    db.tasks.push({
      ...(db.tasks[0] as ObservedSwarmService["tasks"][number]),
      id: "failed",
      desiredState: "shutdown",
      state: "rejected",
      err: `invalid mount config for type "bind": bind source path does not exist: ${DATA}/db`,
    });
    expect(lines(planSwarm(stack, o))).toEqual(["node-dir.create /srv/shop/data/db (gone)"]);
  });

  it("with a registry: an image made here is pushed, and services run it by digest once pushed", () => {
    const reg = stackOf({ ...base, swarm: { registry: "10.0.0.5:5000" } });
    const local = { "shop/web:1": { id: "sha256:web1", labels: {}, local: true } };
    const p = planSwarm(reg, observed({ images: local }));
    expect(lines(p)).toEqual([
      "network.create back (missing)",
      "image.push shop/web:1 (not-pushed)",
      "node-dir.create /srv/shop/data/db (missing)",
      "service.create db (missing) after node-dir.create:/srv/shop/data/db, network.create:back",
      "job.run migrate (never-completed) after image.push:shop/web:1, network.create:back waits db:healthy",
      "service.create web (missing) after image.push:shop/web:1, network.create:back waits db:healthy",
    ]);
    expect(p.actions[1]).toMatchObject({ ref: "shop/web:1", pushRef: "10.0.0.5:5000/shop/web:1" });
    const pushed = {
      "shop/web:1": { imageId: "sha256:web1", pushRef: "10.0.0.5:5000/shop/web:1", digest: "sha256:d1" },
    };
    const again = planSwarm(reg, observed({ images: local, swarm: { nodeDirs: {}, pushed } }));
    expect(lines(again)[0]).toBe("network.create back (missing)");
    const changed = planSwarm(
      reg,
      observed({
        images: { "shop/web:1": { ...local["shop/web:1"], id: "sha256:web2" } },
        swarm: { nodeDirs: {}, pushed },
      }),
    );
    expect(lines(changed)[1]).toBe("image.push shop/web:1 (changed)");
  });

  it("files become configs by content: a changed file rolls its service, the old config goes after", () => {
    const o = deployed(stack);
    o.sources[`${DATA}/config/db`] = {
      exists: true,
      files: [{ rel: "db.conf", digest: "b".repeat(64), mode: 0o644, size: 11 }],
    };
    const p = planSwarm(stack, o);
    expect(lines(p)).toEqual([
      "service.update db (spec)",
      `config.remove ${configName("shop", DATA, "a".repeat(64))} (unused) after service.update:db`,
    ]);
    expect((p.actions[0] as { changes: unknown[] }).changes).toEqual([
      {
        field: "configs./etc/db/db.conf",
        before: "aaaaaaaaaaaa:644",
        after: "bbbbbbbbbbbb:644",
        sensitive: false,
      },
    ]);
    const tooBig = observed({
      sources: {
        [`${DATA}/config/db`]: {
          exists: true,
          files: [{ rel: "big", digest: "c".repeat(64), mode: 0o644, size: 600_000 }],
        },
      },
    });
    expect(planSwarm(stack, tooBig).conflicts).toEqual([
      {
        kind: "config-too-large",
        resource: { type: "service", name: "db" },
        path: `${DATA}/config/db/big`,
        size: 600000,
        limit: 512000,
      },
    ]);
  });

  it("a job runs as a replicated service of one task that never restarts (a removed swarm job's tasks are never reaped)", () => {
    const job = stack.jobs.migrate;
    if (!job?.container) throw new Error("no container job");
    const spec = jobServiceSpec(stack, job, job.container, { image: "shop/web:1", configs: [], jobKey: "k" });
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect((spec.TaskTemplate as { RestartPolicy: unknown }).RestartPolicy).toEqual({
      Condition: "none",
      MaxAttempts: 0,
    });
  });

  it("a file becomes a config its task sees with the file's own owner and mode (a 0600 file its user reads)", () => {
    const db = stack.services.db;
    if (!db) throw new Error("no db");
    const files = taskFiles(db, {
      [`${DATA}/config/db`]: {
        exists: true,
        files: [{ rel: "db.conf", digest: "d".repeat(64), mode: 0o600, size: 3, uid: 999, gid: 1000 }],
      },
    });
    expect(files.map((f) => [f.target, f.mode, f.uid, f.gid])).toEqual([
      ["/etc/db/db.conf", 0o600, 999, 1000],
    ]);
  });
});
