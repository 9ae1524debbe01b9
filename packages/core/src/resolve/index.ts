import { SpecError, type SpecIssue } from "../errors.js";
import type { ResolvedNetwork, ResolvedStack } from "../model.js";
import type { StackSpec } from "../schema.js";
import { checkGraph, checkPorts, checkSharedMounts } from "./checks.js";
import { checkProfile, type ResolveContext, startResolving } from "./context.js";
import { checkNeeds, resolveImages } from "./images.js";
import { resolveChecks, resolveJobs, resolveServices } from "./nodes.js";
import { checkTarget, resolveSwarm } from "./target.js";

/*
 * From a validated stack spec (the schema's output) to the ResolvedStack that plan and execute
 * use: profiles, env values, paths, images, dependencies, and the checks zod cannot express
 * (cycles, port clashes, paths that leave their root, shared directories). No zod here: a stack
 * file whose validated spec is cached is resolved without loading the schema.
 */

export type { ResolveContext } from "./context.js";
export { DEFAULT_DATA_ROOT } from "./context.js";
export { splitCommand } from "./words.js";

/** Resolves a validated spec; throws SpecError (exit 2) listing every problem with its path. */
export function resolveSpec(spec: StackSpec, ctx: ResolveContext): ResolvedStack {
  const issues: SpecIssue[] = [];
  const r = startResolving(spec, ctx, issues);
  checkProfile(r);
  r.networks = resolveNetworks(spec);
  resolveImages(r);
  const swarm = resolveSwarm(r);
  const services = resolveServices(r);
  const jobs = resolveJobs(r);
  checkNeeds(r);
  const stack: ResolvedStack = {
    name: spec.name,
    ...(swarm ? { target: "swarm" as const, swarm } : {}),
    version: spec.version,
    source: ctx.label,
    projectDir: r.projectDir,
    dataRoot: r.dataRoot,
    ...(spec.dataRoot === undefined ? { dataRootDefaulted: true } : {}),
    profile: r.profile,
    bindAddress: spec.bindAddress,
    networks: r.networks,
    images: r.images,
    services,
    jobs,
    checks: resolveChecks(r),
    notes: spec.notes,
    secrets: [...r.secrets].sort((a, b) => b.length - a.length),
    ...(spec.registryMirror ? { registryMirror: spec.registryMirror } : {}),
    ...(spec.doctor && spec.doctor.length > 0 ? { doctor: spec.doctor } : {}),
    ...(spec.statusExtras ? { statusExtras: spec.statusExtras } : {}),
  };
  checkGraph(r, stack);
  checkPorts(r, stack);
  checkSharedMounts(r, stack);
  checkTarget(r, stack);
  if (issues.length > 0) throw new SpecError(ctx.label, issues);
  return stack;
}

/** The stack's networks (one named "default" when it declares none), named `STACK_NAME` on the engine. */
function resolveNetworks(spec: StackSpec): Record<string, ResolvedNetwork> {
  const networks: Record<string, ResolvedNetwork> = {};
  const specs =
    Object.keys(spec.networks).length > 0
      ? spec.networks
      : { default: { driver: "bridge", internal: false, labels: {} } };
  for (const [name, n] of Object.entries(specs)) {
    networks[name] = {
      name,
      dockerName: `${spec.name}_${name}`,
      driver: n.driver,
      internal: n.internal,
      labels: n.labels,
    };
  }
  return networks;
}
