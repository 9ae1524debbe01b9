import { createHash } from "node:crypto";
import type { ContainerSpec, ResolvedImage, ResolvedJob, ResolvedNetwork, ResolvedService } from "./model.js";

/**
 * Bump when the snapshot recipe changes meaning. Containers applied under another recipe are
 * compared field by field instead of by hash, so an shctl upgrade does not recreate everything.
 */
export const HASH_RECIPE = 1;

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

export function hashOf(value: unknown): string {
  return sha256(canonicalJson(value)).slice(0, 32);
}

/** How a secret appears in snapshots and labels: a digest that changes with the value, never the value. */
export function secretDigest(name: string, value: string): string {
  return `(sensitive:${sha256(`${name}\0${value}`).slice(0, 12)})`;
}

/**
 * A flat, serializable view of a container's effective configuration. It is stored as a label on
 * the container, so the next plan can say which field changed; its hash decides whether to recreate.
 * `restart` is left out on purpose: it is updated in place.
 */
export type Snapshot = Record<string, unknown>;

/**
 * `imageIdentity` is the local image ID, or null while the image is still to be built or pulled
 * (such a snapshot is only compared field by field, never stored).
 */
export function containerSnapshot(
  spec: ContainerSpec,
  imageIdentity: string | null,
  imageRef: string,
  inputDigests: Record<string, string | null>,
  extra: Record<string, unknown> = {},
): Snapshot {
  const env: Record<string, string> = {};
  for (const e of spec.env) env[e.name] = e.secret ? secretDigest(e.name, e.value) : e.value;
  const inputs: Record<string, string | null> = {};
  for (const p of spec.inputs) inputs[p] = inputDigests[p] ?? null;
  return {
    image: imageIdentity === null ? `${imageRef}@(pending)` : `${imageRef}@${imageIdentity}`,
    command: spec.command,
    entrypoint: spec.entrypoint,
    env,
    user: spec.user,
    workingDir: spec.workingDir,
    networks: Object.fromEntries(spec.networks.map((n) => [n.name, n.aliases])),
    mounts: Object.fromEntries(
      spec.mounts.map((m) => [
        m.target,
        m.type === "bind"
          ? `${m.root}:${m.source}${m.readOnly ? ":ro" : ""}${m.selinux ? `:${m.selinux}` : ""}`
          : `tmpfs${m.sizeBytes ? `:${m.sizeBytes}` : ""}`,
      ]),
    ),
    labels: spec.labels,
    extraHosts: spec.extraHosts,
    inputs,
    ...extra,
  };
}

export function serviceSnapshot(
  s: ResolvedService,
  imageIdentity: string | null,
  imageRef: string,
  inputDigests: Record<string, string | null>,
): Snapshot {
  return containerSnapshot(s, imageIdentity, imageRef, inputDigests, {
    hostname: s.hostname,
    ports: s.ports.map((p) => `${p.hostIp}:${p.host}->${p.container}/${p.protocol}`).sort(),
    healthcheck: s.healthcheck,
    ulimits: Object.fromEntries(s.ulimits.map((u) => [u.name, `${u.soft}:${u.hard}`])),
    stopSignal: s.stopSignal,
    stopGraceMs: s.stopGraceMs,
    init: s.init,
  });
}

/**
 * The job key: a job runs again only when this changes (or when it is marked `always`). A container
 * job's key covers its container's snapshot (image ID included); a function job's covers its
 * explicit `version` and its declared inputs, never the function's text, which would miss what the
 * function reads from its closure (bump `version` when what it does changes).
 */
export function jobKey(
  job: ResolvedJob,
  imageIdentity: string | undefined,
  imageRef: string | undefined,
  inputDigests: Record<string, string | null>,
): string {
  const inputs = Object.fromEntries(job.inputs.map((p) => [p, inputDigests[p] ?? null]));
  const body = job.container
    ? containerSnapshot(job.container, imageIdentity ?? "", imageRef ?? "", inputDigests)
    : { run: "function", inputs };
  return hashOf({ recipe: HASH_RECIPE, version: job.version, body });
}

export function snapshotHash(snapshot: Snapshot): string {
  return hashOf({ recipe: HASH_RECIPE, snapshot });
}

export function networkHash(n: ResolvedNetwork): string {
  return hashOf({ recipe: HASH_RECIPE, driver: n.driver, internal: n.internal, labels: n.labels });
}

/** What a built image's content hash covers; the Dockerfile and every file of the context are added by the builder. */
export function buildRecipe(img: ResolvedImage): Record<string, unknown> {
  return {
    dockerfile: img.build?.dockerfile,
    args: img.build?.args,
    target: img.build?.target,
    ref: img.ref,
  };
}

/** A built image's effective context: its own files plus the IDs of the images it is built from. */
export function effectiveContextHash(contextHash: string, needIds: string[]): string {
  return needIds.length === 0 ? contextHash : hashOf({ contextHash, needIds });
}
