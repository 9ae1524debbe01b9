import { z } from "zod";
import { PLAN_VERSION } from "./util.js";

/*
 * The plan's shape, in one place: the TypeScript types (inferred) and the JSON Schema that
 * `shctl diff --json` publishes (packages/core/plan.schema.json, written by the build). Everything
 * that only needs the types imports them with `import type`, so zod is not loaded to plan.
 *
 * A plan says what to do and why, as data: each action's `cause` is a code, never a sentence; the
 * CLI writes every word.
 */

export const ResourceSchema = z.strictObject({
  type: z.enum(["service", "job", "helper", "image", "network", "dir", "stack", "config"]),
  /** Service, job, image key or network name; a dir's path relative to its root ("project:" for the project dir). */
  name: z.string(),
});
export type Resource = z.output<typeof ResourceSchema>;

export const FieldChangeSchema = z.strictObject({
  /** Dotted path of the field, e.g. "env.LOG_LEVEL" or "command". */
  field: z.string(),
  /** Printable values; secrets are "(sensitive)". Absent: the field was or will be absent. */
  before: z.string().optional(),
  after: z.string().optional(),
  sensitive: z.boolean(),
});
export type FieldChange = z.output<typeof FieldChangeSchema>;

/** A dependency the executor waits for before it starts a container or runs a job. */
export const WaitSchema = z.strictObject({
  service: z.string(),
  /** healthy: its probes/healthcheck pass; running: its container runs (checked once). */
  condition: z.enum(["healthy", "running"]),
});
export type Wait = z.output<typeof WaitSchema>;

const base = {
  /** Unique within the plan: `${kind}:${target}`. */
  id: z.string(),
  resource: ResourceSchema,
  /** Service, job, image key, network name, directory path or container name. */
  target: z.string(),
  /** Actions that must finish before this one begins. */
  after: z.array(z.string()),
};

/** Gates between creating a container and starting it (or running a job). */
const startGate = {
  /** Actions that must finish before the start (the dependencies' own actions). */
  startAfter: z.array(z.string()),
  waitFor: z.array(WaitSchema),
};

const Owner = z.strictObject({ uid: z.number().int(), gid: z.number().int() });

/*
 * The swarm target's actions (swarm/plan.ts plans them, swarm/execute.ts carries them out; an engine
 * plan never has them): images pushed to the stack's registry, data directories made on a node,
 * services created, updated (a rolling update by the swarm), restarted and removed, and configs
 * no longer used. Networks, image builds and jobs use the kinds above.
 */
const swarmActions = [
  z.strictObject({
    ...base,
    kind: z.literal("image.push"),
    ref: z.string(),
    /** The reference in the registry (tagged from `ref`); services run it by the pushed digest. */
    pushRef: z.string(),
    cause: z.enum(["not-pushed", "changed"]),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("node-dir.create"),
    /** The node role (placement) whose one node gets the directory. */
    role: z.string(),
    nodeId: z.string(),
    /** The node's hostname, for people. */
    nodeName: z.string(),
    owner: Owner.optional(),
    mode: z.number().int().optional(),
    /** missing: never made there; gone: a task of the service found no such directory. */
    cause: z.enum(["missing", "gone"]),
  }),
  z.strictObject({
    ...base,
    ...startGate,
    kind: z.literal("service.create"),
    /** The swarm service's name. */
    dockerName: z.string(),
    cause: z.literal("missing"),
  }),
  z.strictObject({
    ...base,
    ...startGate,
    kind: z.literal("service.update"),
    serviceId: z.string(),
    dockerName: z.string(),
    cause: z.enum(["spec", "drift", "image", "inputs", "scale"]),
    changes: z.array(FieldChangeSchema),
    /** Jobs of this plan that may rewrite its inputs or the files it gets as configs. */
    writers: z.array(z.string()),
    /** Update only if its spec, as its images and files come out in this apply, differs. */
    onlyIfChanged: z.boolean(),
    /**
     * The swarm's rolling update: start-first starts a new task beside each old one; stop-first
     * stops the old one first. A task that does not get ready rolls the service back.
     */
    order: z.enum(["start-first", "stop-first"]),
    orderCause: z.enum(["spec", "host-port", "own-data"]).optional(),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("service.restart"),
    serviceId: z.string(),
    triggers: z.array(z.strictObject({ name: z.string(), change: z.enum(["replaced", "rerun"]) })),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("service.remove"),
    serviceId: z.string(),
    dockerName: z.string(),
    cause: z.enum(["not-in-stack", "stale-job", "stale-helper", "network-recreated"]),
    networks: z.array(z.string()),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("config.remove"),
    configId: z.string(),
    dockerName: z.string(),
    cause: z.literal("unused"),
  }),
] as const;

export const ActionSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    ...base,
    kind: z.literal("network.create"),
    dockerName: z.string(),
    cause: z.enum(["missing", "settings-changed"]),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("network.remove"),
    networkId: z.string(),
    dockerName: z.string(),
    cause: z.enum(["settings-changed", "not-in-stack"]),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("image.pull"),
    ref: z.string(),
    /** Where to pull from, in order (a mirror's candidates, or the reference itself); tagged `ref`. */
    sources: z.array(z.string()).min(1),
    cause: z.literal("missing"),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("image.build"),
    ref: z.string(),
    contextHash: z.string(),
    /** Image keys it is built from. */
    needs: z.array(z.string()),
    cause: z.enum(["missing", "context-changed", "base-pending"]),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("dir.create"),
    owner: Owner.optional(),
    mode: z.number().int().optional(),
    cause: z.literal("missing"),
  }),
  z.strictObject({
    ...base,
    ...startGate,
    kind: z.literal("job.run"),
    jobKey: z.string(),
    /** The key it last completed with. */
    recordedKey: z.string().optional(),
    /** How its latest run ended, when it did not complete. */
    lastRun: z.strictObject({ outcome: z.string(), finishedAt: z.string() }).optional(),
    cause: z.enum(["always", "never-completed", "last-failed", "changed", "image-pending"]),
    /** Run only if the job key, known once its image is built or pulled, differs from the recorded one. */
    onlyIfKeyChanged: z.boolean(),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("job.record"),
    jobKey: z.string(),
    /** The job's container, which exited 0 with this key before its run was recorded. */
    containerId: z.string(),
    cause: z.literal("finished-unrecorded"),
  }),
  z.strictObject({
    ...base,
    ...startGate,
    kind: z.literal("container.create"),
    cause: z.literal("missing"),
  }),
  z.strictObject({
    ...base,
    ...startGate,
    kind: z.literal("container.recreate"),
    /** The container it replaces; absent when that one is removed earlier (before its network). */
    containerId: z.string().optional(),
    cause: z.enum(["spec", "drift", "image", "network", "inputs"]),
    changes: z.array(FieldChangeSchema),
    /** Networks recreated under it (cause "network"). */
    networks: z.array(z.string()),
    /** Jobs of this plan that may rewrite its inputs (cause "inputs"). */
    writers: z.array(z.string()),
    /**
     * Recreate only if what its image or inputs come out as changes the container's applied hash
     * (they are built, pulled or rewritten in this apply); otherwise start it if stopped.
     */
    onlyIfChanged: z.boolean(),
    /**
     * start-first: the new container starts beside the old one (under a temporary name), which
     * goes once the new one is ready; stop-first: the old one stops, and is started again if the
     * new one does not get ready. Either way a new container that does not get ready is rolled back.
     */
    order: z.enum(["start-first", "stop-first"]),
    /** Why stop-first (a host port the old container holds, a data directory only it mounts, the spec). */
    orderCause: z.enum(["spec", "host-port", "own-data"]).optional(),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("container.update"),
    containerId: z.string(),
    cause: z.literal("restart-policy"),
    changes: z.array(FieldChangeSchema),
    restartPolicy: z.enum(["no", "always", "unless-stopped", "on-failure"]),
  }),
  z.strictObject({
    ...base,
    ...startGate,
    kind: z.literal("container.start"),
    containerId: z.string(),
    /** The state it was observed in. */
    state: z.string(),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("container.restart"),
    containerId: z.string(),
    /** The dependencies that make it restart, and what happens to them. */
    triggers: z.array(z.strictObject({ name: z.string(), change: z.enum(["replaced", "rerun"]) })),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("container.remove"),
    containerId: z.string(),
    cause: z.enum(["not-in-stack", "duplicate", "stale-job", "stale-helper", "network-recreated"]),
    /** Networks recreated under it (cause "network-recreated"). */
    networks: z.array(z.string()),
  }),
  ...swarmActions,
]);
export type Action = z.output<typeof ActionSchema>;
export type ActionKind = Action["kind"];
export type ActionOf<K extends ActionKind> = Extract<Action, { kind: K }>;

export const ConflictSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("container-name-taken"),
    resource: ResourceSchema,
    /** The container name held by a container without this stack's labels. */
    name: z.string(),
  }),
  z.strictObject({ kind: z.literal("network-name-taken"), resource: ResourceSchema, name: z.string() }),
  z.strictObject({
    kind: z.literal("host-port-held"),
    resource: ResourceSchema,
    port: z.number().int(),
    protocol: z.string(),
    /** The container outside the stack that publishes it. */
    holder: z.string(),
    /** Index in the service's `ports`. */
    index: z.number().int(),
  }),
  z.strictObject({ kind: z.literal("image-not-pullable"), resource: ResourceSchema, ref: z.string() }),
  z.strictObject({
    kind: z.literal("stack-owned-elsewhere"),
    resource: ResourceSchema,
    /** The data root of the project that owns the stack's containers or networks. */
    owner: z.string(),
  }),
  z.strictObject({
    kind: z.literal("mount-escapes-root"),
    resource: ResourceSchema,
    /** The mount's source, the path it really leads to, and its root. */
    source: z.string(),
    realPath: z.string(),
    root: z.string(),
  }),
  z.strictObject({
    kind: z.literal("mount-file-missing"),
    resource: ResourceSchema,
    path: z.string(),
    target: z.string(),
  }),
  // The swarm target's conflicts.
  z.strictObject({ kind: z.literal("service-name-taken"), resource: ResourceSchema, name: z.string() }),
  z.strictObject({
    kind: z.literal("node-role-missing"),
    resource: ResourceSchema,
    /** The placement role and the node label it needs (shctl.ROLE=true). */
    role: z.string(),
    label: z.string(),
  }),
  z.strictObject({
    kind: z.literal("node-role-ambiguous"),
    resource: ResourceSchema,
    role: z.string(),
    label: z.string(),
    /** The nodes that carry the label (hostname or ID). */
    nodes: z.array(z.string()),
  }),
  z.strictObject({
    kind: z.literal("data-on-other-node"),
    resource: ResourceSchema,
    path: z.string(),
    /** Where shctl made the directory, and the node the role names now. */
    madeOn: z.string(),
    roleNode: z.string(),
    role: z.string(),
  }),
  z.strictObject({
    kind: z.literal("config-too-large"),
    resource: ResourceSchema,
    path: z.string(),
    size: z.number().int(),
    limit: z.number().int(),
  }),
  z.strictObject({
    kind: z.literal("stack-on-other-target"),
    resource: ResourceSchema,
    /** Where the stack's resources were found: containers on this engine (target engine). */
    other: z.enum(["engine"]),
    count: z.number().int(),
  }),
]);
export type Conflict = z.output<typeof ConflictSchema>;

export const PlanSchema = z.strictObject({
  version: z.literal(PLAN_VERSION),
  stack: z.string(),
  /** "swarm" for a plan of the swarm target (services); absent for one engine (containers). */
  target: z.literal("swarm").optional(),
  profile: z.string().optional(),
  dataRoot: z.string(),
  actions: z.array(ActionSchema),
  conflicts: z.array(ConflictSchema),
  /** Services and jobs that need nothing. */
  unchanged: z.array(ResourceSchema),
  /** Services that need nothing but were not healthy when observed: apply waits for them too. */
  unready: z.array(z.string()),
  /** Services apply waits for at the end (healthy or ready): every one it starts, and the unready. */
  waitReady: z.array(z.string()),
  /** The existing container of each service, by name (on a swarm: the existing swarm service). */
  containers: z.record(z.string(), z.string()),
});
export type Plan = z.output<typeof PlanSchema>;
