import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import { checkBuildContexts, hashContext } from "./build-context.js";
import type { ContainerSummary, EngineClient, NetworkSummary } from "./engine/index.js";
import { byCodeUnit } from "./graph.js";
import { buildRecipe } from "./hash.js";
import { fileReader } from "./helper-files.js";
import { type FileReader, inputDigests } from "./inputs.js";
import { LABEL, ownedByProject } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { usedImages } from "./plan/order.js";
import { sameAddress } from "./ports.js";
import { resolveThroughLinks } from "./real-path.js";
import { readJobLog, readState, type StackState } from "./state.js";

// Where the executor finds it (execute/images.ts).
export { contextFiles } from "./build-context.js";

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
  /** Bind-mounted files (`kind: file`) that exist. */
  files: Record<string, boolean>;
  /** Completed job keys, from the state file under the data root. */
  jobs: Record<string, { key: string; completedAt: string }>;
  /**
   * Data roots of other projects whose stack has this stack's name and holds containers or
   * networks on the engine (their resources are not in `containers` or `networks`).
   */
  otherProjects: string[];
  /** Bind-mount sources that lead out of their root through a symbolic link: where they really go. */
  escapes: Record<string, string>;
  /** How the latest run of each job without a completed record ended, from its saved log. */
  jobRuns: Record<string, { outcome: string; finishedAt: string }>;
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
  restartPolicy: string;
  /** Docker names of the networks it is attached to. */
  networks: string[];
  /** For a container that exited: its exit code (from the listing's status). */
  exitCode: number | undefined;
  /** For a job's container: the job key it ran with. */
  jobKey: string | undefined;
  /**
   * What only an inspect tells, read for a service container shctl has no record of making (it
   * may have been changed by hand); absent for the containers shctl made, which need no inspect.
   */
  details: { env: string[]; cmd: string[] | null } | undefined;
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
  /** The image's own environment; read only when a container of it is inspected for drift. */
  env: string[];
}

/**
 * One snapshot of what the engine and the disk hold for a stack: one list per kind (containers,
 * networks, images), and an inspect only for a container shctl has no record of making.
 */
export async function observe(engine: EngineClient, stack: ResolvedStack): Promise<ObservedState> {
  const label = `${LABEL.stack}=${stack.name}`;
  const used = usedImages(stack);
  const refs = [...used].map((k) => stack.images[k]?.ref ?? k);
  // A few stats, before any engine call: a stack problem is reported as one (exit 2).
  await checkBuildContexts(stack);

  const [listed, listedNets, imageList, disk] = await Promise.all([
    engine.listContainers([label]),
    engine.listNetworks([label]),
    engine.listImages(refs),
    observeDisk(stack, fileReader(engine, stack.name)),
  ]);
  // Another project's stack of the same name is not ours to plan for (resources without the
  // project label predate it: they are taken as this project's).
  const ours = (labels: Record<string, string>) => ownedByProject(labels, stack);
  const summaries = listed.filter((c) => ours(c.labels));
  const networks = listedNets.filter((n) => ours(n.labels));
  const otherProjects = [
    ...new Set(
      [...listed, ...listedNets].filter((x) => !ours(x.labels)).map((x) => x.labels[LABEL.project] as string),
    ),
  ].sort(byCodeUnit);
  const containers = await observeContainers(engine, summaries, disk.recorded);

  // Image env is needed only to tell image-provided variables from out-of-band ones.
  const images: Record<string, ObservedImage> = {};
  const byRef = new Map<string, string[]>();
  for (const key of used) {
    const ref = stack.images[key]?.ref ?? key;
    byRef.set(ref, [...(byRef.get(ref) ?? []), key]);
  }
  const inspected = new Set(containers.filter((c) => c.details).map((c) => c.imageId));
  await Promise.all(
    [...byRef.entries()].map(async ([ref, keys]) => {
      const listed = imageList[ref];
      if (!listed) return;
      const env = inspected.has(listed.id) ? ((await engine.inspectImage(listed.id))?.env ?? []) : [];
      for (const k of keys) images[k] = { id: listed.id, labels: listed.labels, env };
    }),
  );

  const foreign = await observeForeign(engine, stack, summaries, networks);
  return {
    containers,
    ...foreign,
    networks: networks
      .map((n) => ({ id: n.id, name: n.name, node: n.labels[LABEL.name] ?? "", hash: n.labels[LABEL.hash] }))
      .sort((a, b) => byCodeUnit(a.name, b.name)),
    images,
    dirs: disk.dirs,
    files: disk.files,
    inputs: disk.inputs,
    contextHashes: disk.contextHashes,
    jobs: disk.jobs,
    jobRuns: disk.jobRuns,
    otherProjects,
    escapes: disk.escapes,
  };
}

/** The stack's containers from the listing; a service container shctl has no record of is inspected. */
async function observeContainers(
  engine: EngineClient,
  summaries: ContainerSummary[],
  recorded: StackState["containers"],
): Promise<ObservedContainer[]> {
  const out = await Promise.all(
    summaries.map(async (c): Promise<ObservedContainer | undefined> => {
      const node = c.labels[LABEL.name] ?? "";
      const kind = (c.labels[LABEL.kind] as ObservedContainer["kind"]) ?? "service";
      const known = recorded[node]?.id === c.id ? recorded[node] : undefined;
      let details: ObservedContainer["details"];
      let restartPolicy = known?.restart ?? "";
      if (kind === "service" && !known) {
        const d = await engine.inspectContainer(c.id);
        if (!d) return undefined; // removed between the list and the inspect
        details = { env: d.env, cmd: d.cmd };
        restartPolicy = d.restartPolicy;
      }
      return {
        id: c.id,
        name: c.name,
        node,
        kind,
        state: c.state,
        health: c.health,
        hash: c.labels[LABEL.hash],
        recipe: c.labels[LABEL.recipe] ? Number(c.labels[LABEL.recipe]) : undefined,
        snapshot: parseSnapshot(c.labels[LABEL.snapshot]),
        imageId: c.imageId,
        restartPolicy,
        networks: Object.keys(c.networks).sort(byCodeUnit),
        exitCode: exitCodeOf(c.status),
        jobKey: c.labels[LABEL.jobKey],
        details,
      };
    }),
  );
  return out.filter((c): c is ObservedContainer => !!c).sort((a, b) => byCodeUnit(a.name, b.name));
}

/** The exit code a listing's status shows for an exited container ("Exited (0) 3 minutes ago"). */
function exitCodeOf(status: string): number | undefined {
  const m = /^Exited \((-?\d+)\)/.exec(status);
  return m ? Number(m[1]) : undefined;
}

function parseSnapshot(label: string | undefined): Record<string, unknown> | undefined {
  if (!label) return undefined;
  try {
    return JSON.parse(label) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Names and host ports held outside the stack, looked up only when the plan may need them. */
async function observeForeign(
  engine: EngineClient,
  stack: ResolvedStack,
  summaries: ContainerSummary[],
  networks: NetworkSummary[],
): Promise<Pick<ObservedState, "foreignContainers" | "foreignPorts" | "foreignNetworks">> {
  const ours = new Set(summaries.map((c) => c.name));
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
  const foreignContainers: ObservedState["foreignContainers"] = [];
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
  return { foreignContainers, foreignPorts, foreignNetworks };
}

async function observeDisk(stack: ResolvedStack, read: FileReader) {
  const dirPaths = new Set<string>();
  const filePaths = new Set<string>();
  const inputPaths = new Set<string>();
  for (const node of [...Object.values(stack.services), ...Object.values(stack.jobs)]) {
    const spec = node.kind === "service" ? node : node.container;
    for (const m of spec?.mounts ?? []) {
      if (m.type !== "bind") continue;
      (m.kind === "dir" ? dirPaths : filePaths).add(m.hostPath);
    }
    for (const p of node.inputs) inputPaths.add(p);
  }
  const dirs: Record<string, boolean> = {};
  const files: Record<string, boolean> = {};
  const inputs: Record<string, string | null> = {};
  const contextHashes: Record<string, string> = {};
  await Promise.all([
    ...[...dirPaths].map(async (p) => {
      dirs[p] = await stat(p).then(
        (s) => s.isDirectory(),
        () => false,
      );
    }),
    ...[...filePaths].map(async (p) => {
      files[p] = await stat(p).then(
        (s) => s.isFile(),
        () => false,
      );
    }),
    inputDigests([...inputPaths], read).then((d) => Object.assign(inputs, d)),
    ...Object.values(stack.images)
      .filter((i) => i.build)
      .map(async (img) => {
        contextHashes[img.key] = await hashContext(img.build?.contextDir as string, buildRecipe(img));
      }),
  ]);
  const escapes = await mountEscapes(stack);
  const state = await readState(stack.dataRoot);
  const jobRuns: ObservedState["jobRuns"] = {};
  await Promise.all(
    Object.keys(stack.jobs)
      .filter((j) => !state.jobs[j])
      .map(async (j) => {
        const log = await readJobLog(stack.dataRoot, j);
        if (log) jobRuns[j] = { outcome: log.outcome, finishedAt: log.finishedAt };
      }),
  );
  return {
    dirs,
    files,
    inputs,
    contextHashes,
    jobs: state.jobs,
    jobRuns,
    recorded: state.containers,
    escapes,
  };
}

/**
 * Bind-mount sources that really lie outside their root (the data root or the project dir), through
 * a symbolic link on their way: the engine would follow it, and a container would write outside
 * the data root. A source not made yet counts where it would be made (a link above it followed).
 */
async function mountEscapes(stack: ResolvedStack): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const roots = new Map<string, Promise<string | undefined>>();
  const realRoot = (root: string) => {
    let p = roots.get(root);
    if (!p) {
      p = realpath(root).catch(() => undefined);
      roots.set(root, p);
    }
    return p;
  };
  const mounts = [
    ...Object.values(stack.services),
    ...Object.values(stack.jobs).map((j) => j.container),
  ].flatMap((spec) => (spec?.mounts ?? []).filter((m) => m.type === "bind"));
  await Promise.all(
    mounts.map(async (m) => {
      if (m.type !== "bind") return;
      const [real, root] = await Promise.all([
        resolveThroughLinks(m.hostPath),
        realRoot(m.root === "data" ? stack.dataRoot : stack.projectDir),
      ]);
      if (real === undefined || root === undefined) return;
      const rel = path.relative(root, real);
      if (rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) out[m.hostPath] = real;
    }),
  );
  return out;
}

/**
 * The content hash of each built image's context, after checking the contexts are there (the
 * swarm target's observe uses it; `observe` does the same inline).
 */
export async function contextHashes(stack: ResolvedStack): Promise<Record<string, string>> {
  await checkBuildContexts(stack);
  const out: Record<string, string> = {};
  await Promise.all(
    Object.values(stack.images)
      .filter((i) => i.build)
      .map(async (img) => {
        out[img.key] = await hashContext(img.build?.contextDir as string, buildRecipe(img));
      }),
  );
  return out;
}
