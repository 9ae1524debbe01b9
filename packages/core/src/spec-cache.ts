import { lstat, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { writeFileAtomic } from "./atomic.js";
import { sha256 } from "./hash.js";
import type { StackSpec } from "./schema.js";

/*
 * A cache of validated stack files. Most commands load an unchanged stack file; parsing its YAML
 * and checking it against the schema means loading the yaml and zod libraries, a large part of a
 * no-op `shctl apply`. The cache keeps the schema's output per stack file, keyed by the file's
 * exact text and by the schema code that checked it, so a hit returns exactly what validation
 * would. Only successful validations are kept; everything that depends on more than the file
 * (env values, paths, profiles, dependency checks) is resolved again on every load.
 *
 * Entries hold what the file holds (fromEnv names, not their values) and are private to the user
 * (0600 in a 0700 dir; a dir that others may write to, or that is not the user's, is not used), one per stack file path; entries not rewritten for 30 days are removed
 * when another is written. A cache that cannot be read or written is simply not used.
 */

const FORMAT = 2;
/** Entries not rewritten for this long are removed when another entry is written. */
const MAX_AGE_MS = 30 * 24 * 3600_000;

/**
 * `$XDG_CACHE_HOME/shctl` (when absolute), else `~/.cache/shctl`; none when SHCTL_NO_CACHE is set
 * (and not "0"). Read from shctl's own environment.
 */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string | undefined {
  const off = env.SHCTL_NO_CACHE;
  if (off !== undefined && off !== "" && off !== "0") return undefined;
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".cache");
  return path.join(base, "shctl");
}

let stamp: Promise<string> | undefined;

/**
 * Identifies the code that parses and validates: the contents of the modules that do it (YAML
 * parsing and the schema live in validate and schema; durations are checked by duration) and the
 * versions of zod and yaml. Installed packages all carry one fixed mtime, so contents, not times.
 */
function schemaStamp(): Promise<string> {
  stamp ??= (async () => {
    const self = fileURLToPath(import.meta.url);
    const ext = path.extname(self);
    const require = createRequire(import.meta.url);
    const parts = [`format ${FORMAT}`];
    for (const name of ["schema", "validate", "duration"])
      parts.push(`${name} ${sha256(await readFile(path.join(path.dirname(self), `${name}${ext}`)))}`);
    for (const pkg of ["zod", "yaml"]) {
      const json = JSON.parse(await readFile(require.resolve(`${pkg}/package.json`), "utf8")) as {
        version?: string;
      };
      parts.push(`${pkg} ${json.version}`);
    }
    return parts.join("\n");
  })();
  return stamp;
}

/** A cache dir that is a real directory of ours that nobody else may write to. */
async function privateDir(dir: string): Promise<boolean> {
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) return false;
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

async function entryOf(dir: string, file: string, text: string) {
  return {
    path: path.join(dir, "stacks", `${sha256(file).slice(0, 32)}.json`),
    key: sha256(`${await schemaStamp()}\n${file}\n${text}`),
  };
}

/** The cached spec of `file` when its text and the schema are unchanged since it was validated. */
export async function readCachedSpec(
  dir: string,
  file: string,
  text: string,
): Promise<StackSpec | undefined> {
  try {
    const entry = await entryOf(dir, file, text);
    if (!(await privateDir(path.dirname(entry.path)))) return undefined;
    const got = JSON.parse(await readFile(entry.path, "utf8")) as { key?: unknown; spec?: unknown };
    return got.key === entry.key && typeof got.spec === "object" && got.spec !== null
      ? (got.spec as StackSpec)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps the spec for the next load; skipped when JSON could not carry it exactly. */
export async function writeCachedSpec(
  dir: string,
  file: string,
  text: string,
  spec: StackSpec,
): Promise<void> {
  try {
    const json = JSON.stringify(spec);
    if (!isDeepStrictEqual(JSON.parse(json), spec)) return;
    const entry = await entryOf(dir, file, text);
    await mkdir(path.dirname(entry.path), { recursive: true, mode: 0o700 });
    if (!(await privateDir(path.dirname(entry.path)))) return;
    await writeFileAtomic(entry.path, `{"key":${JSON.stringify(entry.key)},"spec":${json}}\n`, 0o600);
    await prune(path.dirname(entry.path));
  } catch {
    // Not cached: the next load validates again.
  }
}

async function prune(dir: string): Promise<void> {
  const old = Date.now() - MAX_AGE_MS;
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (st && st.mtimeMs < old) await rm(file, { force: true }).catch(() => undefined);
  }
}
