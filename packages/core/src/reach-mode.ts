import net from "node:net";
import type { NetworkInterfaceInfo } from "node:os";
import { UsageError } from "./errors.js";

/*
 * How shctl reaches a container address: directly from its own process, or through the engine (a
 * helper container on the stack network). Decided per address without sending any traffic: direct
 * only when the engine is on a local unix socket, is not Docker Desktop (whose containers live in a
 * VM), and the address lies in a subnet of one of this process's own interfaces (a local bridge).
 */

export type ReachMode = "direct" | "engine";
export type ReachSetting = ReachMode | "auto";

/** The setting from SHCTL_REACH (unset or empty: auto). */
export function reachSetting(env: NodeJS.ProcessEnv = process.env): ReachSetting {
  const v = (env.SHCTL_REACH ?? "").trim().toLowerCase();
  if (v === "" || v === "auto") return "auto";
  if (v === "direct" || v === "engine") return v;
  throw new UsageError(`SHCTL_REACH is "${env.SHCTL_REACH}": expected direct, engine or auto`, {
    hint: "unset it to let shctl decide per address",
  });
}

/** Whether `ip` lies in `cidr` ("172.18.0.1/16", "fd00::1/64"); false for mixed families. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  const a = ipBytes(ip);
  const b = ipBytes(base ?? "");
  const bits = Number(bitsText);
  if (!a || !b || a.length !== b.length || !Number.isInteger(bits)) return false;
  for (let i = 0; i < a.length && bits > i * 8; i++) {
    const take = Math.min(8, bits - i * 8);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((a[i] ?? 0) & mask) !== ((b[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** The bytes of an IP literal (4 or 16), IPv4-mapped IPv6 as IPv4; undefined if not a literal. */
export function ipBytes(ip: string): number[] | undefined {
  const kind = net.isIP(ip);
  if (kind === 4) return ip.split(".").map(Number);
  if (kind !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return ipBytes(mapped[1]);
  const [head = "", tail = ""] = ip.split("%")[0]?.split("::") ?? [];
  const groups = (s: string) => (s ? s.split(":") : []).flatMap(expandGroup);
  const h = groups(head);
  const t = ip.includes("::") ? groups(tail) : [];
  const words = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function expandGroup(g: string): number[] {
  if (!g.includes(".")) return [Number.parseInt(g, 16)];
  const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

export interface ReachFacts {
  setting: ReachSetting;
  /** EngineClient.where, e.g. "unix:///var/run/docker.sock" or "tcp://10.0.0.5:2376". */
  engineWhere: string;
  /** The engine's OperatingSystem ("Docker Desktop" for Docker Desktop's VM). */
  engineOs: string;
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

export interface ModeDecision {
  mode: ReachMode;
  why: string;
}

export function isDockerDesktop(engineOs: string): boolean {
  return /docker desktop/i.test(engineOs);
}

/** Picks the way to `ip` (or the general way, without one). */
export function decideMode(f: ReachFacts, ip?: string): ModeDecision {
  if (f.setting !== "auto") return { mode: f.setting, why: `SHCTL_REACH=${f.setting}` };
  if (!f.engineWhere.startsWith("unix://"))
    return { mode: "engine", why: `the engine is at ${f.engineWhere}, not on this machine's unix socket` };
  if (isDockerDesktop(f.engineOs))
    return { mode: "engine", why: "Docker Desktop runs containers in a VM this process cannot route to" };
  if (ip === undefined)
    return { mode: "direct", why: "the engine is local: addresses on this machine's networks directly" };
  const local = Object.entries(f.interfaces).find(([, list]) =>
    (list ?? []).some((i) => i.cidr && inCidr(ip, i.cidr)),
  );
  if (local) return { mode: "direct", why: `${ip} is on this machine's interface ${local[0]}` };
  return { mode: "engine", why: `${ip} is on none of this process's network interfaces` };
}

/** One line for messages and doctor: the setting, and what it means here. */
export function describeFacts(f: ReachFacts): string {
  const general = decideMode(f);
  if (f.setting !== "auto") return `${f.setting} (SHCTL_REACH=${f.setting})`;
  if (general.mode === "engine") return `auto: through the engine (${general.why})`;
  return `auto: directly to container addresses on this machine's networks, others through the engine (engine at ${f.engineWhere})`;
}
