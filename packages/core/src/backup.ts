import { createWriteStream, readFileSync, rmSync } from "node:fs";
import { chmod, lstat, open, readdir, realpath, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  type BackupHeader,
  type BackupManifest,
  DATA_DIR,
} from "./backup-archive.js";
import { writeArchive } from "./backup-archive-write.js";
import type { ContainerSummary, EngineClient } from "./engine/index.js";
import { CancelledError, InterruptedError, isShctlError, RefusedError, StepFailedError } from "./errors.js";
import type { EventSink, TransferProgress } from "./events.js";
import { execute } from "./execute/index.js";
import { ProgressThrottle } from "./execute/transfer.js";
import { depths } from "./graph.js";
import { ensureHelperImage } from "./helper-image.js";
import { LABEL } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import type { ActionOf, Plan } from "./plan/types.js";
import { PLAN_VERSION } from "./plan/util.js";
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
async function checkBackup(stack: ResolvedStack, file: string, overwrite: boolean): Promise<void> {
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

interface Stopped {
  name: string;
  id: string;
  /** In the stack (started again through a plan, waited for) or a leftover (just started). */
  inStack: boolean;
}

/** The stack's service containers that run now (leftovers of services no longer in it included). */
async function runningServices(stack: ResolvedStack, engine: EngineClient): Promise<ContainerSummary[]> {
  const all = await engine.listContainers([`${LABEL.stack}=${stack.name}`]);
  return all.filter(
    (c) => c.labels[LABEL.kind] === "service" && (c.state === "running" || c.state === "restarting"),
  );
}

/** Stops these containers in reverse dependency order, dependents first (the containers are kept). */
async function stopServices(
  stack: ResolvedStack,
  engine: EngineClient,
  running: ContainerSummary[],
  emit: EventSink,
  signal: AbortSignal | undefined,
): Promise<Stopped[]> {
  const nameOf = (c: ContainerSummary) => c.labels[LABEL.name] ?? c.name;
  const depsOf = (name: string): string[] =>
    stack.services[name]?.deps.map((d) => d.name) ??
    (running.find((c) => nameOf(c) === name)?.labels[LABEL.dependsOn] ?? "").split(",").filter(Boolean);
  const depth = depths(running.map(nameOf), depsOf);
  const waves = new Map<number, ContainerSummary[]>();
  for (const c of running) {
    const d = depth.get(nameOf(c)) ?? 0;
    waves.set(d, [...(waves.get(d) ?? []), c]);
  }
  const stopped: Stopped[] = [];
  for (const d of [...waves.keys()].sort((a, b) => b - a)) {
    if (signal?.aborted) break;
    const wave = (waves.get(d) ?? []).sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : 1));
    const results = await Promise.allSettled(
      wave.map(async (c) => {
        const resource = `service ${nameOf(c)}`;
        const t0 = Date.now();
        emit({ type: "phase", resource, phase: "stopping" });
        try {
          await engine.stopContainer(c.id);
        } catch (err) {
          emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
          throw err;
        }
        stopped.push({ name: nameOf(c), id: c.id, inStack: stack.services[nameOf(c)] !== undefined });
        emit({ type: "phase", resource, phase: "done", message: "stopped", elapsedMs: Date.now() - t0 });
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw Object.assign(new StoppingError(failed.reason), { stopped });
  }
  return stopped;
}

class StoppingError extends Error {
  stopped: Stopped[] = [];
  constructor(readonly reason: unknown) {
    super(String((reason as Error)?.message ?? reason));
  }
}

/** A plan that starts exactly these containers again, in dependency order, and waits for them. */
export function restartPlan(stack: ResolvedStack, stopped: readonly { name: string; id: string }[]): Plan {
  const names = new Set(stopped.map((s) => s.name).filter((n) => stack.services[n] !== undefined));
  const actions: ActionOf<"container.start">[] = [];
  for (const s of stopped) {
    const svc = stack.services[s.name];
    if (!svc) continue;
    const deps = svc.deps.filter((d) => d.kind === "service" && names.has(d.name));
    actions.push({
      id: `container.start:${s.name}`,
      kind: "container.start",
      resource: { type: "service", name: s.name },
      target: s.name,
      after: [],
      startAfter: deps.map((d) => `container.start:${d.name}`),
      waitFor: deps
        .filter((d) => d.condition === "healthy")
        .map((d) => ({ service: d.name, condition: "healthy" as const })),
      containerId: s.id,
      state: "exited",
    });
  }
  return {
    version: PLAN_VERSION,
    stack: stack.name,
    ...(stack.profile !== undefined ? { profile: stack.profile } : {}),
    dataRoot: stack.dataRoot,
    actions,
    conflicts: [],
    unchanged: [],
    unready: [],
    waitReady: [...names].sort(),
    containers: Object.fromEntries(stopped.map((s) => [s.name, s.id])),
  };
}

/** Starts what the backup stopped: the stack's services through a plan (waited for), leftovers as they are. */
async function startAgain(
  stack: ResolvedStack,
  engine: EngineClient,
  stopped: Stopped[],
  emit: EventSink,
  wait: boolean,
): Promise<void> {
  if (stopped.length === 0) return;
  const inStack = stopped.filter((s) => s.inStack);
  let failure: unknown;
  if (inStack.length > 0) {
    await execute(restartPlan(stack, inStack), stack, engine, { onEvent: emit, wait }).catch(
      (err: unknown) => {
        failure = err;
      },
    );
  }
  for (const s of stopped.filter((x) => !x.inStack)) {
    const resource = `service ${s.name}`;
    try {
      emit({ type: "phase", resource, phase: "starting" });
      await engine.startContainer(s.id);
      emit({ type: "phase", resource, phase: "running" });
    } catch (err) {
      emit({ type: "phase", resource, phase: "failed", message: (err as Error).message });
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

/**
 * A long copy's figures (bytes, and files when it counts them) as `progress` events, at most one
 * every `everyMs`, the last one always (call `flush`).
 */
export function throttled(
  emit: EventSink,
  resource: string,
  what: TransferProgress["what"],
  total: number | undefined,
  everyMs = 250,
) {
  const t = new ProgressThrottle(emit, resource, what, Date.now(), everyMs);
  return {
    update(bytes: number, files: number) {
      t.update({
        bytes: total === undefined ? { done: bytes } : { done: bytes, total },
        ...(files > 0 ? { files } : {}),
      });
    },
    flush: () => t.end(),
  };
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
      const progress = throttled(emit, resource, "backup", total);
      manifest = await pack(stack, engine, {
        partial,
        compressed,
        tool: opts.tool ?? `@sh/core ${coreVersion()}`,
        onProgress: progress.update,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      progress.flush();
      archiveBytes = (await stat(partial)).size;
      await rename(partial, file);
      await syncDir(path.dirname(file));
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
  if (packError !== undefined) {
    if (restartError !== undefined && isShctlError(packError)) {
      packError.details.push(`and starting the services again failed: ${(restartError as Error).message}`);
    }
    throw packError;
  }
  if (restartError !== undefined || manifest === undefined) {
    const why = (restartError as Error)?.message ?? String(restartError);
    throw new StepFailedError(`stack ${stack.name}`, "start after the backup", why, {
      cause: restartError,
      details: [`the backup is complete: ${file}`],
      hint: "run `shctl apply` to start the stack (and see what fails)",
    });
  }
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

function interrupted(when: string): InterruptedError {
  return new InterruptedError(`interrupted ${when}: no archive was written`, {
    hint: "the services that were stopped were started again; run the backup again when you want to",
  });
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every file system lets a directory be synced; the rename is done either way.
  }
}

/** Writes the archive to `partial` (mode 0600: it holds the stack's secrets) from the engine's tar of the data root. */
async function pack(
  stack: ResolvedStack,
  engine: EngineClient,
  o: {
    partial: string;
    compressed: boolean;
    tool: string;
    onProgress: (bytes: number, files: number) => void;
    signal?: AbortSignal;
  },
): Promise<BackupManifest> {
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    formatVersion: BACKUP_FORMAT_VERSION,
    stack: { name: stack.name, version: stack.version ?? null },
    tool: o.tool,
    createdAt: new Date().toISOString(),
    createdBy:
      typeof process.getuid === "function" ? { uid: process.getuid(), gid: process.getgid?.() ?? 0 } : null,
    dataRoot: stack.dataRoot,
  };
  const image = await ensureHelperImage(engine);
  const id = await engine.createContainer({
    Image: image,
    Cmd: ["sleep"],
    Labels: {
      [LABEL.stack]: stack.name,
      [LABEL.kind]: "helper",
      [LABEL.name]: "backup",
      [LABEL.helper]: "true",
    },
    HostConfig: { Binds: [`${stack.dataRoot}:/${DATA_DIR}:ro`], NetworkMode: "none" },
  });
  try {
    const source = await engine.getArchive(id, `/${DATA_DIR}`);
    if (!source) throw new Error(`the engine found no /${DATA_DIR} in the helper container`);
    // The archive holds the stack's secrets: only its owner may read it.
    const out = createWriteStream(o.partial, { mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve());
      out.once("error", reject);
    });
    await chmod(o.partial, 0o600);
    const manifest = await writeArchive({
      header,
      source,
      out,
      compress: o.compressed,
      onProgress: o.onProgress,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const fh = await open(o.partial, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return manifest;
  } finally {
    await engine.removeContainer(id).catch(() => undefined);
  }
}
