import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { LABEL } from "@sh/core/internals";
import { afterEach, describe, expect, it } from "vitest";
import { engine, stackName, tempProject } from "./helpers.js";
import { onTty } from "./tty.js";

/*
 * `shctl apply` on a terminal asks for Sentry's first admin user before the first install. The CLI
 * runs under `script`, which gives it a real pseudo-terminal. Sentry's images cannot be pulled, so
 * every run points the registry mirror at a closed local port: the apply prints its plan, then
 * fails at the first pull, fast, on any machine (with or without a registry).
 */

const PASSWORD = "pw-9f3c1e7a";
const MIRROR = "127.0.0.1:9/shctl-test";

/** `shctl apply` on a real pseudo-terminal (see tty.ts); `type` ends each line with Enter. */
function applyOnTty(cwd: string, stack: string, args: string[] = []) {
  const run = onTty(["apply", ...args], {
    cwd,
    env: { TERM: "dumb", SHCTL_STACK_NAME: stack, SHCTL_REGISTRY_MIRROR: MIRROR },
  });
  return {
    output: run.output,
    waitFor: run.waitFor,
    type: (line: string) => run.type(`${line}\r`),
    done: run.done.then((r) => r.code),
  };
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function project(): Promise<{ dir: string; stack: string }> {
  const dir = await tempProject("shctl-prompt-");
  const stack = stackName("prompt");
  cleanups.push(async () => {
    for (const n of await engine.listNetworks([`${LABEL.stack}=${stack}`])) await engine.removeNetwork(n.id);
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, stack };
}

describe("apply asks for the first admin user on a terminal", () => {
  it("asks email and password (never echoed), then plans the admin-user job", async () => {
    const { dir, stack } = await project();
    const run = applyOnTty(dir, stack);
    await run.waitFor(/Email of Sentry's first admin user/);
    run.type("admin@example.com");
    await run.waitFor(/Password for that user: /);
    run.type(PASSWORD);
    await run.waitFor(/Again, to confirm: /);
    run.type("something else");
    await run.waitFor(/They differ/);
    await run.waitFor(/They differ[\s\S]*Password for that user: /);
    run.type(PASSWORD);
    await run.waitFor(/They differ[\s\S]*Again, to confirm: /);
    run.type(PASSWORD);
    const code = await run.done;
    const out = run.output();
    expect(out).toMatch(/> job admin-user\s+run/);
    expect(out).toContain("admin@example.com");
    expect(out).not.toContain(PASSWORD);
    // The pull from the closed mirror fails: the apply stops there, exit 1.
    expect(out).toMatch(/pull failed/);
    expect(code).toBe(1);
  });

  it("an empty email skips the admin user", async () => {
    const { dir, stack } = await project();
    const run = applyOnTty(dir, stack);
    await run.waitFor(/Email of Sentry's first admin user/);
    run.type("");
    expect(await run.done).toBe(1);
    expect(run.output()).not.toMatch(/Password for that user/);
    expect(run.output()).not.toMatch(/job admin-user/);
    expect(run.output()).toMatch(/> job sentry-upgrade\s+run/);
  });

  it("asks nothing once Sentry is installed, nor with --yes", async () => {
    const { dir, stack } = await project();
    await mkdir(path.join(dir, "sentrydata/.shctl"), { recursive: true });
    const completedAt = new Date().toISOString();
    await writeFile(
      path.join(dir, "sentrydata/.shctl/state.json"),
      JSON.stringify({ jobs: { "sentry-upgrade": { key: "k", completedAt } } }),
    );
    const installed = applyOnTty(dir, stack);
    expect(await installed.done).toBe(1);
    expect(installed.output()).toMatch(/pull failed/);
    expect(installed.output()).not.toMatch(/first admin user/);

    const fresh = await project();
    const yes = applyOnTty(fresh.dir, fresh.stack, ["--yes"]);
    expect(await yes.done).toBe(1);
    expect(yes.output()).toMatch(/pull failed/);
    expect(yes.output()).not.toMatch(/first admin user/);
  });
});
