import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import type { BackupManifest } from "./backup-archive.js";
import { isGzip, type VerifiedArchive, verifyArchive } from "./backup-archive-read.js";
import { throttled } from "./copy-progress.js";
import type { EngineClient } from "./engine/index.js";
import { InterruptedError, isShctlError, RefusedError, StepFailedError, UsageError } from "./errors.js";
import type { EventSink } from "./events.js";
import type { ResolvedStack } from "./model.js";
import { extractBackup } from "./restore-extract.js";
import { isMountPoint, removeStaleStaging, removeTree, stagingDir } from "./restore-staging.js";
import { checkTarget, contentsOf } from "./restore-target.js";
import { acquireLock } from "./state.js";

/*
 * Restoring a backup into a data root that is missing or empty (anything else is refused, with
 * nothing touched). The archive is read twice: once to check all of it against its manifest,
 * before anything is written; then again to extract, each entry checked once more on its way to
 * the engine, which unpacks it into the data root through a helper container that mounts it and is
 * never started (owners, modes, links as they were; no root needed on the host). If the second
 * pass fails, what it wrote is removed again. The job records come back with the data
 * (`.shctl/state.json`), so the next apply runs no init job that had completed.
 */

export interface RestoreOptions {
  file: string;
  onEvent?: EventSink;
  /** Aborting stops the restore; what was written is removed again. */
  signal?: AbortSignal;
  /** How long to wait for another run's lock; default 0 (fail at once). */
  lockWaitMs?: number;
  /** Only read and check the archive; change nothing. */
  checkOnly?: boolean;
}

export interface RestoreResult {
  file: string;
  compressed: boolean;
  /** The manifest without its list of entries. */
  manifest: Omit<BackupManifest, "entries">;
  /** False when only checked. */
  restored: boolean;
  durationMs: number;
}

/** Opens the archive: whether it is gzip-compressed (by its first bytes) and its size. */
async function probeArchive(file: string): Promise<{ compressed: boolean; size: number }> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new UsageError(`no such archive: ${file}`, {
        hint: "give the path of a file written by `shctl backup`",
      });
    if (code === "EISDIR")
      throw new UsageError(`${file} is a directory`, { hint: "give the archive file itself" });
    throw err;
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory())
      throw new UsageError(`${file} is a directory`, { hint: "give the archive file itself" });
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    return { compressed: isGzip(head), size: st.size };
  } finally {
    await fh.close();
  }
}

/** Counts the bytes that pass (the archive's own bytes, for progress). */
function byteCounter(onBytes: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      onBytes(n);
      done(null, chunk);
    },
  });
}

/**
 * Reads the whole archive and checks it against its manifest; changes nothing. Throws
 * BackupArchiveError (exit 2) for a damaged, truncated or foreign file.
 */
export async function verifyBackup(
  file: string,
  opts: { onEvent?: EventSink; signal?: AbortSignal } = {},
): Promise<VerifiedArchive & { compressed: boolean; size: number }> {
  const emit = opts.onEvent ?? (() => {});
  const abs = path.resolve(file);
  const { compressed, size } = await probeArchive(abs);
  const resource = `archive ${path.basename(abs)}`;
  const t0 = Date.now();
  emit({ type: "phase", resource, phase: "verifying" });
  const progress = throttled(emit, resource, "verify", size);
  const raw = createReadStream(abs);
  const input = raw.pipe(byteCounter((n) => progress.update(n, 0)));
  raw.on("error", (err) => input.destroy(err));
  input.on("close", () => raw.destroy());
  try {
    const v = await verifyArchive(input, {
      file,
      compressed,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    progress.flush();
    emit({
      type: "phase",
      resource,
      phase: "done",
      message: `verified: ${v.manifest.totals.files} files, every checksum matches`,
      elapsedMs: Date.now() - t0,
    });
    return { ...v, compressed, size };
  } catch (err) {
    if (opts.signal?.aborted && !isShctlError(err)) {
      throw new InterruptedError("interrupted while checking the archive: nothing was changed");
    }
    emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
    throw err;
  }
}

/**
 * Restores a backup into the stack's data root, which must be missing or empty (else
 * RefusedError, exit 2, nothing touched); the archive is checked whole before anything is written
 * (BackupArchiveError, exit 2, for a damaged or truncated one). Then `apply` starts the stack.
 */
export async function restore(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: RestoreOptions,
): Promise<RestoreResult> {
  const t0 = Date.now();
  const emit = opts.onEvent ?? (() => {});
  const file = path.resolve(opts.file);
  const signalOpt = opts.signal ? { signal: opts.signal } : {};
  await probeArchive(file);
  const was = opts.checkOnly ? "missing" : await checkTarget(stack, engine);
  const v = await verifyBackup(opts.file, { onEvent: emit, ...signalOpt });
  const { entries: _e, ...summary } = v.manifest;
  if (v.manifest.stack.name !== stack.name) {
    emit({
      type: "warning",
      message: `the archive is a backup of stack ${v.manifest.stack.name}; this is stack ${stack.name}`,
    });
  }
  if (stack.version && v.manifest.stack.version && stack.version !== v.manifest.stack.version) {
    emit({
      type: "warning",
      message: `the archive was made with version ${v.manifest.stack.version} of the stack; this is ${stack.version}`,
    });
  }
  if (opts.checkOnly) {
    return {
      file,
      compressed: v.compressed,
      manifest: summary,
      restored: false,
      durationMs: Date.now() - t0,
    };
  }

  if (was === "missing") await mkdir(stack.dataRoot, { recursive: true });
  let lock: Awaited<ReturnType<typeof acquireLock>>;
  try {
    lock = await acquireLock(stack.dataRoot, "shctl restore", {
      waitMs: opts.lockWaitMs ?? 0,
      ...signalOpt,
      onStale: (info) =>
        emit({ type: "warning", message: `took over a lock left by pid ${info.pid}, which is gone` }),
    });
  } catch (err) {
    if (was === "missing") await rm(stack.dataRoot, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  const resource = `dir ${path.relative(stack.projectDir, stack.dataRoot) || "."}`;
  // Unpacked beside the data root and renamed into place when complete; in place only when the
  // data root is a mount point (which cannot be replaced).
  const staging =
    was === "missing" || !(await isMountPoint(stack.dataRoot)) ? stagingDir(stack.dataRoot) : undefined;
  let released = false;
  let completed = false;
  try {
    // Someone may have written into it before the lock was ours.
    const extra = await contentsOf(engine, stack);
    if (extra.length > 0) {
      throw new RefusedError(`the data root ${stack.dataRoot} is not empty any more: nothing was restored`, {
        details: [`it holds ${extra.join(", ")}`],
        hint: "another command wrote into it meanwhile; make sure nothing else uses the stack, then restore again",
      });
    }
    await removeStaleStaging(engine, stack, emit);
    const t1 = Date.now();
    emit({ type: "phase", resource, phase: "extracting" });
    try {
      if (staging) await mkdir(staging, { mode: 0o700 });
      await extractBackup(stack, engine, staging ?? stack.dataRoot, file, v, emit, resource, opts.signal);
      if (staging) {
        // The lock goes with the empty directory the staging one replaces.
        released = true;
        await lock.release();
        await rmdir(path.join(stack.dataRoot, ".shctl"));
        await rmdir(stack.dataRoot);
        await rename(staging, stack.dataRoot);
      }
      completed = true;
    } catch (err) {
      const cleanup = staging
        ? removeTree(engine, stack.name, staging)
        : removeTree(engine, stack.name, stack.dataRoot, true);
      await cleanup.catch((e: unknown) =>
        emit({ type: "warning", message: `could not remove what was restored: ${(e as Error).message}` }),
      );
      const stopped = opts.signal?.aborted && !isShctlError(err);
      emit({
        type: "phase",
        resource,
        phase: "failed",
        message: stopped ? "interrupted: removed again" : (err as Error).message,
      });
      if (stopped)
        throw new InterruptedError("interrupted while restoring: what was written was removed again", {
          hint: "run the restore again when you want to",
        });
      if (isShctlError(err)) throw err;
      throw new StepFailedError(resource, "restore", (err as Error).message, {
        cause: err,
        hint: "nothing was left behind: fix the cause and restore again",
      });
    }
    emit({
      type: "phase",
      resource,
      phase: "done",
      message: `restored ${v.manifest.totals.files} files`,
      elapsedMs: Date.now() - t1,
    });
  } finally {
    if (!released) await lock.release();
    // A data root made here only to hold the lock goes again when nothing was restored into it.
    if (!completed && was === "missing") {
      await rmdir(path.join(stack.dataRoot, ".shctl")).catch(() => undefined);
      await rmdir(stack.dataRoot).catch(() => undefined);
    }
  }
  return { file, compressed: v.compressed, manifest: summary, restored: true, durationMs: Date.now() - t0 };
}
