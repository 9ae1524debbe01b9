import { findCycles } from "../graph.js";
import type { ResolvedMount, ResolvedPort, ResolvedStack } from "../model.js";
import { addressesOverlap } from "../ports.js";
import type { Resolving, Where } from "./context.js";

/*
 * What the schema cannot check alone: dependency cycles, names used twice, host ports published
 * twice, and directories mounted by several containers with different owners or modes.
 */

export function checkGraph(r: Resolving, stack: ResolvedStack): void {
  const deps = new Map<string, string[]>();
  const where = new Map<string, string[]>();
  for (const s of Object.values(stack.services)) {
    deps.set(
      s.name,
      s.deps.map((d) => d.name),
    );
    where.set(s.name, ["services", s.name]);
  }
  for (const j of Object.values(stack.jobs)) {
    deps.set(
      j.name,
      j.deps.map((d) => d.name),
    );
    where.set(j.name, ["jobs", j.name]);
  }
  for (const name of Object.keys(stack.services)) {
    if (stack.jobs[name])
      r.issues.push({ path: ["jobs", name], message: `"${name}" is both a service and a job` });
  }
  for (const cycle of findCycles(deps.keys(), (n) => deps.get(n) ?? [])) {
    const last = cycle[cycle.length - 1] as string;
    r.issues.push({
      path: [...(where.get(last) ?? []), "dependsOn"],
      message: `dependency cycle: ${cycle.join(" → ")}`,
    });
  }
}

export function checkPorts(r: Resolving, stack: ResolvedStack): void {
  const seen: { svc: string; p: ResolvedPort }[] = [];
  for (const s of Object.values(stack.services)) {
    s.ports.forEach((p, i) => {
      const clash = seen.find(
        (o) => o.p.host === p.host && o.p.protocol === p.protocol && addressesOverlap(o.p.hostIp, p.hostIp),
      );
      if (clash) {
        r.issues.push({
          path: ["services", s.name, "ports", i],
          message: `host port ${p.host}/${p.protocol} is already published by service "${clash.svc}"`,
        });
      }
      seen.push({ svc: s.name, p });
    });
  }
}

type BindMount = Extract<ResolvedMount, { type: "bind" }>;

/**
 * One directory, one owner and mode: an owner or mode given on one mount of a directory applies
 * to every mount of it (the directory is made once); two different ones are an issue at both.
 */
export function checkSharedMounts(r: Resolving, stack: ResolvedStack): void {
  const byDir = new Map<string, { m: BindMount; where: Where }[]>();
  const nodes = [
    ...Object.values(stack.services).map((s) => ({
      spec: s as { mounts: ResolvedMount[] },
      where: ["services", s.name],
    })),
    ...Object.values(stack.jobs).flatMap((j) =>
      j.container ? [{ spec: j.container, where: ["jobs", j.name] }] : [],
    ),
  ];
  for (const { spec, where } of nodes) {
    spec.mounts.forEach((m, i) => {
      if (m.type !== "bind" || m.kind !== "dir") return;
      byDir.set(m.hostPath, [...(byDir.get(m.hostPath) ?? []), { m, where: [...where, "mounts", i] }]);
    });
  }
  for (const uses of byDir.values()) {
    for (const field of ["owner", "mode"] as const) {
      const given = uses.filter((u) => u.m[field] !== undefined);
      const first = given[0];
      if (!first) continue;
      const text = (u: { m: BindMount }) =>
        field === "owner"
          ? `${u.m.owner?.uid}:${u.m.owner?.gid}`
          : (u.m.mode ?? 0).toString(8).padStart(4, "0");
      const other = given.find((u) => text(u) !== text(first));
      if (other) {
        for (const u of [first, other])
          r.issues.push({
            path: [...u.where, field],
            message: `"${u.m.source}" is mounted with ${field} ${text(first)} and ${field} ${text(other)}: give one ${field} (or leave it out where it is the same)`,
          });
        continue;
      }
      // Given once: it holds for every mount of the directory.
      for (const u of uses) if (u.m[field] === undefined) Object.assign(u.m, { [field]: first.m[field] });
    }
  }
}
