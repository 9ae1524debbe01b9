import { readFileSync } from "node:fs";
import { chown } from "node:fs/promises";
import path from "node:path";
import { type CliResult, runCli, tempProject } from "./helpers.js";

/*
 * The CLI run as a non-root member of the docker group (uid 1000, the group that owns the
 * engine's socket), as most self-hosters run docker. Setting up its project needs root: tests
 * skip with `nonRootSkip` as their reason otherwise.
 */

export const UID = 1000;

/** The docker group's id in /etc/group, if there is one. */
export const dockerGid = (() => {
  try {
    const line = readFileSync("/etc/group", "utf8")
      .split("\n")
      .find((l) => l.startsWith("docker:"));
    return line ? Number(line.split(":")[2]) : undefined;
  } catch {
    return undefined;
  }
})();

/** Why tests as that user cannot run here; "" when they can. */
export const nonRootSkip =
  process.getuid?.() !== 0
    ? "it must run as root to set up a project owned by uid 1000"
    : dockerGid === undefined
      ? "there is no docker group"
      : "";

/** A project dir owned by UID and the docker group (its cache goes inside it). */
export async function userProject(prefix: string): Promise<string> {
  const dir = await tempProject(prefix);
  await chown(dir, UID, dockerGid as number);
  return dir;
}

/** The CLI as UID with the docker group as its group, in `dir` (its HOME and cache). */
export function asUser(dir: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, {
    cwd: dir,
    uid: UID,
    gid: dockerGid as number,
    env: { HOME: dir, XDG_CACHE_HOME: path.join(dir, ".cache"), ...env },
  });
}
