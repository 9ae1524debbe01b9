import { z } from "zod";
import type { StatusExtras } from "./schema/contexts.js";
import { type EnvValue, type Mount, ResourceName } from "./schema/values.js";
import { Check, DoctorCheck, Job, type Probe, Service } from "./schema/workloads.js";

/*
 * The stack model. One schema validates YAML files and TypeScript modules alike; the inferred
 * `StackInput` type is what `defineStack` accepts. Durations are strings ("30s", "1m30s", "500ms")
 * and are kept as text here; `resolve.ts` turns them into milliseconds. Its parts are in schema/:
 * values.ts (names, durations, mounts, ports …), workloads.ts (services, jobs, probes, checks) and
 * contexts.ts (what a stack's functions run with).
 */

export type * from "./schema/contexts.js";
export * from "./schema/values.js";
export * from "./schema/workloads.js";

export const Network = z.strictObject({
  driver: z.string().default("bridge"),
  internal: z.boolean().default(false),
  labels: z.record(z.string(), z.string()).default({}),
});

export const Image = z
  .strictObject({
    ref: z.string().min(1).describe('The name containers run, e.g. "postgres:14.5" or "myapp-local:latest"'),
    build: z
      .strictObject({
        context: z.string().min(1).describe("Directory relative to the project dir"),
        dockerfile: z.string().default("Dockerfile"),
        args: z.record(z.string(), z.string()).default({}),
        target: z.string().optional(),
      })
      .optional(),
    pull: z.enum(["missing", "never"]).default("missing").describe("Pull when missing locally, or never"),
    needs: z
      .array(ResourceName)
      .default([])
      .describe(
        "Images (keys) this build starts FROM: built or pulled first, and a change to them rebuilds this one",
      ),
  })
  .describe("An image pulled by reference, or built from a local context");

/** Settings of the swarm target (target: swarm). */
export const SwarmSettings = z.strictObject({
  registry: z
    .string()
    .min(1)
    .optional()
    .describe(
      "A registry every node can pull from (host[:port][/path]): shctl pushes the images it builds and its own helper image there, and services run them by digest",
    ),
  sharedDirs: z
    .array(z.string().min(1))
    .default([])
    .describe(
      "Data directories (relative to the data root) on storage every node mounts at the same path (NFS, a cluster file system): services that write them may run anywhere",
    ),
});

export const Stack = z.strictObject({
  $schema: z.string().optional(),
  name: ResourceName,
  target: z
    .enum(["engine", "swarm"])
    .default("engine")
    .describe(
      "engine: containers on one Docker Engine (default); swarm: services of the swarm this engine manages",
    ),
  swarm: SwarmSettings.optional(),
  version: z
    .string()
    .optional()
    .describe("The version of what the stack runs (e.g. its product's release); recorded in backups"),
  dataRoot: z
    .string()
    .optional()
    .describe(
      "Where everything the stack keeps lives, relative to the project dir; default: the one the loading tool sets (load's defaultDataRoot), else ./data",
    ),
  bindAddress: z.string().default("0.0.0.0").describe("Host address for ports that name none"),
  registryMirror: z
    .string()
    .optional()
    .describe(
      "A Docker Hub mirror (a registry host or host/path prefix): Docker Hub images are pulled from it (official ones as MIRROR/library/NAME:TAG, then MIRROR/NAME:TAG) and tagged NAME:TAG; other registries' images are not",
    ),
  defaultProfile: ResourceName.optional(),
  profiles: z
    .array(ResourceName)
    .default([])
    .describe("Profile names this stack offers (besides those its services name)"),
  notes: z.array(z.string()).default([]).describe("Lines shown after a successful apply (URLs, next steps)"),
  networks: z.record(ResourceName, Network).default({}),
  images: z.record(ResourceName, Image).default({}),
  services: z.record(ResourceName, Service).default({}),
  jobs: z.record(ResourceName, Job).default({}),
  checks: z
    .array(Check)
    .default([])
    .describe("End-to-end checks `shctl verify` runs against the running stack (TypeScript stacks only)"),
  doctor: z
    .array(DoctorCheck)
    .default([])
    .describe("TypeScript stacks only: the stack's own checks for `shctl doctor`"),
  statusExtras: z
    .custom<StatusExtras>((v) => typeof v === "function", { message: "expected a function" })
    .optional()
    .describe("TypeScript stacks only: figures `shctl status` adds to service rows (e.g. consumer lag)"),
});

export type StackInput = z.input<typeof Stack>;
export type StackSpec = z.output<typeof Stack>;
export type ServiceSpec = z.output<typeof Service>;
export type JobSpec = z.output<typeof Job>;
export type MountSpec = z.output<typeof Mount>;
export type ProbeSpec = z.output<typeof Probe>;
export type DoctorCheckSpec = z.output<typeof DoctorCheck>;
export type SwarmSettingsSpec = z.output<typeof SwarmSettings>;
export type EnvValueSpec = z.output<typeof EnvValue>;
export type CheckSpec = z.output<typeof Check>;

/** The JSON Schema of stack files (for editors); functions (`run`, custom probes) are TypeScript-only. */
export function stackJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(Stack, { io: "input", unrepresentable: "any", target: "draft-7" }) as Record<
    string,
    unknown
  >;
}
