import {
  canonicalJson,
  effectiveContextHash,
  HASH_RECIPE,
  jobKey,
  networkHash,
  type Snapshot,
  serviceSnapshot,
  snapshotHash,
} from "./hash.js";
import type { ResolvedJob, ResolvedService, ResolvedStack, StackNode } from "./model.js";
import type { ObservedContainer, ObservedNetwork, ObservedState } from "./observe.js";
import { addressesOverlap } from "./ports.js";

/*
 * plan(desired, observed) → Plan. Pure and synchronous: no engine, no disk, no clock. The plan is
 * plain data (JSON-serializable); `execute` carries it out and makes no decisions of its own
 * beyond waiting for the conditions the plan names.
 */

export type ActionKind =
  | "network.create"
  | "network.remove"
  | "image.pull"
  | "image.build"
  | "dir.create"
  | "job.run"
  | "container.create"
  | "container.recreate"
  | "container.update"
  | "container.start"
  | "container.restart"
  | "container.remove";

export interface FieldChange {
  /** Dotted path of the field, e.g. "env.LOG_LEVEL" or "command". */
  field: string;
  /** Printable values; secrets are "(sensitive)". Undefined: the field was or will be absent. */
  before: string | undefined;
  after: string | undefined;
  sensitive: boolean;
}

export interface Action {
  /** Unique within the plan, e.g. "container.create:web". */
  id: string;
  kind: ActionKind;
  /** What it acts on, for people: "service web", "job migrate", "image app", "network default", "dir postgres". */
  resource: string;
  /** Service, job, image key, network name or directory path. */
  target: string;
  /** Why, in a few words. */
  reason: string;
  changes: FieldChange[];
  /** Actions that must finish first. */
  after: string[];
  /** Kind-specific data the executor needs. */
  containerId?: string;
  owner?: { uid: number; gid: number };
  mode?: number;
  jobKey?: string;
  /** The key the job last completed with, if any. */
  recordedKey?: string;
  contextHash?: string;
  networkId?: string;
}

export interface Conflict {
  resource: string;
  message: string;
  hint: string;
}

export interface Plan {
  version: 1;
  stack: string;
  profile: string | undefined;
  dataRoot: string;
  actions: Action[];
  conflicts: Conflict[];
  /** Services and jobs that need nothing. */
  unchanged: string[];
  /** Services that need nothing but were not healthy when observed: apply waits for them too. */
  unready: string[];
  /** The existing container of each service, by name (the executor checks dependencies on them). */
  containers: Record<string, string>;
}

const PENDING = "(built or pulled during apply)";

export function plan(stack: ResolvedStack, observed: ObservedState): Plan {
  const actions: Action[] = [];
  const conflicts: Conflict[] = [];
  const add = (
    a: Omit<Action, "id" | "changes" | "after"> & Partial<Pick<Action, "changes" | "after">>,
  ): Action => {
    const action: Action = { id: `${a.kind}:${a.target}`, changes: [], after: [], ...a };
    actions.push(action);
    return action;
  };
  const ids = (list: (Action | string | undefined)[]): string[] => [
    ...new Set(list.map((x) => (typeof x === "string" ? x : x?.id)).filter((x): x is string => !!x)),
  ];

  // What the engine lists comes in the engine's order: sort it, so the same state always gives the
  // same plan, action for action (plans can be compared as text).
  const observedContainers = [...observed.containers].sort(
    (a, b) => compare(a.name, b.name) || compare(a.id, b.id),
  );
  const observedNetworks = [...observed.networks].sort(
    (a, b) => compare(a.name, b.name) || compare(a.id, b.id),
  );
  const nodes = nodesInOrder(stack);

  // Containers left over (orphans, duplicates, stale jobs and helpers) go first: a new container
  // may need their name, their host port or their data directory, and networks may be removed.
  const leftovers: Action[] = [];
  const desiredNames = new Set([...Object.keys(stack.services), ...Object.keys(stack.jobs)]);
  const primary = new Map<string, ObservedContainer>();
  for (const c of observedContainers) {
    const isDesiredService = c.kind === "service" && stack.services[c.node] !== undefined;
    if (isDesiredService && !primary.has(c.node) && c.name === stack.services[c.node]?.containerName) {
      primary.set(c.node, c);
      continue;
    }
    const why =
      c.kind === "job"
        ? "a job container left from an earlier run"
        : c.kind === "helper"
          ? "a helper container left from an earlier run"
          : desiredNames.has(c.node)
            ? "a duplicate of the service's container"
            : `"${c.node}" is no longer in the stack${stack.profile ? ` (profile ${stack.profile})` : ""}`;
    leftovers.push(
      add({
        kind: "container.remove",
        resource: `${c.kind} ${c.node || c.name}`,
        target: c.name,
        reason: why,
        containerId: c.id,
      }),
    );
  }

  // Networks: missing ones are created now; those whose settings changed are recreated below, once
  // every container attached to them is gone (the engine refuses to remove a network in use).
  const netAction = new Map<string, string>();
  const recreatedNets = new Map<string, ObservedNetwork>();
  for (const n of Object.values(stack.networks)) {
    const seen = observedNetworks.find((o) => o.name === n.dockerName);
    if (!seen) {
      if (observed.foreignNetworks.includes(n.dockerName)) {
        conflicts.push({
          resource: `network ${n.name}`,
          message: `a network named ${n.dockerName} exists but was not created by shctl for stack ${stack.name}`,
          hint: `remove or rename that network (docker network rm ${n.dockerName}), then apply again`,
        });
        continue;
      }
      netAction.set(
        n.name,
        add({ kind: "network.create", resource: `network ${n.name}`, target: n.name, reason: "missing" }).id,
      );
    } else if (seen.hash !== networkHash(n)) recreatedNets.set(n.name, seen);
  }

  // Images: identity is the local image ID when present (and, for builds, built from this context).
  const identity = new Map<string, string>();
  const imageAction = new Map<string, string>();
  const usedImages = new Set<string>();
  for (const s of Object.values(stack.services)) usedImages.add(s.image);
  for (const j of Object.values(stack.jobs)) {
    if (j.container) usedImages.add(j.container.image);
    for (const u of j.uses) usedImages.add(u);
  }
  // Images a used image is built from come first.
  const imageOrder: string[] = [];
  const visitImage = (key: string) => {
    if (imageOrder.includes(key)) return;
    for (const need of stack.images[key]?.needs ?? []) visitImage(need);
    imageOrder.push(key);
  };
  for (const key of [...usedImages].sort()) visitImage(key);
  for (const key of imageOrder) {
    const img = stack.images[key];
    if (!img) continue;
    const seen = observed.images[key];
    if (img.build) {
      const needIds = img.needs.map((n) => identity.get(n) ?? PENDING);
      const ctx = effectiveContextHash(observed.contextHashes[key] ?? "", needIds);
      if (seen && seen.labels["io.shctl.context"] === ctx && !needIds.includes(PENDING))
        identity.set(key, seen.id);
      else {
        imageAction.set(
          key,
          add({
            kind: "image.build",
            resource: `image ${key}`,
            target: key,
            reason: !seen
              ? "not built yet"
              : needIds.includes(PENDING)
                ? `${img.needs.join(", ")} is built or pulled first`
                : "its build context changed",
            contextHash: observed.contextHashes[key] ?? "",
            after: ids(img.needs.map((n) => imageAction.get(n))),
          }).id,
        );
      }
    } else if (seen) identity.set(key, seen.id);
    else if (img.pull === "never") {
      conflicts.push({
        resource: `image ${key}`,
        message: `${img.ref} is not present locally and its pull policy is "never"`,
        hint: `load or build ${img.ref} (or allow pulling), then apply again`,
      });
    } else {
      imageAction.set(
        key,
        add({
          kind: "image.pull",
          resource: `image ${key}`,
          target: key,
          reason: img.mirrorRef ? `missing locally; pulled from ${img.mirrorRef}` : "missing locally",
        }).id,
      );
    }
  }

  // Directories for bind mounts, created once with their declared owner.
  const dirAction = new Map<string, string>();
  for (const node of nodes) {
    const spec = node.kind === "service" ? node : node.container;
    for (const m of spec?.mounts ?? []) {
      if (m.type !== "bind" || m.kind !== "dir" || observed.dirs[m.hostPath] || dirAction.has(m.hostPath))
        continue;
      const a = add({
        kind: "dir.create",
        resource: `dir ${m.root === "data" ? m.source : `project:${m.source}`}`,
        target: m.hostPath,
        reason: "missing",
        ...(m.owner ? { owner: m.owner } : {}),
        ...(m.mode !== undefined ? { mode: m.mode } : {}),
      });
      dirAction.set(m.hostPath, a.id);
    }
  }
  /** What a node's container needs before it can be created: its image(s) and directories. */
  const materials = (node: StackNode): (string | undefined)[] => {
    const spec = node.kind === "service" ? node : node.container;
    const out: (string | undefined)[] = [];
    if (node.kind === "job") for (const u of node.uses) out.push(imageAction.get(u));
    if (spec) {
      out.push(imageAction.get(spec.image));
      for (const m of spec.mounts) if (m.type === "bind") out.push(dirAction.get(m.hostPath));
    }
    return out;
  };

  // Services whose container is attached to a network that is recreated: the old container is
  // removed before the network (dependents first, and only once what the new container needs is
  // ready), and the new one is created on the new network.
  const takedown = new Map<string, Action>();
  const attachedRecreated = new Map<string, string[]>();
  for (const node of nodes) {
    if (node.kind !== "service") continue;
    const c = primary.get(node.name);
    const nets = c ? attachedNetworks(c, node).filter((n) => recreatedNets.has(n)) : [];
    if (nets.length > 0) attachedRecreated.set(node.name, nets);
  }
  for (const node of [...nodes].reverse()) {
    const nets = attachedRecreated.get(node.name);
    const c = primary.get(node.name);
    if (!nets || !c || node.kind !== "service") continue;
    const dependents = nodes.filter((d) => d.deps.some((x) => x.name === node.name));
    takedown.set(
      node.name,
      add({
        kind: "container.remove",
        resource: `service ${node.name}`,
        target: c.name,
        reason: `network ${nets.join(", ")} is recreated: the container is created again on it`,
        containerId: c.id,
        after: ids([...materials(node), ...dependents.map((d) => takedown.get(d.name))]),
      }),
    );
  }
  for (const [name, seen] of recreatedNets) {
    const users = [...attachedRecreated.entries()].filter(([, nets]) => nets.includes(name));
    const rm = add({
      kind: "network.remove",
      resource: `network ${name}`,
      target: name,
      reason: "its settings changed (driver, internal or labels): recreated",
      networkId: seen.id,
      after: ids([...leftovers, ...users.map(([svc]) => takedown.get(svc))]),
    });
    netAction.set(
      name,
      add({
        kind: "network.create",
        resource: `network ${name}`,
        target: name,
        reason: "its settings changed",
        after: [rm.id],
      }).id,
    );
  }

  // Services and jobs, in dependency order (so each one's dependencies are planned before it).
  const nodeAction = new Map<string, Action>();
  const unchanged: string[] = [];
  const unready: string[] = [];
  const prereqs = (node: StackNode): string[] => {
    const spec = node.kind === "service" ? node : node.container;
    return ids([
      ...materials(node),
      ...(spec?.networks ?? []).map((n) => netAction.get(n.name)),
      ...node.deps.map((d) => nodeAction.get(d.name)),
      ...leftovers,
      takedown.get(node.name),
    ]);
  };
  /** A running service whose dependency is replaced, restarted or re-run restarts if it asked to. */
  const restartTriggers = (node: ResolvedService) =>
    node.deps.filter((d) => {
      const a = nodeAction.get(d.name);
      return d.restart && a !== undefined && RESTART_TRIGGERS.has(a.kind);
    });

  for (const node of nodes) {
    if (node.kind === "job") {
      const spec = node.container;
      const ident = spec ? (identity.get(spec.image) ?? PENDING) : undefined;
      const ref = spec ? stack.images[spec.image]?.ref : undefined;
      const key = jobKey(node, ident, ref, observed.inputs);
      const done = observed.jobs[node.name];
      const reason = node.always
        ? "runs on every apply"
        : !done
          ? "never completed"
          : ident === PENDING
            ? "its image is built or pulled in this apply"
            : done.key !== key
              ? "its spec, image or inputs changed"
              : undefined;
      if (reason === undefined) {
        unchanged.push(`job ${node.name}`);
        continue;
      }
      if (observed.foreignContainers.some((f) => f.name === node.containerName)) {
        conflicts.push(nameConflict(`job ${node.name}`, node.containerName));
        continue;
      }
      nodeAction.set(
        node.name,
        add({
          kind: "job.run",
          resource: `job ${node.name}`,
          target: node.name,
          reason,
          jobKey: key,
          ...(done ? { recordedKey: done.key } : {}),
          after: prereqs(node),
        }),
      );
      continue;
    }

    const ident = identity.get(node.image) ?? PENDING;
    const pending = ident === PENDING;
    const ref = stack.images[node.image]?.ref ?? node.image;
    const desired = serviceSnapshot(node, ident, ref, observed.inputs);
    const c = primary.get(node.name);
    if (!c) {
      if (observed.foreignContainers.some((f) => f.name === node.containerName)) {
        conflicts.push(nameConflict(`service ${node.name}`, node.containerName));
        continue;
      }
      nodeAction.set(
        node.name,
        add({
          kind: "container.create",
          resource: `service ${node.name}`,
          target: node.name,
          reason: "missing",
          after: prereqs(node),
        }),
      );
      continue;
    }
    // While the image is still to be built or pulled its ID is unknown: that is the reason to
    // recreate, not a field change (the executor skips the recreate if the image comes out the same).
    const changes = (c.snapshot ? diffSnapshots(c.snapshot, desired) : []).filter(
      (ch) => !(pending && ch.field === "image" && ch.before?.startsWith(`${ref}@`)),
    );
    const specChanged = pending
      ? changes.length > 0
      : c.recipe === HASH_RECIPE
        ? c.hash !== snapshotHash(desired)
        : changes.length > 0;
    const netsRecreated = [
      ...new Set([...node.networks.map((n) => n.name), ...(attachedRecreated.get(node.name) ?? [])]),
    ].filter((n) => recreatedNets.has(n));
    const drift = specChanged ? [] : driftOf(node, c, ident, observed.images[node.image]?.env ?? []);
    const down = takedown.get(node.name);
    // Jobs of this plan that write one of its inputs (planned before it: see nodesInOrder). Whether
    // the file really changes is known only once they ran: the executor skips the recreate if not.
    const rewrites = writersOf(stack, node)
      .map((j) => nodeAction.get(j.name))
      .filter((a): a is Action => a?.kind === "job.run");
    if (
      specChanged ||
      netsRecreated.length > 0 ||
      drift.length > 0 ||
      pending ||
      down ||
      rewrites.length > 0
    ) {
      const reason = specChanged
        ? `${changes.map((ch) => ch.field).join(", ") || "spec"} changed`
        : drift.length > 0
          ? "changed outside shctl"
          : pending
            ? "its image is built or pulled in this apply"
            : netsRecreated.length > 0
              ? `network ${netsRecreated.join(", ")} is recreated`
              : rewrites.length > 0
                ? `job ${rewrites.map((a) => a.target).join(", ")} may rewrite its inputs`
                : "spec changed";
      nodeAction.set(
        node.name,
        add({
          kind: "container.recreate",
          resource: `service ${node.name}`,
          target: node.name,
          reason,
          changes: drift.length > 0 ? drift : changes,
          // Removed already (before its network): only the new container is left to create.
          ...(down ? {} : { containerId: c.id }),
          after: ids([...prereqs(node), ...rewrites]),
        }),
      );
      continue;
    }
    if (c.restartPolicy !== node.restart) {
      nodeAction.set(
        node.name,
        add({
          kind: "container.update",
          resource: `service ${node.name}`,
          target: node.name,
          reason: "restart policy changed (updated in place)",
          changes: [{ field: "restart", before: c.restartPolicy, after: node.restart, sensitive: false }],
          containerId: c.id,
          after: prereqs(node),
        }),
      );
    }
    const updated = nodeAction.get(node.name);
    if (c.state !== "running" && c.state !== "restarting") {
      nodeAction.set(
        node.name,
        add({
          kind: "container.start",
          resource: `service ${node.name}`,
          target: node.name,
          reason: `it is ${c.state}`,
          containerId: c.id,
          after: updated ? [updated.id] : prereqs(node),
        }),
      );
      continue;
    }
    const triggers = c.state === "running" ? restartTriggers(node) : [];
    if (triggers.length > 0) {
      nodeAction.set(
        node.name,
        add({
          kind: "container.restart",
          resource: `service ${node.name}`,
          target: node.name,
          reason: restartReason(triggers.map((t) => nodeAction.get(t.name) as Action)),
          containerId: c.id,
          after: ids([updated, ...node.deps.map((d) => nodeAction.get(d.name))]),
        }),
      );
      continue;
    }
    if (!updated) unchanged.push(`service ${node.name}`);
    if (c.state === "running" && (c.health === "unhealthy" || c.health === "starting"))
      unready.push(node.name);
  }

  // Networks no longer in the stack go last, once every container that may be attached is gone.
  const gone = actions.filter(
    (a) => a.kind === "container.remove" || (a.kind === "container.recreate" && a.containerId),
  );
  for (const n of observedNetworks) {
    if (Object.values(stack.networks).some((d) => d.dockerName === n.name)) continue;
    add({
      kind: "network.remove",
      resource: `network ${n.node || n.name}`,
      target: n.name,
      reason: "no longer in the stack",
      networkId: n.id,
      after: ids(gone),
    });
  }

  conflicts.push(...portConflicts(stack, observed, actions));

  return {
    version: 1,
    stack: stack.name,
    profile: stack.profile,
    dataRoot: stack.dataRoot,
    actions,
    conflicts,
    unchanged: unchanged.sort(),
    unready: unready.sort(),
    containers: Object.fromEntries([...primary.entries()].map(([name, c]) => [name, c.id]).sort()),
  };
}

/** Kinds of a dependency's action that restart dependents with `restart: true`. */
const RESTART_TRIGGERS = new Set<ActionKind>([
  "container.create",
  "container.recreate",
  "container.restart",
  "job.run",
]);

function restartReason(triggers: Action[]): string {
  const replaced = triggers.filter((a) => a.kind !== "job.run").map((a) => a.target);
  const rerun = triggers.filter((a) => a.kind === "job.run").map((a) => a.target);
  const parts: string[] = [];
  if (replaced.length > 0)
    parts.push(`${replaced.join(", ")} ${replaced.length > 1 ? "are" : "is"} replaced`);
  if (rerun.length > 0) parts.push(`${rerun.join(", ")} ${rerun.length > 1 ? "run" : "runs"} again`);
  return parts.join("; ");
}

/** Code-unit order, independent of the locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The stack networks an existing service container is attached to: as its applied snapshot says,
 * or, for a container without one, the networks the spec gives it.
 */
function attachedNetworks(c: ObservedContainer, s: ResolvedService): string[] {
  const nets = c.snapshot?.networks;
  if (nets !== null && typeof nets === "object" && !Array.isArray(nets)) return Object.keys(nets).sort();
  return s.networks.map((n) => n.name);
}

/**
 * Host ports that a service to be created or started would publish while a running container
 * outside this stack already publishes them: the start would fail, so it is a conflict now.
 */
function portConflicts(stack: ResolvedStack, observed: ObservedState, actions: Action[]): Conflict[] {
  const out: Conflict[] = [];
  for (const a of actions) {
    if (a.kind !== "container.create" && a.kind !== "container.recreate" && a.kind !== "container.start")
      continue;
    const svc = stack.services[a.target];
    for (const [i, p] of (svc?.ports ?? []).entries()) {
      const holder = observed.foreignPorts.find(
        (h) => h.port === p.host && h.protocol === p.protocol && addressesOverlap(h.hostIp, p.hostIp),
      );
      if (!holder || !svc) continue;
      out.push({
        resource: `service ${svc.name}`,
        message: `host port ${p.host}/${p.protocol} is already published by container ${holder.container}, which is not in this stack`,
        hint: `stop that container (docker stop ${holder.container}) or change services.${svc.name}.ports[${i}], then apply again`,
      });
    }
  }
  return out;
}

function nameConflict(resource: string, name: string): Conflict {
  return {
    resource,
    message: `a container named ${name} exists but was not created by shctl (it has no stack labels), so shctl will not touch it`,
    hint: `remove or rename it (docker rm -f ${name}), then apply again`,
  };
}

/** Services and jobs, dependencies before dependents, ties broken by name (so plans are stable). */
/** The jobs that declare one of the service's inputs among their outputs, by name. */
function writersOf(stack: ResolvedStack, service: ResolvedService): ResolvedJob[] {
  return Object.values(stack.jobs)
    .filter((j) => j.outputs.some((o) => service.inputs.includes(o)))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function nodesInOrder(stack: ResolvedStack): StackNode[] {
  const all = new Map<string, StackNode>();
  for (const s of Object.values(stack.services)) all.set(s.name, s);
  for (const j of Object.values(stack.jobs)) all.set(j.name, j);
  const out: StackNode[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const node = all.get(name);
    if (!node) return;
    for (const d of [...node.deps].sort((a, b) => a.name.localeCompare(b.name))) visit(d.name);
    // A job that writes one of a service's inputs comes first, so the service can follow it.
    if (node.kind === "service" && node.inputs.length > 0)
      for (const j of writersOf(stack, node)) visit(j.name);
    out.push(node);
  };
  for (const name of [...all.keys()].sort()) visit(name);
  return out;
}

const SENSITIVE_RE = /^\(sensitive(:[0-9a-f]+)?\)$/;

function printable(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : canonicalJson(v);
}

/** Field-level differences between an applied snapshot and the desired one. */
export function diffSnapshots(before: Snapshot, after: Snapshot): FieldChange[] {
  const out: FieldChange[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const k of keys) {
    const a = before[k];
    const b = after[k];
    if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) continue;
    const isMap = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
    if ((isMap(a) || a === undefined) && (isMap(b) || b === undefined) && k !== "healthcheck") {
      const am = (a ?? {}) as Record<string, unknown>;
      const bm = (b ?? {}) as Record<string, unknown>;
      for (const sub of [...new Set([...Object.keys(am), ...Object.keys(bm)])].sort()) {
        if (canonicalJson(am[sub] ?? null) !== canonicalJson(bm[sub] ?? null))
          out.push(change(`${k}.${sub}`, am[sub], bm[sub]));
      }
    } else out.push(change(k, a, b));
  }
  return out;
}

function change(field: string, a: unknown, b: unknown): FieldChange {
  const pa = printable(a);
  const pb = printable(b);
  const sensitive =
    (pa !== undefined && SENSITIVE_RE.test(pa)) || (pb !== undefined && SENSITIVE_RE.test(pb));
  return {
    field,
    before: pa !== undefined && SENSITIVE_RE.test(pa) ? "(sensitive)" : pa,
    after: pb !== undefined && SENSITIVE_RE.test(pb) ? "(sensitive)" : pb,
    sensitive,
  };
}

/**
 * Differences between what the container runs and what shctl applied, for changes made behind
 * shctl's back (a container recreated by hand with other env, another image, another command).
 */
function driftOf(s: ResolvedService, c: ObservedContainer, ident: string, imageEnv: string[]): FieldChange[] {
  const out: FieldChange[] = [];
  const actual = new Map<string, string>();
  for (const e of c.env) {
    const i = e.indexOf("=");
    actual.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  const desired = new Map(s.env.map((e) => [e.name, e]));
  for (const e of s.env) {
    const got = actual.get(e.name);
    if (got !== e.value) {
      out.push({
        field: `env.${e.name}`,
        before: e.secret && got !== undefined ? "(sensitive)" : got,
        after: e.secret ? "(sensitive)" : e.value,
        sensitive: e.secret,
      });
    }
  }
  const fromImage = new Map<string, string>();
  for (const e of imageEnv) {
    const i = e.indexOf("=");
    fromImage.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  for (const [name, value] of actual) {
    if (desired.has(name) || fromImage.get(name) === value) continue;
    if (imageEnv.length === 0 && !fromImage.has(name)) continue; // image env unknown: cannot tell
    out.push({ field: `env.${name}`, before: value, after: undefined, sensitive: false });
  }
  if (ident !== PENDING && c.imageId !== ident) {
    out.push({ field: "image", before: c.imageId, after: ident, sensitive: false });
  }
  if (s.command && canonicalJson(c.cmd ?? []) !== canonicalJson(s.command)) {
    out.push({ field: "command", before: printable(c.cmd), after: printable(s.command), sensitive: false });
  }
  return out;
}
