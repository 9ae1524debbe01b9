import { afterAll } from "vitest";
import { removeLeftovers } from "./helpers.js";

/*
 * Run after each integration test file (vitest setupFiles; its afterAll runs after the file's
 * own): whatever the file's stacks still have on the engine is removed, and said, so leftovers
 * do not add up run after run until the engine has no address pool for a new network.
 */
afterAll(async () => {
  const removed = await removeLeftovers();
  if (removed.length > 0)
    process.stderr.write(`test clean-up: removed what this file's tests left: ${removed.join(", ")}\n`);
}, 120_000);
