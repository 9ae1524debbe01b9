import path from "node:path";
import type { ResolvedMount, ResolvedStack, ResolvedSwarm } from "../model.js";
import { inside, type Resolving, type Where } from "./context.js";

/*
 * Where the stack runs: one engine (the default) or a swarm. The fields only a swarm reads are
 * refused elsewhere, and a swarm stack is held to what a swarm can do: data lives on one node (a
 * service that writes it is pinned there and runs one task, unless the directory is on storage
 * every node shares), project files reach the nodes as read-only configs, and a published port is
 * on every address of its node.
 */

type BindMount = Extract<ResolvedMount, { type: "bind" }>;

export function resolveSwarm(r: Resolving): ResolvedSwarm | undefined {
  const { spec } = r;
  if (spec.target !== "swarm") {
    if (spec.swarm) r.issues.push({ path: ["swarm"], message: "`swarm` settings are for target: swarm" });
    return undefined;
  }
  const settings = spec.swarm;
  const sharedDirs = (settings?.sharedDirs ?? []).map((d, i) => {
    const abs = path.resolve(r.dataRoot, d);
    if (path.isAbsolute(d) || !inside(r.dataRoot, abs) || abs === r.dataRoot)
      r.issues.push({
        path: ["swarm", "sharedDirs", i],
        message: `"${d}" must be a directory inside the data root`,
      });
    return abs;
  });
  return { registry: settings?.registry, sharedDirs: [...new Set(sharedDirs)].sort() };
}

/** Checks the target's rules on the resolved services and jobs (after every field resolved). */
export function checkTarget(r: Resolving, stack: ResolvedStack): void {
  if (stack.target !== "swarm") {
    checkEngine(r, stack);
    return;
  }
  const shared = new Set(stack.swarm?.sharedDirs ?? []);
  const isShared = (m: BindMount) =>
    [...shared].some((d) => m.hostPath === d || inside(d, m.hostPath)) || undefined;
  // Each node-local data directory and who writes it, to hold them to one node.
  const writers = new Map<string, { where: Where; placement: string | undefined }[]>();
  const nodes = [
    ...Object.values(stack.services).map((s) => ({
      where: ["services", s.name],
      spec: s,
      placement: s.placement,
    })),
    ...Object.values(stack.jobs).flatMap((j) =>
      j.container ? [{ where: ["jobs", j.name], spec: j.container, placement: j.placement }] : [],
    ),
  ];
  for (const { where, spec, placement } of nodes) {
    let needsPin: string | undefined;
    spec.mounts.forEach((m, i) => {
      if (m.type !== "bind") return;
      const at = [...where, "mounts", i];
      if (m.selinux)
        r.issues.push({ path: [...at, "selinux"], message: "a swarm cannot relabel a mount for SELinux" });
      if (m.readOnly) return; // passed to the nodes as swarm configs
      if (m.root === "project") {
        r.issues.push({
          path: [...at, "readOnly"],
          message: "project files reach a swarm's nodes as configs, which are read-only: mount it readOnly",
        });
        return;
      }
      if (m.kind === "file") {
        r.issues.push({
          path: [...at, "readOnly"],
          message:
            "a file reaches a swarm's nodes as a config, which is read-only: mount it readOnly (or mount its directory)",
        });
        return;
      }
      if (isShared(m)) return;
      needsPin ??= m.source;
      writers.set(m.hostPath, [...(writers.get(m.hostPath) ?? []), { where: at, placement }]);
    });
    if (needsPin !== undefined && placement === undefined)
      r.issues.push({
        path: [...where, "placement"],
        message: `it writes "${needsPin}", which lives on one node: pin it with placement: {node: ROLE} (or list the directory in swarm.sharedDirs if every node shares it)`,
      });
    const replicas = where[0] === "services" ? stack.services[where[1] as string]?.replicas : undefined;
    if (needsPin !== undefined && replicas !== undefined && replicas > 1)
      r.issues.push({
        path: [...where, "replicas"],
        message: `it writes "${needsPin}", which lives on one node: it runs 1 task (list the directory in swarm.sharedDirs to run more)`,
      });
  }
  for (const uses of writers.values()) {
    const roles = [...new Set(uses.map((u) => u.placement).filter((p): p is string => p !== undefined))];
    if (roles.length > 1)
      for (const u of uses)
        r.issues.push({
          path: u.where,
          message: `this directory is written on nodes of roles ${roles.join(" and ")}: pin everything that writes it to one role`,
        });
  }
  for (const s of Object.values(stack.services)) {
    s.ports.forEach((p, i) => {
      if (p.hostIp !== "0.0.0.0" && p.hostIp !== "::" && p.hostIp !== "")
        r.issues.push({
          path: ["services", s.name, "ports", i],
          message: `a swarm publishes a port on every address of its node, not on ${p.hostIp}: leave the address out (and set bindAddress to 0.0.0.0)`,
        });
    });
  }
  for (const n of Object.values(stack.networks)) {
    if (n.driver !== "bridge" && n.driver !== "overlay")
      r.issues.push({
        path: ["networks", n.name, "driver"],
        message: `a swarm's networks are overlay networks, not ${n.driver}`,
      });
  }
}

/** One engine: the swarm's fields say nothing there, so a stack that uses them is told. */
function checkEngine(r: Resolving, stack: ResolvedStack): void {
  for (const s of Object.values(stack.services)) {
    if (s.placement !== undefined)
      r.issues.push({ path: ["services", s.name, "placement"], message: "`placement` is for target: swarm" });
    if (s.replicas !== undefined)
      r.issues.push({ path: ["services", s.name, "replicas"], message: "`replicas` is for target: swarm" });
  }
  for (const j of Object.values(stack.jobs))
    if (j.placement !== undefined)
      r.issues.push({ path: ["jobs", j.name, "placement"], message: "`placement` is for target: swarm" });
}
