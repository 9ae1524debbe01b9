import { byCodeUnit, topoOrder } from "../graph.js";
import type { ResolvedJob, ResolvedService, ResolvedStack, StackNode } from "../model.js";

/** The jobs that declare one of the service's inputs among their outputs, by name. */
export function writersOf(stack: ResolvedStack, service: ResolvedService): ResolvedJob[] {
  return Object.values(stack.jobs)
    .filter((j) => j.outputs.some((o) => service.inputs.includes(o)))
    .sort((a, b) => byCodeUnit(a.name, b.name));
}

/**
 * Services and jobs, dependencies before dependents, ties broken by name (so plans are stable). A
 * job that writes one of a service's inputs comes before the service, so the service can follow it.
 */
export function nodesInOrder(stack: ResolvedStack): StackNode[] {
  const all = new Map<string, StackNode>();
  for (const s of Object.values(stack.services)) all.set(s.name, s);
  for (const j of Object.values(stack.jobs)) all.set(j.name, j);
  const depsOf = (name: string): string[] => {
    const node = all.get(name);
    if (!node) return [];
    const deps = node.deps.map((d) => d.name);
    if (node.kind === "service" && node.inputs.length > 0)
      for (const j of writersOf(stack, node)) deps.push(j.name);
    return deps;
  };
  return topoOrder(all.keys(), depsOf).map((n) => all.get(n) as StackNode);
}

/**
 * The image keys a stack's services and jobs use, and those they are built from (`needs`, all the
 * way down): every image apply may have to pull or build, so every image it observes.
 */
export function usedImages(stack: ResolvedStack): Set<string> {
  const used = new Set<string>();
  const add = (key: string) => {
    if (used.has(key)) return;
    used.add(key);
    for (const need of stack.images[key]?.needs ?? []) add(need);
  };
  for (const s of Object.values(stack.services)) add(s.image);
  for (const j of Object.values(stack.jobs)) {
    if (j.container) add(j.container.image);
    for (const u of j.uses) add(u);
  }
  return used;
}

/** The used images (usedImages) in build order: each after the images it is built from. */
export function imagesInBuildOrder(stack: ResolvedStack): string[] {
  const order: string[] = [];
  const visit = (key: string) => {
    if (order.includes(key)) return;
    for (const need of stack.images[key]?.needs ?? []) visit(need);
    order.push(key);
  };
  for (const key of [...usedImages(stack)].sort()) visit(key);
  return order;
}

/** The images a stack runs, and those they are built from, in build order (each once). */
export function stackImages(stack: ResolvedStack): { key: string; ref: string; source: "pull" | "build" }[] {
  return imagesInBuildOrder(stack).flatMap((key) => {
    const img = stack.images[key];
    return img ? [{ key, ref: img.ref, source: img.build ? ("build" as const) : ("pull" as const) }] : [];
  });
}
