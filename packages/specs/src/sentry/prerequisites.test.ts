import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EngineInfoSummary, JobContext } from "@sh/core";
import { afterAll, describe, expect, it } from "vitest";
import { checkPrerequisites, type HostFacts, isWsl, windowsDriveMount } from "./jobs.js";

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

const ENGINE: EngineInfoSummary = {
  serverVersion: "24.0.7",
  cpus: 8,
  memoryBytes: 16 * 1024 ** 3,
  os: "Debian GNU/Linux 12 (bookworm)",
  architecture: "x86_64",
};
const LINUX: HostFacts = {
  platform: "linux",
  env: {},
  procVersion: "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian",
  mounts: "/dev/sda1 / ext4 rw,relatime 0 0\n",
};
const WSL: HostFacts = {
  platform: "linux",
  env: { WSL_DISTRO_NAME: "Ubuntu" },
  procVersion: "Linux version 5.15.133.1-microsoft-standard-WSL2 (root@1c602f52c2e4) #1 SMP",
  mounts: [
    "/dev/sdc / ext4 rw,relatime,discard,errors=remount-ro,data=ordered 0 0",
    "C:\\134 /mnt/c 9p rw,noatime,dirsync,aname=drvfs;path=C:\\;uid=1000;gid=1000 0 0",
    "D:\\134 /mnt/d 9p rw,noatime,aname=drvfs;path=D:\\ 0 0",
    "none /mnt/wsl tmpfs rw,relatime 0 0",
  ].join("\n"),
};

/** Runs the check with a fake job context on a fresh data root; returns its log and its error. */
async function check(
  engine: Partial<EngineInfoSummary> = {},
  host: HostFacts = LINUX,
  extra: { reachMode?: string; dataRoot?: string } = {},
): Promise<{ log: string[]; error: Error | undefined }> {
  const root = mkdtempSync(path.join(tmpdir(), "shctl-prereq-"));
  roots.push(root);
  const log: string[] = [];
  const ctx = {
    stack: "sentry-self-hosted",
    dataRoot: extra.dataRoot ?? path.join(root, "sentrydata"),
    projectDir: root,
    signal: new AbortController().signal,
    log: (l: string) => log.push(l),
    address: () => Promise.reject(new Error("not in this test")),
    engineInfo: async () => ({ ...ENGINE, ...engine }),
    runContainer: () => Promise.reject(new Error("not in this test")),
    runHelper: () => Promise.reject(new Error("not in this test")),
    readFile: () => Promise.reject(new Error("not in this test")),
    chown: () => Promise.reject(new Error("not in this test")),
    connect: () => Promise.reject(new Error("not in this test")),
    socket: () => {
      throw new Error("not in this test");
    },
    httpAgent: () => {
      throw new Error("not in this test");
    },
    ...(extra.reachMode ? { reachMode: extra.reachMode } : {}),
  } satisfies JobContext;
  const error = await checkPrerequisites(ctx, host).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  return { log, error };
}

describe("the prerequisites job", () => {
  it("passes on a Linux engine with enough of everything, naming the engine and its architecture", async () => {
    const { log, error } = await check();
    expect(error).toBeUndefined();
    expect(log[0]).toBe("engine: Debian GNU/Linux 12 (bookworm), x86_64");
    expect(log.at(-1)).toMatch(/^Docker 24\.0\.7, 8 CPUs, 16384 MB, \d+ GB free: ok$/);
  });

  it("recognises Docker Desktop from the engine's info, and does not fail for it", async () => {
    const { log, error } = await check({ os: "Docker Desktop" });
    expect(error).toBeUndefined();
    expect(log[0]).toMatch(/^engine: Docker Desktop \(the engine runs in Docker Desktop's own VM\), x86_64$/);
  });

  it("recognises Docker Desktop with its WSL2 integration", async () => {
    const { log, error } = await check({ os: "Docker Desktop", architecture: "aarch64" }, WSL);
    expect(error).toBeUndefined();
    expect(log[0]).toBe(
      "engine: Docker Desktop (the engine runs in Docker Desktop's own VM, reached from WSL2 through its WSL integration), aarch64",
    );
  });

  it("says which reach mode is used, when it is known", async () => {
    expect((await check({}, LINUX, { reachMode: "direct (container addresses)" })).log).toContain(
      "reach mode: direct (container addresses)",
    );
    expect((await check()).log.some((l) => l.startsWith("reach mode"))).toBe(false);
  });

  it("points Docker Desktop users at its resource settings when it has too little memory", async () => {
    const { error } = await check({ os: "Docker Desktop", memoryBytes: 2 * 1024 ** 3 });
    expect(error?.message).toMatch(/Docker has 2048 MB of memory; Sentry needs at least 3800 MB/);
    expect(error?.message).toMatch(/Docker Desktop: Settings → Resources/);
  });

  it("points WSL2 users at .wslconfig when the engine inside WSL2 has too few CPUs", async () => {
    const { error } = await check({ cpus: 1 }, WSL);
    expect(error?.message).toMatch(/Docker has 1 CPU\(s\); Sentry needs at least 2.*\.wslconfig/);
  });

  describe("SSE 4.2 (ClickHouse needs it)", () => {
    const flags = ["fpu", "sse", "sse2", "ssse3", "sse4_1"];

    it("refuses an x86_64 CPU without it, as upstream's minimum-requirements check does", async () => {
      const { error } = await check({ cpuFlags: flags });
      expect(error?.message).toMatch(/does not support the SSE 4\.2 instruction set, which ClickHouse needs/);
    });

    it("accepts one with it", async () => {
      expect((await check({ cpuFlags: [...flags, "sse4_2"] })).error).toBeUndefined();
    });

    it("does not judge when the flags are unknown, on aarch64, on a KVM guest, or when told to skip", async () => {
      expect((await check({})).error).toBeUndefined();
      expect((await check({ cpuFlags: ["fp", "asimd"], architecture: "aarch64" })).error).toBeUndefined();
      expect((await check({ cpuFlags: flags, cpuModel: "Common KVM processor" })).error).toBeUndefined();
      expect(
        (await check({ cpuFlags: flags }, { ...LINUX, env: { SKIP_SSE42_REQUIREMENTS: "1" } })).error,
      ).toBeUndefined();
    });
  });

  it("refuses an engine architecture Sentry's images do not exist for", async () => {
    const { error } = await check({ architecture: "s390x" });
    expect(error?.message).toMatch(/runs on s390x; Sentry's images exist for x86_64 and aarch64 only/);
  });

  it("refuses Git Bash / MSYS", async () => {
    const { error } = await check({}, { ...LINUX, env: { MSYSTEM: "MINGW64" } });
    expect(error?.message).toMatch(/Git Bash \/ MSYS2 on Windows is not supported/);
  });

  it("inside WSL2, warns when the data root is on a Windows drive mount", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "shctl-prereq-drive-"));
    roots.push(root);
    // This machine's temporary directory stands in for /mnt/c: the fake mount table puts it on 9p.
    const host = { ...WSL, mounts: `${WSL.mounts}\nC:\\134 ${root} 9p rw,aname=drvfs;path=C:\\ 0 0\n` };
    const { log, error } = await check({}, host, { dataRoot: path.join(root, "sentry/sentrydata") });
    expect(error).toBeUndefined();
    expect(log.find((l) => l.startsWith("warning: the data root"))).toMatch(
      /is on .* \(9p, a Windows drive\): slow, and file ownership does not stick there, which breaks Postgres and ClickHouse/,
    );
    // The same data root outside WSL: no such warning.
    const plain = await check(
      {},
      { ...host, env: {}, procVersion: LINUX.procVersion },
      {
        dataRoot: path.join(root, "sentry/sentrydata"),
      },
    );
    expect(plain.log.some((l) => l.includes("Windows drive"))).toBe(false);
  });

  it("inside WSL2, does not warn for a data root in the WSL file system", async () => {
    const { log } = await check({}, WSL);
    expect(log.some((l) => l.includes("Windows drive"))).toBe(false);
  });
});

describe("isWsl", () => {
  it("tells WSL from /proc/version or WSL_DISTRO_NAME", () => {
    expect(isWsl(WSL)).toBe(true);
    expect(isWsl({ ...WSL, env: {} })).toBe(true);
    expect(isWsl({ ...LINUX, env: { WSL_DISTRO_NAME: "Debian" } })).toBe(true);
    expect(isWsl(LINUX)).toBe(false);
  });
});

describe("windowsDriveMount", () => {
  it("finds the Windows drive under /mnt/<letter>, by path or by the mount's file system", () => {
    expect(windowsDriveMount("/mnt/c/Users/me/sentry/sentrydata", WSL.mounts)).toBe(
      "/mnt/c (9p, a Windows drive)",
    );
    expect(windowsDriveMount("/mnt/d", WSL.mounts)).toBe("/mnt/d (9p, a Windows drive)");
    // Without a mount table, the path alone tells.
    expect(windowsDriveMount("/mnt/e/x", undefined)).toBe("/mnt/e (the Windows drive E:)");
    expect(windowsDriveMount("/mnt/c/x", "drvfs-less\n")).toBe("/mnt/c (the Windows drive C:)");
    // WSL1 mounts drives as drvfs.
    expect(windowsDriveMount("/win/x", "C: /win drvfs rw 0 0\n")).toBe("/win (drvfs, a Windows drive)");
  });

  it("leaves the WSL file system alone", () => {
    expect(windowsDriveMount("/home/me/sentry/sentrydata", WSL.mounts)).toBeUndefined();
    expect(windowsDriveMount("/mnt/wsl/x", WSL.mounts)).toBeUndefined();
    expect(windowsDriveMount("/mnt/cdrom/x", WSL.mounts)).toBeUndefined();
  });
});
