import { lstat, readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { RefusedError } from "./errors.js";
import type { ResolvedStack } from "./model.js";

/* Before a backup changes anything: the checks that refuse it, and the size to expect. */

/** Is `inner` the same as or under `outer` (both absolute, symlinks resolved where they exist)? */
async function isWithin(inner: string, outer: string): Promise<boolean> {
  const real = async (p: string): Promise<string> => {
    try {
      return await realpath(p);
    } catch {
      const parent = path.dirname(p);
      return parent === p ? p : path.join(await real(parent), path.basename(p));
    }
  };
  const rel = path.relative(await real(outer), await real(inner));
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** The checks before anything happens: a data root to back up, and a place for the archive outside it. */
export async function checkBackup(stack: ResolvedStack, file: string, overwrite: boolean): Promise<void> {
  const root = await lstat(stack.dataRoot).catch(() => undefined);
  if (!root?.isDirectory()) {
    throw new RefusedError(
      `nothing to back up: the data root ${stack.dataRoot} ${root ? "is not a directory" : "does not exist"}`,
      {
        hint: "run the backup where the stack's project is (its data root is resolved from there)",
      },
    );
  }
  if (await isWithin(file, stack.dataRoot)) {
    throw new RefusedError(`the archive ${file} would be inside the data root ${stack.dataRoot}`, {
      hint: "write the archive somewhere outside the data root",
    });
  }
  const dir = await stat(path.dirname(file)).catch(() => undefined);
  if (!dir?.isDirectory()) {
    throw new RefusedError(`cannot write ${file}: the directory ${path.dirname(file)} does not exist`, {
      hint: "create the directory first, or give another path",
    });
  }
  const existing = await lstat(file).catch(() => undefined);
  if (existing && !overwrite) {
    throw new RefusedError(`${file} exists already`, {
      hint: "give another name, or remove it first",
    });
  }
  if (existing?.isDirectory()) throw new RefusedError(`${file} is a directory`, { hint: "give a file name" });
}

/**
 * The bytes of file content under `dir`, each hard-linked file once; undefined when part of it
 * cannot be read by this user (then the size is unknown before packing).
 */
export async function contentBytes(dir: string): Promise<number | undefined> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<boolean> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return false;
    }
    for (const n of names) {
      const p = path.join(d, n);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        if (!(await walk(p))) return false;
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && seen.has(key)) continue;
        seen.add(key);
        total += st.size;
      }
    }
    return true;
  };
  return (await walk(dir)) ? total : undefined;
}
