import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  cleanup,
  containersOf,
  engine,
  load,
  recorder,
  stackName,
  tempProject,
  toolsImage,
} from "./helpers.js";

/*
 * A job that (re)writes a config file, and a service that reads it: when the job runs again the
 * service is recreated in the same apply if, and only if, the file came out different.
 */

let projectDir: string;
let stack: ResolvedStack | undefined;
const name = stackName("outputs");
beforeAll(async () => {
  projectDir = await tempProject();
});
afterAll(async () => {
  await cleanup(stack, projectDir);
});

function spec(version: string, content: string) {
  return {
    name,
    images: { tools: toolsImage() },
    jobs: {
      render: {
        version,
        run: async (ctx: { dataRoot: string }) => {
          await writeFile(path.join(ctx.dataRoot, "config/app.conf"), content);
        },
        dependsOn: ["prepare"],
        outputs: [{ path: "config/app.conf" }],
      },
      // Creates the config dir (a function job runs on the host; the mount creates the dir).
      prepare: {
        image: "tools",
        command: ["true"],
        mounts: [{ source: "config", target: "/config" }],
      },
    },
    services: {
      app: {
        image: "tools",
        command: ["sleep", "infinity"],
        mounts: [{ source: "config", target: "/config", readOnly: true }],
        inputs: [{ path: "config/app.conf" }],
        dependsOn: { render: { condition: "completed" } },
        stopGracePeriod: "1s",
      },
    },
  };
}

async function applyWith(version: string, content: string) {
  stack = await load(spec(version, content) as never, projectDir);
  const rec = recorder();
  const r = await apply(stack, engine, { onEvent: rec.onEvent });
  return { plan: r.plan, events: rec.events };
}

it("recreates the reader in the same apply only when the job's output changed", async () => {
  await applyWith("1", "colour = blue\n");
  const first = (await containersOf(name)).app;
  expect(first?.state).toBe("running");

  // The job runs again and writes the same bytes: the planned recreate is skipped.
  const same = await applyWith("2", "colour = blue\n");
  expect(same.plan.actions.map((a) => a.id)).toEqual(["job.run:render", "container.recreate:app"]);
  expect(same.plan.actions[1]).toMatchObject({ cause: "inputs", writers: ["render"], onlyIfChanged: true });
  expect((await containersOf(name)).app?.id).toBe(first?.id);
  expect(same.events).toContainEqual(
    expect.objectContaining({ type: "phase", resource: "service app", phase: "unchanged" }),
  );

  // The job writes something else: the reader is a new container that sees the new file.
  await applyWith("3", "colour = green\n");
  const third = (await containersOf(name)).app;
  expect(third?.id).not.toBe(first?.id);
  expect(third?.state).toBe("running");
  expect(await readFile(path.join(projectDir, "data/config/app.conf"), "utf8")).toBe("colour = green\n");

  // And the next apply has nothing left to do (one apply converged).
  const again = await applyWith("3", "colour = green\n");
  expect(again.plan.actions).toEqual([]);
});
