import { formatBytes } from "./bytes.js";
import {
  containerHolder,
  containersPublishing,
  describeHolder,
  type PortHolder,
  probeHostPort,
} from "./doctor-ports.js";
import type { ContainerSummary, EngineClient, EngineInfo } from "./engine/index.js";
import { EngineUnreachableError, isShctlError } from "./errors.js";
import { type HostFacts, isWsl } from "./host.js";
import { LABEL } from "./labels.js";
import type { ResolvedPort, ResolvedStack } from "./model.js";
import { usedImages } from "./plan/order.js";
import type { DoctorCheckResult } from "./schema.js";

/*
 * The built-in checks of `shctl doctor`: what any stack needs of the engine and of the machine.
 * Each returns one result (ok, warning, failure or skipped) with the fix when there is one.
 */

/** A path as a shell word (single-quoted when it holds anything a shell would read). */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/** "sudo " unless this process is root (then the command runs as it is). */
export function sudo(): string {
  return process.getuid?.() === 0 ? "" : "sudo ";
}

/** Whether the engine runs on this machine (its socket is local), so paths and ports are this machine's. */
export function engineIsLocal(engine: Pick<EngineClient, "where">): boolean {
  return /^(unix|npipe):\/\//.test(engine.where);
}

export function isDockerDesktop(info: Pick<EngineInfo, "os">): boolean {
  return /docker desktop/i.test(info.os);
}

export async function checkEngine(
  engine: EngineClient,
): Promise<{ result: DoctorCheckResult; info: EngineInfo | undefined }> {
  try {
    const [v, info] = await Promise.all([engine.version(), engine.info()]);
    const desktop = isDockerDesktop(info) ? " (Docker Desktop)" : "";
    return {
      info,
      result: {
        status: "ok",
        detail: `Docker ${v.version} (API ${v.apiVersion}) at ${engine.where}: ${info.os}${desktop}, ${info.architecture}, ${info.cpus} CPUs, ${formatBytes(info.memoryBytes, "binary")}`,
      },
    };
  } catch (err) {
    return {
      info: undefined,
      result: {
        status: "failure",
        detail: isShctlError(err) ? err.message : String((err as Error)?.message ?? err),
        ...(isShctlError(err) && err.details.length > 0 ? { lines: err.details } : {}),
        fix:
          err instanceof EngineUnreachableError
            ? (err.hint ?? "start the engine")
            : isShctlError(err) && err.hint
              ? err.hint
              : "check that the engine runs and this user may use it (the docker group, or DOCKER_HOST)",
      },
    };
  }
}

/** Where shctl runs and where the engine does: WSL, Docker Desktop, a remote engine. */
export function checkHost(
  engine: EngineClient,
  info: EngineInfo | undefined,
  host: HostFacts,
): DoctorCheckResult {
  const wsl = isWsl(host);
  const here = `${host.platform === "darwin" ? "macOS" : host.platform === "win32" ? "Windows" : "Linux"}${wsl ? ` in WSL2${host.env.WSL_DISTRO_NAME ? ` (${host.env.WSL_DISTRO_NAME})` : ""}` : ""}`;
  const desktop = info !== undefined && isDockerDesktop(info);
  const where = !engineIsLocal(engine)
    ? `a remote engine (${engine.where}): bind mounts and published ports are on its machine, not this one`
    : desktop
      ? `Docker Desktop (its own VM${wsl ? ", reached through its WSL integration" : ""})`
      : "this machine";
  if (host.platform === "win32") {
    return {
      status: "warning",
      detail: `shctl runs on ${here}; the engine: ${where}`,
      fix: "run shctl inside WSL2 (e.g. Ubuntu), with the project in the WSL file system",
    };
  }
  return { status: "ok", detail: `shctl runs on ${here}; the engine: ${where}` };
}

/** One published host port: free, held by the service's own container, or by whom. */
export async function checkPort(
  stack: ResolvedStack,
  service: string,
  port: ResolvedPort,
  containers: ContainerSummary[],
  local: boolean,
  probe: (p: ResolvedPort) => Promise<PortHolder> = probeHostPort,
): Promise<DoctorCheckResult> {
  const holders = containersPublishing(port, containers);
  const own = holders.find((c) => c.labels[LABEL.stack] === stack.name && c.labels[LABEL.name] === service);
  const other = holders.find((c) => c !== own);
  const fixOther = `free it, or publish ${service} on another host port`;
  if (other) {
    return {
      status: "failure",
      detail: `held by ${describeHolder(containerHolder(other))}`,
      fix: fixOther,
      commands: [`docker stop ${other.name}`],
    };
  }
  if (own) return { status: "ok", detail: `published by ${service}'s own container ${own.name}` };
  if (!local)
    return {
      status: "skipped",
      detail:
        "no container publishes it; whether a process on the engine's machine holds it cannot be told from here",
    };
  const holder = await probe(port);
  if (holder.kind === "free") return { status: "ok", detail: "free" };
  if (holder.kind === "unknown") return { status: "warning", detail: describeHolder(holder) };
  return { status: "failure", detail: `held by ${describeHolder(holder)}`, fix: fixOther };
}

/** A registry mirror's API root answers: https first, then plain http (as the engine would try). */
export async function checkMirror(mirror: string, timeoutMs = 3000): Promise<DoctorCheckResult> {
  const hostPart = mirror.replace(/^https?:\/\//, "").split("/")[0] ?? mirror;
  const tries: string[] = [];
  for (const scheme of ["https", "http"]) {
    const url = `${scheme}://${hostPart}/v2/`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
      await res.body?.cancel();
      const api = res.headers.get("docker-distribution-api-version");
      if (res.status === 200 || res.status === 401 || api) {
        const auth = res.status === 401 ? " (it asks for credentials)" : "";
        const plain =
          scheme === "http"
            ? "; over plain HTTP, which the engine uses only for a registry in its insecure-registries (or on 127.0.0.0/8)"
            : "";
        return { status: "ok", detail: `${url} answers HTTP ${res.status}${auth}${plain}` };
      }
      return {
        status: "warning",
        detail: `${url} answers HTTP ${res.status}: not a registry's API root`,
        fix: "check registryMirror: a registry host (and optional path prefix), e.g. mirror.example:5000",
      };
    } catch (err) {
      const e = err as Error & { cause?: NodeJS.ErrnoException };
      const why =
        e.name === "TimeoutError"
          ? `no answer within ${timeoutMs / 1000}s`
          : (e.cause?.code ?? e.cause?.message ?? e.message);
      tries.push(`${url}: ${why}`);
      // Refused or silent: plain HTTP on the same port will not answer either.
      if (e.name === "TimeoutError" || e.cause?.code === "ECONNREFUSED" || e.cause?.code === "ENOTFOUND")
        break;
    }
  }
  return {
    status: "failure",
    detail: `the registry mirror ${mirror} does not answer (from this machine)`,
    lines: tries,
    fix: "start the mirror or fix registryMirror; without it, images the engine lacks cannot be pulled",
  };
}

const imageCount = (n: number) => `${n} image${n === 1 ? "" : "s"}`;

/** Every image the stack's services and jobs use, present in the engine. */

export async function checkImages(stack: ResolvedStack, engine: EngineClient): Promise<DoctorCheckResult> {
  const keys = [...usedImages(stack)].sort();
  const refs = keys.map((k) => stack.images[k]?.ref ?? k);
  const present = await engine.listImages(refs);
  const missing = keys.filter((k) => !present[stack.images[k]?.ref ?? k]);
  if (missing.length === 0) return { status: "ok", detail: `all ${imageCount(keys.length)} present` };
  const lines = missing.map((k) => {
    const img = stack.images[k];
    const how = img?.build ? "apply builds it" : img?.pull === "never" ? "pull: never" : "apply pulls it";
    return `${img?.ref ?? k} (${k}): missing; ${how}`;
  });
  const stuck = missing.filter((k) => stack.images[k]?.pull === "never" && !stack.images[k]?.build);
  return {
    status: stuck.length > 0 ? "failure" : "warning",
    detail: `${missing.length} of ${imageCount(keys.length)} missing`,
    lines,
    fix:
      stuck.length > 0
        ? "load the images marked `pull: never` into the engine (docker load, or build them)"
        : "`shctl apply` pulls or builds them (a pull needs the registry or the mirror to answer)",
  };
}

/** The engine's clock against this machine's: a skew of more than a few seconds warns. */
export async function checkClock(engine: EngineClient, maxSkewMs = 5000): Promise<DoctorCheckResult> {
  const t0 = Date.now();
  const info = await engine.info();
  const t1 = Date.now();
  const at = info.systemTime ? Date.parse(info.systemTime) : Number.NaN;
  if (Number.isNaN(at)) return { status: "skipped", detail: "the engine does not tell its time" };
  const skew = at - (t0 + t1) / 2;
  const slack = (t1 - t0) / 2;
  const beyond = Math.max(0, Math.abs(skew) - slack);
  const words = `the engine's clock is ${(Math.abs(skew) / 1000).toFixed(1)}s ${skew >= 0 ? "ahead of" : "behind"} this machine's`;
  if (beyond > maxSkewMs)
    return {
      status: "warning",
      detail: words,
      fix: "sync the clocks (NTP); Docker Desktop or WSL2 after a sleep: restart it (`wsl --shutdown`), or `sudo hwclock -s` inside WSL",
    };
  return { status: "ok", detail: `${words} (within ${maxSkewMs / 1000}s)` };
}
