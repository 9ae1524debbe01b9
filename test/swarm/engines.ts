import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { connectEngine, type EngineClient } from "@sh/core";
import { alive, ensureHelperImage } from "@sh/core/internals";

/*
 * Docker engines a swarm test starts itself, never the shared one: each dockerd has its own data
 * root, exec root, pid file and socket, and runs in its own network namespace (`ip netns`) whose
 * only link is one end of a veth pair, with an address of the test's own choosing. Nodes' pairs
 * meet in the first node's namespace; nothing routes off the machine. Each namespace has its own
 * docker0 (the host's is never touched; `close` checks it is still there). The engine's mount
 * namespace is the one `ip netns exec` makes, with the host's cgroup hierarchies mounted again.
 */

const run = promisify(execFile);

/** The 10.197.N.0/24 block this run uses: its nodes are .1, .2, ... (inside the namespaces only). */
const BLOCK = `10.197.${(process.pid % 200) + 20}`;

/** Why the swarm tests cannot run here (undefined: they can). */
export function swarmSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "swarm tests start engines in network namespaces: they need root";
  for (const bin of ["/usr/sbin/ip", "/usr/sbin/dockerd", "/usr/bin/unshare"])
    if (!existsSync(bin)) return `swarm tests need ${bin}, which this machine has not`;
  if (!existsSync("/sys/class/net/docker0"))
    return "the host's docker0 is missing before the test (someone else's test removed it?)";
  return undefined;
}

export interface TestNode {
  /** The node's hostname in the swarm (node-1, node-2...). */
  hostname: string;
  netns: string;
  /** Its address on the veth link. */
  addr: string;
  dir: string;
  /** DOCKER_HOST for it. */
  host: string;
  engine: EngineClient;
  /** The engine's pid while it runs. */
  pid: number | undefined;
  /** The pid of the process that holds the node's namespaces. */
  holder: number | undefined;
}

export interface TestSwarm {
  tag: string;
  nodes: TestNode[];
  manager: TestNode;
  /** Runs the docker CLI against a node. */
  docker(node: TestNode, args: string[]): Promise<string>;
  /** Stops a node's engine (SIGKILL: as a crash; its containerd and tasks live on), waits for it to end. */
  stop(node: TestNode, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped node's engine again (same data root, same namespace). */
  start(node: TestNode): Promise<void>;
  /** Stops every engine, removes the namespaces, cgroups and directories; checks the host's docker0. */
  close(): Promise<void>;
}

/** The tasks Swarm wants running for a service, one line each in `format` (docker service ps on the manager). */
export async function desiredTasks(swarm: TestSwarm, service: string, format: string): Promise<string[]> {
  const out = await swarm.docker(swarm.manager, [
    "service",
    "ps",
    service,
    "--filter",
    "desired-state=running",
    "--format",
    format,
  ]);
  return out.trim().split("\n");
}

// A node's namespaces outlive its engine (an engine killed and started again finds its containerd
// and its mounts where it left them): a holder process made by `ip netns exec` (a mount namespace
// with the namespace's sysfs on /sys), in a UTS namespace of its own (the node's hostname), with
// the host's cgroup hierarchies mounted again (the new sysfs hides them). Engines enter it.
const HOLD = `set -e
hostname "$1"
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
grep " - cgroup" /proc/1/mountinfo | sed -E "s/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ ([^ ]+) .* - ([^ ]+) [^ ]+ ([^ ]+)$/\\1 \\2 \\3/" |
while read -r mp fstype opts; do
  mkdir -p "$mp"
  if [ "$fstype" = cgroup2 ]; then mount -t cgroup2 none "$mp"; else mount -t cgroup -o "\${opts#rw,}" cgroup "$mp"; fi
done
echo held
exec sleep infinity
`;

/**
 * Starts `count` engines in their own namespaces, makes the first a swarm manager and the others
 * workers, loads `images` (from the shared engine) and shctl's helper image into each.
 */
export async function startSwarm(
  tag: string,
  count: number,
  images: string[],
  /** More images for some nodes: by node index (0: the manager). */
  more: string[][] = [],
): Promise<TestSwarm> {
  const root = `/tmp/shctl-swarm-${tag}`;
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  await writeFile(path.join(root, "hold.sh"), HOLD);
  const nodes: TestNode[] = [];
  const logs = new Map<TestNode, string>();
  const docker = async (node: TestNode, args: string[]) =>
    (await run("docker", args, { env: { ...process.env, DOCKER_HOST: node.host }, maxBuffer: 1 << 24 }))
      .stdout;

  const start = async (node: TestNode) => {
    const log = logs.get(node) as string;
    if (node.holder === undefined) node.holder = await hold(node, root);
    const args = [
      "--target",
      String(node.holder),
      "--mount",
      "--uts",
      "--net",
      "dockerd",
      "--data-root",
      path.join(node.dir, "data"),
      "--exec-root",
      path.join(node.dir, "exec"),
      "--pidfile",
      path.join(node.dir, "dockerd.pid"),
      "-H",
      node.host,
      "--cgroup-parent",
      `/shctl-swarm-${tag}-${node.hostname}`,
      "--log-level",
      "warn",
    ];
    const { openSync } = await import("node:fs");
    const fd = openSync(log, "a");
    const child = spawn("nsenter", args, {
      stdio: ["ignore", fd, fd],
      detached: true,
      // Tasks on a node run what it has: no registry is asked (none is reachable from the namespace).
      env: { ...process.env, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: "1" },
    });
    child.unref();
    node.pid = child.pid;
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await docker(node, ["version", "--format", "{{.Server.Version}}"]);
        return;
      } catch (err) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(
            `engine ${node.hostname} did not start: ${(err as Error).message}\n${await readFile(log, "utf8").catch(() => "")}`,
          );
        await sleep(300);
      }
    }
  };

  const stop = async (node: TestNode, signal: NodeJS.Signals = "SIGTERM") => {
    const pid = node.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {}
    const deadline = Date.now() + 30_000;
    while (alive(pid)) {
      if (Date.now() > deadline) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      await sleep(200);
    }
    node.pid = undefined;
  };

  const close = async () => {
    for (const node of nodes) await stop(node).catch(() => undefined);
    // What the engines left (their containerd, the tasks' shims, tasks' processes), then the holders.
    await killUnder(root);
    await killCgroups(`shctl-swarm-${tag}-`);
    for (const node of nodes) if (node.holder !== undefined) await killPid(node.holder);
    for (const node of nodes) await run("ip", ["netns", "delete", node.netns]).catch(() => undefined);
    await removeCgroups(`shctl-swarm-${tag}-`);
    await rm(root, { recursive: true, force: true }).catch(() => undefined);
    if (!existsSync("/sys/class/net/docker0"))
      throw new Error("the host's docker0 is gone after the swarm test: report this, it must never happen");
  };

  try {
    for (let i = 1; i <= count; i++) {
      const dir = path.join(root, `n${i}`);
      await mkdir(dir, { recursive: true });
      const node: TestNode = {
        hostname: `node-${i}`,
        netns: `shsw-${tag.slice(0, 16)}-${i}`,
        addr: `${BLOCK}.${i}`,
        dir,
        host: `unix://${dir}/docker.sock`,
        engine: connectEngine({ socketPath: `${dir}/docker.sock` }),
        pid: undefined,
        holder: undefined,
      };
      logs.set(node, path.join(dir, "dockerd.log"));
      nodes.push(node);
      await run("ip", ["netns", "add", node.netns]);
      await run("ip", ["-n", node.netns, "link", "set", "lo", "up"]);
    }
    // The link: node 1 holds a bridge (in its namespace) that every node's veth joins.
    const first = nodes[0] as TestNode;
    await run("ip", ["-n", first.netns, "link", "add", "swbr", "type", "bridge"]);
    await run("ip", ["-n", first.netns, "addr", "add", `${first.addr}/24`, "dev", "swbr"]);
    await run("ip", ["-n", first.netns, "link", "set", "swbr", "up"]);
    for (const node of nodes) {
      if (node === first) continue;
      const i = nodes.indexOf(node) + 1;
      await run("ip", [
        "-n",
        first.netns,
        "link",
        "add",
        `sw${i}`,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        node.netns,
      ]);
      await run("ip", ["-n", first.netns, "link", "set", `sw${i}`, "master", "swbr", "up"]);
      await run("ip", ["-n", node.netns, "addr", "add", `${node.addr}/24`, "dev", "eth0"]);
      await run("ip", ["-n", node.netns, "link", "set", "eth0", "up"]);
    }
    if (count === 1) {
      // One node still has its address on a veth (overlay networks want a real link).
      await run("ip", ["-n", first.netns, "link", "add", "sw1", "type", "veth", "peer", "name", "sw1p"]);
      await run("ip", ["-n", first.netns, "link", "set", "sw1", "master", "swbr", "up"]);
      await run("ip", ["-n", first.netns, "link", "set", "sw1p", "up"]);
    }
    await Promise.all(nodes.map((n) => start(n)));
    await docker(first, [
      "swarm",
      "init",
      "--advertise-addr",
      first.addr,
      "--listen-addr",
      `${first.addr}:2377`,
      "--default-addr-pool",
      "10.198.0.0/16",
    ]);
    const token = (await docker(first, ["swarm", "join-token", "-q", "worker"])).trim();
    for (const node of nodes.slice(1))
      await docker(node, [
        "swarm",
        "join",
        "--token",
        token,
        "--advertise-addr",
        node.addr,
        "--listen-addr",
        `${node.addr}:2377`,
        `${first.addr}:2377`,
      ]);
    for (const [i, node] of nodes.entries()) {
      await copyImages([...images, ...(more[i] ?? [])], node.host);
      await ensureHelperImage(node.engine);
    }
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return {
    tag,
    nodes,
    manager: nodes[0] as TestNode,
    docker,
    stop,
    start,
    close,
  };
}

/** Starts the process that holds a node's namespaces; resolves to its pid once they are ready. */
function hold(node: TestNode, root: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "ip",
      ["netns", "exec", node.netns, "unshare", "--uts", "sh", path.join(root, "hold.sh"), node.hostname],
      { stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    let out = "";
    const timer = setTimeout(
      () => reject(new Error(`no namespace holder for ${node.hostname}: ${out}`)),
      20_000,
    );
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("held")) {
        clearTimeout(timer);
        child.unref();
        resolve(child.pid as number);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the namespace holder of ${node.hostname} exited (${code}): ${out}`));
    });
  });
}

async function killPid(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
  while (alive(pid)) await sleep(100);
}

/** Ends every process in the test engines' cgroups (tasks an engine left when it was killed). */
async function killCgroups(prefix: string): Promise<void> {
  const base = "/sys/fs/cgroup/pids";
  const pids = new Set<number>();
  const walk = async (dir: string) => {
    for (const line of (await readFile(path.join(dir, "cgroup.procs"), "utf8").catch(() => "")).split("\n"))
      if (line.trim()) pids.add(Number(line));
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => []))
      if (e.isDirectory()) await walk(path.join(dir, e.name));
  };
  for (const entry of await readdir(base).catch(() => [] as string[]))
    if (entry.startsWith(prefix)) await walk(path.join(base, entry));
  for (const pid of pids) await killPid(pid);
}

/** Copies images from the shared engine into a test engine (one save | load: shared layers once). */
async function copyImages(refs: string[], host: string): Promise<void> {
  if (refs.length === 0) return;
  await run(
    "sh",
    [
      "-c",
      `h="$1"; shift; docker save "$@" | DOCKER_HOST="$h" docker load -q >/dev/null`,
      "sh",
      host,
      ...refs,
    ],
    {
      env: { ...process.env, DOCKER_HOST: "" },
      maxBuffer: 1 << 24,
    },
  );
}

/** Ends the processes whose command line names `dir` (a test engine's containerd and shims). */
async function killUnder(dir: string): Promise<void> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes(`${dir}/`) && !cmd.includes("vitest")) pids.push(Number(entry));
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const pid of pids) while (alive(pid)) await sleep(100);
}

/** Removes the (empty) cgroups the test engines made, deepest first. */
async function removeCgroups(prefix: string): Promise<void> {
  const base = "/sys/fs/cgroup";
  for (const ctrl of await readdir(base).catch(() => [] as string[])) {
    for (const entry of await readdir(path.join(base, ctrl)).catch(() => [] as string[])) {
      if (!entry.startsWith(prefix)) continue;
      await removeTree(path.join(base, ctrl, entry));
    }
  }
}

async function removeTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => []))
    if (e.isDirectory()) await removeTree(path.join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}
