import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { execute } from "./execute/index.js";
import { observe } from "./observe.js";
import { plan } from "./plan/index.js";
import { FakeEngine } from "./testing/fake-engine.js";
import { validateStack } from "./validate.js";

/*
 * An image that only other images are built from (`needs`), and that no service or job runs
 * itself (a product's upstream images), is observed like the others: once it is there, apply neither
 * pulls it again nor rebuilds what is built from it.
 */

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shctl-needs-"));
  await mkdir(path.join(dir, "app"));
  await writeFile(path.join(dir, "app", "Dockerfile"), "ARG BASE\nFROM $BASE\n");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("an image only built from is observed: a present one is not pulled, and a second apply does nothing", async () => {
  const engine = new FakeEngine();
  engine.addImage("upstream:1");
  const stack = validateStack(
    {
      name: "s",
      dataRoot: "data",
      images: {
        upstream: { ref: "upstream:1" },
        app: { ref: "app:1", build: { context: "app", args: { BASE: "upstream:1" } }, needs: ["upstream"] },
      },
      services: { web: { image: "app" } },
    },
    { label: "t", projectDir: dir, profile: undefined, env: {} },
  );
  const first = plan(stack, await observe(engine, stack));
  expect(first.actions.map((a) => a.id)).toEqual([
    "network.create:default",
    "image.build:app",
    "container.create:web",
  ]);
  await execute(first, stack, engine, { wait: false });
  const second = plan(stack, await observe(engine, stack));
  expect(second.actions.map((a) => a.id)).toEqual([]);
});
