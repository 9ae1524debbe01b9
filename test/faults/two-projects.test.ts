import { realpathSync } from "node:fs";
import { LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engine, ensureToolsImage, stackName, tempProject, toolsImage } from "../helpers.js";
import {
  baseline,
  dataDir,
  dispose,
  expectNothingLost,
  guardHostDocker0,
  idle,
  type Project,
  runBounded,
  seedJob,
  show,
  TAG,
  WORK,
  writeSpec,
} from "./support.js";

guardHostDocker0();

/*
 * Two projects in two directories give their stacks the same name. Today the second plans to
 * remove the first's services (they carry the same stack label) and its teardown removes them.
 * REQUIRED: the second's `diff` shows a conflict naming the other project (its data root), its
 * `apply` refuses with exit 1 and changes nothing, and its `teardown` never touches the first's
 * containers or networks.
 */

function specA(name: string) {
  return {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    jobs: { seed: seedJob(8192) },
    services: { api: idle({ mounts: [WORK] }), worker: idle() },
  };
}

/** The other project's stack: same name, other services. */
function specB(name: string) {
  return { name, dataRoot: "./data", images: { tools: toolsImage() }, services: { web: idle() } };
}

async function snapshot(name: string) {
  const containers = (await engine.listContainers([`${LABEL.stack}=${name}`]))
    .map((c) => `${c.labels[LABEL.name]} ${c.id} ${c.state}`)
    .sort();
  const networks = (await engine.listNetworks([`${LABEL.stack}=${name}`])).map((n) => n.id).sort();
  return { containers, networks };
}

describe("two projects with the same stack name", () => {
  const name = stackName("twin");
  let a: Project | undefined;
  let b: Project | undefined;
  beforeAll(async () => {
    await ensureToolsImage();
    a = { name, dir: await tempProject("shctl-fault-a-"), env: {}, engine };
    b = { name, dir: await tempProject("shctl-fault-b-"), env: {}, engine };
  }, 300_000);
  afterAll(async () => {
    // Only A's stack exists (B must not have made anything): tear it down from A.
    await dispose(a);
    if (b)
      await import("node:fs/promises").then((fs) =>
        fs.rm((b as Project).dir, { recursive: true, force: true }),
      );
  }, 120_000);

  it("the second's diff shows a conflict naming the first, its apply refuses (exit 1) and changes nothing, its teardown leaves the first's resources", async () => {
    const pa = a as Project;
    const pb = b as Project;
    await writeSpec(pa, specA(name));
    const first = await runBounded(pa, ["apply", "--yes"]);
    expect(first.code, show(first)).toBe(0);
    const base = await baseline(pa);
    const before = await snapshot(name);
    expect(before.containers).toHaveLength(2);
    const rootA = realpathSync(dataDir(pa));

    await writeSpec(pb, specB(name));
    const d = await runBounded(pb, ["diff", "--exit-code"]);
    expect.soft(d.code, `${TAG.required} B's diff reports a conflict (exit 3):\n${show(d)}`).toBe(3);
    expect.soft(d.stdout, `${TAG.required} B's diff names A's data root:\n${show(d)}`).toContain(rootA);
    expect
      .soft(d.stdout, `${TAG.required} B's diff does not plan to remove A's services:\n${show(d)}`)
      .not.toMatch(/- service (api|worker)/);
    const dj = await runBounded(pb, ["diff", "--json"]);
    const plan = dj.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; plan?: { conflicts: { kind: string; owner?: string }[] } })
      .find((e) => e.type === "plan")?.plan;
    expect
      .soft(
        plan?.conflicts.map((c) => c.kind),
        `${TAG.required} B's plan has a stack-owned-elsewhere conflict`,
      )
      .toContain("stack-owned-elsewhere");

    const r = await runBounded(pb, ["apply", "--yes"]);
    expect.soft(r.code, `${TAG.required} B's apply refuses:\n${show(r)}`).toBe(1);
    expect.soft(r.stderr, `${TAG.required} B's apply says why:\n${show(r)}`).toMatch(/conflict/);
    expect
      .soft(await snapshot(name), `${TAG.required} B's apply left A's containers and networks as they were`)
      .toEqual(before);

    const t = await runBounded(pb, ["teardown"]);
    expect
      .soft(t.code, `${TAG.clear} B's teardown ends with 0 or 1, never silently:\n${show(t)}`)
      .not.toBe(13);
    expect.soft(t.stdout + t.stderr, `${TAG.clear} B's teardown says something`).toMatch(/\S/);
    expect
      .soft(await snapshot(name), `${TAG.required} B's teardown left A's containers and networks`)
      .toEqual(before);

    // A is untouched: its own diff has nothing to do, its data and job records are kept.
    const da = await runBounded(pa, ["diff", "--exit-code"]);
    expect.soft(da.code, `${TAG.converged} A still matches its spec:\n${show(da)}`).toBe(0);
    await expectNothingLost(expect, pa, base, { seed: 1 });
  }, 180_000);
});
