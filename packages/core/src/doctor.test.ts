import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { doctor } from "./doctor.js";
import { checkClock, checkHost, checkMirror, checkPort, shellWord } from "./doctor-checks.js";
import { specDirs } from "./doctor-data.js";
import { addressesOverlap, containersPublishing, describeHolder, parseProcNet } from "./doctor-ports.js";
import { summarizeFindings } from "./doctor-summary.js";
import type { ContainerSummary, EngineClient } from "./engine/index.js";
import { EngineUnreachableError } from "./errors.js";
import type { HostFacts } from "./host.js";
import { mountOf } from "./host.js";
import { LABEL } from "./labels.js";
import { loadStack } from "./load.js";
import type { StackInput } from "./schema.js";
import { FakeEngine } from "./testing/fake-engine.js";

/*
 * The doctor's checks as pure functions over made-up facts, and doctor() itself over the fake
 * engine: order, stack checks (replacing a built-in one by id), failures, time limits, and an
 * engine that does not answer. The checks against the real engine and real directories are in
 * test/doctor.test.ts.
 */

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});
function tempRoot(): string {
  const r = mkdtempSync(path.join(tmpdir(), "shctl-doctor-unit-"));
  roots.push(r);
  return r;
}

const LINUX: HostFacts = { platform: "linux", env: {}, procVersion: "Linux version 6.1", mounts: "" };

function container(name: string, labels: Record<string, string>, published: ContainerSummary["published"]) {
  return {
    id: `id-${name}`,
    name,
    imageId: "sha256:x",
    state: "running",
    status: "Up 1 second",
    health: undefined,
    labels,
    published,
    networks: {},
  } satisfies ContainerSummary;
}

describe("ports", () => {
  it("parses /proc/net/tcp: local port, state, uid, inode", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0",
      "   1: 0100007F:0016 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000  1000        0 67890 1 0000000000000000 100 0 0 10 0",
    ].join("\n");
    expect(parseProcNet(text)).toEqual([
      { port: 8080, state: "0A", uid: 0, inode: "12345" },
      { port: 22, state: "01", uid: 1000, inode: "67890" },
    ]);
  });

  it("matches a published port by number, protocol and overlapping address", () => {
    expect(addressesOverlap("0.0.0.0", "127.0.0.1")).toBe(true);
    expect(addressesOverlap("127.0.0.1", "127.0.0.1")).toBe(true);
    expect(addressesOverlap("127.0.0.1", "10.0.0.1")).toBe(false);
    expect(addressesOverlap("::", "10.0.0.1")).toBe(true);
    const c = container("a", {}, [{ hostIp: "0.0.0.0", port: 9000, protocol: "tcp" }]);
    const port = { hostIp: "127.0.0.1", host: 9000, container: 80, protocol: "tcp" as const };
    expect(containersPublishing(port, [c])).toHaveLength(1);
    expect(containersPublishing({ ...port, protocol: "udp" }, [c])).toHaveLength(0);
    expect(containersPublishing({ ...port, host: 9001 }, [c])).toHaveLength(0);
  });

  it("names the holder: its own container, another stack's, a process, or nobody", async () => {
    const stack = await loadStack(
      {
        name: "shop",
        images: { t: { ref: "t:1" } },
        services: { web: { image: "t", ports: ["9000:80"] } },
      },
      { projectDir: tempRoot() },
    );
    const port = stack.services.web?.ports[0];
    if (!port) throw new Error("no port");
    const own = container("shop-web", { [LABEL.stack]: "shop", [LABEL.name]: "web" }, [
      { hostIp: "0.0.0.0", port: 9000, protocol: "tcp" },
    ]);
    const other = container("blog-nginx-1", { [LABEL.stack]: "blog", [LABEL.name]: "nginx" }, [
      { hostIp: "0.0.0.0", port: 9000, protocol: "tcp" },
    ]);
    const free = async () => ({ kind: "free" as const });
    expect(await checkPort(stack, "web", port, [own], true, free)).toMatchObject({
      status: "ok",
      detail: "published by web's own container shop-web",
    });
    const taken = await checkPort(stack, "web", port, [own, other], true, free);
    expect(taken).toMatchObject({
      status: "failure",
      detail: "held by container blog-nginx-1 (stack blog, service nginx)",
      commands: ["docker stop blog-nginx-1"],
    });
    expect(await checkPort(stack, "web", port, [], true, free)).toMatchObject({
      status: "ok",
      detail: "free",
    });
    const byProcess = async () => ({ kind: "process" as const, pid: 42, command: "nginx", uid: 0 });
    expect(await checkPort(stack, "web", port, [], true, byProcess)).toMatchObject({
      status: "failure",
      detail: "held by process 42 (nginx)",
    });
    // A remote engine: only what its containers publish can be told.
    expect((await checkPort(stack, "web", port, [], false, free)).status).toBe("skipped");
    expect(describeHolder({ kind: "process", pid: undefined, command: undefined, uid: 1000 })).toBe(
      "a process of uid 1000",
    );
  });
});

describe("data directories", () => {
  it("lists each bind-mount directory the stack states an owner or mode for, with who mounts it", async () => {
    const stack = await loadStack(
      {
        name: "dirs",
        images: { t: { ref: "t:1" } },
        services: {
          db: { image: "t", mounts: [{ source: "db", target: "/db", owner: "999:999", mode: "0700" }] },
          backup: { image: "t", mounts: [{ source: "db", target: "/backup", readOnly: true }] },
          web: { image: "t", mounts: [{ source: "plain", target: "/plain" }] },
        },
      },
      { projectDir: tempRoot() },
    );
    const dirs = specDirs(stack);
    expect(dirs.map((d) => [path.basename(d.hostPath), d.owner, d.mode, [...d.users]])).toEqual([
      ["db", { uid: 999, gid: 999 }, 0o700, ["db", "backup"]],
    ]);
  });

  it("quotes a path for the shell only when it needs it", () => {
    expect(shellWord("/srv/data/postgres")).toBe("/srv/data/postgres");
    expect(shellWord("/srv/my data/it's")).toBe("'/srv/my data/it'\\''s'");
  });
});

describe("host and clock", () => {
  const engine = { where: "unix:///var/run/docker.sock" } as EngineClient;
  const info = {
    os: "Docker Desktop",
    serverVersion: "",
    cpus: 1,
    memoryBytes: 1,
    kernel: "",
    architecture: "x86_64",
    osType: "linux",
  };

  it("says where shctl and the engine run: WSL2, Docker Desktop, a remote engine", () => {
    const wsl = { ...LINUX, env: { WSL_DISTRO_NAME: "Ubuntu" } };
    expect(checkHost(engine, info, wsl).detail).toBe(
      "shctl runs on Linux in WSL2 (Ubuntu); the engine: Docker Desktop (its own VM, reached through its WSL integration)",
    );
    const remote = { where: "tcp://10.0.0.5:2376" } as EngineClient;
    expect(checkHost(remote, undefined, LINUX).detail).toMatch(
      /a remote engine \(tcp:\/\/10\.0\.0\.5:2376\)/,
    );
    expect(checkHost(engine, undefined, { ...LINUX, platform: "win32" }).status).toBe("warning");
  });

  it("finds the mount that holds a path", () => {
    const mounts = "/dev/sda1 / ext4 rw 0 0\nserver:/x /srv/nfs nfs4 rw 0 0\n";
    expect(mountOf("/srv/nfs/data", mounts)).toEqual({
      source: "server:/x",
      target: "/srv/nfs",
      type: "nfs4",
    });
    expect(mountOf("/srv/nfsother", mounts)?.target).toBe("/");
  });

  it("warns when the engine's clock is off by more than 5 s", async () => {
    const at = (skewMs: number) =>
      ({
        info: async () => ({ ...info, systemTime: new Date(Date.now() + skewMs).toISOString() }),
      }) as EngineClient;
    expect((await checkClock(at(0))).status).toBe("ok");
    const ahead = await checkClock(at(60_000));
    expect(ahead.status).toBe("warning");
    expect(ahead.detail).toMatch(/^the engine's clock is 60\.\ds ahead of this machine's$/);
    expect((await checkClock(at(-30_000))).detail).toMatch(/behind/);
    expect((await checkClock({ info: async () => info } as unknown as EngineClient)).status).toBe("skipped");
  });
});

describe("the registry mirror", () => {
  it("answers as a registry (401 counts: it asks for credentials), or fails with where it tried", async () => {
    const srv = http.createServer((req, res) => {
      res.writeHead(req.url === "/v2/" ? 401 : 404, { "docker-distribution-api-version": "registry/2.0" });
      res.end();
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const { port } = srv.address() as net.AddressInfo;
    try {
      const ok = await checkMirror(`127.0.0.1:${port}/hub`);
      expect(ok.status).toBe("ok");
      expect(ok.detail).toMatch(`http://127.0.0.1:${port}/v2/ answers HTTP 401 (it asks for credentials)`);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
    const closed = await checkMirror(`127.0.0.1:${port}`);
    expect(closed.status).toBe("failure");
    expect(closed.lines?.[0]).toBe(`https://127.0.0.1:${port}/v2/: ECONNREFUSED`);
  });
});

describe("doctor()", () => {
  async function fixture(extra: Partial<StackInput> = {}) {
    const root = tempRoot();
    return loadStack(
      { name: "doc", images: { t: { ref: "t:1" } }, services: { web: { image: "t" } }, ...extra },
      { projectDir: root },
    );
  }

  it("runs the built-in checks, then the stack's, in order; a stack check with a built-in id takes its place", async () => {
    const engine = new FakeEngine();
    engine.addImage("t:1");
    const seen: string[] = [];
    const stack = await fixture({
      doctor: [
        { id: "disk", title: "disk (mine)", run: async () => ({ status: "warning", detail: "mine" }) },
        {
          id: "web-answers",
          title: "web answers",
          run: async (ctx) => ({ status: "ok", detail: `web is ${await ctx.serviceState("web")}` }),
        },
      ],
    });
    const findings = await doctor(stack, engine, { host: LINUX, onFinding: (f) => seen.push(f.id) });
    const ids = findings.map((f) => f.id);
    expect(ids).toEqual([
      "engine",
      "host",
      "reach",
      "data-root",
      "disk",
      "data-dirs",
      "images",
      "clock",
      "web-answers",
    ]);
    expect(seen).toEqual(ids);
    expect(findings.find((f) => f.id === "disk")).toMatchObject({
      title: "disk (mine)",
      source: "stack",
      detail: "mine",
    });
    expect(findings.find((f) => f.id === "web-answers")?.detail).toBe("web is missing");
    expect(findings.find((f) => f.id === "images")).toMatchObject({
      status: "ok",
      detail: "all 1 image present",
    });
    expect(summarizeFindings(findings)).toMatchObject({ failed: false, warning: 1 });
  });

  it("turns a check that throws into a failure, and one that takes too long into one too", async () => {
    const engine = new FakeEngine();
    const stack = await fixture({
      doctor: [
        {
          id: "boom",
          title: "boom",
          run: async () => {
            throw new Error("no luck");
          },
        },
        {
          id: "slow",
          title: "slow",
          run: (ctx) =>
            new Promise((_, reject) =>
              ctx.signal.addEventListener("abort", () => reject(new Error("stopped"))),
            ),
        },
      ],
    });
    const findings = await doctor(stack, engine, { host: LINUX, checkTimeoutMs: 300 });
    expect(findings.find((f) => f.id === "boom")).toMatchObject({
      status: "failure",
      detail: "the check failed: no luck",
    });
    expect(findings.find((f) => f.id === "slow")).toMatchObject({
      status: "failure",
      detail: "no answer within 300ms",
    });
    // A missing image is a warning: apply pulls it.
    expect(findings.find((f) => f.id === "images")).toMatchObject({
      status: "warning",
      lines: ["t:1 (t): missing; apply pulls it"],
    });
    expect(summarizeFindings(findings).failed).toBe(true);
  });

  it("without an engine: the engine check fails with its hint, what needs it is skipped", async () => {
    const engine = new FakeEngine();
    engine.version = async () => {
      throw new EngineUnreachableError(engine.where, new Error("connect ENOENT /fake/docker.sock"));
    };
    const stack = await fixture({
      doctor: [
        {
          id: "needs-engine",
          title: "x",
          run: async (ctx) => ({ status: "ok", detail: (await ctx.engineInfo()).os }),
        },
      ],
    });
    const findings = await doctor(stack, engine, { host: LINUX });
    const by = Object.fromEntries(findings.map((f) => [f.id, f]));
    expect(by.engine).toMatchObject({ status: "failure", fix: expect.stringMatching(/start the engine/) });
    expect(by.images?.status).toBe("skipped");
    expect(by.clock?.status).toBe("skipped");
    expect(by["needs-engine"]).toMatchObject({
      status: "skipped",
      detail: "it needs the engine, which does not answer",
    });
    // What needs only this machine still runs.
    expect(by["data-root"]?.status).toBe("ok");
  });
});
