import { writeFile } from "node:fs/promises";
import path from "node:path";
import { LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  containersOf,
  engine,
  idle,
  runCli,
  stackName,
  tempProject,
  toolsImage,
} from "./helpers.js";

/*
 * Was a bug: a second directory whose stack file names the same stack planned to remove the first
 * project's services and network (its lock lives in its own data root, so nothing stopped it).
 * A project is its data root: containers and networks carry it, and another project's are a
 * conflict to show and refuse, never something to remove.
 */

const name = stackName("twin");
let first: string;
let second: string;

const spec = (svc: string) =>
  JSON.stringify({
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    services: { [svc]: idle({ stopGracePeriod: "1s" }) },
  });

beforeAll(async () => {
  first = await tempProject("shctl-twin-a-");
  second = await tempProject("shctl-twin-b-");
  await writeFile(path.join(first, "stack.json"), spec("web"));
  await writeFile(path.join(second, "stack.json"), spec("api"));
  const r = await runCli(["apply", "-f", "stack.json"], { cwd: first });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await runCli(["teardown", "-f", "stack.json"], { cwd: first });
  await cleanup(undefined, first);
  await cleanup(undefined, second);
});

describe("two projects whose stacks have the same name", () => {
  it("labels the first project's containers and network with its data root", async () => {
    const [c] = await engine.listContainers([`${LABEL.stack}=${name}`]);
    expect(c?.labels[LABEL.project]).toBe(path.join(first, "data"));
    const [n] = await engine.listNetworks([`${LABEL.stack}=${name}`]);
    expect(n?.labels[LABEL.project]).toBe(path.join(first, "data"));
  });

  it("the second's diff shows a conflict naming the other project, and removes nothing", async () => {
    const r = await runCli(["diff", "-f", "stack.json"], { cwd: second });
    expect(r.stdout).toContain(
      `stack ${name}: a stack of the same name from another project (data root ${path.join(first, "data")})`,
    );
    expect(r.stdout).not.toMatch(/remove/);
  });

  it("the second's apply refuses and changes nothing; its teardown leaves the first alone", async () => {
    const before = await containersOf(name);
    const r = await runCli(["apply", "-f", "stack.json"], { cwd: second });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toContain("give this stack another `name`");
    expect(await containersOf(name)).toEqual(before);
    const t = await runCli(["teardown", "-f", "stack.json"], { cwd: second });
    expect(t.code, t.stderr).toBe(0);
    expect(await containersOf(name)).toEqual(before);
    expect((await engine.listNetworks([`${LABEL.stack}=${name}`])).length).toBe(1);
  });
});
