import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { createServer } from "node:net";
import path from "node:path";
import { apply, createReach, loadStack, type Plan, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, containersOf, engine, REPO, runCli, stackName, tempProject } from "./helpers.js";

/*
 * The Sentry stack's infrastructure tier on the real engine: postgres, redis, memcached,
 * zookeeper, clickhouse, nginx and smtp exactly as @sh/specs builds them (commands, entrypoints,
 * environment, mounts, healthchecks, probes, generated configs), with the config and
 * prerequisites jobs. Upstream's images cannot be pulled here, so `images.<key>` points each of
 * them at a stand-in built FROM the test base image with the real Debian package and upstream's
 * user ids (test/fixtures/infra/<key>/Dockerfile); shctl builds them itself, and the engine
 * caches them. test/fixtures/infra/stack.mjs takes that subset of the stack; nginx resolves its
 * upstreams when it starts, so two small HTTP servers stand in for `web` and `relay`, and the
 * test checks nginx's routing through them.
 *
 * The project dir is laid out as a user's: shctl.yaml with the options (the image overrides
 * among them) and the default data root ./sentrydata; its stack.mjs only re-exports the
 * fixture's factory (the CLI takes a stack module's directory as the project dir).
 *
 * What the stand-ins cannot show: upstream's exact server versions (Debian ships PostgreSQL 15,
 * Redis 7.0, ClickHouse 18.16), Kafka (no broker package here), and limits the engine of the
 * machine cannot grant (stack.mjs lowers nofile to the host's hard limit).
 */

const FIXTURE_MODULE = path.join(REPO, "test/fixtures/infra/stack.mjs");
const INFRA_KEYS = ["postgres", "redis", "memcached", "zookeeper", "clickhouse", "nginx", "smtp"];
const REDIS_PASSWORD = "infra-test-redis-pw-4b1d";
const HEALTHCHECKED = ["clickhouse", "memcached", "postgres", "redis", "zookeeper"];
const ALL = [...HEALTHCHECKED, "nginx", "smtp", "web", "relay"].sort();

const name = stackName("sinfra");
let projectDir: string;
let dataRoot: string;
let stackModule: string;
let stack: ResolvedStack | undefined;
let httpPort: number;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

const cli = (...args: string[]) => runCli([...args, "-f", "stack.mjs"], { cwd: projectDir });

async function idOf(service: string): Promise<string> {
  const id = (await containersOf(name))[service]?.id;
  if (!id) throw new Error(`no container for ${service}`);
  return id;
}

/** Runs a command in a service's container; fails the test with its output when it exits non-zero. */
async function run(service: string, cmd: string[]): Promise<string> {
  const r = await engine.exec(await idOf(service), cmd);
  if (r.exitCode !== 0) throw new Error(`${service}: ${cmd.join(" ")} exited ${r.exitCode}: ${r.output}`);
  return r.output;
}

const psql = (sql: string) =>
  run("postgres", ["psql", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc", sql]);
const clickhouse = (sql: string) =>
  run("clickhouse", ["wget", "-qO-", `--post-data=${sql}`, "http://127.0.0.1:8123/"]);

/** Waits for the engine's own healthcheck (the stack's test command) to report healthy. */
async function waitHealthy(service: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await engine.inspectContainer(await idOf(service));
    if (info?.health === "healthy") return;
    if (Date.now() > deadline) {
      throw new Error(
        `${service} not healthy after ${timeoutMs} ms (${info?.state}, ${info?.health}): ${info?.healthLog.slice(-2).join(" | ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function owner(rel: string): Promise<string> {
  const s = await stat(path.join(dataRoot, rel));
  return `${s.uid}:${s.gid}`;
}

beforeAll(async () => {
  projectDir = await tempProject("shctl-sinfra-");
  dataRoot = path.join(projectDir, "sentrydata");
  httpPort = await freePort();
  const options = {
    stackName: name,
    bindAddress: "127.0.0.1",
    httpPort,
    redisPassword: REDIS_PASSWORD,
    // Upstream's 30 s would only delay the first healthy report; the check itself is the same.
    healthcheck: { interval: "2s" },
    images: Object.fromEntries(INFRA_KEYS.map((k) => [k, `shctl-test/sentry-${k}:bookworm`])),
  };
  await writeFile(path.join(projectDir, "shctl.yaml"), JSON.stringify(options, null, 2));
  stackModule = path.join(projectDir, "stack.mjs");
  await writeFile(stackModule, `export { stack } from ${JSON.stringify(FIXTURE_MODULE)};\n`);
  // What the CLI runs below, loaded the same way for the assertions and the API apply.
  stack = await loadStack(stackModule);
});

afterAll(async () => {
  await cleanup(stack, projectDir);
});

/**
 * A GET to nginx: on its published host port; in the isolated run (no route, and the host's
 * loopback is another namespace's) through the engine to its container port.
 */
async function nginx(urlPath: string): Promise<{ status: number; body: string }> {
  if (process.env.SHCTL_TEST_ISOLATED !== "1") {
    const res = await fetch(`http://127.0.0.1:${httpPort}${urlPath}`);
    return { status: res.status, body: await res.text() };
  }
  const reach = createReach(engine, stack as ResolvedStack);
  try {
    return await new Promise((resolve, reject) => {
      const req = http.get({ host: "nginx", port: 80, path: urlPath, agent: reach.httpAgent() }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
    });
  } finally {
    await reach.close();
  }
}

describe("the Sentry stack's infrastructure services on the real engine", () => {
  it("`shctl apply` builds the stand-ins and brings every service up; healthchecks and probes pass", async () => {
    expect(Object.keys(stack?.services ?? {}).sort()).toEqual(ALL);
    expect(Object.keys(stack?.jobs ?? {}).sort()).toEqual(["config", "prerequisites"]);
    // The overrides reached the stack: its images are the stand-ins (clickhouse through the
    // stack's own local build on top of its override).
    expect(stack?.images.postgres?.ref).toBe("shctl-test/sentry-postgres:bookworm");
    expect(stack?.images["clickhouse-upstream"]?.ref).toBe("shctl-test/sentry-clickhouse:bookworm");

    const r = await cli("apply");
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toContain(REDIS_PASSWORD);
    // Probes are quiet: the libraries they use print nothing of their own (e.g. failed pings).
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toMatch(/\bWARN\b|ECONNREFUSED/);

    // Built through shctl's build path (now or by an earlier run): each carries its context hash.
    for (const key of INFRA_KEYS) {
      const img = await engine.inspectImage(`shctl-test/sentry-${key}:bookworm`);
      expect(img?.labels["io.shctl.context"], key).toMatch(/^[0-9a-f]{32}$/);
    }
    const running = await containersOf(name);
    expect(Object.keys(running).sort()).toEqual(ALL);
    for (const [svc, c] of Object.entries(running)) expect(c.state, svc).toBe("running");

    // apply returned once the readiness probes passed; the engine's healthchecks (upstream's
    // test commands) must pass as well.
    for (const svc of HEALTHCHECKED) expect(stack?.services[svc]?.healthcheck, svc).toBeDefined();
    await Promise.all(HEALTHCHECKED.map((svc) => waitHealthy(svc)));
  }, 360_000); // a cold engine builds seven images first (about a minute with a fast mirror)

  it("each service does its job as configured: routing, mail, settings", async () => {
    // nginx, with the generated config, sends Sentry's paths to web and ingestion to relay.
    const health = await nginx("/_health/");
    expect(health.status).toBe(200);
    expect(health.body.trim()).toBe("ok");
    const envelope = await nginx("/api/1/envelope/");
    expect(envelope.body.trim()).toBe("relay");
    // exim answers on port 25 of the stack network.
    const banner = await run("web", ["sh", "-c", "echo QUIT | nc -w 5 smtp 25"]);
    expect(banner).toMatch(/^220 .*ESMTP/m);
    // postgres runs with the stack's command line and the replication rule its entrypoint adds.
    expect((await psql("SHOW wal_level")).trim()).toBe("logical");
    expect(await run("postgres", ["sh", "-c", 'cat "$PGDATA/pg_hba.conf"'])).toMatch(
      /^host\s+replication\s+all\s+all\s+trust$/m,
    );
    // memcached was started with the stack's item size limit (-I 1M).
    expect(await run("memcached", ["sh", "-c", "echo stats settings | nc -w 2 127.0.0.1 11211"])).toMatch(
      /STAT item_size_max 1048576/,
    );
    // ClickHouse merged the stack's override into its config: warnings on the console, no query log.
    const merged = await readFile(path.join(dataRoot, "clickhouse/preprocessed_configs/config.xml"), "utf8");
    expect(merged).toMatch(/<level>warning<\/level>/);
    expect(merged).toMatch(/^\s*<console>true<\/console>/m);
    expect(merged).not.toContain("<query_log>");
  });

  it("redis requires the password: a client without it is refused, the healthcheck's redis-cli passes", async () => {
    const refused = await engine.exec(await idOf("redis"), [
      "sh",
      "-c",
      "env -u REDISCLI_AUTH redis-cli ping",
    ]);
    expect(refused.output).toContain("NOAUTH");
    expect(refused.output).not.toContain("PONG");
    expect((await run("redis", ["redis-cli", "ping"])).trim()).toBe("PONG");
    const info = await engine.inspectContainer(await idOf("redis"));
    expect(info?.health).toBe("healthy");
    // The config file holding the password is private to redis' user.
    const conf = await stat(path.join(dataRoot, "config/redis/redis.conf"));
    expect([`${conf.uid}:${conf.gid}`, (conf.mode & 0o777).toString(8)]).toEqual(["999:1000", "600"]);
  });

  it("data lands in the stack's directories under the data root, owned as upstream's images own it", async () => {
    await psql(
      "CREATE TABLE shctl_probe (note text); INSERT INTO shctl_probe VALUES ('kept across teardown')",
    );
    expect((await run("redis", ["redis-cli", "SET", "shctl:probe", "kept across teardown"])).trim()).toBe(
      "OK",
    );
    expect((await run("redis", ["redis-cli", "SAVE"])).trim()).toBe("OK");
    // A Log table: Debian's ClickHouse 18.16 refuses every MergeTree table under the stack's
    // override, which sets a MergeTree setting that only later versions (21.8 upstream) know.
    await clickhouse("CREATE TABLE default.shctl_probe (note String) ENGINE = Log");
    await clickhouse("INSERT INTO default.shctl_probe VALUES ('kept across teardown')");

    // postgres: the cluster in sentrydata/postgres, 999:999, 0700.
    const pgDir = await stat(path.join(dataRoot, "postgres"));
    expect([await owner("postgres"), (pgDir.mode & 0o777).toString(8)]).toEqual(["999:999", "700"]);
    expect(await owner("postgres/PG_VERSION")).toBe("999:999");
    expect((await readFile(path.join(dataRoot, "postgres/PG_VERSION"), "utf8")).trim()).toMatch(/^\d+$/);
    // redis: its dump in sentrydata/redis, as redis (999:1000).
    expect(await owner("redis/dump.rdb")).toBe("999:1000");
    // clickhouse: the table's data and metadata, and the logs, as clickhouse (101:101).
    expect(await owner("clickhouse/data/default/shctl_probe")).toBe("101:101");
    expect(await owner("clickhouse/metadata/default/shctl_probe.sql")).toBe("101:101");
    expect(await owner("clickhouse-log/clickhouse-server.log")).toBe("101:101");
    // zookeeper (root in upstream's 5.x image): snapshots and transaction logs in their dirs.
    expect(await owner("zookeeper/version-2")).toBe("0:0");
    expect(await owner("zookeeper-log/version-2")).toBe("0:0");
    // nginx: its temporary files under sentrydata/nginx-cache, made by its workers' user (101).
    expect((await owner("nginx-cache/proxy")).split(":")[0]).toBe("101");
    // smtp: exim's spool and log, given to Debian-exim by the image's entrypoint.
    const eximUid = (await run("smtp", ["id", "-u", "Debian-exim"])).trim();
    expect((await owner("smtp")).split(":")[0]).toBe(eximUid);
    expect((await owner("smtp-log/mainlog")).split(":")[0]).toBe(eximUid);
  });

  it("teardown keeps the data; the next apply finds it and runs no init job", async () => {
    const stateFile = path.join(dataRoot, ".shctl/state.json");
    const jobRecords = await readFile(stateFile, "utf8");
    expect(Object.keys(JSON.parse(jobRecords).jobs).sort()).toEqual(["config", "prerequisites"]);

    const down = await cli("teardown");
    expect(down.code, `${down.stdout}\n${down.stderr}`).toBe(0);
    expect(await containersOf(name)).toEqual({});
    expect(existsSync(path.join(dataRoot, "postgres/PG_VERSION"))).toBe(true);

    // The plan (CLI, JSON) recreates the containers and runs no job.
    const d = await cli("diff", "--json");
    expect(d.code, d.stderr).toBe(0);
    const planLine = d.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { type: string; plan?: Plan })
      .find((e) => e.type === "plan");
    const ids = planLine?.plan?.actions.map((a) => a.id) ?? [];
    expect(ids).toContain("container.create:postgres");
    expect(ids.filter((id) => id.startsWith("job."))).toEqual([]);

    const { plan } = await apply(stack as ResolvedStack, engine);
    expect(plan.actions.filter((a) => a.id.startsWith("job."))).toEqual([]);
    // The job records are as they were (the state file also remembers the new containers).
    expect(JSON.parse(await readFile(stateFile, "utf8")).jobs).toEqual(JSON.parse(jobRecords).jobs);
    await Promise.all(HEALTHCHECKED.map((svc) => waitHealthy(svc)));

    expect((await psql("SELECT note FROM shctl_probe")).trim()).toBe("kept across teardown");
    expect((await run("redis", ["redis-cli", "GET", "shctl:probe"])).trim()).toBe("kept across teardown");
    expect((await clickhouse("SELECT note FROM default.shctl_probe")).trim()).toBe("kept across teardown");
  }, 360_000); // seven servers restart on their old data; slow on a busy 2-core machine

  it("`teardown --data` removes the data root, files owned by 999 and 101 included", async () => {
    const r = await cli("teardown", "--data", "--yes");
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(await containersOf(name)).toEqual({});
    expect(existsSync(dataRoot)).toBe(false);
  });
});
