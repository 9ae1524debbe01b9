import path from "node:path";
import { parseDuration } from "../duration.js";
import type { SpecIssue } from "../errors.js";
import type { ResolvedImage, ResolvedNetwork } from "../model.js";
import type { StackSpec } from "../schema.js";

export interface ResolveContext {
  /** How the stack is named in errors (its file, or "(stack module)"). */
  label: string;
  projectDir: string;
  profile: string | undefined;
  env: Record<string, string | undefined>;
  /**
   * The data root when the stack names none, relative to the project dir. The product decides it
   * (the product's own, set by the CLI); a tool using core alone gets ./data.
   */
  defaultDataRoot?: string;
}

/** What one resolution shares: the spec, where it lives, and what it has found so far. */
export interface Resolving {
  spec: StackSpec;
  ctx: ResolveContext;
  issues: SpecIssue[];
  projectDir: string;
  dataRoot: string;
  profile: string | undefined;
  /** Every secret value met so far. */
  secrets: Set<string>;
  networks: Record<string, ResolvedNetwork>;
  images: Record<string, ResolvedImage>;
}

/** Where a path is, with its parts: `where` of an issue. */
export type Where = (string | number)[];

export const DEFAULT_DATA_ROOT = "./data";

export function startResolving(spec: StackSpec, ctx: ResolveContext, issues: SpecIssue[]): Resolving {
  const projectDir = ctx.projectDir;
  return {
    spec,
    ctx,
    issues,
    projectDir,
    dataRoot: path.resolve(projectDir, spec.dataRoot ?? ctx.defaultDataRoot ?? DEFAULT_DATA_ROOT),
    profile: ctx.profile ?? spec.defaultProfile,
    secrets: new Set(),
    networks: {},
    images: {},
  };
}

/** Milliseconds of a validated duration. */
export function ms(text: string): number {
  return parseDuration(text) ?? 0;
}

/** Whether `p` is `root` or inside it (lexically; symbolic links are the plan's business). */
export function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Whether a service or job of these profiles runs in the selected profile. */
export function selected(r: Resolving, profiles: string[] | undefined): boolean {
  return profiles === undefined || (r.profile !== undefined && profiles.includes(r.profile));
}

/** The stack's profiles; an unknown `--profile` is an issue naming the ones it has. */
export function checkProfile(r: Resolving): void {
  const { spec, ctx } = r;
  const known = new Set<string>();
  for (const n of [...Object.values(spec.services), ...Object.values(spec.jobs)])
    for (const p of n.profiles ?? []) known.add(p);
  if (spec.defaultProfile) known.add(spec.defaultProfile);
  for (const p of spec.profiles) known.add(p);
  if (ctx.profile !== undefined && !known.has(ctx.profile)) {
    r.issues.push({
      path: ["profile"],
      message: `unknown profile "${ctx.profile}"${known.size > 0 ? `; this stack has: ${[...known].sort().join(", ")}` : ""}`,
    });
  }
}
