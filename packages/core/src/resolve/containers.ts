import path from "node:path";
import type { ContainerSpec, ResolvedEnv, ResolvedMount } from "../model.js";
import type { JobSpec, ServiceSpec } from "../schema.js";
import { inside, type Resolving, type Where } from "./context.js";
import { imageKey } from "./images.js";
import { commandWords } from "./words.js";

/*
 * The container part that services and container jobs share: image, command, env values (from
 * literals or shctl's own environment, secrets collected), mounts with their host paths, networks
 * with aliases, and the declared input files.
 */

/** The shortest secret that redaction can hide without hiding ordinary text (see redact.ts). */
const MIN_SECRET = 3;

export function resolveEnv(r: Resolving, where: Where, values: Record<string, unknown>): ResolvedEnv[] {
  const out: ResolvedEnv[] = [];
  for (const [name, v] of Object.entries(values)) {
    let value: string;
    let secret = false;
    if (typeof v === "object" && v !== null && "fromEnv" in v) {
      const e = v as { fromEnv: string; default?: string; secret: boolean };
      const got = r.ctx.env[e.fromEnv] ?? e.default;
      if (got === undefined) {
        r.issues.push({
          path: [...where, name],
          message: `environment variable ${e.fromEnv} is not set and has no default`,
        });
        continue;
      }
      value = got;
      secret = e.secret;
    } else if (typeof v === "object" && v !== null && "value" in v) {
      const e = v as { value: string | number; secret: boolean };
      value = String(e.value);
      secret = e.secret;
    } else {
      value = String(v);
    }
    if (secret && value !== "" && value.length < MIN_SECRET) {
      // Output is kept clean of a secret by replacing its text: one or two characters would
      // stand for every occurrence of them in every line, so such a secret cannot be kept out.
      r.issues.push({
        path: [...where, name],
        message: `a secret of ${value.length} character${value.length === 1 ? "" : "s"} cannot be kept out of shctl's output: use one of at least ${MIN_SECRET}`,
      });
      continue;
    }
    if (secret && value !== "") r.secrets.add(value);
    out.push({ name, value, secret });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function resolveMounts(r: Resolving, where: Where, list: ServiceSpec["mounts"]): ResolvedMount[] {
  return list.map((m, i) => {
    if (m.type === "tmpfs") return { type: "tmpfs", target: m.target, sizeBytes: m.sizeBytes };
    const root = m.root === "data" ? r.dataRoot : r.projectDir;
    const hostPath = path.resolve(root, m.source);
    if (path.isAbsolute(m.source) || !inside(root, hostPath)) {
      r.issues.push({
        path: [...where, i, "source"],
        message: `"${m.source}" leaves the ${m.root === "data" ? "data root" : "project dir"}; use a path inside it`,
      });
    }
    const [uid, gid] = (m.owner ?? "").split(":").map(Number);
    return {
      type: "bind",
      hostPath,
      source: m.source,
      root: m.root,
      target: m.target,
      readOnly: m.readOnly,
      kind: m.kind,
      owner: m.owner ? { uid: uid as number, gid: gid as number } : undefined,
      mode: m.mode ? Number.parseInt(m.mode, 8) : undefined,
      selinux: m.selinux,
    };
  });
}

/** Declared input or output files as absolute paths. */
export function resolvePaths(r: Resolving, list: { path: string; root: "data" | "project" }[]): string[] {
  return list.map((i) => path.resolve(i.root === "data" ? r.dataRoot : r.projectDir, i.path)).sort();
}

function attach(r: Resolving, where: Where, spec: ServiceSpec["networks"], aliases: string[]) {
  const entries: [string, string[]][] =
    spec === undefined
      ? Object.keys(r.networks).map((n) => [n, []])
      : Array.isArray(spec)
        ? spec.map((n) => [n, []])
        : Object.entries(spec).map(([n, a]) => [n, a.aliases]);
  for (const [n] of entries) {
    if (!r.networks[n])
      r.issues.push({ path: [...where, n], message: `no network named "${n}" in this stack` });
  }
  return entries.map(([name, a]) => ({ name, aliases: [...new Set([...aliases, ...a])].sort() }));
}

export function resolveContainer(
  r: Resolving,
  where: string[],
  name: string,
  s: ServiceSpec | JobSpec,
  aliases: string[],
): ContainerSpec {
  return {
    image: imageKey(r, s.image as string, [...where, "image"]),
    command: commandWords([...where, "command"], s.command, r.issues),
    entrypoint: commandWords([...where, "entrypoint"], s.entrypoint, r.issues),
    env: resolveEnv(r, [...where, "env"], s.env),
    user: s.user,
    workingDir: s.workingDir,
    networks: attach(r, [...where, "networks"], s.networks, [name, ...aliases]),
    mounts: resolveMounts(r, [...where, "mounts"], s.mounts),
    labels: s.labels,
    extraHosts: s.extraHosts,
    inputs: resolvePaths(r, s.inputs),
  };
}
