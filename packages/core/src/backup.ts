import { readFileSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import type { BackupManifest } from "./backup-archive.js";
import { packArchive } from "./backup-pack.js";
import { checkBackup, contentBytes } from "./backup-preflight.js";
import { runningServices, type Stopped, StoppingError, startAgain, stopServices } from "./backup-services.js";
import type { EngineClient } from "./engine/index.js";
import { CancelledError, InterruptedError, isShctlError, StepFailedError } from "./errors.js";
import type { EventSink } from "./events.js";
import { LABEL } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { acquireLock } from "./state.js";

/*
 * A consistent backup of the whole data root. Under the stack's lock: the stack's running
 * services are stopped, dependents first (their containers are kept); the engine hands over a tar
 * of the data root from a helper container that mounts it and is never started, which keeps
 * owners, modes, symbolic and hard links, and reads what this user may not (a docker-group member
 * needs no root); the archive is written next to its final name as FILE.partial and renamed once
 * complete and synced. Then, however packing ended (done, failed, interrupted), the stopped
 * services start again in dependency order and the backup waits until they are ready.
 */

export interface BackupOptions {
  /** Where the archive goes. It must not be inside the data root. */
  file: string;
  onEvent?: EventSink;
  /** Aborting stops packing: the partial file is removed and the services start again. */
  signal?: AbortSignal;
  /** How long to wait for another run's lock; default 0 (fail at once). */
  lockWaitMs?: number;
  /** gzip the archive; default: unless the file name ends in `.tar`. */
  compress?: boolean;
  /** Replace a file that exists at `file`; default: refuse. */
  overwrite?: boolean;
  /** The tool the archive names as its writer; default "@sh/core VERSION". */
  tool?: string;
  /** Wait until the services started again are ready; default true. */
  wait?: boolean;
  /**
   * Asked under the lock with the services about to be stopped (when any run); resolving false
   * ends the backup with CancelledError, nothing changed.
   */
  confirm?: (services: string[]) => boolean | Promise<boolean>;
}

export interface BackupResult {
  file: string;
  /** The archive's size on disk. */
  archiveBytes: number;
  compressed: boolean;
  /** The manifest without its list of entries. */
  manifest: Omit<BackupManifest, "entries">;
  /** Services stopped for the backup and started again, in the order they were stopped. */
  stopped: string[];
  /** From the first stop until every service was started (and ready, when waited for) again. */
  downtimeMs: number;
  durationMs: number;
}

/** The version of @sh/core, for the archive's `tool`. */
export function coreVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
    ).version;
  } catch {
    return "unknown";
  }
}

/** Whether an archive name asks for plain tar (anything else is gzip-compressed). */
export function wantsCompression(file: string): boolean {
  return !/\.tar$/i.test(file);
}

/**
 * Backs up the stack's data root into one archive (see backup-archive.ts for the format), with the
 * services stopped while it is packed and started again afterwards, also after a failure or an
 * interrupt. Refuses (RefusedError, exit 2) before anything changes when there is no data root, the
 * archive would be inside it, or the file exists (without `overwrite`).
 */
export async function backup(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: BackupOptions,
): Promise<BackupResult> {
  const t0 = Date.now();
  const emit = opts.onEvent ?? (() => {});
  const file = path.resolve(opts.file);
  const compressed = opts.compress ?? wantsCompression(file);
  await checkBackup(stack, file, opts.overwrite === true);
  const lock = await acquireLock(stack.dataRoot, "shctl backup", {
    waitMs: opts.lockWaitMs ?? 0,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onStale: (info) =>
      emit({
        type: "warning",
        message: `took over a lock left by pid ${info.pid} (${info.command}, ${info.startedAt}), which is gone`,
      }),
  });
  const partial = `${file}.partial`;
  // A process that exits at once (a second Ctrl-C) leaves no partial archive either.
  const dropPartial = () => rmSync(partial, { force: true });
  process.once("exit", dropPartial);
  let stopped: Stopped[] = [];
  let downFrom: number | undefined;
  let manifest: BackupManifest | undefined;
  let archiveBytes = 0;
  let packError: unknown;
  /** The archive's resource name once packing began. */
  let packing: string | undefined;
  let restartError: unknown;
  try {
    try {
      // The size to expect, measured while the services still run (an estimate: metadata only).
      const total = await contentBytes(stack.dataRoot);
      const running = await runningServices(stack, engine);
      const names = running.map((c) => c.labels[LABEL.name] ?? c.name).sort();
      if (opts.confirm && names.length > 0 && !(await opts.confirm(names))) {
        throw new CancelledError("cancelled: nothing was changed", {
          hint: "run the backup again when the services may stop for a while",
        });
      }
      downFrom = Date.now();
      try {
        stopped = await stopServices(stack, engine, running, emit, opts.signal);
      } catch (err) {
        if (err instanceof StoppingError) {
          stopped = err.stopped;
          throw err.reason;
        }
        throw err;
      }
      if (opts.signal?.aborted) throw interrupted("while the services were stopping");
      const resource = `archive ${path.basename(file)}`;
      packing = resource;
      emit({ type: "phase", resource, phase: "packing" });
      const t1 = Date.now();
      ({ manifest, archiveBytes } = await packArchive(stack, engine, {
        file,
        partial,
        compressed,
        tool: opts.tool ?? `@sh/core ${coreVersion()}`,
        total,
        resource,
        emit,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }));
      packing = undefined;
      emit({
        type: "phase",
        resource,
        phase: "done",
        message: `written: ${manifest.totals.files} files`,
        elapsedMs: Date.now() - t1,
      });
    } catch (err) {
      packError = opts.signal?.aborted && !isShctlError(err) ? interrupted("while packing") : err;
      if (packing)
        emit({
          type: "phase",
          resource: packing,
          phase: "failed",
          message:
            packError instanceof InterruptedError ? "interrupted: removed" : (packError as Error)?.message,
        });
    } finally {
      await rm(partial, { force: true }).catch(() => undefined);
      try {
        await startAgain(stack, engine, stopped, emit, opts.wait !== false);
      } catch (err) {
        restartError = err;
      }
    }
  } finally {
    process.removeListener("exit", dropPartial);
    await lock.release();
  }
  const failure = backupFailure(stack, file, manifest, packError, restartError);
  if (failure !== undefined || manifest === undefined) throw failure;
  const { entries: _entries, ...summary } = manifest;
  return {
    file,
    archiveBytes,
    compressed,
    manifest: summary,
    stopped: stopped.map((s) => s.name),
    downtimeMs: downFrom === undefined ? 0 : Date.now() - downFrom,
    durationMs: Date.now() - t0,
  };
}

/**
 * What a backup that did not end well throws: packing's error (naming a failed restart too),
 * else the restart's failure; undefined when it ended well.
 */
function backupFailure(
  stack: ResolvedStack,
  file: string,
  manifest: BackupManifest | undefined,
  packError: unknown,
  restartError: unknown,
): unknown {
  if (packError !== undefined) {
    if (restartError !== undefined && isShctlError(packError)) {
      packError.details.push(`and starting the services again failed: ${(restartError as Error).message}`);
    }
    return packError;
  }
  if (restartError !== undefined || manifest === undefined) {
    const why = (restartError as Error)?.message ?? String(restartError);
    return new StepFailedError(`stack ${stack.name}`, "start after the backup", why, {
      cause: restartError,
      details: [`the backup is complete: ${file}`],
      hint: "run `shctl apply` to start the stack (and see what fails)",
    });
  }
  return undefined;
}

function interrupted(when: string): InterruptedError {
  return new InterruptedError(`interrupted ${when}: no archive was written`, {
    hint: "the services that were stopped were started again; run the backup again when you want to",
  });
}
