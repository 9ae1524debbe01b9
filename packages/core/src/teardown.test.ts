import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EngineUnreachableError, StepFailedError } from "./errors.js";
import { execute } from "./execute/index.js";
import { observe } from "./observe.js";
import { plan } from "./plan/index.js";
import { teardownStack } from "./teardown.js";
import { FakeEngine } from "./testing/fake-engine.js";
import { validateStack } from "./validate.js";

/* Teardown against the in-memory engine: what a failure says when the engine went away, or not. */

let dir: string;
let engine: FakeEngine;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shctl-teardown-"));
  engine = new FakeEngine();
  engine.addImage("app:1");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function applied() {
  const stack = validateStack(
    { name: "s", dataRoot: "data", services: { a: { image: "app:1" }, b: { image: "app:1" } } },
    { label: "t", projectDir: dir, profile: undefined, env: {} },
  );
  await execute(plan(stack, await observe(engine, stack)), stack, engine);
  return stack;
}

describe("teardownStack: a failure", () => {
  it("says the engine went away during teardown, what it cut short and what to run, when it no longer answers", async () => {
    const stack = await applied();
    engine.inject("container.stop", { kind: "drop" }, { times: 2 });
    engine.inject("version", { kind: "fail", code: "ECONNREFUSED" }, { times: 10 });
    const err = await teardownStack(stack, engine).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnreachableError);
    const e = err as EngineUnreachableError;
    expect(e.message).toMatch(/it went away during shctl teardown$/);
    expect(e.details[0]).toMatch(/^cut short: service [ab] \(remove\), service [ab] \(remove\)$/);
    expect(e.hint).toMatch(/then run `shctl teardown`/);
  });

  it("is said as it is when the engine still answers", async () => {
    const stack = await applied();
    engine.inject("container.stop", { kind: "fail", status: 500, message: "boom" }, { times: 2 });
    const err = await teardownStack(stack, engine).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as Error).message).toMatch(/2 resource\(s\) could not be removed/);
  });
});
