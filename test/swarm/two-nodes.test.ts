import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, tempProject } from "../helpers.js";
import { desiredTasks, startSwarm, swarmSkipReason, type TestNode, type TestSwarm } from "./engines.js";

/*
 * A two-node swarm on this machine: two engines the test starts itself, each in its own network
 * namespace, joined by a veth link; node-2 joins node-1 as a worker and takes the `db` role. A
 * stack with a stateful service pinned there and a service spread over both: apply; node-2
 * drained (the spread tasks move to node-1, the pinned one waits, and status says so); node-2's
 * engine killed (SIGKILL) and started again (the pinned data is intact); teardown --data.
 */

const skip = swarmSkipReason();
if (skip) console.warn(`test/swarm/two-nodes.test.ts skipped: ${skip}`);

const IMAGE = "shctl-test/tools:latest";
const name = `it-sw2-${process.pid.toString(36)}`;

const spec = {
  name,
  target: "swarm",
  dataRoot: "./data",
  networks: { back: {} },
  services: {
    db: {
      image: IMAGE,
      placement: { node: "db" },
      // Swarm replaces a task that ends (a drained or lost node's) only with a restart policy.
      restart: "unless-stopped",
      // Counts its boots; makes its value once and keeps it.
      command: [
        "bash",
        "-c",
        "hostname >> /data/boots; [ -s /data/value ] || { echo $RANDOM$RANDOM > /data/value; sync; }; exec busybox httpd -f -p 80 -h /data",
      ],
      mounts: [{ source: "db", target: "/data" }],
      readiness: [{ http: { port: 80, path: "/value" } }],
      networks: ["back"],
    },
    web: {
      image: IMAGE,
      replicas: 4,
      restart: "unless-stopped",
      command: ["busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"],
      readiness: [{ tcp: { port: 8080 } }],
      networks: ["back"],
      dependsOn: { db: { condition: "healthy" } },
    },
  },
};

/** What the swarm looks like, for a failure's message (set once the swarm runs). */
let diagnose: () => Promise<string> = async () => "";

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ""}\n${await diagnose()}`,
      );
    await sleep(1000);
  }
}

describe.skipIf(skip !== undefined)(`target swarm on two nodes${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let swarm: TestSwarm;
  let worker: TestNode;
  let dir: string;
  let value: string;
  const cli = (args: string[]) =>
    runCli([...args, "--file", "stack.yaml"], { cwd: dir, env: { DOCKER_HOST: swarm.manager.host } });
  /** Running tasks of a service: the node of each. */
  const runningOn = async (service: string) =>
    (await desiredTasks(swarm, `${name}_${service}`, "{{.Node}} {{.CurrentState}}"))
      .filter((l) => / Running /.test(l))
      .map((l) => l.split(" ")[0] as string);

  beforeAll(async () => {
    swarm = await startSwarm(`s2${process.pid.toString(36)}`, 2, [IMAGE]);
    worker = swarm.nodes[1] as TestNode;
    diagnose = async () => {
      const out: string[] = [];
      for (const args of [
        ["node", "ls"],
        ["service", "ps", "--no-trunc", `${name}_db`, `${name}_web`],
      ])
        out.push(await swarm.docker(swarm.manager, args).catch((e) => String(e)));
      return out.join("\n");
    };
    await swarm.docker(swarm.manager, ["node", "update", "--label-add", "shctl.db=true", "node-2"]);
    dir = await tempProject("shctl-swarm2-");
    await writeFile(path.join(dir, "stack.yaml"), JSON.stringify(spec, null, 2));
  }, 300_000);

  afterAll(async () => {
    await swarm?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    expect(existsSync("/sys/class/net/docker0")).toBe(true);
  }, 300_000);

  it("applies: the pinned service on the worker that takes its role, the spread one on both nodes", async () => {
    const a = await cli(["apply"]);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    expect(await runningOn("db")).toEqual(["node-2"]);
    const web = await runningOn("web");
    expect(web).toHaveLength(4);
    expect(new Set(web)).toEqual(new Set(["node-1", "node-2"]));
    value = (await readFile(path.join(dir, "data/db/value"), "utf8")).trim();
    expect(value).toMatch(/^\d+$/);
    const state = JSON.parse(
      await readFile(path.join(dir, "data/.shctl/swarm.json"), "utf8").catch(() => "{}"),
    );
    if (state.nodeDirs)
      expect(Object.values(state.nodeDirs).map((d) => (d as { nodeName: string }).nodeName)).toEqual([
        "node-2",
      ]);
    const d = await cli(["diff", "--exit-code"]);
    expect(d.code, d.stdout).toBe(0);
  });

  it("a drained worker: the spread tasks move to the manager, the pinned one waits and status says why", async () => {
    await swarm.docker(swarm.manager, ["node", "update", "--availability", "drain", "node-2"]);
    await until("web's 4 tasks on node-1", 60_000, async () => {
      const web = await runningOn("web");
      return web.length === 4 && web.every((n) => n === "node-1") ? web : undefined;
    });
    await until("db stopped", 60_000, async () => ((await runningOn("db")).length === 0 ? true : undefined));
    const s = await until("status naming db's waiting task", 60_000, async () => {
      const r = await cli(["status"]);
      return r.code === 0 && /db: task/.test(r.stdout) ? r.stdout : undefined;
    });
    expect(s).toMatch(/db +(pending|starting|degraded) +0\/1/);
    expect(s).toMatch(/db: task .*waiting for a node/);
    expect(s).toMatch(/web +running +4\/4/);
    await swarm.docker(swarm.manager, ["node", "update", "--availability", "active", "node-2"]);
    await until("db back on node-2", 120_000, async () => {
      const db = await runningOn("db");
      return db.length === 1 && db[0] === "node-2" ? db : undefined;
    });
  });

  it("the worker's engine killed (SIGKILL) and started again: the pinned service comes back with its data", async () => {
    await swarm.stop(worker, "SIGKILL");
    await until("node-2 down on the manager", 120_000, async () => {
      const ls = await swarm.docker(swarm.manager, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]);
      return /node-2 Down/.test(ls) ? true : undefined;
    });
    await swarm.start(worker);
    await until("db running on node-2 again", 180_000, async () => {
      const db = await runningOn("db");
      return db.length === 1 && db[0] === "node-2" ? db : undefined;
    });
    await until("web 4/4", 120_000, async () => ((await runningOn("web")).length === 4 ? true : undefined));
    expect((await readFile(path.join(dir, "data/db/value"), "utf8")).trim()).toBe(value);
    const boots = (await readFile(path.join(dir, "data/db/boots"), "utf8")).trim().split("\n");
    expect(boots.length).toBeGreaterThanOrEqual(3); // apply, after the drain, after the kill
    const s = await cli(["status"]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/db +running +1\/1/);
    const d = await cli(["diff", "--exit-code"]);
    expect(d.code, d.stdout).toBe(0);
  });

  it("teardown --data removes the services and the data on the worker (through shctl's helper there)", async () => {
    const t = await cli(["teardown", "--data", "--yes"]);
    expect(t.code, `${t.stdout}\n${t.stderr}`).toBe(0);
    expect(t.stdout).toMatch(/Removed 2 services/);
    expect(existsSync(path.join(dir, "data"))).toBe(false);
    const left = await swarm.docker(swarm.manager, ["service", "ls", "--format", "{{.Name}}"]);
    expect(left.split("\n").filter((n) => n.startsWith(`${name}_`))).toEqual([]);
  });
});
