import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { DATA_DIR, excludedFromBackup } from "./backup-archive.js";
import { runningServices } from "./backup-services.js";
import type { EngineClient } from "./engine/index.js";
import { RefusedError } from "./errors.js";
import { withUnstartedHelper } from "./helper-container.js";
import { isAccessError } from "./helper-files.js";
import { LABEL } from "./labels.js";
import type { ResolvedStack } from "./model.js";

/* Where a restore may go: a data root that is missing or empty, of a stack that does not run. */

/** Entries a restore target may hold and still count as empty: an empty `.shctl`, a lock. */
function ignorable(rel: string): boolean {
  return rel === ".shctl" || excludedFromBackup(rel);
}

/**
 * What the data root holds beyond what an empty one may (at most `limit` paths): read directly,
 * or through the engine where this user may not read it.
 */
export async function contentsOf(engine: EngineClient, stack: ResolvedStack, limit = 5): Promise<string[]> {
  const found: string[] = [];
  try {
    for (const n of await readdir(stack.dataRoot)) {
      if (n !== ".shctl") found.push(n);
      else for (const m of await readdir(path.join(stack.dataRoot, n))) found.push(`.shctl/${m}`);
    }
    return found.filter((r) => !ignorable(r)).slice(0, limit);
  } catch (err) {
    if (!isAccessError(err)) throw err;
  }
  const binds = [`${stack.dataRoot}:/${DATA_DIR}:ro`];
  return withUnstartedHelper(engine, { stack: stack.name, name: "list", binds }, async (id) => {
    const tar = await engine.getArchive(id, `/${DATA_DIR}`);
    if (!tar) return [];
    const { extract } = await import("tar-stream");
    const ex = extract();
    tar.pipe(ex);
    tar.on("error", (err) => ex.destroy(err));
    for await (const entry of ex) {
      const rel = entry.header.name.split("/").filter(Boolean).slice(1).join("/");
      entry.resume();
      if (rel !== "" && !ignorable(rel)) found.push(rel);
      if (found.length >= limit) break;
    }
    tar.destroy();
    return found;
  });
}

/** The target must be a missing or empty directory (no symlink), and no service of the stack may run. */
export async function checkTarget(stack: ResolvedStack, engine: EngineClient): Promise<"missing" | "empty"> {
  const running = await runningServices(stack, engine);
  if (running.length > 0) {
    throw new RefusedError(
      `stack ${stack.name} is running (${running
        .map((c) => c.labels[LABEL.name] ?? c.name)
        .sort()
        .join(", ")}): nothing was restored`,
      { hint: "restore into a stopped stack: `shctl teardown` first (and the data root must be empty)" },
    );
  }
  const st = await lstat(stack.dataRoot).catch(() => undefined);
  if (!st) return "missing";
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new RefusedError(
      `the data root ${stack.dataRoot} is ${st.isSymbolicLink() ? "a symbolic link" : "not a directory"}: nothing was restored`,
      {
        hint: "restore into a missing or empty directory",
      },
    );
  }
  const extra = await contentsOf(engine, stack);
  if (extra.length > 0) {
    throw new RefusedError(`the data root ${stack.dataRoot} is not empty: nothing was restored`, {
      details: [`it holds ${extra.join(", ")}${extra.length >= 5 ? ", …" : ""}`],
      hint: "restore only into a missing or empty data root: `shctl teardown --data` removes the stack's data (keep a backup of it first), or move it aside",
    });
  }
  return "empty";
}
