import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { apply } from "./api.js";
import { InterruptedError } from "./errors.js";
import type { ProgressEvent } from "./events.js";
import { FakeEngine } from "./testing/fake-engine.js";
import { validateStack } from "./validate.js";

/* apply loads the executor only when its plan has something to do or wait for. */

/** While `forbid` is set, calling the executor fails the test's apply. */
const guard = vi.hoisted(() => ({ forbid: false }));
vi.mock("./execute/index.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./execute/index.js")>();
  return {
    ...actual,
    execute: (...args: Parameters<typeof actual.execute>) =>
      guard.forbid ? Promise.reject(new Error("the executor was loaded")) : actual.execute(...args),
  };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shctl-api-"));
  guard.forbid = false;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const stack = (services: Record<string, { image: string }>) =>
  validateStack(
    { name: "s", dataRoot: "data", services },
    { label: "t", projectDir: dir, profile: undefined, env: {} },
  );

it("a plan with nothing to do ends with the executor's outcome event, without loading the executor", async () => {
  const engine = new FakeEngine();
  engine.addImage("app:1");
  const s = stack({ app: { image: "app:1" } });
  await apply(s, engine);
  guard.forbid = true;
  engine.resetCalls();
  const events: ProgressEvent[] = [];
  const { plan, result } = await apply(s, engine, { onEvent: (e) => events.push(e) });
  expect(plan.actions).toEqual([]);
  expect(result).toMatchObject({ done: [], skipped: [] });
  expect(events.at(-1)).toEqual({ type: "outcome", done: [], notDone: [], notReady: [] });
  expect(engine.calls.mutating).toBe(0);
});

it("an apply interrupted before it gets there still ends as interrupted, as the executor would end it", async () => {
  const engine = new FakeEngine();
  engine.addImage("app:1");
  const s = stack({ app: { image: "app:1" } });
  await apply(s, engine);
  const controller = new AbortController();
  controller.abort();
  await expect(apply(s, engine, { signal: controller.signal })).rejects.toBeInstanceOf(InterruptedError);
});

it("a plan with actions goes to the executor", async () => {
  const engine = new FakeEngine();
  engine.addImage("app:1");
  guard.forbid = true;
  await expect(apply(stack({ app: { image: "app:1" } }), engine)).rejects.toThrow("the executor was loaded");
});
