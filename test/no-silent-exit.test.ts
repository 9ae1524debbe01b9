import { cp } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { cleanup, REPO, runCli, stackName, tempProject } from "./helpers.js";

/*
 * Was a bug (silent exit 13): a job waiting on something that never answers, with nothing else
 * keeping Node's event loop alive (its timeout was an unref'd AbortSignal.timeout), ended the CLI
 * with Node's "unsettled top-level await" exit code 13 and nothing on stderr.
 */

let dir: string;
const name = stackName("hang");

beforeAll(async () => {
  dir = await tempProject("shctl-hang-");
  await cp(path.join(REPO, "test/fixtures/hang/stack.mjs"), path.join(dir, "stack.mjs"));
});
afterAll(async () => {
  await cleanup(undefined, dir);
});

it("a job that never settles ends at its timeout with a clear error and exit 1, never silently", async () => {
  const r = await runCli(["apply", "-f", "stack.mjs"], { cwd: dir, env: { HANG_STACK_NAME: name } });
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr).toMatch(/job hang: run failed: still running after 2\.0s; stopped/);
  expect(r.stderr).toContain("raise jobs.hang.timeout");
}, 60_000);
