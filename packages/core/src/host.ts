import { readFile } from "node:fs/promises";
import path from "node:path";

/*
 * Facts about the machine shctl runs on (not the engine's): the platform, WSL, the mount table.
 * Pure functions over facts read once, so checks can be tested with made-up machines.
 */

/** What checks read about the machine shctl runs on (injectable for tests). */
export interface HostFacts {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  /** /proc/version, when readable. */
  procVersion: string | undefined;
  /** /proc/mounts, when readable. */
  mounts: string | undefined;
}

export async function readHostFacts(): Promise<HostFacts> {
  const read = (file: string) => readFile(file, "utf8").catch(() => undefined);
  return {
    platform: process.platform,
    env: process.env,
    procVersion: await read("/proc/version"),
    mounts: await read("/proc/mounts"),
  };
}

/** Whether shctl runs inside WSL (Windows Subsystem for Linux). */
export function isWsl(host: HostFacts): boolean {
  return Boolean(host.env.WSL_DISTRO_NAME) || /microsoft|wsl/i.test(host.procVersion ?? "");
}

/** The mount that holds `dir` (the longest mount point that is `dir` or one of its parents). */
export function mountOf(
  dir: string,
  mounts: string | undefined,
): { target: string; type: string; source: string } | undefined {
  const p = path.resolve(dir);
  let best: { target: string; type: string; source: string } | undefined;
  for (const line of (mounts ?? "").split("\n")) {
    const [source, target, type] = line.split(" ");
    if (!source || !target || !type) continue;
    const t = target.replace(/\\040/g, " ");
    const holds = t === "/" || p === t || p.startsWith(`${t}/`);
    if (holds && (!best || t.length >= best.target.length)) best = { target: t, type, source };
  }
  return best;
}

/**
 * When `dir` is on a Windows drive as WSL mounts it — under /mnt/<drive letter>, or on a 9p or
 * drvfs file system (how WSL2 and WSL1 mount Windows drives) — says which; else undefined.
 */
export function windowsDriveMount(dir: string, mounts: string | undefined): string | undefined {
  const p = path.resolve(dir);
  const drive = p.match(/^\/mnt\/([a-zA-Z])(\/|$)/);
  const best = mountOf(dir, mounts);
  if (best && /^(9p|drvfs)$/.test(best.type)) return `${best.target} (${best.type}, a Windows drive)`;
  if (drive)
    return `/mnt/${(drive[1] as string).toLowerCase()} (the Windows drive ${(drive[1] as string).toUpperCase()}:)`;
  return undefined;
}
