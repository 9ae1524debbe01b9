import { effectiveContextHash } from "../hash.js";
import { LABEL } from "../labels.js";
import type { ResolvedStack, StackNode } from "../model.js";
import type { ObservedState } from "../observe.js";
import { ids, type PlanBuilder } from "./builder.js";
import { imagesInBuildOrder } from "./order.js";
import type { ActionOf } from "./types.js";

/*
 * What containers are made of: images (present, pulled or built) and bind-mount directories.
 */

export interface Materials {
  /** The local image ID of each image key that is present and current; absent while it is pending. */
  identity: Map<string, string>;
  /** The action that pulls or builds each image key. */
  imageAction: Map<string, string>;
  /** The action that creates each bind-mount directory, by host path. */
  dirAction: Map<string, string>;
}

/** Images a used image is built from come first; then each image is kept, pulled or built. */
export function planImages(stack: ResolvedStack, observed: ObservedState, b: PlanBuilder): Materials {
  const m: Materials = { identity: new Map(), imageAction: new Map(), dirAction: new Map() };
  for (const key of imagesInBuildOrder(stack)) {
    const img = stack.images[key];
    if (!img) continue;
    const seen = observed.images[key];
    const resource = { type: "image" as const, name: key };
    if (img.build) {
      const needIds = img.needs.map((n) => m.identity.get(n));
      const pending = needIds.some((id) => id === undefined);
      const ctx = effectiveContextHash(observed.contextHashes[key] ?? "", needIds as string[]);
      if (seen && !pending && seen.labels[LABEL.context] === ctx) {
        m.identity.set(key, seen.id);
        continue;
      }
      const a = b.add<ActionOf<"image.build">>({
        kind: "image.build",
        resource,
        target: key,
        after: ids(img.needs.map((n) => m.imageAction.get(n))),
        ref: img.ref,
        contextHash: observed.contextHashes[key] ?? "",
        needs: img.needs,
        cause: !seen ? "missing" : pending ? "base-pending" : "context-changed",
      });
      m.imageAction.set(key, a.id);
    } else if (seen) m.identity.set(key, seen.id);
    else if (img.pull === "never") b.conflict({ kind: "image-not-pullable", resource, ref: img.ref });
    else {
      const a = b.add<ActionOf<"image.pull">>({
        kind: "image.pull",
        resource,
        target: key,
        after: [],
        ref: img.ref,
        sources: img.pullSources,
        cause: "missing",
      });
      m.imageAction.set(key, a.id);
    }
  }
  return m;
}

/** Directories for bind mounts, created once with their declared owner and mode. */
export function planDirs(
  nodes: readonly StackNode[],
  observed: ObservedState,
  m: Materials,
  b: PlanBuilder,
): void {
  for (const node of nodes) {
    const spec = node.kind === "service" ? node : node.container;
    for (const mount of spec?.mounts ?? []) {
      if (mount.type !== "bind" || mount.kind !== "dir") continue;
      if (observed.dirs[mount.hostPath] || m.dirAction.has(mount.hostPath)) continue;
      const a = b.add<ActionOf<"dir.create">>({
        kind: "dir.create",
        resource: {
          type: "dir",
          name: mount.root === "data" ? mount.source : `project:${mount.source}`,
        },
        target: mount.hostPath,
        after: [],
        ...(mount.owner ? { owner: mount.owner } : {}),
        ...(mount.mode !== undefined ? { mode: mount.mode } : {}),
        cause: "missing",
      });
      m.dirAction.set(mount.hostPath, a.id);
    }
  }
}

/** The actions a node's container needs before it can be created: its image(s) and directories. */
export function materialsOf(node: StackNode, m: Materials): (string | undefined)[] {
  const spec = node.kind === "service" ? node : node.container;
  const out: (string | undefined)[] = [];
  if (node.kind === "job") for (const u of node.uses) out.push(m.imageAction.get(u));
  if (spec) {
    out.push(m.imageAction.get(spec.image));
    for (const mount of spec.mounts) if (mount.type === "bind") out.push(m.dirAction.get(mount.hostPath));
  }
  return out;
}
