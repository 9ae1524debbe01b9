import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { SpecError } from "./errors.js";
import type { ResolvedStack } from "./model.js";
import { resolveSpec } from "./resolve/index.js";
import type { EngineInfoSummary, StackInput, StackSpec } from "./schema.js";
import { defaultCacheDir, readCachedSpec, writeCachedSpec } from "./spec-cache.js";

export interface LoadOptions {
  /** Base for relative paths; default: the stack file's directory, or the current directory. */
  projectDir?: string;
  /** Profile to select; default: the stack's `defaultProfile`. */
  profile?: string;
  /** Environment for `fromEnv` values; default: process.env. */
  env?: Record<string, string | undefined>;
  /**
   * Where validated stack files are cached, so that loading an unchanged file skips parsing and
   * schema validation (env values, paths and profiles are still resolved on every load). Default:
   * `$XDG_CACHE_HOME/shctl` or `~/.cache/shctl`; `false` (or SHCTL_NO_CACHE=1) turns it off.
   */
  cacheDir?: string | false;
  /**
   * What a stack factory may ask about the engine the stack will run on (its architecture, for one),
   * handed to the factory as `engineInfo`. Call it only when needed: it may reach the engine, and
   * rejects (e.g. EngineUnreachableError) when it cannot.
   */
  engineInfo?: () => Promise<EngineInfoSummary>;
  /** The data root of a stack that names none, relative to the project dir; default ./data. */
  defaultDataRoot?: string;
}

/** A stack module exports `stack`: a stack object or a function that returns one. */
export type StackFactory = (ctx: {
  projectDir: string;
  env: Record<string, string | undefined>;
  /** The profile asked for on the command line, if any. */
  profile: string | undefined;
  /**
   * The engine the stack will run on, when the caller can tell (the CLI can: the engine it is
   * connected to). Absent when loading without an engine (tests, tooling): then fall back to
   * what can be known without one.
   */
  engineInfo?: () => Promise<EngineInfoSummary>;
}) => StackInput | Promise<StackInput>;

/** Identity helper that gives a TypeScript stack module completion and type checks. */
export function defineStack<T extends StackInput>(stack: T): T {
  return stack;
}

/**
 * Loads, validates and resolves a stack from a YAML/JSON file, a JS module exporting `stack`,
 * or an object. Throws SpecError (exit 2) listing every problem with its path.
 */
export async function loadStack(
  source: string | StackInput | StackFactory,
  opts: LoadOptions = {},
): Promise<ResolvedStack> {
  const env = opts.env ?? process.env;
  let spec: StackSpec;
  let label: string;
  let projectDir: string;
  if (typeof source === "string") {
    const file = path.resolve(source);
    label = path.relative(process.cwd(), file) || file;
    projectDir = path.resolve(opts.projectDir ?? path.dirname(file));
    const ext = path.extname(file).toLowerCase();
    if (ext === ".js" || ext === ".mjs") {
      const raw = await importStackModule(file, label, factoryContext(projectDir, env, opts));
      spec = await parse(raw, label);
    } else {
      const cacheDir = opts.cacheDir === undefined ? defaultCacheDir() : opts.cacheDir || undefined;
      spec = await readStackFile(file, label, cacheDir);
    }
  } else {
    label = "(stack module)";
    projectDir = path.resolve(opts.projectDir ?? process.cwd());
    const raw = typeof source === "function" ? await source(factoryContext(projectDir, env, opts)) : source;
    spec = await parse(raw, label);
  }
  return resolveSpec(spec, {
    label,
    projectDir,
    profile: opts.profile,
    env,
    ...(opts.defaultDataRoot !== undefined ? { defaultDataRoot: opts.defaultDataRoot } : {}),
  });
}

function factoryContext(
  projectDir: string,
  env: Record<string, string | undefined>,
  opts: LoadOptions,
): Parameters<StackFactory>[0] {
  return {
    projectDir,
    env,
    profile: opts.profile,
    ...(opts.engineInfo ? { engineInfo: opts.engineInfo } : {}),
  };
}

/** The schema check, loaded (with zod) only when a stack has to be validated. */
async function parse(raw: unknown, label: string): Promise<StackSpec> {
  const { parseSpec } = await import("./validate.js");
  return parseSpec(raw, label);
}

async function importStackModule(
  file: string,
  label: string,
  ctx: Parameters<StackFactory>[0],
): Promise<unknown> {
  const mod = (await import(pathToFileURL(file).href)) as { stack?: unknown };
  if (mod.stack === undefined) {
    throw new SpecError(label, [{ path: [], message: "the module has no named export `stack`" }]);
  }
  return typeof mod.stack === "function" ? await (mod.stack as StackFactory)(ctx) : mod.stack;
}

/** A YAML (or JSON) stack file's validated spec: from the cache when the file is unchanged. */
async function readStackFile(file: string, label: string, cacheDir: string | undefined): Promise<StackSpec> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new SpecError(label, [{ path: [], message: `cannot read the file: ${(err as Error).message}` }]);
  }
  if (cacheDir) {
    const cached = await readCachedSpec(cacheDir, file, text);
    if (cached) return cached;
  }
  const { parseSpecText } = await import("./validate.js");
  const spec = parseSpecText(text, label);
  if (cacheDir) await writeCachedSpec(cacheDir, file, text, spec);
  return spec;
}
