import dgram from "node:dgram";
import { readdir, readFile, readlink } from "node:fs/promises";
import net from "node:net";
import type { ContainerSummary } from "./engine/index.js";
import { LABEL } from "./labels.js";
import type { ResolvedPort } from "./model.js";

/*
 * Who holds a host port: a container (the engine publishes it), another process of this machine
 * (found by binding the port for an instant, then named from /proc/net and /proc/PID/fd), or
 * nobody. Only meaningful where the engine publishes ports on this machine.
 */

export type PortHolder =
  | { kind: "free" }
  | {
      kind: "container";
      name: string;
      stack: string | undefined;
      service: string | undefined;
      running: boolean;
    }
  | { kind: "process"; pid: number | undefined; command: string | undefined; uid: number | undefined }
  | { kind: "unknown"; why: string };

const ANY = new Set(["", "0.0.0.0", "::", "[::]"]);

/** Whether two host addresses of a published port overlap (either binds every address, or the same). */
export function addressesOverlap(a: string, b: string): boolean {
  return ANY.has(a) || ANY.has(b) || a.replace(/^\[|\]$/g, "") === b.replace(/^\[|\]$/g, "");
}

/** The containers that publish this host port (by any engine, running ones only list ports). */
export function containersPublishing(port: ResolvedPort, containers: ContainerSummary[]): ContainerSummary[] {
  return containers.filter((c) =>
    c.published.some(
      (p) =>
        p.port === port.host &&
        (p.protocol || "tcp") === port.protocol &&
        addressesOverlap(p.hostIp, port.hostIp),
    ),
  );
}

export function containerHolder(c: ContainerSummary): PortHolder {
  return {
    kind: "container",
    name: c.name,
    stack: c.labels[LABEL.stack],
    service: c.labels[LABEL.name],
    running: c.state === "running",
  };
}

/**
 * Binds the port on this machine for an instant: free when the bind succeeds; otherwise who holds
 * it, as far as /proc tells (a process of another user is named only when this one may read its
 * file descriptors, i.e. as root).
 */
export async function probeHostPort(port: ResolvedPort, procRoot = "/proc"): Promise<PortHolder> {
  const host = port.hostIp === "" ? "0.0.0.0" : port.hostIp.replace(/^\[|\]$/g, "");
  const err = await tryBind(host, port.host, port.protocol);
  if (err === undefined) return { kind: "free" };
  if (err.code === "EADDRINUSE") {
    const owner = await socketOwner(port.host, port.protocol, procRoot);
    return { kind: "process", pid: owner?.pid, command: owner?.command, uid: owner?.uid };
  }
  if (err.code === "EACCES") {
    // A privileged port this user may not bind (the engine may): ask /proc who listens.
    const owner = await socketOwner(port.host, port.protocol, procRoot);
    if (owner) return { kind: "process", pid: owner.pid, command: owner.command, uid: owner.uid };
    return { kind: "free" };
  }
  if (err.code === "EADDRNOTAVAIL")
    return { kind: "unknown", why: `${host} is not an address of this machine` };
  return { kind: "unknown", why: err.message };
}

function tryBind(
  host: string,
  port: number,
  protocol: "tcp" | "udp",
): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    if (protocol === "udp") {
      const sock = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
      sock.once("error", (e) => {
        sock.close();
        resolve(e as NodeJS.ErrnoException);
      });
      sock.bind({ address: host, port, exclusive: true }, () => sock.close(() => resolve(undefined)));
      return;
    }
    const srv = net.createServer();
    srv.once("error", (e) => resolve(e as NodeJS.ErrnoException));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

/** A socket in /proc/net/{tcp,tcp6,udp,udp6}: its local port, state, owner uid and inode. */
export interface ProcNetSocket {
  port: number;
  state: string;
  uid: number;
  inode: string;
}

/** Parses a /proc/net/tcp-style table (header line first). */
export function parseProcNet(text: string): ProcNetSocket[] {
  const out: ProcNetSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    if (!local || f.length < 10) continue;
    const port = Number.parseInt(local.split(":").at(-1) ?? "", 16);
    if (!Number.isInteger(port)) continue;
    out.push({ port, state: f[3] ?? "", uid: Number(f[7]), inode: f[9] ?? "" });
  }
  return out;
}

/** Who has a listening TCP socket (or any UDP socket) on this port: pid and command when readable. */
export async function socketOwner(
  port: number,
  protocol: "tcp" | "udp",
  procRoot = "/proc",
): Promise<{ pid: number | undefined; command: string | undefined; uid: number } | undefined> {
  const tables = protocol === "tcp" ? ["tcp", "tcp6"] : ["udp", "udp6"];
  const sockets: ProcNetSocket[] = [];
  for (const t of tables) {
    const text = await readFile(`${procRoot}/net/${t}`, "utf8").catch(() => "");
    sockets.push(...parseProcNet(text));
  }
  // TCP: LISTEN (0A); UDP: any bound socket (07 is "close", i.e. unconnected).
  const mine = sockets.find((s) => s.port === port && (protocol === "udp" || s.state === "0A"));
  if (!mine) return undefined;
  const pid = await pidOfInode(mine.inode, procRoot);
  const command =
    pid === undefined
      ? undefined
      : (await readFile(`${procRoot}/${pid}/comm`, "utf8").catch(() => undefined))?.trim();
  return { pid, command, uid: mine.uid };
}

async function pidOfInode(inode: string, procRoot: string): Promise<number | undefined> {
  if (!inode || inode === "0") return undefined;
  const want = `socket:[${inode}]`;
  const pids = (await readdir(procRoot).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n));
  for (const pid of pids) {
    const fds = await readdir(`${procRoot}/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`${procRoot}/${pid}/fd/${fd}`).catch(() => "");
      if (link === want) return Number(pid);
    }
  }
  return undefined;
}

/** The holder in words: "free", "container shop-web-1 (stack shop, service web)", … */
export function describeHolder(h: PortHolder): string {
  switch (h.kind) {
    case "free":
      return "free";
    case "container": {
      const of = h.stack ? ` (stack ${h.stack}${h.service ? `, service ${h.service}` : ""})` : "";
      return `container ${h.name}${of}`;
    }
    case "process": {
      if (h.pid !== undefined) return `process ${h.pid}${h.command ? ` (${h.command})` : ""}`;
      return h.uid !== undefined ? `a process of uid ${h.uid}` : "another process";
    }
    case "unknown":
      return `cannot tell: ${h.why}`;
  }
}
