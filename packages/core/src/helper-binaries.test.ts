import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HELPER_BINARIES } from "./helper-binaries.js";

/*
 * The helper binaries as committed: their digests, their ELF headers, that the C source still
 * builds to exactly these bytes, and that each one works (x86_64 natively, aarch64 under qemu).
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.resolve(here, "../scripts/build-helper.sh");
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const compilerVersion = (cc: string) =>
  has(cc) ? execFileSync(cc, ["-dumpfullversion"]).toString().trim() : undefined;

const work = mkdtempSync(path.join(tmpdir(), "shctl-helper-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const bytes = (arch: keyof typeof HELPER_BINARIES) => Buffer.from(HELPER_BINARIES[arch].base64, "base64");

describe("the committed helper binaries", () => {
  it.each([
    ["x86_64", 62],
    ["aarch64", 183],
  ] as const)("%s: matches its sha256, is a small static ELF for e_machine %i", (arch, machine) => {
    const b = bytes(arch);
    expect(createHash("sha256").update(b).digest("hex")).toBe(HELPER_BINARIES[arch].sha256);
    expect(b.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(b.readUInt16LE(16)).toBe(2); // ET_EXEC: static, no interpreter
    expect(b.readUInt16LE(18)).toBe(machine);
    expect(b.length).toBeLessThan(8192);
  });

  // Same compiler versions as recorded: the source must build to the committed bytes.
  const versions = { x86_64: compilerVersion("gcc"), aarch64: compilerVersion("aarch64-linux-gnu-gcc") };
  const sameCompilers =
    process.arch === "x64" &&
    versions.x86_64 === HELPER_BINARIES.x86_64.compiler &&
    versions.aarch64 === HELPER_BINARIES.aarch64.compiler;
  if (!sameCompilers)
    console.warn(
      `skipping the rebuild check: it needs gcc ${HELPER_BINARIES.x86_64.compiler} and aarch64-linux-gnu-gcc ${HELPER_BINARIES.aarch64.compiler} on x86_64 (have ${versions.x86_64 ?? "no gcc"}, ${versions.aarch64 ?? "no aarch64-linux-gnu-gcc"})`,
    );
  it.skipIf(!sameCompilers)("are what packages/core/helper/shctl-helper.c builds to", () => {
    const out = path.join(work, "build");
    execFileSync("bash", [script, "--out", out]);
    for (const arch of ["x86_64", "aarch64"] as const)
      expect(readFileSync(path.join(out, `shctl-helper-${arch}`)).equals(bytes(arch)), arch).toBe(true);
  });
});

const runners: [string, string[] | undefined][] = [
  ["x86_64", process.arch === "x64" ? [] : undefined],
  [
    "aarch64",
    process.arch === "arm64" ? [] : has("qemu-aarch64-static") ? ["qemu-aarch64-static"] : undefined,
  ],
];

for (const [arch, prefix] of runners) {
  if (!prefix)
    console.warn(`skipping the ${arch} helper's run tests: no way to run it here (qemu-aarch64-static?)`);
  describe.skipIf(!prefix)(`the ${arch} helper, run`, () => {
    const bin = path.join(work, `shctl-helper-${arch}`);
    const run = (args: string[], input?: string, uid?: number) => {
      const [cmd, ...rest] = [...(prefix ?? []), bin, ...args];
      const r = spawnSync(cmd as string, rest, { input: input ?? "", ...(uid ? { uid, gid: uid } : {}) });
      return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    let server: net.Server;
    let port = 0;
    beforeAll(async () => {
      writeFileSync(bin, bytes(arch as "x86_64"), { mode: 0o755 });
      // An echo server that answers its input's length once the input ends.
      server = net.createServer({ allowHalfOpen: true }, (c) => {
        let n = 0;
        c.on("data", (d) => {
          n += d.length;
          c.write(d);
        });
        c.on("end", () => c.end(`|${n}`));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("prints its usage for unknown commands", () => {
      expect(run([])).toMatchObject({ code: 2, stderr: expect.stringContaining("usage: shctl-helper") });
      expect(run(["connect", "example.com", "80"])).toMatchObject({ code: 2 });
    });

    it("cat copies a file, and names the errno it cannot", () => {
      writeFileSync(path.join(work, "f.txt"), "line 1\nline 2\n");
      expect(run(["cat", path.join(work, "f.txt")])).toEqual({
        code: 0,
        stdout: "line 1\nline 2\n",
        stderr: "",
      });
      expect(run(["cat", path.join(work, "missing")])).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/error 2\n$/),
      });
    });

    it("chmod sets the bits; chown sets the owner of a symlink itself", () => {
      const f = path.join(work, `mode-${arch}`);
      writeFileSync(f, "x", { mode: 0o644 });
      expect(run(["chmod", "0600", f]).code).toBe(0);
      expect(statSync(f).mode & 0o7777).toBe(0o600);
      expect(run(["chmod", "9", f]).code).toBe(2);
      if (process.getuid?.() !== 0) return;
      const link = path.join(work, `link-${arch}`);
      symlinkSync(f, link);
      expect(run(["chown", "123:456", link]).code).toBe(0);
      expect(lstatSync(link)).toMatchObject({ uid: 123, gid: 456 });
      expect(statSync(f)).toMatchObject({ uid: 0, gid: 0 });
    });

    it("rmtree empties a directory, keeps it, and never follows symlinks out of it", () => {
      const root = path.join(work, `tree-${arch}`);
      const outside = path.join(work, `outside-${arch}`);
      mkdirSync(path.join(root, "a/b/c"), { recursive: true });
      mkdirSync(outside);
      writeFileSync(path.join(outside, "keep"), "k");
      for (const f of ["x", ".hidden", "a/y", "a/b/c/z"]) writeFileSync(path.join(root, f), f);
      symlinkSync(outside, path.join(root, "a/out"));
      for (let i = 0; i < 300; i++) writeFileSync(path.join(root, `many-${i}`), "");
      expect(run(["rmtree", `${root}/`])).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(readdirSync(root)).toEqual([]);
      expect(readdirSync(outside)).toEqual(["keep"]);
      if (process.getuid?.() === 0) {
        // What it may not remove, it names, and it exits 1 (here: as nobody, in root's directory).
        const locked = path.join(root, "locked");
        mkdirSync(locked, { mode: 0o755 });
        writeFileSync(path.join(locked, "f"), "");
        chmodSync(root, 0o777);
        chmodSync(work, 0o755);
        expect(run(["rmtree", root], "", 65534)).toEqual({
          code: 1,
          stdout: "",
          stderr: `rmtree: cannot remove ${locked}/f: error 13\nrmtree: cannot remove ${locked}: error 39\n`,
        });
        expect(readdirSync(locked)).toEqual(["f"]);
      }
      expect(run(["rmtree", path.join(work, "nope")])).toMatchObject({
        code: 1,
        stderr: expect.stringContaining("cannot open"),
      });
    });

    it("mkdir makes the path with its parents, gives the leaf its owner and mode, and refuses links", () => {
      const root = path.join(work, `mk-${arch}`);
      const leaf = path.join(root, "a/b/leaf");
      const me = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
      expect(run(["mkdir", `${leaf}/`, me, "0750"])).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(statSync(leaf).mode & 0o7777).toBe(0o750);
      expect(statSync(path.join(root, "a/b")).mode & 0o7777).toBe(0o755);
      // Again on an existing directory: its mode is set again (idempotent).
      chmodSync(leaf, 0o700);
      expect(run(["mkdir", leaf, me, "0755"]).code).toBe(0);
      expect(statSync(leaf).mode & 0o7777).toBe(0o755);
      if (process.getuid?.() === 0) {
        expect(run(["mkdir", path.join(root, "owned"), "999:998", "0700"]).code).toBe(0);
        expect(statSync(path.join(root, "owned"))).toMatchObject({ uid: 999, gid: 998 });
      }
      // A symbolic link on the way (or as the leaf) is refused, and nothing is made behind it.
      const outside = path.join(work, `mk-outside-${arch}`);
      mkdirSync(outside);
      symlinkSync(outside, path.join(root, "link"));
      const viaLink = run(["mkdir", path.join(root, "link/x"), "0:0", "0755"]);
      expect(viaLink).toMatchObject({ code: 1, stderr: expect.stringContaining("symbolic link") });
      expect(run(["mkdir", path.join(root, "link"), "0:0", "0755"]).code).toBe(1);
      expect(readdirSync(outside)).toEqual([]);
      expect(run(["mkdir", "relative/x", "0:0", "0755"])).toMatchObject({ code: 1 });
      expect(run(["mkdir", "/", "0:0", "0755"])).toMatchObject({ code: 1 });
      expect(run(["mkdir", leaf, "nobody", "0755"])).toMatchObject({ code: 2 });
      expect(run(["mkdir", `${root}/a/../b`, "0:0", "0755"])).toMatchObject({ code: 1 });
    });

    it("purge removes a directory and its content, never through a link; a missing one is fine", () => {
      const root = path.join(work, `purge-${arch}`);
      const outside = path.join(work, `purge-outside-${arch}`);
      mkdirSync(path.join(root, "data/sub"), { recursive: true });
      mkdirSync(outside);
      writeFileSync(path.join(outside, "keep"), "k");
      writeFileSync(path.join(root, "data/sub/f"), "f");
      symlinkSync(outside, path.join(root, "data/out"));
      symlinkSync(path.join(root, "data"), path.join(root, "alias"));
      // Through a link: refused, nothing removed.
      expect(run(["purge", path.join(root, "alias/sub")])).toMatchObject({
        code: 1,
        stderr: expect.stringContaining("symbolic link"),
      });
      expect(run(["purge", path.join(root, "alias")]).code).toBe(1);
      expect(readdirSync(path.join(root, "data")).sort()).toEqual(["out", "sub"]);
      expect(run(["purge", path.join(root, "data")])).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(readdirSync(root)).toEqual(["alias"]);
      expect(readdirSync(outside)).toEqual(["keep"]);
      expect(run(["purge", path.join(root, "data")]).code).toBe(0);
      expect(run(["purge", path.join(root, "missing/deeper")]).code).toBe(0);
    });

    /** Runs the helper asynchronously: the echo server lives in this process. */
    const runAsync = (args: string[], input: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const [cmd, ...rest] = [...(prefix ?? []), bin, ...args];
        const child = spawn(cmd as string, rest);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(input);
      });

    it("connect relays both ways, half-closes on end of input, and exits 0 when the peer closes", async () => {
      expect(await runAsync(["connect"], `127.0.0.1 ${port}\nhello`)).toEqual({
        code: 0,
        stdout: "hello|5",
        stderr: "connected\n",
      });
      const big = "z".repeat(1_000_000);
      expect(await runAsync(["connect", "::ffff:127.0.0.1", String(port)], big)).toEqual({
        code: 0,
        stdout: `${big}|1000000`,
        stderr: "connected\n",
      });
    });

    it("connect reports a refused port with exit 111", async () => {
      const closed = net.createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
      const free = (closed.address() as net.AddressInfo).port;
      await new Promise((r) => closed.close(r));
      expect(run(["connect", "127.0.0.1", String(free)])).toEqual({
        code: 111,
        stdout: "",
        stderr: "refused\n",
      });
      expect(run(["connect"], "no newline")).toEqual({ code: 0, stdout: "", stderr: "" });
    });
  });
}
