import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
} from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectEngine, type EngineClient } from "@sh/core";
import { alive } from "@sh/core/internals";
import Docker from "dockerode";

/*
 * A second Docker Engine, started and owned by a test, so that it can be stopped and killed
 * without touching the shared engine at /var/run/docker.sock:
 *
 *  - its own network namespace (`ip netns add shfRAND`), where dockerd runs (nsenter --net): every
 *    link, address, route, sysctl and iptables rule it makes or removes is that namespace's, never
 *    the host's. This is required, not tidiness: dockerd 20.10, started on a data root whose store
 *    holds a default "bridge" network (every start after the first) with --default-address-pool
 *    set, deletes the link named `docker0` (a fixed name, whatever --bridge says: moby
 *    daemon/daemon_unix.go initNetworkController → removeDefaultBridgeInterface). Run in the host's
 *    namespace, each restart of a second engine deleted the shared engine's docker0;
 *  - in that namespace: lo, its own bridge (shfRAND, 10.198.N.129/25, given to dockerd with
 *    --bridge), and one veth to the host (10.198.N.1/30 on the host, .2 inside). The host routes
 *    only the engine's own ranges (10.198.N.128/25 and its address pool 10.199.N.0/24) into it, so
 *    that nothing sent to a container address of this engine ever takes the host's default route.
 *    The namespace has no default route: nothing in it reaches past the host. Its unix sockets are
 *    files, so shctl in the host's namespace reaches the engine's socket as usual;
 *  - its own --data-root, --exec-root, --pidfile and socket, all in one temporary directory;
 *  - its own containerd (dockerd starts one under its exec-root when no system containerd answers
 *    at /run/containerd/containerd.sock; when one does, the second engine is not started);
 *  - networks from its own 10.199.N.0/24 only (--default-address-pool, /27 each);
 *  - --iptables=false and --ip-forward=false (the namespace's forwarding is turned on by this file,
 *    for the host's routes into it): nothing the tests run needs NAT;
 *  - its own cgroup parent (/shctl-faults-RAND) and an empty --config-file (never /etc/docker's).
 *
 * It is stopped (SIGTERM) or killed (SIGKILL) by its pid only, and restarted on the same data root.
 * destroy() stops it and the processes it left (its containerd and shims, found by its directory
 * in their command line, each ended by pid), unmounts what it left mounted under its directory,
 * removes the directory, the veth, the namespace and the cgroup directories.
 */

export class SecondEngine {
  readonly dir: string;
  readonly socket: string;
  readonly host: string;
  /** Its network namespace (ip netns), where dockerd and everything it makes live. */
  readonly netns: string;
  /** Its bridge, inside the namespace. */
  readonly bridge: string;
  readonly bridgeCidr: string;
  /** The ranges its containers get addresses from (its bridge's and its address pool). */
  readonly ranges: string[];
  readonly cgroupParent: string;
  readonly docker: Docker;
  readonly client: EngineClient;
  private readonly octet: number;
  private readonly vethHost: string;
  private readonly vethInner: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private netnsMade = false;
  private registryChild: ChildProcess | undefined;
  /** Its registry (startRegistry), as the engine reaches it: loopback inside its namespace. */
  readonly registry = "127.0.0.1:5000";

  private constructor(dir: string, tag: string, octet: number) {
    this.dir = dir;
    this.socket = path.join(dir, "docker.sock");
    this.host = `unix://${this.socket}`;
    this.netns = `shf${tag}`;
    this.bridge = `shf${tag}`;
    this.octet = octet;
    this.bridgeCidr = `10.198.${octet}.129/25`;
    this.ranges = [`10.198.${octet}.128/25`, `10.199.${octet}.0/24`];
    this.vethHost = `shfh${tag}`;
    this.vethInner = `shfn${tag}`;
    this.cgroupParent = `/shctl-faults-${tag}`;
    this.docker = new Docker({ socketPath: this.socket });
    this.client = connectEngine({ socketPath: this.socket });
  }

  /** Why a second engine cannot run here (undefined: it can). */
  static unavailable(): string | undefined {
    if (process.getuid?.() !== 0)
      return "not root (starting dockerd and making a network namespace need root)";
    if (spawnSync("dockerd", ["--version"], { stdio: "ignore" }).status !== 0) return "no dockerd on PATH";
    if (spawnSync("ip", ["-V"], { stdio: "ignore" }).status !== 0) return "no `ip` (iproute2) on PATH";
    if (spawnSync("nsenter", ["--version"], { stdio: "ignore" }).status !== 0)
      return "no nsenter (util-linux) on PATH";
    if (existsSync("/run/containerd/containerd.sock"))
      return "a system containerd answers at /run/containerd/containerd.sock: a second dockerd would share it";
    return undefined;
  }

  /** Makes the namespace, its links and the directory, starts dockerd in it, waits for it to answer. */
  static async start(): Promise<SecondEngine> {
    const tag = randomBytes(3).toString("hex");
    const routes = spawnSync("ip", ["-4", "route"], { encoding: "utf8" }).stdout;
    let octet = 0;
    for (let i = 0; i < 50 && octet === 0; i++) {
      const n = 2 + Math.floor(Math.random() * 250);
      if (!routes.includes(`10.198.${n}.`) && !routes.includes(`10.199.${n}.`)) octet = n;
    }
    if (octet === 0) throw new Error("no free 10.198.x.0/24 and 10.199.x.0/24 for the second engine");
    const dir = await mkdtemp(path.join(tmpdir(), "shctl-faults-"));
    const e = new SecondEngine(dir, tag, octet);
    await writeFile(path.join(dir, "daemon.json"), "{}\n");
    try {
      e.makeNetns();
      await e.launch();
    } catch (err) {
      await e.destroy();
      throw err;
    }
    return e;
  }

  /** The namespace: lo, the bridge, the veth to the host and the host's routes to its ranges. */
  private makeNetns(): void {
    const o = this.octet;
    this.ip(["netns", "add", this.netns]);
    this.netnsMade = true;
    const inner = (args: string[]) => this.ip(["-n", this.netns, ...args]);
    inner(["link", "set", "lo", "up"]);
    inner(["link", "add", this.bridge, "type", "bridge"]);
    inner(["addr", "add", this.bridgeCidr, "dev", this.bridge]);
    inner(["link", "set", this.bridge, "up"]);
    this.ip([
      "link",
      "add",
      this.vethHost,
      "type",
      "veth",
      "peer",
      "name",
      this.vethInner,
      "netns",
      this.netns,
    ]);
    this.ip(["addr", "add", `10.198.${o}.1/30`, "dev", this.vethHost]);
    this.ip(["link", "set", this.vethHost, "up"]);
    inner(["addr", "add", `10.198.${o}.2/30`, "dev", this.vethInner]);
    inner(["link", "set", this.vethInner, "up"]);
    // Forwarding inside the namespace only (a per-namespace sysctl): host ⇄ its containers.
    const fwd = spawnSync(
      "nsenter",
      [`--net=/run/netns/${this.netns}`, "--", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
      {
        encoding: "utf8",
      },
    );
    if (fwd.status !== 0) throw new Error(`ip_forward in ${this.netns}: ${fwd.stderr.trim()}`);
    for (const range of this.ranges)
      this.ip(["route", "add", range, "via", `10.198.${o}.2`, "dev", this.vethHost]);
  }

  private ip(args: string[]): void {
    const r = spawnSync("ip", args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Starts dockerd on the (same) data root and waits until it answers. */
  async launch(timeoutMs = 60_000): Promise<void> {
    if (this.pid) throw new Error("the second engine already runs");
    const log = openSync(path.join(this.dir, "dockerd.log"), "a");
    const child = spawn(
      "nsenter",
      [
        `--net=/run/netns/${this.netns}`,
        "--",
        "dockerd",
        "--config-file",
        path.join(this.dir, "daemon.json"),
        "--data-root",
        path.join(this.dir, "root"),
        "--exec-root",
        path.join(this.dir, "exec"),
        "--pidfile",
        path.join(this.dir, "docker.pid"),
        "-H",
        this.host,
        `--bridge=${this.bridge}`,
        "--iptables=false",
        "--ip-forward=false",
        "--default-address-pool",
        `base=10.199.${this.octet}.0/24,size=27`,
        `--cgroup-parent=${this.cgroupParent}`,
      ],
      { detached: true, stdio: ["ignore", log, log] },
    );
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.pid) throw new Error(`dockerd exited at start:\n${this.logTail()}`);
      try {
        await this.docker.ping();
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`dockerd did not answer in ${timeoutMs}ms:\n${this.logTail()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * Sends `signal` to dockerd (by its pid) and waits for it to end; then waits for the containerd it
   * started to end too, so that a restart starts from a clean exec root.
   */
  async stop(signal: "SIGTERM" | "SIGKILL", timeoutMs = 90_000): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    process.kill(pid, signal);
    const timer = new Promise<"late">((r) => setTimeout(() => r("late"), timeoutMs).unref());
    if ((await Promise.race([this.exited, timer])) === "late") {
      process.kill(pid, "SIGKILL");
      await this.exited;
    }
    const containerd = this.containerdPid();
    const deadline = Date.now() + 15_000;
    while (containerd && alive(containerd) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
  }

  /**
   * Starts it again on the same data root. dockerd 20.10 cannot start when it was stopped while it
   * removed a network (it panics in libnetwork's reservePools on the half-removed network): then
   * its network store is moved aside (networks/files/local-kv.db → .broken-N), as a user would have
   * to, and it starts without its networks; the returned note says so (undefined: a plain restart).
   */
  async restart(): Promise<string | undefined> {
    try {
      await this.launch();
      return undefined;
    } catch (err) {
      if (!/reservePools/.test(this.logTail(200))) throw err;
      const db = path.join(this.dir, "root/network/files/local-kv.db");
      renameSync(db, `${db}.broken-${Date.now()}`);
      await this.launch();
      return "dockerd panicked at start (libnetwork reservePools: a network half-removed when it stopped); its network store was moved aside and it started without its networks";
    }
  }

  private containerdPid(): number | undefined {
    try {
      const n = Number(readFileSync(path.join(this.dir, "exec/containerd/containerd.pid"), "utf8").trim());
      return n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(path.join(this.dir, "dockerd.log"), "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /**
   * Starts a registry (Debian's docker-registry) inside the engine's namespace, listening there on
   * port 5000: the engine pulls from it at 127.0.0.1:5000 (loopback: plain HTTP without
   * configuration); this process reaches it through the veth, on this machine only.
   */
  async startRegistry(): Promise<void> {
    const dir = path.join(this.dir, "registry");
    await mkdir(dir, { recursive: true });
    const config = path.join(dir, "config.yml");
    await writeFile(
      config,
      [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${dir}/data`,
        "http:",
        "  addr: 0.0.0.0:5000",
        "",
      ].join("\n"),
    );
    const log = openSync(path.join(dir, "registry.log"), "a");
    this.registryChild = spawn(
      "nsenter",
      [`--net=/run/netns/${this.netns}`, "--", "docker-registry", "serve", config],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    const url = `http://10.198.${this.octet}.2:5000/v2/`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`the second engine's registry did not answer at ${url}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Pushes a local image of this engine to its registry as `ref` and removes the local tag (a pull is needed). */
  async pushToRegistry(source: string, ref: string): Promise<void> {
    const at = ref.lastIndexOf(":");
    await this.docker.getImage(source).tag({ repo: ref.slice(0, at), tag: ref.slice(at + 1) });
    const stream = (await this.docker
      .getImage(ref)
      .push({ authconfig: { serveraddress: this.registry } })) as unknown as NodeJS.ReadableStream;
    let text = "";
    for await (const chunk of stream) text += chunk.toString();
    if (/"error"/.test(text)) throw new Error(`push of ${ref} failed: ${text}`);
    await this.untag(ref);
  }

  /** Removes a tag of this engine (the image stays under its other tags). */
  async untag(ref: string): Promise<void> {
    await this.docker
      .getImage(ref)
      .remove({ noprune: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err;
      });
  }

  /** Freezes the registry (SIGSTOP): a pull from it hangs until resumeRegistry(). */
  pauseRegistry(): void {
    if (this.registryChild?.pid) process.kill(this.registryChild.pid, "SIGSTOP");
  }

  resumeRegistry(): void {
    if (this.registryChild?.pid && this.registryChild.exitCode === null)
      process.kill(this.registryChild.pid, "SIGCONT");
  }

  /** Streams images from the shared engine (docker save) into this one (docker load). */
  async loadFrom(shared: Docker, refs: string[]): Promise<void> {
    // docker save of several images at once (GET /images/get?names=…); the types lack getImages.
    const save = (shared as unknown as { getImages(o: { names: string[] }): Promise<NodeJS.ReadableStream> })
      .getImages;
    const tar = await save.call(shared, { names: refs });
    const res = (await this.docker.loadImage(tar, { quiet: true })) as unknown as NodeJS.ReadableStream;
    let text = "";
    for await (const chunk of res) text += chunk.toString();
    if (/"error"/.test(text)) throw new Error(`docker load failed: ${text}`);
    for (const ref of refs) await this.docker.getImage(ref).inspect();
  }

  /** Stops everything it started and removes what it made. Never throws; returns what it could not undo. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    if (this.registryChild?.pid && this.registryChild.exitCode === null) {
      this.registryChild.kill("SIGKILL");
    }
    // Its containers first, through its API: a container outlives its shim, not its engine's removal.
    if (this.pid) {
      try {
        for (const c of await this.docker.listContainers({ all: true }))
          await this.docker.getContainer(c.Id).remove({ force: true });
      } catch (err) {
        problems.push(`removing its containers: ${(err as Error).message}`);
      }
    }
    try {
      await this.stop("SIGTERM");
    } catch (err) {
      problems.push(`stopping dockerd: ${(err as Error).message}`);
    }
    // Its containerd and shims (started by it, so by us): each by pid.
    for (const pid of this.leftoverPids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of this.leftoverPids()) problems.push(`process ${pid} still runs`);
    // Mounts it left under its directory (netns files, overlay rootfs, the data root bound on itself), deepest first.
    for (const m of this.mounts().sort((a, b) => b.length - a.length)) {
      if (spawnSync("umount", [m]).status !== 0 && spawnSync("umount", ["-l", m]).status !== 0)
        problems.push(`could not unmount ${m}`);
    }
    if (this.mounts().length === 0) await rm(this.dir, { recursive: true, force: true });
    else problems.push(`kept ${this.dir}: still mounted`);
    // The veth first (its routes go with it), then the namespace (its bridge goes with it).
    if (this.netnsMade) {
      spawnSync("ip", ["link", "del", this.vethHost]);
      if (spawnSync("ip", ["netns", "del", this.netns]).status !== 0)
        problems.push(`could not delete network namespace ${this.netns}`);
    }
    for (const ctl of safeReaddir("/sys/fs/cgroup"))
      rmCgroupTree(path.join("/sys/fs/cgroup", ctl, this.cgroupParent));
    return problems;
  }

  /** Processes whose command line names this engine's directory (its containerd, shims, dockerd). */
  private leftoverPids(): number[] {
    const out: number[] = [];
    for (const e of safeReaddir("/proc")) {
      if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
      try {
        const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
        if (cmd.includes(this.dir)) out.push(Number(e));
      } catch {
        // Gone.
      }
    }
    return out;
  }

  private mounts(): string[] {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m === this.dir || m.startsWith(`${this.dir}/`));
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Removes an (empty) cgroup directory tree, children first; leaves anything that still holds tasks. */
function rmCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of safeReaddir(dir)) {
    const child = path.join(dir, e);
    if (statSync(child, { throwIfNoEntry: false })?.isDirectory()) rmCgroupTree(child);
  }
  try {
    rmdirSync(dir);
  } catch {
    // Busy or already gone.
  }
}
