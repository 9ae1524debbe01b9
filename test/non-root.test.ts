import { chmod, chown, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadStack, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cleanup, containersOf, REPO, stackName } from "./helpers.js";
import { asUser, dockerGid, nonRootSkip, UID, userProject } from "./non-root-user.js";

/*
 * The whole life as a non-root member of the docker group (uid 1000, the group that owns the
 * engine's socket), as most self-hosters run docker: first install, an everyday apply, options
 * changed later, status, logs, teardown --data. Files that containers' users own (999, 101, 10001)
 * are read, given away and removed through the engine; nothing is regenerated or lost.
 *
 * Needs root to set it up (the test process chowns the project dir to uid 1000): it says so and
 * skips otherwise.
 */

if (nonRootSkip) console.warn(`non-root tests skipped: ${nonRootSkip}`);

const FIXTURE_MODULE = path.join(REPO, "test/fixtures/infra/stack.mjs");
const INFRA_KEYS = ["postgres", "redis", "memcached", "zookeeper", "clickhouse", "nginx", "smtp"];

function ok(r: CliResult): void {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
}

describe.skipIf(Boolean(nonRootSkip))("as a non-root member of the docker group: own stack", () => {
  const name = stackName("nonroot");
  let dir: string;
  let stack: ResolvedStack | undefined;
  const spec = (level: string) => ({
    name,
    dataRoot: "./data",
    images: {
      tools: {
        ref: "shctl-test/tools:latest",
        build: {
          context: path.join(REPO, "test/fixtures/tools"),
          args: { BASE: "shctl-test/base:bookworm" },
        },
      },
    },
    services: {
      // Runs as 999 in a directory only 999 may enter: its owner is given by a helper container.
      db: {
        image: "tools",
        user: "999:999",
        command: ["sh", "-c", "echo kept > /var/lib/db/file && exec sleep infinity"],
        env: { LEVEL: level },
        mounts: [{ source: "db", target: "/var/lib/db", owner: "999:999", mode: "0700" }],
        stopGracePeriod: "1s",
      },
      // Like Sentry's entrypoint with config.yml: takes the token for its own user, mode 0600.
      locker: {
        image: "tools",
        command: ["sh", "-c", "chown 999:999 /cfg/token && chmod 0600 /cfg/token && exec sleep infinity"],
        mounts: [{ source: "cfg", target: "/cfg" }],
        dependsOn: { "use-token": { condition: "completed" } },
        inputs: [{ path: "cfg/token" }],
        stopGracePeriod: "1s",
      },
    },
    jobs: {
      "use-token": {
        image: "tools",
        command: ["sh", "-c", "test -s /cfg/token && echo used"],
        mounts: [{ source: "cfg", target: "/cfg" }],
        inputs: [{ path: "cfg/token" }],
      },
    },
  });

  beforeAll(async () => {
    dir = await userProject("shctl-nonroot-");
    await writeFile(path.join(dir, "stack.json"), JSON.stringify(spec("one")));
    await mkdir(path.join(dir, "data/cfg"), { recursive: true });
    await writeFile(path.join(dir, "data/cfg/token"), "t0ken\n");
    for (const p of ["data", "data/cfg", "data/cfg/token", "stack.json"])
      await chown(path.join(dir, p), UID, dockerGid as number);
    stack = await loadStack(path.join(dir, "stack.json"));
  });
  afterAll(async () => {
    await cleanup(stack, dir);
  });

  it("applies: a directory is given to 999 through the engine, and everything runs", async () => {
    ok(await asUser(dir, ["apply", "-f", "stack.json"]));
    const st = await stat(path.join(dir, "data/db"));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([999, 999, 0o700]);
    const c = await containersOf(name);
    expect([c.db?.state, c.locker?.state]).toEqual(["running", "running"]);
    // The locker took the token, as an entrypoint would: this user may not read it any more.
    expect((await stat(path.join(dir, "data/cfg/token"))).uid).toBe(999);
  });

  // Was a bug: an input file this user may not read hashed as missing, so the job whose key was
  // recorded while it was readable ran again, and its readers were recreated.
  it("an everyday apply changes nothing, though an input now belongs to a container's user", async () => {
    const r = await asUser(dir, ["diff", "-f", "stack.json", "--exit-code"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("No changes");
    ok(await asUser(dir, ["apply", "-f", "stack.json"]));
  });

  it("a changed option recreates only what changed; status and logs work", async () => {
    await writeFile(path.join(dir, "stack.json"), JSON.stringify(spec("two")));
    const before = await containersOf(name);
    ok(await asUser(dir, ["apply", "-f", "stack.json"]));
    const after = await containersOf(name);
    expect(after.db?.id).not.toBe(before.db?.id);
    expect(after.locker?.id).toBe(before.locker?.id);
    const s = await asUser(dir, ["status", "-f", "stack.json"]);
    ok(s);
    expect(s.stdout).toMatch(/db\s+running/);
    const l = await asUser(dir, ["logs", "-f", "stack.json", "use-token"]);
    ok(l);
    expect(l.stdout).toContain("used");
  });

  it("teardown --data removes files owned by 999 (through the engine)", async () => {
    ok(await asUser(dir, ["teardown", "-f", "stack.json", "--data", "--yes"]));
    await expect(stat(path.join(dir, "data"))).rejects.toThrow();
    expect(await containersOf(name)).toEqual({});
  });
});

describe.skipIf(Boolean(nonRootSkip))(
  "as a non-root member of the docker group: the Sentry stack's parts",
  () => {
    const name = stackName("nrsentry");
    let dir: string;
    let stack: ResolvedStack | undefined;
    const configYml = () => path.join(dir, "sentrydata/config/sentry/config.yml");
    const secretKey = async () =>
      (await readFile(configYml(), "utf8")).match(/^system\.secret-key:.*$/m)?.[0];

    beforeAll(async () => {
      dir = await userProject("shctl-nrsentry-");
      const options = {
        stackName: name,
        bindAddress: "127.0.0.1",
        httpPort: 20000 + Math.floor(Math.random() * 20000),
        healthcheck: { interval: "2s" },
        images: Object.fromEntries(INFRA_KEYS.map((k) => [k, `shctl-test/sentry-${k}:bookworm`])),
      };
      await writeFile(path.join(dir, "shctl.yaml"), JSON.stringify(options, null, 2));
      await writeFile(
        path.join(dir, "stack.mjs"),
        `export { stack } from ${JSON.stringify(FIXTURE_MODULE)};\n`,
      );
      for (const f of ["shctl.yaml", "stack.mjs"]) await chown(path.join(dir, f), UID, dockerGid as number);
      stack = await loadStack(path.join(dir, "stack.mjs"));
    });
    afterAll(async () => {
      await cleanup(stack, dir);
    });

    it("installs: the config job writes the configuration, every service comes up", async () => {
      ok(await asUser(dir, ["apply", "-f", "stack.mjs"]));
      expect(await secretKey()).toMatch(/^system\.secret-key: '.+'$/);
    }, 360_000);

    // Was a bug: once Sentry's entrypoint had taken config.yml (mode 0600) for its user, a later
    // apply that changed an option could not read it, took it for missing, generated a new secret
    // key, and then failed with EACCES after sentry.conf.py was already rewritten.
    it("after Sentry's entrypoint took config.yml, a changed option keeps the secret key", async () => {
      const key = await secretKey();
      // What the Sentry image's entrypoint does to it on start.
      await chown(configYml(), 999, 999);
      await chmod(configYml(), 0o600);
      const conf = path.join(dir, "sentrydata/config/sentry/sentry.conf.py");
      const confBefore = await readFile(conf, "utf8");
      const r = await asUser(dir, ["apply", "-f", "stack.mjs"], { SHCTL_REDIS_PASSWORD: "NewRedisPw-2024" });
      ok(r);
      expect(r.stdout).toMatch(/job config: done/);
      expect(await secretKey()).toBe(key);
      expect(await readFile(conf, "utf8")).not.toBe(confBefore);
      expect(await readFile(conf, "utf8")).toContain("NewRedisPw-2024");
      // config.yml went back to Sentry's user (the job gives it, through the engine).
      expect((await stat(configYml())).uid).toBe(999);
    }, 360_000);

    it("status, logs and teardown --data work; files of 999 and 101 go too", async () => {
      const s = await asUser(dir, ["status", "-f", "stack.mjs"], { SHCTL_REDIS_PASSWORD: "NewRedisPw-2024" });
      ok(s);
      expect(s.stdout).toMatch(/postgres\s+running/);
      const l = await asUser(dir, ["logs", "-f", "stack.mjs", "config"], {
        SHCTL_REDIS_PASSWORD: "NewRedisPw-2024",
      });
      ok(l);
      const owners = new Set<number>();
      for (const d of ["postgres", "clickhouse"])
        owners.add((await stat(path.join(dir, "sentrydata", d))).uid);
      expect([...owners].sort()).toEqual([101, 999]);
      ok(
        await asUser(dir, ["teardown", "-f", "stack.mjs", "--data", "--yes"], {
          SHCTL_REDIS_PASSWORD: "NewRedisPw-2024",
        }),
      );
      await expect(stat(path.join(dir, "sentrydata"))).rejects.toThrow();
    }, 180_000);
  },
);
