import { readFileSync, readlinkSync, rmSync } from "node:fs";
import { link, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { writeFileAtomic } from "./atomic.js";
import { InterruptedError, LockedError } from "./errors.js";

/*
 * shctl keeps small files under `<dataRoot>/.shctl/`: `state.json` (which job keys have
 * completed), `lock` (who is applying right now) and `logs/JOB.log` (the last lines of each job's
 * latest run, secrets redacted, since a job's container is removed when it ends). All go with the
 * data root, so `teardown --data` forgets them and the next apply starts from scratch.
 */

export interface StackState {
  jobs: Record<string, { key: string; completedAt: string }>;
  /**
   * The container shctl last made (or checked) for each service, and the restart policy it set on
   * it: a container listed under that ID needs no inspect to be known as applied.
   */
  containers: Record<string, { id: string; restart: string }>;
}

export function stateDir(dataRoot: string): string {
  return path.join(dataRoot, ".shctl");
}

export async function readState(dataRoot: string): Promise<StackState> {
  try {
    const parsed = JSON.parse(
      await readFile(path.join(stateDir(dataRoot), "state.json"), "utf8"),
    ) as Partial<StackState>;
    return { jobs: parsed.jobs ?? {}, containers: parsed.containers ?? {} };
  } catch {
    return { jobs: {}, containers: {} };
  }
}

type StateUpdate = (state: StackState) => void;

/**
 * Updates of one data root's state file, merged: while a write is on its way, the updates that come
 * in wait and then go in one write, so forty containers created together cost a few writes, not
 * forty. Each caller's promise settles once a write that includes its update is on disk.
 */
const writers = new Map<
  string,
  { queued: { update: StateUpdate; done: (err?: unknown) => void }[]; busy: boolean }
>();

function updateState(dataRoot: string, update: StateUpdate): Promise<void> {
  let w = writers.get(dataRoot);
  if (!w) {
    w = { queued: [], busy: false };
    writers.set(dataRoot, w);
  }
  const writer = w;
  return new Promise<void>((resolve, reject) => {
    writer.queued.push({ update, done: (err) => (err === undefined ? resolve() : reject(err)) });
    if (!writer.busy) void flush(dataRoot, writer);
  });
}

async function flush(
  dataRoot: string,
  w: { queued: { update: StateUpdate; done: (err?: unknown) => void }[]; busy: boolean },
): Promise<void> {
  w.busy = true;
  while (w.queued.length > 0) {
    const batch = w.queued.splice(0);
    try {
      const state = await readState(dataRoot);
      for (const b of batch) b.update(state);
      const dir = stateDir(dataRoot);
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(path.join(dir, "state.json"), `${JSON.stringify(state, null, 2)}\n`);
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.done(err);
    }
  }
  w.busy = false;
}

/** Records a completed job (durably: the promise settles once it is on disk). */
export function recordJob(dataRoot: string, job: string, key: string): Promise<void> {
  return updateState(dataRoot, (s) => {
    s.jobs[job] = { key, completedAt: new Date().toISOString() };
  });
}

/** Records the container shctl made or checked for a service, with the restart policy it has. */
export function recordContainer(
  dataRoot: string,
  service: string,
  id: string,
  restart: string,
): Promise<void> {
  return updateState(dataRoot, (s) => {
    s.containers[service] = { id, restart };
  });
}

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
  /** This boot of the host (Linux: /proc/sys/kernel/random/boot_id): a pid of another boot is gone. */
  bootId?: string;
  /** When the holding process started (Linux: /proc/PID/stat's start time), telling a reused pid apart. */
  procStart?: string;
}

export interface Lock {
  path: string;
  release(): Promise<void>;
}

/** Whether a process with this pid runs on this machine (another user's too). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The host's boot id, where the system tells it (Linux). */
function bootId(): string | undefined {
  return readText("/proc/sys/kernel/random/boot_id");
}

/** A process's start time in clock ticks since boot (Linux), which a reused pid does not share. */
function procStart(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const rest = stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
  return rest?.[19];
}

/**
 * Whether a live process provably runs no shctl: neither its executable nor its command line names
 * a JavaScript runtime (node, nodejs, bun, deno) or shctl. Undefined when the system does not say.
 */
function runsNoShctl(pid: number): boolean | undefined {
  let exe = "";
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // Not Linux, or not ours to read: the command line alone.
  }
  const cmdline = readText(`/proc/${pid}/cmdline`);
  if (cmdline === undefined) return undefined;
  const words = [exe, ...cmdline.split("\0").slice(0, 2)].map((w) => path.basename(w));
  return !words.some((w) => /node|bun|deno|shctl/i.test(w));
}

/**
 * Whether a lock's holder is provably not a live shctl run on this host: its process is gone, or
 * the pid now belongs to another process (another boot, another start time, or a program that is
 * no JavaScript runtime: a lock of an older shctl records no start time).
 */
function holderGone(holder: LockInfo, me: LockInfo): boolean {
  if (holder.host !== me.host) return false;
  if (!alive(holder.pid)) return true;
  if (holder.bootId && me.bootId && holder.bootId !== me.bootId) return true;
  if (holder.procStart) {
    const now = procStart(holder.pid);
    if (now !== undefined && now !== holder.procStart) return true;
  }
  return runsNoShctl(holder.pid) === true;
}

/**
 * Takes the stack's lock. A lock held by a live process fails at once (or after `waitMs`) with
 * who holds it; a lock left by a dead process on this host is taken over, reported through `onStale`.
 */
export async function acquireLock(
  dataRoot: string,
  command: string,
  opts: {
    waitMs?: number;
    onStale?: (info: LockInfo) => void;
    /** Aborting ends a wait for the lock with InterruptedError. */
    signal?: AbortSignal;
    /** Take the lock whoever holds it (`--force-unlock`: the last resort; the holder is reported). */
    force?: boolean;
  } = {},
): Promise<Lock> {
  const dir = stateDir(dataRoot);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, "lock");
  const me: LockInfo = {
    pid: process.pid,
    host: hostname(),
    command,
    startedAt: new Date().toISOString(),
    ...withDefined({ bootId: bootId(), procStart: procStart(process.pid) }),
  };
  const deadline = Date.now() + (opts.waitMs ?? 0);
  // The lock's content is written first and then hard-linked into place: the link either
  // fails (someone holds it) or makes a complete file appear at once.
  const tmp = `${file}.${process.pid}.${Date.now()}`;
  // Exiting while waiting (e.g. Ctrl-C) skips the `finally` below: drop the temp file then too.
  const dropTmp = () => rmSync(tmp, { force: true });
  process.once("exit", dropTmp);
  await writeFile(tmp, JSON.stringify(me));
  try {
    for (;;) {
      try {
        await link(tmp, file);
        // A process that exits while holding the lock (e.g. a second Ctrl-C calls process.exit)
        // never reaches an async release: remove the lock on the way out, so it is not left stale.
        const onExit = () => {
          try {
            const now = JSON.parse(readFileSync(file, "utf8")) as Partial<LockInfo>;
            if (now.pid === me.pid && now.host === me.host) rmSync(file, { force: true });
          } catch {
            // Gone or unreadable: nothing of ours to remove.
          }
        };
        process.once("exit", onExit);
        return {
          path: file,
          release: async () => {
            process.removeListener("exit", onExit);
            const now = await readLock(file);
            if (now?.pid === me.pid && now.host === me.host) await rm(file, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = await readLock(file);
      if (holder === undefined || opts.force || holderGone(holder, me)) {
        // Move the stale lock aside, then make sure it was the stale one and not a fresh taker's.
        const aside = `${file}.stale.${process.pid}`;
        if (
          await rename(file, aside).then(
            () => true,
            () => false,
          )
        ) {
          const moved = await readLock(aside);
          if (moved === undefined || (moved.pid === holder?.pid && moved.startedAt === holder.startedAt)) {
            if (holder) opts.onStale?.(holder);
            await rm(aside, { force: true });
          } else {
            await link(aside, file).catch(() => undefined);
            await rm(aside, { force: true });
          }
        }
        continue;
      }
      if (Date.now() >= deadline) {
        throw new LockedError(
          `the stack is locked by \`${holder.command}\` (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`,
          {
            details: [`lock file: ${file}`],
            hint: "wait for that run to finish (or pass --wait-lock DURATION); if no shctl run holds it any more (a process on another host that died, a lock copied with the data root), pass --force-unlock",
          },
        );
      }
      if (opts.signal?.aborted) {
        throw new InterruptedError("interrupted while waiting for the lock: nothing was changed", {
          details: [`lock file: ${file}`],
          hint: "run it again when you want to",
        });
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          opts.signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, 250);
        opts.signal?.addEventListener("abort", done, { once: true });
      });
    }
  } finally {
    process.removeListener("exit", dropTmp);
    await rm(tmp, { force: true });
  }
}

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(file, "utf8")) as LockInfo;
    return typeof info.pid === "number" ? info : undefined;
  } catch {
    return undefined;
  }
}

/** The object without its undefined fields. */
function withDefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** How many lines of a job's latest run are kept. */
export const JOB_LOG_LINES = 1000;

export interface SavedJobLog {
  /** How the run ended, to follow "which": "completed", "failed with exit code 2", "was interrupted". */
  outcome: string;
  finishedAt: string;
  lines: string[];
}

function jobLogPath(dataRoot: string, job: string): string {
  return path.join(stateDir(dataRoot), "logs", `${job}.log`);
}

/** Keeps the last lines of a job's run (already redacted) in place of the previous run's. */
export async function saveJobLog(dataRoot: string, job: string, log: SavedJobLog): Promise<void> {
  const file = jobLogPath(dataRoot, job);
  await mkdir(path.dirname(file), { recursive: true });
  const header = JSON.stringify({ outcome: log.outcome, finishedAt: log.finishedAt });
  const lines = [`# ${header}`, ...log.lines.slice(-JOB_LOG_LINES)];
  await writeFileAtomic(file, `${lines.join("\n")}\n`, 0o600);
}

/** The saved log of a job's latest run, if there is one. */
export async function readJobLog(dataRoot: string, job: string): Promise<SavedJobLog | undefined> {
  let text: string;
  try {
    text = await readFile(jobLogPath(dataRoot, job), "utf8");
  } catch {
    return undefined;
  }
  const [first = "", ...lines] = text.replace(/\n$/, "").split("\n");
  try {
    const h = JSON.parse(first.replace(/^# /, "")) as { outcome?: string; finishedAt?: string };
    return { outcome: h.outcome ?? "ended", finishedAt: h.finishedAt ?? "", lines };
  } catch {
    return undefined;
  }
}

/** The jobs that have completed under a data root, with when (a job re-runs only when its key changes). */
export async function completedJobs(dataRoot: string): Promise<Record<string, { completedAt: string }>> {
  const state = await readState(dataRoot);
  return Object.fromEntries(Object.entries(state.jobs).map(([j, r]) => [j, { completedAt: r.completedAt }]));
}
