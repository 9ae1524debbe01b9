import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import dockerignoreModule from "@balena/dockerignore";
import type { EngineClient } from "./engine.js";
import { SpecError, type SpecIssue } from "./errors.js";
import { buildRecipe, canonicalJson, sha256 } from "./hash.js";
import { LABEL } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { sameAddress } from "./ports.js";
import { readState } from "./state.js";

/** What the engine and the disk hold for a stack: a snapshot, so `plan` needs no further calls. */
export interface ObservedState {
  containers: ObservedContainer[];
  /** Names the stack wants that are held by containers without the stack's labels. */
  foreignContainers: { id: string; name: string }[];
  networks: ObservedNetwork[];
  /** Names the stack wants that are held by networks without the stack's labels. */
  foreignNetworks: string[];
  /**
   * Host ports published by running containers outside this stack; looked up only when a service
   * with published ports has no running container (it is to be created or started).
   */
  foreignPorts: { container: string; hostIp: string; port: number; protocol: string }[];
  /** Local images by image key; missing keys are not present locally. */
  images: Record<string, ObservedImage>;
  /** Content hash of each built image's context (Dockerfile, files, args). */
  contextHashes: Record<string, string>;
  /** sha256 of each declared input file; null when the file is missing. */
  inputs: Record<string, string | null>;
  /** Bind-mount directories that exist. */
  dirs: Record<string, boolean>;
  /** Completed job keys, from the state file under the data root. */
  jobs: Record<string, { key: string; completedAt: string }>;
}

export interface ObservedContainer {
  id: string;
  name: string;
  /** Service or job name from the labels. */
  node: string;
  kind: "service" | "job" | "helper";
  state: string;
  health: string | undefined;
  hash: string | undefined;
  recipe: number | undefined;
  snapshot: Record<string, unknown> | undefined;
  imageId: string;
  env: string[];
  cmd: string[] | null;
  restartPolicy: string;
}

export interface ObservedNetwork {
  id: string;
  name: string;
  node: string;
  hash: string | undefined;
}

export interface ObservedImage {
  id: string;
  labels: Record<string, string>;
  env: string[];
}

export async function observe(engine: EngineClient, stack: ResolvedStack): Promise<ObservedState> {
  const label = `${LABEL.stack}=${stack.name}`;
  const usedImages = new Set<string>();
  for (const s of Object.values(stack.services)) usedImages.add(s.image);
  for (const j of Object.values(stack.jobs)) {
    if (j.container) usedImages.add(j.container.image);
    for (const u of j.uses) usedImages.add(u);
  }
  const refs = [...usedImages].map((k) => stack.images[k]?.ref ?? k);
  // A few stats, before any engine call: a stack problem is reported as one (exit 2).
  await checkBuildContexts(stack);

  const [summaries, networks, imageList, disk] = await Promise.all([
    engine.listContainers([label]),
    engine.listNetworks([label]),
    engine.listImages(refs),
    observeDisk(stack),
  ]);

  const details = await Promise.all(summaries.map((c) => engine.inspectContainer(c.id)));
  const containers: ObservedContainer[] = [];
  for (const d of details) {
    if (!d) continue; // removed between the list and the inspect
    let snapshot: Record<string, unknown> | undefined;
    try {
      snapshot = d.labels[LABEL.snapshot]
        ? (JSON.parse(d.labels[LABEL.snapshot] as string) as Record<string, unknown>)
        : undefined;
    } catch {
      snapshot = undefined;
    }
    containers.push({
      id: d.id,
      name: d.name,
      node: d.labels[LABEL.name] ?? "",
      kind: (d.labels[LABEL.kind] as ObservedContainer["kind"]) ?? "service",
      state: d.state,
      health: d.health,
      hash: d.labels[LABEL.hash],
      recipe: d.labels[LABEL.recipe] ? Number(d.labels[LABEL.recipe]) : undefined,
      snapshot,
      imageId: d.imageId,
      env: d.env,
      cmd: d.cmd,
      restartPolicy: d.restartPolicy,
    });
  }
  containers.sort((a, b) => a.name.localeCompare(b.name));

  // Image env is needed only to tell image-provided variables from out-of-band ones.
  const images: Record<string, ObservedImage> = {};
  const byRef = new Map<string, string[]>();
  for (const key of usedImages) {
    const ref = stack.images[key]?.ref ?? key;
    byRef.set(ref, [...(byRef.get(ref) ?? []), key]);
  }
  const inUse = new Set(containers.map((c) => c.imageId));
  await Promise.all(
    [...byRef.entries()].map(async ([ref, keys]) => {
      const listed = imageList[ref];
      if (!listed) return;
      const env = inUse.has(listed.id) ? ((await engine.inspectImage(listed.id))?.env ?? []) : [];
      for (const k of keys) images[k] = { id: listed.id, labels: listed.labels, env };
    }),
  );

  // Name clashes are only possible for containers and networks the plan will create.
  const ours = new Set(containers.map((c) => c.name));
  // Job containers exist only while a job runs; a clash there is reported when the job starts.
  const missing = Object.values(stack.services)
    .map((s) => s.containerName)
    .filter((n) => !ours.has(n));
  // A service will bind host ports it does not hold now when its container is missing or not
  // running, or when it runs without one of the ports the spec wants (a recreate will bind it).
  const listed = new Map(summaries.map((c) => [c.name, c]));
  const portsToBind = Object.values(stack.services).some((s) => {
    const c = listed.get(s.containerName);
    if (s.ports.length === 0) return false;
    if (c?.state !== "running") return true;
    return s.ports.some(
      (p) =>
        !c.published.some(
          (q) => q.port === p.host && q.protocol === p.protocol && sameAddress(q.hostIp, p.hostIp),
        ),
    );
  });
  const foreignContainers: { id: string; name: string }[] = [];
  const foreignPorts: ObservedState["foreignPorts"] = [];
  if (missing.length > 0 || portsToBind) {
    const all = await engine.listContainers([]);
    const wanted = new Set(missing);
    for (const c of all) {
      if (c.labels[LABEL.stack] === stack.name) continue;
      if (wanted.has(c.name)) foreignContainers.push({ id: c.id, name: c.name });
      if (c.state === "running") for (const p of c.published) foreignPorts.push({ container: c.name, ...p });
    }
  }
  const ourNets = new Set(networks.map((n) => n.name));
  const missingNets = Object.values(stack.networks)
    .map((n) => n.dockerName)
    .filter((n) => !ourNets.has(n));
  const foreignNetworks: string[] = [];
  if (missingNets.length > 0) {
    const all = await engine.listNetworks([]);
    for (const n of all)
      if (missingNets.includes(n.name) && n.labels[LABEL.stack] !== stack.name) foreignNetworks.push(n.name);
  }

  return {
    containers,
    foreignContainers,
    networks: networks
      .map((n) => ({ id: n.id, name: n.name, node: n.labels[LABEL.name] ?? "", hash: n.labels[LABEL.hash] }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    foreignNetworks,
    foreignPorts,
    images,
    ...disk,
  };
}

async function observeDisk(stack: ResolvedStack) {
  const dirPaths = new Set<string>();
  const inputPaths = new Set<string>();
  for (const node of [...Object.values(stack.services), ...Object.values(stack.jobs)]) {
    const spec = node.kind === "service" ? node : node.container;
    for (const m of spec?.mounts ?? []) if (m.type === "bind" && m.kind === "dir") dirPaths.add(m.hostPath);
    for (const p of node.inputs) inputPaths.add(p);
  }
  const dirs: Record<string, boolean> = {};
  const inputs: Record<string, string | null> = {};
  const contextHashes: Record<string, string> = {};
  await Promise.all([
    ...[...dirPaths].map(async (p) => {
      dirs[p] = await stat(p).then(
        (s) => s.isDirectory(),
        () => false,
      );
    }),
    ...[...inputPaths].map(async (p) => {
      inputs[p] = await readFile(p).then(
        (b) => sha256(b),
        () => null,
      );
    }),
    ...Object.values(stack.images)
      .filter((i) => i.build)
      .map(async (img) => {
        contextHashes[img.key] = await hashContext(img.build?.contextDir as string, buildRecipe(img));
      }),
  ]);
  const state = await readState(stack.dataRoot);
  return { dirs, inputs, contextHashes, jobs: state.jobs };
}

/** A build context that is not there is a problem in the stack (exit 2), named by its field. */
async function checkBuildContexts(stack: ResolvedStack): Promise<void> {
  const issues: SpecIssue[] = [];
  for (const img of Object.values(stack.images)) {
    if (!img.build) continue;
    const { contextDir, dockerfile } = img.build;
    const isDir = await stat(contextDir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) {
      issues.push({
        path: ["images", img.key, "build", "context"],
        message: `no such directory: ${contextDir}`,
      });
      continue;
    }
    const hasFile = await stat(path.resolve(contextDir, dockerfile)).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!hasFile)
      issues.push({
        path: ["images", img.key, "build", "dockerfile"],
        message: `no ${dockerfile} in ${contextDir}`,
      });
  }
  if (issues.length > 0) throw new SpecError(stack.source, issues);
}

/** Lists the files of a build context that the engine would receive (honouring .dockerignore). */
export async function contextFiles(dir: string): Promise<string[]> {
  const ignore = (
    dockerignoreModule as unknown as (o: { ignorecase: boolean }) => import("@balena/dockerignore").Ignore
  )({ ignorecase: false });
  const text = await readFile(path.join(dir, ".dockerignore"), "utf8").catch(() => "");
  ignore.add(text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#")));
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (ignore.ignores(p)) continue;
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  };
  await walk("");
  return out.sort();
}

async function hashContext(dir: string, recipe: Record<string, unknown>): Promise<string> {
  const files = await contextFiles(dir);
  const parts = await Promise.all(
    files.map(async (f) => {
      const [body, st] = await Promise.all([readFile(path.join(dir, f)), stat(path.join(dir, f))]);
      return `${f}\0${st.mode & 0o777}\0${sha256(body)}`;
    }),
  );
  return sha256(canonicalJson({ recipe, files: parts })).slice(0, 32);
}
