import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/*
 * Where upstream's 23.12.0 release files are (its docker-compose.yml and dotenv), read at test time
 * and never copied into the project. Looked for, in order:
 *   1. SHCTL_SENTRY_REFERENCE, when set (then it must hold them);
 *   2. shared/reference/sentry-self-hosted-23.12.0 in any folder above this checkout;
 *   3. the same above the checkout this one was cloned from, when that is a local path (a clean
 *      clone in /tmp finds the files beside the repository it came from).
 */

const DIR = "sentry-self-hosted-23.12.0";
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function ancestors(from: string): string[] {
  const out: string[] = [];
  for (let d = path.resolve(from); ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) return out;
  }
}

/** The local path the checkout `repo` was cloned from, if any. */
function origin(repo: string): string | undefined {
  try {
    const url = execFileSync("git", ["-C", repo, "config", "--get", "remote.origin.url"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    const local = url.startsWith("file://") ? fileURLToPath(url) : url;
    return path.isAbsolute(local) && existsSync(local) ? local : undefined;
  } catch {
    return undefined;
  }
}

const has = (d: string) => existsSync(path.join(d, "docker-compose.yml"));

/** The lookup above for the checkout `repo`; `set` is SHCTL_SENTRY_REFERENCE. */
export function findUpstreamReference(repo: string, set?: string): { dir?: string; looked: string[] } {
  if (set) return has(set) ? { dir: set, looked: [set] } : { looked: [set] };
  const looked: string[] = [];
  const from = origin(repo);
  for (const start of from ? [repo, from] : [repo]) {
    for (const a of ancestors(start)) {
      const d = path.join(a, "shared", "reference", DIR);
      if (looked.includes(d)) continue;
      looked.push(d);
      if (has(d)) return { dir: d, looked };
    }
  }
  return { looked };
}

const found = findUpstreamReference(REPO, process.env.SHCTL_SENTRY_REFERENCE);

/** Upstream's 23.12.0 release files' folder, or undefined when none of the places holds them. */
export const UPSTREAM_REFERENCE: string | undefined = found.dir;

/** Why the tests that read upstream's files skip, when they do. */
export const UPSTREAM_MISSING = found.dir
  ? ""
  : `upstream's 23.12.0 files (docker-compose.yml, dotenv) are not in ${
      process.env.SHCTL_SENTRY_REFERENCE
        ? "SHCTL_SENTRY_REFERENCE"
        : "shared/reference above this checkout or its origin"
    } (looked in ${found.looked.length} places; set SHCTL_SENTRY_REFERENCE to their folder)`;
