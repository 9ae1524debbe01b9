import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { sha256 } from "../hash.js";
import type { FileReader } from "../inputs.js";
import type { ContainerSpec, ResolvedMount, ResolvedStack } from "../model.js";

/*
 * Read-only mounts reach a swarm's tasks as configs, one per file: a mounted file, or each
 * regular file under a mounted directory (symbolic links and empty directories are not carried).
 * The plan sees their digests; the executor reads them again when it makes a service, after the
 * jobs that write them ran.
 */

export interface SourceFile {
  /** Path inside the mounted directory ("" for a mounted file). */
  rel: string;
  digest: string;
  mode: number;
  size: number;
  /** The file's owner on this machine (a task sees it as its own, as a bind mount would show it). */
  uid?: number;
  gid?: number;
}

/** A read-only mount's source: its files, or missing. */
export type SourceView = { exists: false } | { exists: true; files: SourceFile[] };

/** One file a task gets as a config. */
export interface TaskFile {
  /** Where the task sees it. */
  target: string;
  /** Where it is on this machine. */
  hostPath: string;
  digest: string;
  mode: number;
  size: number;
  uid: number;
  gid: number;
}

type BindMount = Extract<ResolvedMount, { type: "bind" }>;

/** The read-only bind mounts of a container (what becomes configs). */
export function configMounts(spec: Pick<ContainerSpec, "mounts">): BindMount[] {
  return spec.mounts.filter((m): m is BindMount => m.type === "bind" && m.readOnly);
}

/** Every read-only mount source of the stack's services and container jobs. */
export function configSources(stack: ResolvedStack): Map<string, BindMount> {
  const out = new Map<string, BindMount>();
  for (const spec of [...Object.values(stack.services), ...Object.values(stack.jobs).map((j) => j.container)])
    for (const m of spec ? configMounts(spec) : []) out.set(m.hostPath, m);
  return out;
}

/** The files of a mount source with their digests (read through `read`, which may use the engine). */
export async function readSource(m: BindMount, read: FileReader): Promise<SourceView> {
  const top = await lstat(m.hostPath).catch(() => undefined);
  if (!top) return { exists: false };
  if (top.isFile()) {
    const f = await fileOf(m.hostPath, "", read);
    return f ? { exists: true, files: [f] } : { exists: false };
  }
  if (!top.isDirectory()) return { exists: true, files: [] };
  const files: SourceFile[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(m.hostPath, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile()) {
        const f = await fileOf(path.join(m.hostPath, r), r, read);
        if (f) files.push(f);
      }
    }
  };
  await walk("");
  return { exists: true, files };
}

async function fileOf(file: string, rel: string, read: FileReader): Promise<SourceFile | undefined> {
  const [st, body] = await Promise.all([lstat(file).catch(() => undefined), read(file)]);
  if (!st || body === undefined) return undefined;
  return { rel, digest: sha256(body), mode: st.mode & 0o777, size: body.length, uid: st.uid, gid: st.gid };
}

/** The files a container gets from its read-only mounts, given what each source holds. */
export function taskFiles(
  spec: Pick<ContainerSpec, "mounts">,
  sources: Record<string, SourceView>,
): TaskFile[] {
  const out: TaskFile[] = [];
  for (const m of configMounts(spec)) {
    const view = sources[m.hostPath];
    if (!view?.exists) continue;
    for (const f of view.files) {
      out.push({
        target: f.rel ? path.posix.join(m.target, f.rel) : m.target,
        hostPath: f.rel ? path.join(m.hostPath, f.rel) : m.hostPath,
        digest: f.digest,
        mode: f.mode,
        size: f.size,
        // The mount's owner, else the file's own (a 0600 file its service's user reads).
        uid: m.owner?.uid ?? f.uid ?? 0,
        gid: m.owner?.gid ?? f.gid ?? 0,
      });
    }
  }
  return out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}
