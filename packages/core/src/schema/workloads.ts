import { z } from "zod";
import type { CheckRun, DoctorRun, JobRun, ProbeCheck } from "./contexts.js";
import {
  Command,
  Duration,
  EnvValue,
  Healthcheck,
  HostPath,
  Mount,
  PortSpec,
  ResourceName,
} from "./values.js";

/* The stack schema's workloads: services and jobs (with their probes and dependencies), checks and doctor checks. */

const probeTiming = {
  interval: Duration.default("500ms"),
};
export const Probe = z.union([
  z.strictObject({ tcp: z.strictObject({ port: z.number().int().min(1).max(65535) }), ...probeTiming }),
  z.strictObject({
    http: z.strictObject({
      port: z.number().int().min(1).max(65535),
      path: z.string().default("/"),
      expectBody: z.string().optional().describe("Text the body must contain"),
    }),
    ...probeTiming,
  }),
  z.strictObject({ exec: Command, ...probeTiming }),
  z.strictObject({
    custom: z.strictObject({
      name: z.string(),
      check: z.custom<ProbeCheck>((v) => typeof v === "function", { message: "expected a function" }),
    }),
    ...probeTiming,
  }),
]);

export const DependencyCondition = z.enum(["started", "healthy", "completed"]);
export const Dependency = z.strictObject({
  condition: DependencyCondition.default("started"),
  restart: z
    .boolean()
    .default(false)
    .describe("Restart this service when the dependency is recreated or restarted, or (a job) runs again"),
});
export const DependsOn = z.union([z.array(ResourceName), z.record(ResourceName, Dependency)]);

const NetworkAttachment = z.union([
  z.array(ResourceName),
  z.record(ResourceName, z.strictObject({ aliases: z.array(z.string()).default([]) })),
]);

/** Where a swarm runs a service or job (target: swarm only). */
export const Placement = z
  .strictObject({
    node: ResourceName.describe(
      "The node role: it runs on the node labelled shctl.ROLE=true (docker node update --label-add shctl.ROLE=true NODE)",
    ),
  })
  .describe("target: swarm only. Pins it to one node; a service with data mounts must be pinned");

const Ulimit = z.union([
  z.number().int(),
  z.strictObject({ soft: z.number().int(), hard: z.number().int() }),
]);

const containerFields = {
  image: z.string().min(1).describe("A key of `images`, or an image reference to pull"),
  command: Command.optional(),
  entrypoint: Command.optional(),
  env: z.record(z.string(), EnvValue).default({}),
  user: z.string().optional(),
  workingDir: z.string().optional(),
  networks: NetworkAttachment.optional().describe("Defaults to every network of the stack"),
  mounts: z.array(Mount).default([]),
  dependsOn: DependsOn.default([]),
  profiles: z.array(ResourceName).optional().describe("Profiles this belongs to; omitted: every profile"),
  inputs: z
    .array(HostPath)
    .default([])
    .describe("Files whose content is part of the spec hash: editing one recreates or re-runs this"),
  labels: z.record(z.string(), z.string()).default({}),
  extraHosts: z.array(z.string()).default([]),
};

export const Service = z.strictObject({
  ...containerFields,
  hostname: z.string().optional(),
  aliases: z.array(z.string()).default([]).describe("Extra DNS names on every network"),
  ports: z.array(PortSpec).default([]),
  healthcheck: Healthcheck.optional(),
  readiness: z.array(Probe).default([]),
  readyTimeout: Duration.default("5m"),
  restart: z
    .enum(["no", "always", "unless-stopped", "on-failure"])
    .optional()
    .describe(
      "Restart policy; default: no on one engine, always on a swarm (a task lost with its node is replaced, as docker stack deploy does)",
    ),
  ulimits: z.record(z.string(), Ulimit).default({}),
  stopSignal: z.string().optional(),
  stopGracePeriod: Duration.default("10s"),
  init: z.boolean().default(false).describe("Run an init process as PID 1 (reaps zombies, forwards signals)"),
  placement: Placement.optional(),
  replicas: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("target: swarm only. How many tasks run (default 1); a service with data mounts runs 1"),
  update: z
    .enum(["start-first", "stop-first"])
    .optional()
    .describe(
      "How a changed container is replaced: the new one started beside the old (start-first) or after it stops (stop-first); default: stop-first when it publishes a host port the old one holds or has a data directory no other container mounts",
    ),
});

export const Job = z
  .strictObject({
    ...containerFields,
    image: z.string().min(1).optional(),
    run: z
      .custom<JobRun>((v) => typeof v === "function", { message: "expected a function" })
      .optional()
      .describe("TypeScript stacks only: a function run by the reconciler instead of a container"),
    version: z.string().optional().describe("Part of the job key; bump it to re-run a `run` job"),
    uses: z
      .array(z.string())
      .default([])
      .describe(
        "Images a `run` job starts containers of (keys or references): pulled or built before it runs",
      ),
    timeout: Duration.default("10m"),
    placement: Placement.optional(),
    always: z.boolean().default(false).describe("Run on every apply, not only when the job key changes"),
    outputs: z
      .array(HostPath)
      .default([])
      .describe(
        "Files the job writes: a service with one of them in its `inputs` is recreated after the job runs, if the file changed",
      ),
  })
  .superRefine((job, ctx) => {
    if ((job.image === undefined) === (job.run === undefined)) {
      ctx.addIssue({
        code: "custom",
        message: "a job needs exactly one of `image` (a container) or `run` (a function)",
      });
    }
  });

export const Check = z.strictObject({
  name: ResourceName.describe("Selects the check on the command line (`shctl verify --pipeline NAME`)"),
  description: z.string().optional(),
  timeout: Duration.default("3m").describe("How long the whole check may take"),
  hops: z
    .array(z.string())
    .default([])
    .describe("The hops' names in order, when known up front: shown pending, and skipped after a broken one"),
  run: z
    .custom<CheckRun>((v) => typeof v === "function", { message: "expected a function" })
    .describe("TypeScript stacks only: runs the check's hops"),
});

export const DoctorCheck = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.:-]*$/, { message: "use lowercase letters, digits, '.', '_', ':' or '-'" })
    .describe("A stable name; a stack check with the id of a built-in check takes its place"),
  title: z.string().min(1),
  run: z.custom<DoctorRun>((v) => typeof v === "function", { message: "expected a function" }),
});
