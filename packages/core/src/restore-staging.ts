import { lstat, readdir, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import type { EngineClient } from "./engine/index.js";
import type { EventSink } from "./events.js";
import { runHelperCommand } from "./helper-container.js";
import { isAccessError } from "./helper-files.js";
import type { ResolvedStack } from "./model.js";
import { alive } from "./state.js";

/*
 * Where a restore unpacks: beside the data root (renamed into place when complete) unless the data
 * root is a mount point; and removing what a restore wrote, or what one killed outright left.
 */

/**
 * Where a restore into a missing data root unpacks first: a hidden directory beside it, renamed
 * into place once complete, so that even a restore killed outright leaves no half-written data
 * root (the next restore removes what such a run left).
 */
export function stagingDir(dataRoot: string, pid: number = process.pid): string {
  return path.join(path.dirname(dataRoot), `.${path.basename(dataRoot)}.restoring-${pid}`);
}

/** Removes everything inside `dir` (and `dir` itself unless `keep`), through a helper where this user may not. */
export async function removeTree(
  engine: EngineClient,
  stack: string,
  dir: string,
  keep = false,
): Promise<void> {
  let denied = false;
  try {
    for (const n of await readdir(dir)) await rm(path.join(dir, n), { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    if (!isAccessError(err)) throw err;
    denied = true;
  }
  if (denied) {
    const r = await runHelperCommand(engine, {
      stack,
      name: "restore-undo",
      args: ["rmtree", "/target"],
      binds: [`${dir}:/target`],
    });
    if (r.exitCode !== 0) throw new Error(`the helper could not empty ${dir}: ${r.stderr.trim()}`);
  }
  if (!keep) await rmdir(dir);
}

/** Removes what restores killed outright (their process is gone) left beside the data root. */
export async function removeStaleStaging(
  engine: EngineClient,
  stack: ResolvedStack,
  emit: EventSink,
): Promise<void> {
  const prefix = `.${path.basename(stack.dataRoot)}.restoring-`;
  const names = await readdir(path.dirname(stack.dataRoot)).catch(() => [] as string[]);
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length));
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    const dir = path.join(path.dirname(stack.dataRoot), n);
    await removeTree(engine, stack.name, dir).then(
      () =>
        emit({
          type: "warning",
          message: `removed ${dir}, left by a restore that did not finish (pid ${pid})`,
        }),
      (err: unknown) =>
        emit({
          type: "warning",
          message: `could not remove ${dir}, left by an earlier restore: ${(err as Error).message}`,
        }),
    );
  }
}

/** Whether a directory is a mount point (on another device than its parent). */
export async function isMountPoint(dir: string): Promise<boolean> {
  const [a, b] = await Promise.all([lstat(dir), lstat(path.dirname(dir))]);
  return a.dev !== b.dev;
}
