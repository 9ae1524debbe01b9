import path from "node:path";
import { parseDuration } from "./duration.js";
import { SpecError, type SpecIssue } from "./errors.js";
import { byCodeUnit } from "./graph.js";
import { pullSources } from "./image-ref.js";
import type {
  ContainerSpec,
  ResolvedDependency,
  ResolvedEnv,
  ResolvedHealthcheck,
  ResolvedImage,
  ResolvedJob,
  ResolvedMount,
  ResolvedNetwork,
  ResolvedPort,
  ResolvedProbe,
  ResolvedService,
  ResolvedStack,
} from "./model.js";
import { addressesOverlap } from "./ports.js";
import type { JobSpec, ServiceSpec, StackSpec } from "./schema.js";

/*
 * From a validated stack spec (the schema's output) to the ResolvedStack that plan and execute
 * use: profiles, env values, paths, images, dependencies, and the checks zod cannot express
 * (cycles, port clashes, paths that leave their root). No zod here: a stack file whose validated
 * spec is cached is resolved without loading the schema.
 */

export interface ResolveContext {
  /** How the stack is named in errors (its file, or "(stack module)"). */
  label: string;
  projectDir: string;
  profile: string | undefined;
  env: Record<string, string | undefined>;
}

/** Resolves a validated spec; throws SpecError (exit 2) listing every problem with its path. */
export function resolveSpec(spec: StackSpec, ctx: ResolveContext): ResolvedStack {
  const issues: SpecIssue[] = [];
  const stack = resolveStack(spec, ctx, issues);
  checkGraph(stack, issues);
  checkPorts(stack, issues);
  if (issues.length > 0) throw new SpecError(ctx.label, issues);
  return stack;
}
/**
 * Splits a command string into words the way a POSIX shell does for a simple command, without any
 * expansion ($HOME, globs and ~ stay as written):
 * - unquoted blanks separate words;
 * - '…' keeps everything inside as it is;
 * - "…" keeps blanks, and a backslash in it escapes only $ ` " \ and a newline (elsewhere it stays);
 * - outside quotes a backslash keeps the next character as it is (a backslash-newline joins lines);
 * - quoted and unquoted parts that touch form one word: `--opt="a b"` is the single word --opt=a b.
 * A list is returned untouched. An unterminated quote throws a SpecError.
 */
export function splitCommand(cmd: string | string[] | undefined): string[] | undefined {
  if (cmd === undefined || Array.isArray(cmd)) return cmd;
  const r = splitWords(cmd);
  if (typeof r === "string") throw new SpecError("command", [{ path: [], message: r }]);
  return r;
}

/** The words of a command, or (with an issue at `where`) the whole text as one word when it cannot be split. */
function commandWords(
  where: (string | number)[],
  cmd: string | string[] | undefined,
  issues: SpecIssue[],
): string[] | undefined {
  if (cmd === undefined || Array.isArray(cmd)) return cmd;
  const r = splitWords(cmd);
  if (typeof r !== "string") return r;
  issues.push({ path: where, message: `${r}; close the quote, or write the command as a list of words` });
  return [cmd];
}

/** The words of `text`, or why it cannot be split (an unterminated quote). */
function splitWords(text: string): string[] | string {
  const words: string[] = [];
  let word = "";
  /** Whether a word has started: quotes alone ("") make an empty word. */
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === " " || ch === "\t" || ch === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return `unterminated single quote (the ' at character ${i + 1} is never closed)`;
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= text.length)
          return `unterminated double quote (the " at character ${i + 1} is never closed)`;
        const c = text[j] as string;
        if (c === '"') break;
        if (c === "\\" && j + 1 < text.length && '$`"\\\n'.includes(text[j + 1] as string)) {
          if (text[j + 1] !== "\n") word += text[j + 1];
          j += 2;
        } else {
          word += c;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (ch === "\\") {
      if (i + 1 >= text.length) {
        // A backslash at the very end has nothing to escape: shells keep it.
        word += ch;
        inWord = true;
        i++;
      } else if (text[i + 1] === "\n") {
        i += 2; // line continuation
      } else {
        word += text[i + 1];
        inWord = true;
        i += 2;
      }
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function ms(text: string): number {
  return parseDuration(text) ?? 0;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function resolveStack(spec: StackSpec, ctx: ResolveContext, issues: SpecIssue[]): ResolvedStack {
  const projectDir = ctx.projectDir;
  const dataRoot = path.resolve(projectDir, spec.dataRoot);
  const secrets = new Set<string>();
  const profile = ctx.profile ?? spec.defaultProfile;

  const known = new Set<string>();
  for (const n of [...Object.values(spec.services), ...Object.values(spec.jobs)])
    for (const p of n.profiles ?? []) known.add(p);
  if (spec.defaultProfile) known.add(spec.defaultProfile);
  for (const p of spec.profiles) known.add(p);
  if (ctx.profile !== undefined && !known.has(ctx.profile)) {
    issues.push({
      path: ["profile"],
      message: `unknown profile "${ctx.profile}"${known.size > 0 ? `; this stack has: ${[...known].sort().join(", ")}` : ""}`,
    });
  }
  const selected = (profiles: string[] | undefined) =>
    profiles === undefined || (profile !== undefined && profiles.includes(profile));

  const networks: Record<string, ResolvedNetwork> = {};
  const netSpecs =
    Object.keys(spec.networks).length > 0
      ? spec.networks
      : { default: { driver: "bridge", internal: false, labels: {} } };
  for (const [name, n] of Object.entries(netSpecs)) {
    networks[name] = {
      name,
      dockerName: `${spec.name}_${name}`,
      driver: n.driver,
      internal: n.internal,
      labels: n.labels,
    };
  }

  const images: Record<string, ResolvedImage> = {};
  /** Where to pull an image from (nothing for a built one), or an issue when `ref` is not a reference. */
  const sourcesOf = (ref: string, where: (string | number)[], built = false): string[] => {
    try {
      const sources = pullSources(ref, spec.registryMirror);
      return built ? [] : sources;
    } catch (err) {
      issues.push({ path: where, message: `not a valid image reference: ${(err as Error).message}` });
      return built ? [] : [ref];
    }
  };
  for (const [key, img] of Object.entries(spec.images)) {
    const sources = sourcesOf(img.ref, ["images", key, "ref"], img.build !== undefined);
    images[key] = {
      key,
      ref: img.ref,
      build: img.build
        ? {
            contextDir: path.resolve(projectDir, img.build.context),
            dockerfile: img.build.dockerfile,
            args: img.build.args,
            target: img.build.target,
          }
        : undefined,
      pull: img.pull,
      needs: img.needs,
      mirrorRef: mirrorRefOf(img.ref, sources),
      pullSources: sources,
    };
  }
  const imageKey = (ref: string, where: (string | number)[]): string => {
    if (images[ref]) return ref;
    const sources = sourcesOf(ref, where);
    images[ref] = {
      key: ref,
      ref,
      build: undefined,
      pull: "missing",
      needs: [],
      mirrorRef: mirrorRefOf(ref, sources),
      pullSources: sources,
    };
    return ref;
  };

  const env = (where: (string | number)[], values: Record<string, unknown>): ResolvedEnv[] => {
    const out: ResolvedEnv[] = [];
    for (const [name, v] of Object.entries(values)) {
      let value: string;
      let secret = false;
      if (typeof v === "object" && v !== null && "fromEnv" in v) {
        const e = v as { fromEnv: string; default?: string; secret: boolean };
        const got = ctx.env[e.fromEnv] ?? e.default;
        if (got === undefined) {
          issues.push({
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
      if (secret && value !== "") secrets.add(value);
      out.push({ name, value, secret });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  };

  const mounts = (where: (string | number)[], list: ServiceSpec["mounts"]): ResolvedMount[] =>
    list.map((m, i) => {
      if (m.type === "tmpfs") return { type: "tmpfs", target: m.target, sizeBytes: m.sizeBytes };
      const root = m.root === "data" ? dataRoot : projectDir;
      const hostPath = path.resolve(root, m.source);
      if (path.isAbsolute(m.source) || !inside(root, hostPath)) {
        issues.push({
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

  const inputs = (list: { path: string; root: "data" | "project" }[]) =>
    list.map((i) => path.resolve(i.root === "data" ? dataRoot : projectDir, i.path)).sort();

  const attach = (where: (string | number)[], spec: ServiceSpec["networks"], aliases: string[]) => {
    const entries: [string, string[]][] =
      spec === undefined
        ? Object.keys(networks).map((n) => [n, []])
        : Array.isArray(spec)
          ? spec.map((n) => [n, []])
          : Object.entries(spec).map(([n, a]) => [n, a.aliases]);
    for (const [n] of entries) {
      if (!networks[n])
        issues.push({ path: [...where, n], message: `no network named "${n}" in this stack` });
    }
    return entries.map(([name, a]) => ({ name, aliases: [...new Set([...aliases, ...a])].sort() }));
  };

  const container = (
    where: string[],
    name: string,
    s: ServiceSpec | JobSpec,
    aliases: string[],
  ): ContainerSpec => ({
    image: imageKey(s.image as string, [...where, "image"]),
    command: commandWords([...where, "command"], s.command, issues),
    entrypoint: commandWords([...where, "entrypoint"], s.entrypoint, issues),
    env: env([...where, "env"], s.env),
    user: s.user,
    workingDir: s.workingDir,
    networks: attach([...where, "networks"], s.networks, [name, ...aliases]),
    mounts: mounts([...where, "mounts"], s.mounts),
    labels: s.labels,
    extraHosts: s.extraHosts,
    inputs: inputs(s.inputs),
  });

  const deps = (where: (string | number)[], d: ServiceSpec["dependsOn"]): ResolvedDependency[] => {
    const entries = Array.isArray(d)
      ? d.map((n) => [n, { condition: "started" as const, restart: false }] as const)
      : Object.entries(d);
    return entries.map(([name, dep]) => {
      const kind = spec.jobs[name] ? "job" : "service";
      if (!spec.services[name] && !spec.jobs[name]) {
        issues.push({ path: [...where, name], message: `no service or job named "${name}"` });
      } else if (!selected((spec.services[name] ?? spec.jobs[name])?.profiles)) {
        issues.push({
          path: [...where, name],
          message: `"${name}" is not in profile "${profile ?? "(none)"}"`,
        });
      }
      let condition = dep.condition;
      if (kind === "job" && condition === "healthy") {
        issues.push({
          path: [...where, name, "condition"],
          message: `"${name}" is a job: use "completed" or "started"`,
        });
      }
      if (kind === "service" && condition === "completed") {
        issues.push({
          path: [...where, name, "condition"],
          message: `"${name}" is a service: use "started" or "healthy"`,
        });
      }
      const target = spec.services[name];
      if (
        kind === "service" &&
        condition === "healthy" &&
        target &&
        !target.healthcheck &&
        target.readiness.length === 0
      ) {
        issues.push({
          path: [...where, name, "condition"],
          message: `"${name}" has no healthcheck or readiness probe, so it can never be healthy`,
        });
      }
      if (kind === "job" && Array.isArray(d)) condition = "completed";
      return { name, kind, condition, restart: dep.restart };
    });
  };

  const services: Record<string, ResolvedService> = {};
  for (const [name, s] of Object.entries(spec.services)) {
    if (!selected(s.profiles)) continue;
    const where = ["services", name];
    services[name] = {
      kind: "service",
      name,
      containerName: `${spec.name}-${name}`,
      ...container(where, name, s, s.aliases),
      hostname: s.hostname,
      ports: s.ports.map((p) => port(p, spec.bindAddress)),
      healthcheck: s.healthcheck ? healthcheck(s.healthcheck) : undefined,
      readiness: s.readiness.map((p, i) => probe(p, i, [...where, "readiness", i], issues)),
      readyTimeoutMs: ms(s.readyTimeout),
      restart: s.restart,
      ulimits: Object.entries(s.ulimits)
        .map(([n, u]) => (typeof u === "number" ? { name: n, soft: u, hard: u } : { name: n, ...u }))
        .sort((a, b) => byCodeUnit(a.name, b.name)),
      stopSignal: s.stopSignal,
      stopGraceMs: ms(s.stopGracePeriod),
      init: s.init,
      deps: deps([...where, "dependsOn"], s.dependsOn),
    };
  }
  const jobs: Record<string, ResolvedJob> = {};
  for (const [name, j] of Object.entries(spec.jobs)) {
    if (!selected(j.profiles)) continue;
    const where = ["jobs", name];
    jobs[name] = {
      kind: "job",
      name,
      containerName: `${spec.name}-job-${name}`,
      container: j.image !== undefined ? container(where, name, j, []) : undefined,
      run: j.run,
      version: j.version,
      timeoutMs: ms(j.timeout),
      always: j.always,
      deps: deps([...where, "dependsOn"], j.dependsOn),
      inputs: inputs(j.inputs),
      outputs: inputs(j.outputs),
      uses: j.uses.map((u, i) => imageKey(u, [...where, "uses", i])),
    };
  }
  if (spec.helperImage) imageKey(spec.helperImage, ["helperImage"]);
  for (const img of Object.values(images)) {
    for (const need of img.needs) {
      if (!images[need])
        issues.push({
          path: ["images", img.key, "needs"],
          message: `no image named "${need}" in this stack`,
        });
    }
  }

  return {
    name: spec.name,
    source: ctx.label,
    projectDir,
    dataRoot,
    profile,
    bindAddress: spec.bindAddress,
    helperImage: spec.helperImage,
    networks,
    images,
    services,
    jobs,
    notes: spec.notes,
    secrets: [...secrets].sort((a, b) => b.length - a.length),
  };
}

/** The mirror's first source, when the image is pulled through a mirror (its sources are not just `ref`). */
function mirrorRefOf(ref: string, sources: string[]): string | undefined {
  const first = sources[0];
  return first !== undefined && first !== ref ? first : undefined;
}

function port(p: ServiceSpec["ports"][number], bindAddress: string): ResolvedPort {
  if (typeof p !== "string")
    return { hostIp: p.hostIp ?? bindAddress, host: p.host, container: p.container, protocol: p.protocol };
  const [spec, proto] = p.split("/");
  const parts = (spec as string).match(/^(?:(.+):)?(\d+):(\d+)$/) as RegExpMatchArray;
  return {
    hostIp: (parts[1] ?? bindAddress).replace(/^\[|\]$/g, ""),
    host: Number(parts[2]),
    container: Number(parts[3]),
    protocol: proto === "udp" ? "udp" : "tcp",
  };
}

function healthcheck(h: NonNullable<ServiceSpec["healthcheck"]>): ResolvedHealthcheck {
  const test = Array.isArray(h.test)
    ? h.test[0] === "CMD" || h.test[0] === "CMD-SHELL"
      ? h.test
      : ["CMD", ...h.test]
    : ["CMD-SHELL", h.test];
  return {
    test,
    intervalMs: ms(h.interval),
    timeoutMs: ms(h.timeout),
    retries: h.retries,
    startPeriodMs: ms(h.startPeriod),
  };
}

function probe(
  p: ServiceSpec["readiness"][number],
  i: number,
  where: (string | number)[],
  issues: SpecIssue[],
): ResolvedProbe {
  const intervalMs = ms(p.interval);
  if ("tcp" in p) return { type: "tcp", port: p.tcp.port, intervalMs, label: `tcp :${p.tcp.port}` };
  if ("http" in p) {
    return {
      type: "http",
      port: p.http.port,
      path: p.http.path,
      expectBody: p.http.expectBody,
      intervalMs,
      label: `http :${p.http.port}${p.http.path}`,
    };
  }
  if ("exec" in p) {
    const command = commandWords([...where, "exec"], p.exec, issues) as string[];
    return { type: "exec", command, intervalMs, label: `exec ${command.join(" ")}` };
  }
  return {
    type: "custom",
    name: p.custom.name,
    check: p.custom.check,
    intervalMs,
    label: p.custom.name || `probe ${i}`,
  };
}

/** Dependency cycles: a depth-first walk that reports the cycle it finds. */
function checkGraph(stack: ResolvedStack, issues: SpecIssue[]): void {
  const nodes = new Map<string, { deps: ResolvedDependency[]; where: string[] }>();
  for (const s of Object.values(stack.services))
    nodes.set(s.name, { deps: s.deps, where: ["services", s.name] });
  for (const j of Object.values(stack.jobs)) nodes.set(j.name, { deps: j.deps, where: ["jobs", j.name] });
  for (const name of Object.keys(stack.services)) {
    if (stack.jobs[name])
      issues.push({ path: ["jobs", name], message: `"${name}" is both a service and a job` });
  }
  const state = new Map<string, "visiting" | "done">();
  const reported = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const key = [...cycle].sort().join(",");
      if (!reported.has(key)) {
        reported.add(key);
        issues.push({
          path: [...(nodes.get(name)?.where ?? []), "dependsOn"],
          message: `dependency cycle: ${cycle.join(" → ")}`,
        });
      }
      return;
    }
    state.set(name, "visiting");
    for (const d of nodes.get(name)?.deps ?? []) if (nodes.has(d.name)) visit(d.name, [...trail, name]);
    state.set(name, "done");
  };
  for (const name of [...nodes.keys()].sort()) visit(name, []);
}

function checkPorts(stack: ResolvedStack, issues: SpecIssue[]): void {
  const seen: { svc: string; p: ResolvedPort }[] = [];
  for (const s of Object.values(stack.services)) {
    s.ports.forEach((p, i) => {
      const clash = seen.find(
        (o) => o.p.host === p.host && o.p.protocol === p.protocol && addressesOverlap(o.p.hostIp, p.hostIp),
      );
      if (clash) {
        issues.push({
          path: ["services", s.name, "ports", i],
          message: `host port ${p.host}/${p.protocol} is already published by service "${clash.svc}"`,
        });
      }
      seen.push({ svc: s.name, p });
    });
  }
}
