import { effectiveContextHash } from "../hash.js";
import { LABEL } from "../labels.js";
import type { ResolvedMount, ResolvedStack, StackNode } from "../model.js";
import { ids, type PlanBuilder } from "../plan/builder.js";
import { usedImages } from "../plan/order.js";
import type { ActionOf, Resource } from "../plan/types.js";
import { inside } from "../resolve/context.js";
import { pushRefOf } from "./images.js";
import { roleLabel } from "./names.js";
import type { ObservedNode, SwarmObserved } from "./observe.js";
import type { SwarmImage } from "./spec.js";

/*
 * What a swarm's services are made of: the nodes of each placement role, images (built here,
 * pushed to the stack's registry when it has one) and data directories (made on the one node of
 * their role, or here for directories every node shares).
 */

type BindMount = Extract<ResolvedMount, { type: "bind" }>;

export interface SwarmMaterials {
  /** The image each key runs as, for services' specs and snapshots. */
  image: Map<string, SwarmImage>;
  /** The actions that build or push each image key. */
  imageAction: Map<string, string[]>;
  /** The action that makes each data directory (by host path). */
  dirAction: Map<string, string>;
  /** The nodes of each role used, by role. */
  roleNodes: Map<string, ObservedNode[]>;
}

/** The node's name for people: its hostname, with its ID when two nodes share a hostname. */
export function nodeName(o: SwarmObserved, node: ObservedNode): string {
  const same = o.nodes.filter((n) => n.hostname === node.hostname).length > 1;
  return same || !node.hostname ? `${node.hostname || "node"} (${node.id.slice(0, 12)})` : node.hostname;
}

/** Writable data directories on one node (not shared): the bind mounts that pin a service. */
export function nodeDataMounts(stack: ResolvedStack, node: StackNode): BindMount[] {
  const spec = node.kind === "service" ? node : node.container;
  const shared = stack.swarm?.sharedDirs ?? [];
  return (spec?.mounts ?? []).filter(
    (m): m is BindMount =>
      m.type === "bind" &&
      !m.readOnly &&
      m.kind === "dir" &&
      m.root === "data" &&
      !shared.some((d) => m.hostPath === d || inside(d, m.hostPath)),
  );
}

/** Shared writable directories a node mounts (made on this machine, which shares them). */
function sharedMounts(stack: ResolvedStack, node: StackNode): BindMount[] {
  const spec = node.kind === "service" ? node : node.container;
  const shared = stack.swarm?.sharedDirs ?? [];
  return (spec?.mounts ?? []).filter(
    (m): m is BindMount =>
      m.type === "bind" &&
      !m.readOnly &&
      m.kind === "dir" &&
      shared.some((d) => m.hostPath === d || inside(d, m.hostPath)),
  );
}

/** Each role's nodes; a missing role is a conflict, and so is a role holding data on several nodes. */
export function planRoles(
  stack: ResolvedStack,
  o: SwarmObserved,
  nodes: readonly StackNode[],
  b: PlanBuilder,
): Map<string, ObservedNode[]> {
  const roleNodes = new Map<string, ObservedNode[]>();
  for (const node of nodes) {
    const role = node.placement;
    if (role === undefined) continue;
    const resource: Resource = { type: node.kind, name: node.name };
    const label = roleLabel(role);
    if (!roleNodes.has(role)) {
      const found = o.nodes.filter((n) => n.labels[label] === "true");
      roleNodes.set(role, found);
      if (found.length === 0) b.conflict({ kind: "node-role-missing", resource, role, label });
    }
    const found = roleNodes.get(role) ?? [];
    if (found.length > 1 && nodeDataMounts(stack, node).length > 0)
      b.conflict({
        kind: "node-role-ambiguous",
        resource,
        role,
        label,
        nodes: found.map((n) => nodeName(o, n)),
      });
  }
  return roleNodes;
}

/** Images: built here when missing or changed; pushed to the registry when the stack has one. */
export function planSwarmImages(
  stack: ResolvedStack,
  o: SwarmObserved,
  b: PlanBuilder,
): Pick<SwarmMaterials, "image" | "imageAction"> {
  const image = new Map<string, SwarmImage>();
  const imageAction = new Map<string, string[]>();
  const identity = new Map<string, string | null>();
  const order: string[] = [];
  const visit = (key: string) => {
    if (order.includes(key)) return;
    for (const need of stack.images[key]?.needs ?? []) visit(need);
    order.push(key);
  };
  for (const key of [...usedImages(stack)].sort()) visit(key);
  const registry = stack.swarm?.registry;
  for (const key of order) {
    const img = stack.images[key];
    const ref = img?.ref ?? key;
    const seen = o.images[key];
    const actions: string[] = [];
    let id: string | null | undefined = seen?.local ? seen.id : undefined;
    if (img?.build) {
      const needIds = img.needs.map((n) => identity.get(n));
      const pending = needIds.some((x) => x === null || x === undefined);
      const ctx = effectiveContextHash(o.contextHashes[key] ?? "", needIds as string[]);
      if (!seen || pending || seen.labels[LABEL.context] !== ctx) {
        const a = b.add<ActionOf<"image.build">>({
          kind: "image.build",
          resource: { type: "image", name: key },
          target: key,
          after: ids(img.needs.flatMap((n) => imageAction.get(n) ?? [])),
          ref,
          contextHash: o.contextHashes[key] ?? "",
          needs: img.needs,
          cause: !seen ? "missing" : pending ? "base-pending" : "context-changed",
        });
        actions.push(a.id);
        id = null;
      } else id = seen.id;
    }
    identity.set(key, id ?? null);
    let run = ref;
    if (registry && id !== undefined) {
      const pushRef = pushRefOf(registry, ref);
      const record = o.swarm.pushed[key];
      if (id !== null && record && record.imageId === id && record.pushRef === pushRef) {
        run = `${pushRef}@${record.digest}`;
      } else {
        const a = b.add<ActionOf<"image.push">>({
          kind: "image.push",
          resource: { type: "image", name: key },
          target: key,
          after: [...actions],
          ref,
          pushRef,
          cause: record ? "changed" : "not-pushed",
        });
        actions.push(a.id);
        run = `${pushRef}@(pending)`;
        if (id !== null) id = null; // known once pushed
      }
    }
    image.set(key, { run, ref, identity: id });
    if (actions.length > 0) imageAction.set(key, actions);
  }
  return { image, imageAction };
}

/**
 * Data directories: a node's own are made on the one node of its role (unless made there already,
 * and still there); shared ones here. A directory made on another node than the role's now is a
 * conflict: its data is there.
 */
export function planSwarmDirs(
  stack: ResolvedStack,
  o: SwarmObserved,
  nodes: readonly StackNode[],
  roleNodes: Map<string, ObservedNode[]>,
  b: PlanBuilder,
): Map<string, string> {
  const dirAction = new Map<string, string>();
  for (const node of nodes) {
    for (const m of sharedMounts(stack, node)) {
      if (o.dirs[m.hostPath] !== false || dirAction.has(m.hostPath)) continue;
      const a = b.add<ActionOf<"dir.create">>({
        kind: "dir.create",
        resource: { type: "dir", name: m.source },
        target: m.hostPath,
        after: [],
        ...(m.owner ? { owner: m.owner } : {}),
        ...(m.mode !== undefined ? { mode: m.mode } : {}),
        cause: "missing",
      });
      dirAction.set(m.hostPath, a.id);
    }
    const role = node.placement;
    const found = role !== undefined ? (roleNodes.get(role) ?? []) : [];
    const target = found.length === 1 ? found[0] : undefined;
    for (const m of nodeDataMounts(stack, node)) {
      if (!role || !target || dirAction.has(m.hostPath)) continue;
      const made = o.swarm.nodeDirs[m.hostPath];
      if (made && made.nodeId !== target.id) {
        b.conflict({
          kind: "data-on-other-node",
          resource: { type: node.kind, name: node.name },
          path: m.hostPath,
          madeOn: made.nodeName,
          roleNode: nodeName(o, target),
          role,
        });
        continue;
      }
      const gone = made !== undefined && missingOnNode(o, m.hostPath);
      if (made && !gone) continue;
      const a = b.add<ActionOf<"node-dir.create">>({
        kind: "node-dir.create",
        resource: { type: "dir", name: m.source },
        target: m.hostPath,
        after: [],
        role,
        nodeId: target.id,
        nodeName: nodeName(o, target),
        ...(m.owner ? { owner: m.owner } : {}),
        ...(m.mode !== undefined ? { mode: m.mode } : {}),
        cause: gone ? "gone" : "missing",
      });
      dirAction.set(m.hostPath, a.id);
    }
  }
  return dirAction;
}

/** A task of the stack failed because the directory is not on its node (removed there by hand). */
function missingOnNode(o: SwarmObserved, hostPath: string): boolean {
  return o.services.some((s) =>
    s.tasks.some(
      (t) => (t.err ?? "").includes("bind source path does not exist") && (t.err ?? "").includes(hostPath),
    ),
  );
}
