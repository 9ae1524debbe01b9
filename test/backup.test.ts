import { createHash, randomFillSync } from "node:crypto";
import { existsSync } from "node:fs";
import {
  chmod,
  chown,
  lchown,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { apply, loadStack, type ManifestEntry, type ResolvedStack, verifyBackup } from "@sh/core";
import { readJobLog, readState } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CliResult,
  cleanup,
  containersOf,
  engine,
  REPO,
  runCli,
  stackName,
  tempProject,
  toolsImage,
} from "./helpers.js";
import { asUser, dockerGid, nonRootSkip, UID, userProject } from "./non-root-user.js";
import { onTty } from "./tty.js";

/*
 * `shctl backup` and `shctl restore` on the real engine.
 *
 * The Sentry stack's infrastructure tier (test/fixtures/infra: PostgreSQL, ClickHouse, Redis and
 * the rest from Debian's packages, run as upstream's users 999 and 101): rows, keys and files are
 * the same after backup → teardown --data → restore → apply, owners and modes included (a file of
 * uid 10021, symbolicator's, is made by hand: no stand-in runs as 10021), and apply runs no init
 * job. A corrupted archive, a truncated one and a data root that is not empty are refused (exit 2)
 * with nothing changed.
 *
 * A small stack of the fixture image, backed up on a terminal (script(1)): the question before
 * the services stop, the live bar, and Ctrl-C (SIGINT through the terminal) while a large-ish data
 * root is packed, which leaves the services running again and no archive, partial or whole. And a backup and restore as uid 1000 in
 * the docker group (needs root to set up; skipped with the reason otherwise).
 */

const FIXTURE_MODULE = path.join(REPO, "test/fixtures/infra/stack.mjs");
const INFRA_KEYS = ["postgres", "redis", "memcached", "zookeeper", "clickhouse", "nginx", "smtp"];
const HEALTHCHECKED = ["clickhouse", "memcached", "postgres", "redis", "zookeeper"];
const ALL = [...HEALTHCHECKED, "nginx", "smtp", "web", "relay"].sort();

function ok(r: CliResult): void {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
}

/** The last JSON line a --json run printed (its result or error object). */
function lastJson(r: CliResult): Record<string, unknown> {
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("{"));
  return JSON.parse(lines.at(-1) ?? "{}") as Record<string, unknown>;
}

interface Seen {
  type: string;
  uid: number;
  gid: number;
  mode: string;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Every entry under `root` as this (root) process sees it: type, owner, mode, content digest, link target. */
async function tree(root: string): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  const walk = async (rel: string) => {
    const abs = rel === "." ? root : path.join(root, rel);
    const st = await lstat(abs);
    const base = { uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8).padStart(4, "0") };
    if (st.isDirectory()) {
      out.set(rel, { type: "directory", ...base });
      for (const n of (await readdir(abs)).sort()) {
        const child = rel === "." ? n : `${rel}/${n}`;
        if (child === ".shctl/lock" || child.startsWith(".shctl/lock.")) continue;
        await walk(child);
      }
    } else if (st.isSymbolicLink()) out.set(rel, { type: "symlink", ...base, target: await readlink(abs) });
    else if (st.isFile()) {
      const sha256 = createHash("sha256")
        .update(await readFile(abs))
        .digest("hex");
      out.set(rel, { type: "file", ...base, size: st.size, sha256 });
    } else out.set(rel, { type: st.isFIFO() ? "fifo" : "other", ...base });
  };
  await walk(".");
  return out;
}

/** The manifest's entries as the tree would show them (a hard link is a file with its target's content). */
function expected(entries: ManifestEntry[]): Map<string, Seen> {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const out = new Map<string, Seen>();
  for (const e of entries) {
    const content = e.type === "link" ? byPath.get(e.target ?? "") : e;
    const s: Seen = {
      type: e.type === "link" ? "file" : e.type,
      uid: e.uid,
      gid: e.gid,
      mode: e.mode,
    };
    if (content?.size !== undefined) s.size = content.size;
    if (content?.sha256 !== undefined) s.sha256 = content.sha256;
    if (e.type === "symlink") s.target = e.target ?? "";
    out.set(e.path, s);
  }
  return out;
}

describe("backup and restore of the Sentry stack's infrastructure tier", () => {
  const name = stackName("bkinfra");
  let dir: string;
  let dataRoot: string;
  let stack: ResolvedStack | undefined;
  const archive = () => path.join(dir, "infra.tar.gz");
  const cli = (...args: string[]) => runCli([...args, "-f", "stack.mjs"], { cwd: dir });

  async function idOf(service: string): Promise<string> {
    const id = (await containersOf(name))[service]?.id;
    if (!id) throw new Error(`no container for ${service}`);
    return id;
  }
  async function run(service: string, cmd: string[]): Promise<string> {
    const r = await engine.exec(await idOf(service), cmd);
    if (r.exitCode !== 0) throw new Error(`${service}: ${cmd.join(" ")} exited ${r.exitCode}: ${r.output}`);
    return r.output;
  }
  const psql = (sql: string) =>
    run("postgres", ["psql", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc", sql]);
  const redis = (...args: string[]) => run("redis", ["redis-cli", ...args]);
  const clickhouse = (sql: string) =>
    run("clickhouse", ["wget", "-qO-", `--post-data=${sql}`, "http://127.0.0.1:8123/"]);
  async function waitHealthy(service: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await engine.inspectContainer(await idOf(service));
      if (info?.health === "healthy") return;
      if (Date.now() > deadline) throw new Error(`${service} not healthy: ${info?.state} ${info?.health}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  /** What the services hold: rows, keys, ClickHouse rows. */
  async function contents(): Promise<string[]> {
    return [
      (await psql("SELECT note FROM backup_probe ORDER BY id")).trim(),
      (await redis("GET", "backup:probe")).trim(),
      (await redis("HGETALL", "backup:hash")).trim(),
      (await clickhouse("SELECT note FROM default.backup_probe ORDER BY note")).trim(),
    ];
  }
  const jobState = async () => {
    const s = await readState(dataRoot);
    const logs = await Promise.all(["config", "prerequisites"].map((j) => readJobLog(dataRoot, j)));
    return { jobs: s.jobs, logs: logs.map((l) => l?.finishedAt) };
  };
  let before: string[];
  let jobsBefore: Awaited<ReturnType<typeof jobState>>;

  beforeAll(async () => {
    dir = await tempProject("shctl-bkinfra-");
    dataRoot = path.join(dir, "sentrydata");
    const options = {
      stackName: name,
      bindAddress: "127.0.0.1",
      httpPort: 20000 + Math.floor(Math.random() * 20000),
      redisPassword: "backup-test-redis-pw",
      healthcheck: { interval: "2s" },
      images: Object.fromEntries(INFRA_KEYS.map((k) => [k, `shctl-test/sentry-${k}:bookworm`])),
    };
    await writeFile(path.join(dir, "shctl.yaml"), JSON.stringify(options, null, 2));
    await writeFile(
      path.join(dir, "stack.mjs"),
      `export { stack } from ${JSON.stringify(FIXTURE_MODULE)};\n`,
    );
    stack = await loadStack(path.join(dir, "stack.mjs"));
    ok(await cli("apply"));
    await Promise.all(HEALTHCHECKED.map((s) => waitHealthy(s)));

    await psql(
      "CREATE TABLE backup_probe (id serial, note text); INSERT INTO backup_probe (note) VALUES ('one'), ('two')",
    );
    await redis("SET", "backup:probe", "kept");
    await redis("HSET", "backup:hash", "a", "1", "b", "2");
    await clickhouse("CREATE TABLE default.backup_probe (note String) ENGINE = Log");
    await clickhouse("INSERT INTO default.backup_probe VALUES ('ch-one'), ('ch-two')");
    // symbolicator's directory (10021) by hand: a private file, a symbolic link and a hard link.
    const sym = path.join(dataRoot, "symbolicator");
    await mkdir(path.join(sym, "cache"), { recursive: true });
    await writeFile(path.join(sym, "cache/object"), "symbols\n");
    await symlink("cache/object", path.join(sym, "latest"));
    await link(path.join(sym, "cache/object"), path.join(sym, "object.again"));
    for (const p of ["", "cache", "cache/object"]) await chown(path.join(sym, p), 10021, 10021);
    await lchown(path.join(sym, "latest"), 10021, 10021);
    await chmod(path.join(sym, "cache"), 0o700);
    await chmod(path.join(sym, "cache/object"), 0o640);
    before = await contents();
    jobsBefore = await jobState();
  }, 360_000);

  afterAll(async () => {
    await cleanup(stack, dir);
  });

  it("`shctl backup` stops the services, writes the archive (0600), and they run again", async () => {
    const r = await cli("backup", archive(), "--json");
    ok(r);
    const result = lastJson(r);
    expect(result).toMatchObject({ type: "result", command: "backup", stack: name, compressed: true });
    expect([...(result.stopped as string[])].sort()).toEqual(ALL);
    expect(result.jobs).toEqual(["config", "prerequisites"]);
    // Dependents stopped before what they depend on: nginx (on web, relay) before them.
    const stops = r.stdout
      .split("\n")
      .filter((l) => l.includes('"phase":"stopping"'))
      .map((l) => (JSON.parse(l) as { resource: string }).resource);
    expect(stops.indexOf("service nginx")).toBeLessThan(stops.indexOf("service web"));
    expect((await stat(archive())).mode & 0o777).toBe(0o600);
    expect(existsSync(`${archive()}.partial`)).toBe(false);
    const running = await containersOf(name);
    expect(Object.keys(running).sort()).toEqual(ALL);
    for (const [svc, c] of Object.entries(running)) expect(c.state, svc).toBe("running");
    // The manifest: the stack and its version, the tool, the job records, every file with a checksum.
    const v = await verifyBackup(archive());
    expect(v.manifest.stack).toEqual({ name, version: "23.12.0" });
    expect(v.manifest.tool).toMatch(/^shctl \d/);
    expect(v.manifest.jobs).toEqual(jobsBefore.jobs);
    const pgVersion = v.manifest.entries.find((e) => e.path === "postgres/PG_VERSION");
    expect(pgVersion).toMatchObject({
      type: "file",
      uid: 999,
      gid: 999,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(v.manifest.entries.some((e) => e.path.startsWith(".shctl/lock"))).toBe(false);
    expect(await contents()).toEqual(before);
  }, 300_000);

  it("`teardown --data`; a restore into a data root that is not empty is refused, nothing changed", async () => {
    ok(await cli("teardown", "--data", "--yes"));
    expect(existsSync(dataRoot)).toBe(false);
    await mkdir(dataRoot);
    await writeFile(path.join(dataRoot, "stray"), "mine");
    const r = await cli("restore", archive());
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is not empty: nothing was restored/);
    expect(await readdir(dataRoot)).toEqual(["stray"]);
    expect(await readFile(path.join(dataRoot, "stray"), "utf8")).toBe("mine");
    await rm(dataRoot, { recursive: true });
  });

  it("a corrupted archive and a truncated one are refused before anything is written", async () => {
    const bytes = await readFile(archive());
    const corrupt = Buffer.from(bytes);
    const mid = Math.floor(bytes.length / 2);
    for (let i = mid; i < mid + 32; i++) corrupt[i] = (corrupt[i] as number) ^ 0xff;
    await writeFile(path.join(dir, "corrupt.tar.gz"), corrupt);
    await writeFile(path.join(dir, "truncated.tar.gz"), bytes.subarray(0, mid));
    for (const [file, why] of [
      ["corrupt.tar.gz", /damaged|truncated/],
      ["truncated.tar.gz", /truncated/],
    ] as const) {
      const r = await cli("restore", file, "--json");
      expect(r.code, `${file}: ${r.stdout}${r.stderr}`).toBe(2);
      const err = lastJson(r);
      expect(err.error).toBe("BackupArchiveError");
      expect(String(err.message)).toMatch(why);
      expect(existsSync(dataRoot), file).toBe(false);
    }
    expect(await containersOf(name)).toEqual({});
  });

  it("`shctl restore` brings back every file with its owner and mode; apply runs no init job", async () => {
    const r = await cli("restore", archive());
    ok(r);
    expect(r.stdout).toMatch(/Restored \d+ files/);
    expect(r.stdout).toContain("the 2 init jobs that had completed will not run again");

    // Every entry as the manifest lists it, read back from the host's file system.
    const v = await verifyBackup(archive());
    const got = await tree(dataRoot);
    const want = expected(v.manifest.entries);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [p, w] of want) expect(got.get(p), p).toEqual(w);
    // The owners the services and the test gave them.
    expect(got.get("postgres")).toMatchObject({ uid: 999, gid: 999, mode: "0700" });
    expect(got.get("redis/dump.rdb")).toMatchObject({ uid: 999, gid: 1000 });
    expect(got.get("config/redis/redis.conf")).toMatchObject({ uid: 999, gid: 1000, mode: "0600" });
    expect(got.get("clickhouse/data/default/backup_probe")).toMatchObject({ uid: 101, gid: 101 });
    expect(got.get("symbolicator/cache")).toMatchObject({ uid: 10021, gid: 10021, mode: "0700" });
    expect(got.get("symbolicator/cache/object")).toMatchObject({ uid: 10021, gid: 10021, mode: "0640" });
    expect(got.get("symbolicator/latest")).toMatchObject({
      type: "symlink",
      target: "cache/object",
      uid: 10021,
    });
    const [a, b] = await Promise.all(
      ["symbolicator/cache/object", "symbolicator/object.again"].map((p) => stat(path.join(dataRoot, p))),
    );
    expect(a?.ino).toBe(b?.ino); // still one file, hard-linked
    expect(existsSync(path.join(dataRoot, ".shctl/lock"))).toBe(false);

    const { plan } = await apply(stack as ResolvedStack, engine);
    expect(plan.actions.filter((x) => x.kind === "job.run")).toEqual([]);
    expect(await jobState()).toEqual(jobsBefore);
    await Promise.all(HEALTHCHECKED.map((s) => waitHealthy(s)));
    expect(await contents()).toEqual(before);
  }, 300_000);
});

describe("a backup on a terminal, and Ctrl-C during it", () => {
  const name = stackName("bkint");
  let dir: string;
  let stack: ResolvedStack | undefined;
  beforeAll(async () => {
    dir = await tempProject("shctl-bkint-");
    await writeFile(
      path.join(dir, "stack.json"),
      JSON.stringify({
        name,
        dataRoot: "./data",
        images: { tools: toolsImage() },
        services: {
          db: {
            image: "tools",
            user: "999:999",
            command: ["sh", "-c", "echo rows > /var/lib/db/table && exec sleep infinity"],
            mounts: [{ source: "db", target: "/var/lib/db", owner: "999:999", mode: "0700" }],
            readiness: [{ exec: ["test", "-s", "/var/lib/db/table"] }],
            stopGracePeriod: "1s",
          },
          app: {
            image: "tools",
            command: ["sleep", "infinity"],
            dependsOn: { db: { condition: "healthy" } },
            stopGracePeriod: "1s",
          },
        },
      }),
    );
    stack = await loadStack(path.join(dir, "stack.json"));
    ok(await runCli(["apply", "-f", "stack.json"], { cwd: dir }));
    // A large-ish data root (incompressible), so that packing takes a while.
    const fh = await open(path.join(dir, "data/bulk"), "w");
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 128; i++) {
      randomFillSync(chunk);
      await fh.write(chunk);
    }
    await fh.close();
  }, 180_000);
  afterAll(async () => {
    await cleanup(stack, dir);
  });

  it("on a terminal: asks first (no: nothing changed); a bar with bytes and rate; Ctrl-C starts the services again, no archive", async () => {
    const file = path.join(dir, "tty.tar.gz");
    const no = backupOnTty(dir, ["backup", "-f", "stack.json", file]);
    await no.waitFor(/Stop them and back up now\? \[y\/N\]/);
    no.type("n\r");
    const cancelled = await no.done;
    expect(cancelled.code, cancelled.output).toBe(1);
    expect(cancelled.output).toMatch(/stops 2 services of stack .* \(app, db\)/);
    expect(cancelled.output).toContain("Cancelled; nothing was changed.");
    const c = await containersOf(name);
    expect([c.db?.state, c.app?.state]).toEqual(["running", "running"]);
    expect(existsSync(`${file}.partial`)).toBe(false);

    const yes = backupOnTty(dir, ["backup", "-f", "stack.json", file]);
    await yes.waitFor(/\[y\/N\]/);
    yes.type("y\r");
    // The live view: the archive's line with a bar, percent, bytes of the total and a rate.
    await yes.waitFor(/archive tty\.tar\.gz +packing/);
    await yes.waitFor(
      /archive tty\.tar\.gz +packing +[\d.]+m?s +\[#*-*\] +\d+% +[\d.]+\/[\d.]+ MB +[\d.]+ [kMG]?B\/s/,
    );
    expect(existsSync(`${file}.partial`)).toBe(true);
    const during = await containersOf(name);
    expect([during.db?.state, during.app?.state]).toEqual(["exited", "exited"]);
    expect(during.backup?.state).toBe("created"); // the helper the engine reads the data root through
    yes.type("\u0003"); // Ctrl-C: SIGINT, through the terminal
    const r = await yes.done;
    expect(r.code, r.output).toBe(130);
    expect(r.output).toMatch(/removing the partial archive and starting the services again/);
    expect(r.output).toMatch(/service db +healthy/);
    expect(r.output).toMatch(/interrupted while packing: no archive was written/);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(false);
    const after = await containersOf(name);
    expect(Object.keys(after).sort()).toEqual(["app", "db"]); // the helper is gone
    expect([after.db?.state, after.app?.state]).toEqual(["running", "running"]);
    expect(existsSync(path.join(dir, "data/.shctl/lock"))).toBe(false);
  }, 180_000);
});

/** The CLI on a pseudo-terminal, wide enough for the live view's bar (script's own is 80 columns). */
const backupOnTty = (dir: string, args: string[]) =>
  onTty(args, { cwd: dir, size: { cols: 120, rows: 30 }, waitMs: 90_000 });

if (nonRootSkip) console.warn(`non-root backup test skipped: ${nonRootSkip}`);

describe.skipIf(Boolean(nonRootSkip))("backup and restore as a non-root member of the docker group", () => {
  const name = stackName("bknonroot");
  let dir: string;
  let stack: ResolvedStack | undefined;
  const cli = (...args: string[]) => asUser(dir, [...args, "-f", "stack.json"]);

  beforeAll(async () => {
    dir = await userProject("shctl-bknonroot-");
    await writeFile(
      path.join(dir, "stack.json"),
      JSON.stringify({
        name,
        dataRoot: "./data",
        images: { tools: toolsImage() },
        services: {
          // A directory only 999 may enter, with a private file: this user cannot read either.
          db: {
            image: "tools",
            user: "999:999",
            command: [
              "sh",
              "-c",
              "test -e /var/lib/db/table || (echo rows > /var/lib/db/table && chmod 600 /var/lib/db/table); exec sleep infinity",
            ],
            mounts: [{ source: "db", target: "/var/lib/db", owner: "999:999", mode: "0700" }],
            stopGracePeriod: "1s",
          },
        },
        jobs: {
          init: {
            image: "tools",
            command: ["sh", "-c", "echo ran >> /out/runs"],
            mounts: [{ source: "out", target: "/out" }],
          },
        },
      }),
    );
    await chown(path.join(dir, "stack.json"), UID, dockerGid as number);
    stack = await loadStack(path.join(dir, "stack.json"));
    ok(await cli("apply"));
  }, 180_000);
  afterAll(async () => {
    await cleanup(stack, dir);
  });

  it("backs up what it cannot read, restores it with its owners, and apply runs no job again", async () => {
    await expect(readdir(path.join(dir, "data/db"))).resolves.toBeDefined(); // root can; uid 1000 cannot
    ok(await cli("backup", "b.tar.gz"));
    const st = await stat(path.join(dir, "b.tar.gz"));
    expect([st.uid, st.mode & 0o777]).toEqual([UID, 0o600]);
    ok(await cli("teardown", "--data", "--yes"));
    expect(existsSync(path.join(dir, "data"))).toBe(false);
    ok(await cli("restore", "b.tar.gz"));
    const db = await stat(path.join(dir, "data/db"));
    const table = await stat(path.join(dir, "data/db/table"));
    expect([db.uid, db.gid, db.mode & 0o7777]).toEqual([999, 999, 0o700]);
    expect([table.uid, table.gid, table.mode & 0o777]).toEqual([999, 999, 0o600]);
    expect(await readFile(path.join(dir, "data/db/table"), "utf8")).toBe("rows\n");
    // The user's own files (state, the job's output) are the user's again.
    const state = await stat(path.join(dir, "data/.shctl/state.json"));
    expect(state.uid).toBe(UID);
    ok(await cli("apply"));
    expect(await readFile(path.join(dir, "data/out/runs"), "utf8")).toBe("ran\n");
    expect((await containersOf(name)).db?.state).toBe("running");
  }, 180_000);
});
