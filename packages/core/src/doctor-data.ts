import { access, constants, lstat, statfs } from "node:fs/promises";
import path from "node:path";
import { formatBytes } from "./bytes.js";
import { shellWord, sudo } from "./doctor-checks.js";
import { type HostFacts, isWsl, mountOf, windowsDriveMount } from "./host.js";
import type { ResolvedStack } from "./model.js";
import type { DoctorCheckResult } from "./schema.js";

/*
 * The data root's checks of `shctl doctor`: its file system, free disk, and each data directory's
 * owner and mode against the spec.
 */

const GB = 1024 ** 3;

/** The data root, or the nearest of its parents that exists (where it will be created). */
export async function existingAncestor(dir: string): Promise<string> {
  let p = path.resolve(dir);
  for (;;) {
    const ok = await lstat(p).then(
      () => true,
      () => false,
    );
    if (ok || path.dirname(p) === p) return p;
    p = path.dirname(p);
  }
}

/** Free and total bytes of the file system that holds `dir` (or would hold it). */
export async function diskSpace(
  dir: string,
): Promise<{ path: string; freeBytes: number; totalBytes: number }> {
  const at = await existingAncestor(dir);
  const fs = await statfs(at);
  return { path: at, freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize };
}

const NETWORK_FS =
  /^(nfs4?|cifs|smb3?|fuse\.sshfs|afs|ceph|glusterfs|9p|drvfs|virtiofs|fuse\.grpcfuse|fakeowner)$/;
const STATFS_TYPES: Record<number, string> = {
  61267: "ext4",
  1481003842: "xfs",
  2435016766: "btrfs",
  16914836: "tmpfs",
  26985: "nfs",
  16914839: "9p",
  2035054128: "overlay",
  801189825: "zfs",
  1702057286: "fuse",
  4283649346: "cifs",
  4266872130: "smb2",
};

/** The data root's file system: a Windows drive under WSL or a network file system warns; it must be writable. */
export async function checkDataRootFs(
  stack: ResolvedStack,
  host: HostFacts,
  local: boolean,
): Promise<DoctorCheckResult> {
  const root = stack.dataRoot;
  const at = await existingAncestor(root);
  const mount = mountOf(at, host.mounts);
  const type: string =
    mount?.type ?? (await statfs(at).then((s) => STATFS_TYPES[s.type] ?? `type 0x${s.type.toString(16)}`));
  const exists = at === path.resolve(root);
  const where = `${root}${exists ? "" : " (not created yet)"} is on ${type}${mount ? ` (${mount.source} at ${mount.target})` : ""}${local ? "" : "; on this machine, while the engine mounts paths of its own"}`;
  const drive = isWsl(host) ? windowsDriveMount(at, host.mounts) : undefined;
  if (drive) {
    return {
      status: "warning",
      detail: `${where}: ${drive}: slow, and file ownership does not stick there, which breaks databases`,
      fix: "put the project in the WSL file system (e.g. ~/project), not under /mnt/<drive>",
    };
  }
  const writable = await access(at, constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!writable) {
    return {
      status: "failure",
      detail: `${where}: this user (uid ${process.getuid?.() ?? "?"}) may not write ${at}`,
      fix: "give it to the user that runs shctl (only this directory, not what is in it)",
      commands: [`${sudo()}chown ${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0} ${shellWord(at)}`],
    };
  }
  if (NETWORK_FS.test(type)) {
    return {
      status: "warning",
      detail: `${where}: a shared or network file system, where file ownership and locks may not behave as databases need`,
      fix: "keep the data root on a local disk (ext4, xfs, btrfs)",
    };
  }
  return { status: "ok", detail: where };
}

/** Free space at the data root; below 2 GB warns (a stack may check against its own minimum instead). */
export async function checkDisk(stack: ResolvedStack, minFreeBytes = 2 * GB): Promise<DoctorCheckResult> {
  const d = await diskSpace(stack.dataRoot);
  const detail = `${formatBytes(d.freeBytes, "binary")} free of ${formatBytes(d.totalBytes, "binary")} at ${d.path}`;
  if (d.freeBytes < minFreeBytes)
    return {
      status: "warning",
      detail: `${detail}; below ${formatBytes(minFreeBytes, "binary")}`,
      fix: "free some space (e.g. `docker system df`, then remove what you no longer need)",
    };
  return { status: "ok", detail };
}

interface DirSpec {
  hostPath: string;
  owner: { uid: number; gid: number } | undefined;
  mode: number | undefined;
  users: Set<string>;
}

/** Bind-mount directories under the data root whose owner or mode the stack states. */
export function specDirs(stack: ResolvedStack): DirSpec[] {
  const dirs = new Map<string, DirSpec>();
  const containers = [
    ...Object.values(stack.services).map((s) => ({ name: s.name, spec: s })),
    ...Object.values(stack.jobs).flatMap((j) => (j.container ? [{ name: j.name, spec: j.container }] : [])),
  ];
  for (const { name, spec } of containers) {
    for (const m of spec.mounts) {
      if (m.type !== "bind" || m.kind !== "dir" || (m.owner === undefined && m.mode === undefined)) continue;
      const d = dirs.get(m.hostPath) ?? {
        hostPath: m.hostPath,
        owner: m.owner,
        mode: m.mode,
        users: new Set(),
      };
      d.owner ??= m.owner;
      d.mode ??= m.mode;
      d.users.add(name);
      dirs.set(m.hostPath, d);
    }
  }
  return [...dirs.values()].sort((a, b) => (a.hostPath < b.hostPath ? -1 : 1));
}

const dirCount = (n: number) => `${n} data director${n === 1 ? "y" : "ies"}`;

const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;

/** Each data directory's owner and mode against the spec, with the commands that put them right. */
export async function checkDataDirs(
  stack: ResolvedStack,
  host: HostFacts,
  local: boolean,
): Promise<DoctorCheckResult> {
  const wanted = specDirs(stack);
  if (wanted.length === 0)
    return { status: "ok", detail: "the stack states no owner or mode for a directory" };
  if (!local)
    return {
      status: "skipped",
      detail: "the engine runs elsewhere: the directories it mounts are on its machine",
    };
  if (host.platform !== "linux")
    return {
      status: "skipped",
      detail: `on ${host.platform}, Docker Desktop maps the owner of shared folders: it is not checked`,
    };
  const lines: string[] = [];
  const commands: string[] = [];
  let missing = 0;
  let unreadable = 0;
  for (const d of wanted) {
    const rel = path.relative(stack.dataRoot, d.hostPath) || ".";
    const users = [...d.users].sort().join(", ");
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(d.hostPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") missing++;
      else {
        unreadable++;
        lines.push(`${rel}: cannot look at it (${code}): run shctl doctor as root to check it`);
      }
      continue;
    }
    if (!st.isDirectory()) {
      lines.push(`${rel} (${users}): is not a directory`);
      continue;
    }
    const problems: string[] = [];
    if (d.owner && (st.uid !== d.owner.uid || st.gid !== d.owner.gid)) {
      problems.push(`owner ${st.uid}:${st.gid}, the spec says ${d.owner.uid}:${d.owner.gid}`);
      commands.push(`${sudo()}chown ${d.owner.uid}:${d.owner.gid} ${shellWord(d.hostPath)}`);
    }
    if (d.mode !== undefined && (st.mode & 0o7777) !== (d.mode & 0o7777)) {
      problems.push(`mode ${octal(st.mode)}, the spec says ${octal(d.mode)}`);
      commands.push(`${sudo()}chmod ${octal(d.mode)} ${shellWord(d.hostPath)}`);
    }
    if (problems.length > 0) lines.push(`${rel} (${users}): ${problems.join("; ")}`);
  }
  const created = wanted.length - missing;
  const notYet = missing > 0 ? `; ${missing} not created yet (apply creates them)` : "";
  if (lines.length > 0) {
    const wrong = lines.length - unreadable;
    return {
      status: wrong > 0 ? "failure" : "warning",
      detail: `${wrong > 0 ? `${wrong} of ${dirCount(created)} differ${wrong === 1 ? "s" : ""} from the spec` : `${dirCount(unreadable)} could not be checked`}${notYet}`,
      lines,
      ...(commands.length > 0
        ? {
            fix: "give them the owner and mode the stack states (the commands below), then restart the services that use them",
            commands,
          }
        : {}),
    };
  }
  if (created === 0)
    return {
      status: "ok",
      detail: `none of the ${dirCount(missing)} created yet (apply creates them)`,
    };
  return { status: "ok", detail: `${dirCount(created)} as the spec says${notYet}` };
}
