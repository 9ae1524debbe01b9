import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, runCli, startCli, tempProject } from "../helpers.js";
import { desiredTasks, startSwarm, swarmSkipReason, type TestSwarm } from "./engines.js";

/*
 * The Sentry stack's infrastructure tier (test/fixtures/infra: Debian stand-ins for upstream's
 * images, as test/sentry-infra.test.ts uses them) with the `swarm` option, on a two-node swarm this
 * test starts: Postgres and Redis pinned to node-1 (role db), ZooKeeper, ClickHouse and smtp to
 * node-2 (roles kafka, clickhouse, files); memcached, nginx and the web/relay stand-ins spread.
 * apply brings every service up behind its healthchecks and Sentry's own readiness probes (which
 * reach the tasks over the overlay network), each store on the node of its role; a second plan is
 * empty; teardown --data removes it all, on both nodes. The images come from the shared engine
 * (built there by test/sentry-infra.test.ts or scripts/test-env.sh); the test skips without them.
 */

const FIXTURE_MODULE = path.join(REPO, "test/fixtures/infra/stack.mjs");
const KEYS = ["postgres", "redis", "memcached", "zookeeper", "clickhouse", "nginx", "smtp"];
const standIn = (k: string) => `shctl-test/sentry-${k}:bookworm`;
const TOOLS = "shctl-test/tools:latest";
const CLICKHOUSE_LOCAL = "clickhouse-self-hosted-local:latest";
const SPREAD = ["memcached", "nginx", TOOLS].map((k) => (k.includes(":") ? k : standIn(k)));

const { engine } = await import("../helpers.js");
const missing: string[] = [];
for (const ref of [...KEYS.map(standIn), TOOLS, CLICKHOUSE_LOCAL])
  if (!(await engine.inspectImage(ref).catch(() => undefined))) missing.push(ref);
const skip =
  swarmSkipReason() ??
  (missing.length > 0
    ? `the shared engine lacks ${missing.join(", ")} (run test/sentry-infra.test.ts first)`
    : undefined);
if (skip) console.warn(`test/swarm/sentry-infra.test.ts skipped: ${skip}`);

const name = `it-swsi-${process.pid.toString(36)}`;

describe.skipIf(skip !== undefined)(
  `the Sentry infra tier on a two-node swarm${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let swarm: TestSwarm;
    let dir: string;
    const cli = (args: string[]) =>
      runCli([...args, "-f", "stack.mjs"], { cwd: dir, env: { DOCKER_HOST: swarm.manager.host } });
    const nodeOf = (service: string) => desiredTasks(swarm, `${name}_${service}`, "{{.Node}}");

    beforeAll(async () => {
      swarm = await startSwarm(`si${process.pid.toString(36)}`, 2, SPREAD, [
        [
          standIn("postgres"),
          standIn("redis"),
          standIn("zookeeper"),
          standIn("clickhouse"),
          CLICKHOUSE_LOCAL,
          standIn("smtp"),
        ],
        [standIn("zookeeper"), standIn("clickhouse"), CLICKHOUSE_LOCAL, standIn("smtp")],
      ]);
      await swarm.docker(swarm.manager, ["node", "update", "--label-add", "shctl.db=true", "node-1"]);
      for (const role of ["kafka", "clickhouse", "files"])
        await swarm.docker(swarm.manager, ["node", "update", "--label-add", `shctl.${role}=true`, "node-2"]);
      dir = await tempProject("shctl-swsi-");
      const options = {
        stackName: name,
        bindAddress: "0.0.0.0",
        httpPort: 19006,
        redisPassword: "swarm-infra-redis-pw-7c2e",
        healthcheck: { interval: "2s" },
        images: Object.fromEntries(KEYS.map((k) => [k, standIn(k)])),
        swarm: { roles: { postgres: "db", redis: "db" }, replicas: { nginx: 2 } },
      };
      await writeFile(path.join(dir, "shctl.yaml"), JSON.stringify(options, null, 2));
      await writeFile(
        path.join(dir, "stack.mjs"),
        `export { stack } from ${JSON.stringify(FIXTURE_MODULE)};\n`,
      );
    }, 900_000);

    afterAll(async () => {
      await swarm?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
      expect(existsSync("/sys/class/net/docker0")).toBe(true);
    }, 300_000);

    it("apply brings the tier up with its pins, behind healthchecks and Sentry's probes", async () => {
      // Stopped (Ctrl-C) well before the test's own timeout, so a failure shows what it waited for.
      const run = startCli(["apply", "-f", "stack.mjs"], {
        cwd: dir,
        env: { DOCKER_HOST: swarm.manager.host },
      });
      const timer = setTimeout(() => run.kill("SIGINT"), 420_000);
      const a = await run.done;
      clearTimeout(timer);
      expect(a.code, `${a.stdout.slice(-6000)}\n${a.stderr}`).toBe(0);
      expect(`${a.stdout}${a.stderr}`).not.toContain("swarm-infra-redis-pw-7c2e");
      expect(await nodeOf("postgres")).toEqual(["node-1"]);
      expect(await nodeOf("redis")).toEqual(["node-1"]);
      expect(await nodeOf("zookeeper")).toEqual(["node-2"]);
      expect(await nodeOf("clickhouse")).toEqual(["node-2"]);
      expect(await nodeOf("smtp")).toEqual(["node-2"]);
      expect((await nodeOf("nginx")).sort()).toEqual(["node-1", "node-2"]);
      const s = await cli(["status"]);
      expect(s.code, s.stderr).toBe(0);
      for (const svc of ["postgres", "redis", "zookeeper", "clickhouse", "memcached", "smtp"])
        expect(s.stdout).toMatch(new RegExp(`${svc} +running +1/1`));
      expect(s.stdout).toMatch(/nginx +running +2\/2/);
      const d = await cli(["diff", "--exit-code"]);
      expect(d.code, d.stdout).toBe(0);
    }, 600_000);

    it("teardown --data removes the tier and its data on both nodes", async () => {
      const t = await cli(["teardown", "--data", "--yes"]);
      expect(t.code, `${t.stdout}\n${t.stderr}`).toBe(0);
      expect(existsSync(path.join(dir, "sentrydata"))).toBe(false);
      const left = await swarm.docker(swarm.manager, ["service", "ls", "--format", "{{.Name}}"]);
      expect(left.split("\n").filter((n) => n.startsWith(`${name}_`))).toEqual([]);
    });
  },
);
