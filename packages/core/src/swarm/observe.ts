import { stat } from "node:fs/promises";
import type { EngineClient, ServiceSummary, TaskSummary } from "../engine/index.js";
import { StepFailedError } from "../errors.js";
import { byCodeUnit } from "../graph.js";
import { fileReader } from "../helper-files.js";
import { inputDigests } from "../inputs.js";
import { LABEL, ownedByProject } from "../labels.js";
import type { ResolvedStack } from "../model.js";
import { contextHashes } from "../observe.js";
import { usedImages } from "../plan/order.js";
import { readJobLog, readState } from "../state.js";
import { configSources, readSource, type SourceView } from "./files.js";
import { jobServiceName, serviceName } from "./names.js";
import { readSwarmState, type SwarmState } from "./state.js";

/*
 * One snapshot of what a swarm holds for a stack, taken through one of its managers: nodes,
 * services and their tasks, overlay networks, configs; and on this machine the images, the files
 * that become configs, the job records and what shctl made on nodes. `planSwarm` needs nothing else.
 */

export interface ObservedSwarmService {
  id: string;
  /** The swarm's name for it. */
  name: string;
  /** Service or job name (the label). */
  node: string;
  kind: "service" | "job" | "helper";
  version: number;
  hash: string | undefined;
  recipe: number | undefined;
  snapshot: Record<string, unknown> | undefined;
  jobKey: string | undefined;
  spec: Record<string, unknown>;
  updateState: string | undefined;
  updateMessage: string | undefined;
  tasks: TaskSummary[];
}

export interface ObservedNode {
  id: string;
  hostname: string;
  availability: string;
  state: string;
  labels: Record<string, string>;
}

export interface SwarmObserved {
  /** This engine's node ID. */
  self: string;
  nodes: ObservedNode[];
  services: ObservedSwarmService[];
  /** Service names the stack wants that services without its labels hold. */
  foreignServices: string[];
  networks: { id: string; name: string; node: string; hash: string | undefined }[];
  foreignNetworks: string[];
  configs: { id: string; name: string }[];
  /** Local images by key (this machine builds and pushes; nodes pull or have their own). */
  images: Record<string, { id: string; labels: Record<string, string>; local: boolean }>;
  contextHashes: Record<string, string>;
  inputs: Record<string, string | null>;
  /** Read-only mount sources (by host path): what becomes configs. */
  sources: Record<string, SourceView>;
  /** Directories of swarm.sharedDirs (and the data root's others made here) that exist. */
  dirs: Record<string, boolean>;
  jobs: Record<string, { key: string; completedAt: string }>;
  jobRuns: Record<string, { outcome: string; finishedAt: string }>;
  swarm: SwarmState;
  /** Containers of this stack on this engine outside the swarm (the stack as target engine). */
  engineContainers: number;
  otherProjects: string[];
}

/** The engine is no manager of an active swarm: nothing can be done on a swarm through it. */
export async function checkManager(engine: EngineClient): Promise<string> {
  const info = await engine.swarmInfo();
  if (info.state === "active" && info.manager) return info.nodeId;
  const why =
    info.state !== "active"
      ? `this engine is not in a swarm (its swarm state is "${info.state}")`
      : "this engine is a worker of its swarm; services are managed through a manager";
  throw new StepFailedError(`engine ${engine.where}`, "swarm", why, {
    hint:
      info.state !== "active"
        ? "start one with `docker swarm init` (or join one), or set `target: engine` to run on this engine alone"
        : "point DOCKER_HOST at a manager of the swarm",
  });
}

export async function observeSwarm(engine: EngineClient, stack: ResolvedStack): Promise<SwarmObserved> {
  const self = await checkManager(engine);
  const label = `${LABEL.stack}=${stack.name}`;
  const read = fileReader(engine, stack.name);
  // The images tasks run and, transitively, what they are built from (a base built here too).
  const used = [...usedImages(stack)];
  for (let i = 0; i < used.length; i++)
    for (const need of stack.images[used[i] as string]?.needs ?? [])
      if (!used.includes(need)) used.push(need);
  const refs = used.map((k) => stack.images[k]?.ref ?? k);
  const sources = configSources(stack);
  const [nodes, listed, nets, configs, imageList, containers, disk] = await Promise.all([
    engine.listNodes(),
    engine.listServices([label]),
    engine.listNetworks([label]),
    engine.listConfigs([label]),
    engine.listImages(refs),
    engine.listContainers([label]),
    observeDisk(stack, read, sources),
  ]);
  const ours = (labels: Record<string, string>) => ownedByProject(labels, stack);
  const mine = listed.filter((s) => ours(s.labels));
  const tasks = await engine.listTasks(mine.map((s) => s.id));
  const services = mine
    .map((s) => toObserved(s, tasks))
    .sort((a, b) => byCodeUnit(a.name, b.name) || byCodeUnit(a.id, b.id));
  const networks = nets
    .filter((n) => ours(n.labels))
    .map((n) => ({ id: n.id, name: n.name, node: n.labels[LABEL.name] ?? "", hash: n.labels[LABEL.hash] }))
    .sort((a, b) => byCodeUnit(a.name, b.name));
  const otherProjects = [
    ...new Set(
      [...listed, ...nets].filter((x) => !ours(x.labels)).map((x) => x.labels[LABEL.project] as string),
    ),
  ].sort(byCodeUnit);

  // Names the stack wants that are taken by services or networks of no stack of ours.
  const wanted = new Set([
    ...Object.keys(stack.services).map((n) => serviceName(stack.name, n)),
    ...Object.keys(stack.jobs).map((n) => jobServiceName(stack.name, n)),
  ]);
  const missingNames = [...wanted].filter((n) => !mine.some((s) => s.name === n));
  const missingNets = Object.values(stack.networks)
    .map((n) => n.dockerName)
    .filter((n) => !networks.some((o) => o.name === n));
  const [allServices, allNets] = await Promise.all([
    missingNames.length > 0 ? engine.listServices([]) : Promise.resolve([]),
    missingNets.length > 0 ? engine.listNetworks([]) : Promise.resolve([]),
  ]);
  const foreignServices = allServices
    .filter((s) => missingNames.includes(s.name) && s.labels[LABEL.stack] !== stack.name)
    .map((s) => s.name)
    .sort(byCodeUnit);
  const foreignNetworks = allNets
    .filter((n) => missingNets.includes(n.name) && n.labels[LABEL.stack] !== stack.name)
    .map((n) => n.name)
    .sort(byCodeUnit);

  const images: SwarmObserved["images"] = {};
  for (const key of used) {
    const ref = stack.images[key]?.ref ?? key;
    const img = imageList[ref];
    if (!img) continue;
    // Made on this machine (built, loaded): no registry knows it by digest.
    const local = stack.images[key]?.build !== undefined || (img.repoDigests ?? []).length === 0;
    images[key] = { id: img.id, labels: img.labels, local };
  }
  return {
    self,
    nodes: nodes
      .map((n) => ({
        id: n.id,
        hostname: n.hostname,
        availability: n.availability,
        state: n.state,
        labels: n.labels,
      }))
      .sort((a, b) => byCodeUnit(a.id, b.id)),
    services,
    foreignServices,
    networks,
    foreignNetworks,
    configs: configs
      .filter((c) => ours(c.labels))
      .map((c) => ({ id: c.id, name: c.name }))
      .sort((a, b) => byCodeUnit(a.name, b.name)),
    images,
    ...disk,
    engineContainers: containers.filter((c) => ours(c.labels) && c.labels[LABEL.kind] !== "helper").length,
    otherProjects,
  };
}

function toObserved(s: ServiceSummary, tasks: TaskSummary[]): ObservedSwarmService {
  let snapshot: Record<string, unknown> | undefined;
  try {
    const text = s.labels[LABEL.snapshot];
    snapshot = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    snapshot = undefined;
  }
  return {
    id: s.id,
    name: s.name,
    node: s.labels[LABEL.name] ?? "",
    kind: (s.labels[LABEL.kind] as ObservedSwarmService["kind"]) ?? "service",
    version: s.version,
    hash: s.labels[LABEL.hash],
    recipe: s.labels[LABEL.recipe] ? Number(s.labels[LABEL.recipe]) : undefined,
    snapshot,
    jobKey: s.labels[LABEL.jobKey],
    spec: s.spec,
    updateState: s.updateStatus?.state,
    updateMessage: s.updateStatus?.message,
    tasks: tasks
      .filter((t) => t.serviceId === s.id)
      .sort(
        (a, b) =>
          (a.slot ?? 0) - (b.slot ?? 0) || byCodeUnit(a.createdAt, b.createdAt) || byCodeUnit(a.id, b.id),
      ),
  };
}

async function observeDisk(
  stack: ResolvedStack,
  read: (file: string) => Promise<Buffer | undefined>,
  sources: ReturnType<typeof configSources>,
) {
  const inputPaths = new Set<string>();
  for (const node of [...Object.values(stack.services), ...Object.values(stack.jobs)])
    for (const p of node.inputs) inputPaths.add(p);
  const dirPaths = new Set(stack.swarm?.sharedDirs ?? []);
  const dirs: Record<string, boolean> = {};
  const viewed: Record<string, SourceView> = {};
  const [inputs, hashes, state, swarm] = await Promise.all([
    inputDigests([...inputPaths], read),
    contextHashes(stack),
    readState(stack.dataRoot),
    readSwarmState(stack.dataRoot),
    ...[...dirPaths].map(async (p) => {
      dirs[p] = await stat(p).then(
        (s) => s.isDirectory(),
        () => false,
      );
    }),
    ...[...sources.values()].map(async (m) => {
      viewed[m.hostPath] = await readSource(m, read);
    }),
  ]);
  const jobRuns: SwarmObserved["jobRuns"] = {};
  await Promise.all(
    Object.keys(stack.jobs)
      .filter((j) => !state.jobs[j])
      .map(async (j) => {
        const log = await readJobLog(stack.dataRoot, j);
        if (log) jobRuns[j] = { outcome: log.outcome, finishedAt: log.finishedAt };
      }),
  );
  return {
    inputs,
    contextHashes: hashes,
    sources: viewed,
    dirs,
    jobs: state.jobs,
    jobRuns,
    swarm,
  };
}
