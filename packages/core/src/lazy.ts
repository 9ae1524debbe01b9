import type { BackupOptions, BackupResult } from "./backup.js";
import type { VerifiedArchive } from "./backup-archive-read.js";
import type { BundleManifest } from "./bundle.js";
import type { LoadBundleOptions, LoadBundleResult } from "./bundle-load.js";
import type { SaveBundleOptions, SaveBundleResult } from "./bundle-save.js";
import type { DoctorFinding, DoctorOptions } from "./doctor.js";
import type { EngineClient } from "./engine/index.js";
import type { EventSink } from "./events.js";
import type { LogsOptions, LogsSource } from "./logs.js";
import type { ResolvedStack } from "./model.js";
import type { RestoreOptions, RestoreResult } from "./restore.js";
import type { ServiceStatus, StatusOptions } from "./status.js";
import type { VerifyOptions, VerifyResult } from "./verify.js";

/*
 * The main entry's commands other than load, diff, apply and teardown, each loading its module
 * (and what that module needs: archives, tunnels, checks) when first called. Every command of the
 * CLI imports "@sh/core"; the everyday one, a no-op apply, then loads none of them. Signatures
 * and behaviour are those of the functions they call (documented there).
 */

/** Backs up the stack's data root (backup.ts). */
export async function backup(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: BackupOptions,
): Promise<BackupResult> {
  return (await import("./backup.js")).backup(stack, engine, opts);
}

/** Restores a backup (restore.ts). */
export async function restore(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: RestoreOptions,
): Promise<RestoreResult> {
  return (await import("./restore.js")).restore(stack, engine, opts);
}

/** Checks a backup archive without restoring it (restore.ts). */
export async function verifyBackup(
  file: string,
  opts?: { onEvent?: EventSink; signal?: AbortSignal },
): Promise<VerifiedArchive & { compressed: boolean; size: number }> {
  return (await import("./restore.js")).verifyBackup(file, opts);
}

/** Writes every image the stack runs into one bundle file (bundle-save.ts). */
export async function saveBundle(
  stack: ResolvedStack,
  engine: EngineClient,
  file: string,
  opts?: SaveBundleOptions,
): Promise<SaveBundleResult> {
  return (await import("./bundle-save.js")).saveBundle(stack, engine, file, opts);
}

/** Loads a bundle's images into the engine (bundle-load.ts). */
export async function loadBundle(
  engine: EngineClient,
  file: string,
  opts?: LoadBundleOptions,
): Promise<LoadBundleResult> {
  return (await import("./bundle-load.js")).loadBundle(engine, file, opts);
}

/** Checks a bundle file without loading it (bundle-verify.ts). */
export async function verifyBundle(
  file: string,
  opts?: { onEvent?: EventSink; signal?: AbortSignal },
): Promise<BundleManifest> {
  return (await import("./bundle-verify.js")).verifyBundle(file, opts);
}

/** Checks the host, the engine and the stack (doctor.ts). */
export async function doctor(
  stack: ResolvedStack,
  engine: EngineClient,
  opts?: DoctorOptions,
): Promise<DoctorFinding[]> {
  return (await import("./doctor.js")).doctor(stack, engine, opts);
}

/** Free and total bytes of the filesystem that holds `dir` (doctor-data.ts). */
export async function diskSpace(
  dir: string,
): Promise<{ path: string; freeBytes: number; totalBytes: number }> {
  return (await import("./doctor-data.js")).diskSpace(dir);
}

/** Runs the stack's checks (verify.ts). */
export async function verify(
  stack: ResolvedStack,
  engine: EngineClient,
  opts?: VerifyOptions,
): Promise<VerifyResult> {
  return (await import("./verify.js")).verify(stack, engine, opts);
}

/** Each service's state, health and probes (status.ts). */
export async function status(
  stack: ResolvedStack,
  engine: EngineClient,
  opts?: StatusOptions,
): Promise<ServiceStatus[]> {
  return (await import("./status.js")).status(stack, engine, opts);
}

/** A service's log lines, or a job's last run's (logs.ts). */
export async function logs(
  stack: ResolvedStack,
  engine: EngineClient,
  service: string,
  opts: LogsOptions,
): Promise<LogsSource> {
  return (await import("./logs.js")).logs(stack, engine, service, opts);
}
