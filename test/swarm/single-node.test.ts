import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, loadStack, type ProgressEvent } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, tempProject } from "../helpers.js";
import { startSwarm, swarmSkipReason, type TestSwarm } from "./engines.js";

/*
 * `target: swarm` on a single-node swarm: an engine this test starts in its own network namespace
 * (never the shared engine), `docker swarm init` on it. Through the CLI and core: create, a second
 * apply that plans nothing, a change rolled by Swarm, drift made by hand and put back, a job run
 * once, readiness gating, status, logs, teardown and teardown --data.
 */

const skip = swarmSkipReason();
if (skip) console.warn(`test/swarm/single-node.test.ts skipped: ${skip}`);

const IMAGE = "shctl-test/tools:latest";
const name = `it-sw1-${process.pid.toString(36)}`;

function specOf(greeting: string) {
  return {
    name,
    target: "swarm",
    dataRoot: "./data",
    networks: { back: {} },
    services: {
      db: {
        image: IMAGE,
        placement: { node: "db" },
        // Ready only after a few seconds: what depends on it must wait.
        command: [
          "bash",
          "-c",
          "date +%s%N >> /data/boots; sleep 4; date +%s%N > /data/up; exec busybox httpd -f -p 80 -h /data",
        ],
        mounts: [{ source: "db", target: "/data" }],
        readiness: [{ http: { port: 80, path: "/up" } }],
        networks: ["back"],
      },
      web: {
        image: IMAGE,
        replicas: 2,
        command: ["bash", "-c", 'echo "web says $GREETING"; exec busybox httpd -f -p 8080 -h /etc'],
        env: { GREETING: greeting },
        readiness: [{ tcp: { port: 8080 } }],
        networks: ["back"],
        dependsOn: { db: { condition: "healthy" }, seed: { condition: "completed" } },
      },
    },
    jobs: {
      seed: {
        image: IMAGE,
        placement: { node: "db" },
        command: ["bash", "-c", "date +%s%N >> /data/seed-runs; echo seeded"],
        mounts: [{ source: "db", target: "/data" }],
        networks: ["back"],
        dependsOn: { db: { condition: "healthy" } },
      },
    },
  };
}

/** The plan `diff --json` prints (its "plan" line). */
function planOf(stdout: string): { actions: { kind: string; target: string; cause?: string }[] } {
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const o = JSON.parse(line);
    if (o.type === "plan") return o.plan;
  }
  throw new Error(`no plan in:\n${stdout}`);
}

describe.skipIf(skip !== undefined)(
  `target swarm on a single-node swarm${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let swarm: TestSwarm;
    let dir: string;
    const cli = (args: string[]) =>
      runCli([...args, "--file", "stack.yaml"], { cwd: dir, env: { DOCKER_HOST: swarm.manager.host } });
    const writeSpec = (greeting: string) =>
      writeFile(path.join(dir, "stack.yaml"), JSON.stringify(specOf(greeting), null, 2));
    const services = async () =>
      JSON.parse(
        `[${(await swarm.docker(swarm.manager, ["service", "ls", "--format", "{{json .}}"])).trim().split("\n").filter(Boolean).join(",")}]`,
      ) as { Name: string; Replicas: string }[];

    beforeAll(async () => {
      swarm = await startSwarm(`s1${process.pid.toString(36)}`, 1, [IMAGE]);
      await swarm.docker(swarm.manager, ["node", "update", "--label-add", "shctl.db=true", "node-1"]);
      dir = await tempProject("shctl-swarm1-");
      await writeSpec("hello");
    }, 300_000);

    afterAll(async () => {
      await swarm?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
      expect(existsSync("/sys/class/net/docker0")).toBe(true);
    }, 300_000);

    it("applies: the job once the pinned service is ready, the spread service after both", async () => {
      const stack = await loadStack(path.join(dir, "stack.yaml"), { projectDir: dir });
      const events: ProgressEvent[] = [];
      const { plan } = await apply(stack, swarm.manager.engine, {
        onEvent: (e) => events.push(e),
      });
      expect(plan.conflicts).toEqual([]);
      const kinds = plan.actions.map((a) => a.kind);
      expect(kinds).toContain("service.create");
      expect(kinds).toContain("job.run");
      // Readiness gating: web was created only after db answered its probe and seed completed.
      const at = (resource: string, phase: string) =>
        events.findIndex((e) => e.type === "phase" && e.resource === resource && e.phase === phase);
      const dbReady = events.findIndex(
        (e) =>
          e.type === "phase" &&
          e.resource === "service db" &&
          (e.phase === "healthy" || e.phase === "running"),
      );
      const webCreating = at("service web", "creating");
      const seedDone = at("job seed", "done");
      expect(dbReady).toBeGreaterThanOrEqual(0);
      expect(seedDone).toBeGreaterThan(dbReady);
      expect(webCreating).toBeGreaterThan(seedDone);
      const up = Number((await readFile(path.join(dir, "data/db/up"), "utf8")).trim());
      const seeded = (await readFile(path.join(dir, "data/db/seed-runs"), "utf8")).trim().split("\n");
      expect(seeded).toHaveLength(1);
      expect(Number(seeded[0])).toBeGreaterThan(up);
      const svc = await services();
      expect(svc.find((s) => s.Name === `${name}_web`)?.Replicas).toBe("2/2");
    });

    it("plans nothing on a second run (diff) and runs the job no second time (apply)", async () => {
      const d = await cli(["diff", "--exit-code"]);
      expect(d.code, d.stdout).toBe(0);
      const a = await cli(["apply"]);
      expect(a.code, a.stderr).toBe(0);
      const seeded = (await readFile(path.join(dir, "data/db/seed-runs"), "utf8")).trim().split("\n");
      expect(seeded).toHaveLength(1);
    });

    it("status shows each service's tasks; logs shows a service's lines", async () => {
      const s = await cli(["status"]);
      expect(s.code, s.stderr).toBe(0);
      expect(s.stdout).toMatch(/web\s+running/);
      expect(s.stdout).toMatch(/2\/2/);
      const l = await cli(["logs", "web"]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stdout).toContain("web says hello");
    });

    it("rolls a change out with Swarm's update (same service, new tasks), and diff is empty after", async () => {
      const before = (
        await swarm.docker(swarm.manager, ["service", "inspect", `${name}_web`, "--format", "{{.ID}}"])
      ).trim();
      await writeSpec("bonjour");
      const d = await cli(["diff"]);
      expect(d.code, d.stderr).toBe(0);
      expect(d.stdout).toMatch(/web/);
      const a = await cli(["apply"]);
      expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
      const after = (
        await swarm.docker(swarm.manager, [
          "service",
          "inspect",
          `${name}_web`,
          "--format",
          "{{.ID}} {{.UpdateStatus.State}}",
        ])
      ).trim();
      expect(after).toBe(`${before} completed`);
      // web has no host port and no data of its own: the new task started beside the old one.
      const order = await swarm.docker(swarm.manager, [
        "service",
        "inspect",
        `${name}_web`,
        "--format",
        "{{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.FailureAction}}",
      ]);
      expect(order.trim()).toBe("start-first rollback");
      const l = await cli(["logs", "web", "--tail", "50"]);
      expect(l.stdout).toContain("web says bonjour");
      const again = await cli(["diff", "--exit-code"]);
      expect(again.code, again.stdout).toBe(0);
    });

    it("sees drift made by hand (a scale and an env) and puts it back", async () => {
      await swarm.docker(swarm.manager, ["service", "update", "-d", "--env-add", "HAND=1", `${name}_web`]);
      await swarm.docker(swarm.manager, ["service", "scale", "-d", `${name}_web=3`]);
      const d = await cli(["diff", "--json"]);
      const web = planOf(d.stdout).actions.filter((a) => a.target === "web");
      expect(
        web.some((a) => a.cause === "drift" || a.cause === "scale"),
        JSON.stringify(web),
      ).toBe(true);
      const a = await cli(["apply"]);
      expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
      const env = await swarm.docker(swarm.manager, [
        "service",
        "inspect",
        `${name}_web`,
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}} {{.Spec.Mode.Replicated.Replicas}}",
      ]);
      expect(env).not.toContain("HAND=1");
      expect(env.trim().endsWith(" 2")).toBe(true);
    });

    it("teardown removes services and networks and keeps the data; teardown --data removes it", async () => {
      const t = await cli(["teardown"]);
      expect(t.code, `${t.stdout}\n${t.stderr}`).toBe(0);
      expect((await services()).filter((s) => s.Name.startsWith(`${name}_`))).toEqual([]);
      const nets = await swarm.docker(swarm.manager, ["network", "ls", "--format", "{{.Name}}"]);
      expect(nets).not.toContain(`${name}_back`);
      expect(existsSync(path.join(dir, "data/db/boots"))).toBe(true);
      // A second apply after teardown finds the data and does not seed again.
      const a = await cli(["apply"]);
      expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
      const boots = (await readFile(path.join(dir, "data/db/boots"), "utf8")).trim().split("\n");
      expect(boots.length).toBeGreaterThanOrEqual(2);
      const td = await cli(["teardown", "--data", "--yes"]);
      expect(td.code, `${td.stdout}\n${td.stderr}`).toBe(0);
      expect(existsSync(path.join(dir, "data"))).toBe(false);
      expect((await services()).filter((s) => s.Name.startsWith(`${name}_`))).toEqual([]);
    });
  },
);
