import { mkdir } from "node:fs/promises";
import path from "node:path";
import { LABEL } from "@sh/core/internals";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, it } from "vitest";
import { engine, ensureToolsImage, toolsImage } from "../helpers.js";
import {
  baseline,
  cli,
  dispose,
  expectClearExit,
  expectConverges,
  expectNothingLost,
  expectServicesRunning,
  guardHostDocker0,
  idle,
  newProject,
  openGate,
  type Project,
  runBounded,
  seedJob,
  settle,
  show,
  TAG,
  timer,
  WORK,
  writeSpec,
} from "./support.js";

guardHostDocker0();

/*
 * Someone changes the stack's containers or networks by hand, with docker, while shctl works or
 * between two runs:
 *  - a container killed, or removed, while its dependents wait for it to become healthy: the
 *    apply ends at once (not at the dependents' readyTimeout) naming it, exit 1; the next converges;
 *  - the stack's network removed while the stack is stopped (what `docker network prune` does):
 *    the next apply makes it again and starts the stack;
 *  - a container disconnected from its network: `diff` shows it, the next apply reconnects it.
 */

const docker = new Docker();

/** A job that writes data, `db` (healthy once work/gate/health-go exists) and `app`, which waits for it. */
function spec(name: string) {
  return {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    jobs: { seed: seedJob(32768) },
    services: {
      db: idle({
        mounts: [WORK],
        healthcheck: { test: ["CMD", "test", "-e", "/work/gate/health-go"], interval: "1s" },
      }),
      app: idle({ dependsOn: { db: { condition: "healthy" } }, readyTimeout: "5m" }),
    },
  };
}

async function containerOf(p: Project, name: string) {
  return (await engine.listContainers([`${LABEL.stack}=${p.name}`])).find(
    (c) => c.labels[LABEL.name] === name,
  );
}

// The cases are independent (a stack each) and mostly wait: they run side by side.
const projects: Project[] = [];
afterAll(async () => {
  await Promise.all(projects.map((p) => dispose(p)));
}, 180_000);

beforeAll(() => ensureToolsImage(), 300_000);

async function setUp(tag: string): Promise<Project> {
  const p = await newProject(tag, engine);
  projects.push(p);
  await mkdir(path.join(p.dir, "data/work/gate"), { recursive: true });
  await writeSpec(p, spec(p.name));
  return p;
}

describe.concurrent("a container killed or removed by hand while its dependents wait for its health", () => {
  for (const how of ["killed", "removed"] as const) {
    it(`db ${how} (docker ${how === "killed" ? "kill" : "rm -f"}) while app waits for it: exit 1 at once naming db; the next apply converges`, async ({
      expect,
    }) => {
      const p = await setUp(`h${how.slice(0, 4)}`);
      const t = timer();
      const run = cli(p, ["apply", "--yes"]);
      await run.waitFor(/service app: waiting — for db to be healthy/);
      await run.waitFor(/job seed: done/);
      const base = await baseline(p);
      const db = await containerOf(p, "db");
      expect(db?.state).toBe("running");
      t.lap("window");
      const at = Date.now();
      if (how === "killed") await docker.getContainer(db?.id as string).kill();
      else await docker.getContainer(db?.id as string).remove({ force: true });

      // At once: app's readyTimeout is 5 minutes, db's healthcheck would never pass.
      const r = await settle(run, 30_000);
      t.lap("shctl ended");
      expectClearExit(expect, r, 1, /db/);
      expect.soft(Date.now() - at, `${TAG.clear} the apply ends soon after db is gone`).toBeLessThan(20_000);
      expect
        .soft(r.stderr, `${TAG.clear} it says db stopped or is gone:\n${show(r)}`)
        .toMatch(/db[^\n]*(exited|killed|stopped|gone|removed|disappeared|no longer|missing|137)/);

      await openGate(p, "health-go");
      await expectConverges(expect, p);
      t.lap("converged");
      await expectServicesRunning(expect, p, ["app", "db"]);
      await expectNothingLost(expect, p, base, { seed: 1 });
      t.done(`hand ${how}`);
    });
  }
});

describe.concurrent("the stack's network changed by hand", () => {
  it("network removed while the stack is stopped (docker network prune): the next apply makes it again and starts the stack", async ({
    expect,
  }) => {
    const p = await setUp("hnet");
    await openGate(p, "health-go");
    const first = await runBounded(p, ["apply", "--yes"]);
    expect(first.code, show(first)).toBe(0);
    const base = await baseline(p);

    // The stack stopped (e.g. the machine rebooted), then its network pruned.
    for (const c of await engine.listContainers([`${LABEL.stack}=${p.name}`]))
      await docker.getContainer(c.id).stop({ t: 1 });
    const nets = await engine.listNetworks([`${LABEL.stack}=${p.name}`]);
    expect(nets).toHaveLength(1);
    await docker.getNetwork(nets[0]?.id as string).remove();

    const d = await runBounded(p, ["diff", "--exit-code"]);
    expect.soft(d.code, `${TAG.required} diff shows the missing network:\n${show(d)}`).toBe(3);
    expect.soft(d.stdout, `${TAG.required} diff names the network:\n${show(d)}`).toMatch(/network default/);

    await expectConverges(expect, p);
    await expectServicesRunning(expect, p, ["app", "db"]);
    await expectNothingLost(expect, p, base, { seed: 1 });
  });

  it("a container disconnected from its network by hand: diff shows it, the next apply reconnects it", async ({
    expect,
  }) => {
    const p = await setUp("hdisc");
    await openGate(p, "health-go");
    const first = await runBounded(p, ["apply", "--yes"]);
    expect(first.code, show(first)).toBe(0);
    const base = await baseline(p);

    const app = await containerOf(p, "app");
    const nets = await engine.listNetworks([`${LABEL.stack}=${p.name}`]);
    const net = nets[0];
    expect(Object.keys(app?.networks ?? {})).toEqual([net?.name]);
    await docker.getNetwork(net?.id as string).disconnect({ Container: app?.id });

    const d = await runBounded(p, ["diff", "--exit-code"]);
    expect.soft(d.code, `${TAG.required} diff shows the disconnected container:\n${show(d)}`).toBe(3);
    expect.soft(d.stdout, `${TAG.required} diff names app:\n${show(d)}`).toMatch(/service app/);

    await expectConverges(expect, p);
    const after = await containerOf(p, "app");
    expect
      .soft(Object.keys(after?.networks ?? {}), `${TAG.converged} app is on the stack's network again`)
      .toEqual([net?.name]);
    await expectServicesRunning(expect, p, ["app", "db"]);
    await expectNothingLost(expect, p, base, { seed: 1 });
  });
});
