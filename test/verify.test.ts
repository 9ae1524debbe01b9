import { writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, loadStack, type ResolvedStack, type VerifyEvent, verify } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  cleanup,
  containersOf,
  engine,
  runCli,
  stackName,
  startCli,
  tempProject,
  toolsImage,
} from "./helpers.js";

/*
 * `verify` and `shctl verify` on the real engine, with a small stack of our own whose checks pass
 * or break: a check that reaches a service over the stack connections and runs a command in it,
 * one that waits in vain for a file (its owner's log, which prints a secret, is shown redacted),
 * and one whose owner is stopped. Through core's verify() (events, results) and through the real
 * CLI (plain output, JSON lines, exit codes, usage errors).
 */

const SECRET = "hunter2-verify-secret-9c1";
let projectDir: string;
let stack: ResolvedStack | undefined;

const STACK_MODULE = (name: string, tools: ReturnType<typeof toolsImage>) => `
import http from "node:http";

/** GET http://front:8080/ through the check's stack connections (its HTTP agent). */
function get(ctx) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "front", port: 8080, path: "/", agent: ctx.httpAgent(), signal: ctx.signal }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
  });
}

const answers = (ctx) =>
  ctx.hop("answers", { owner: "front" }, async (h) => {
    const r = await get(ctx);
    if (r.status !== 200 || r.body.trim() !== "hello") throw new Error("unexpected answer " + r.status);
    h.detail("HTTP 200 hello");
  });

export const stack = {
  name: ${JSON.stringify(name)},
  images: { tools: ${JSON.stringify(tools)} },
  services: {
    front: {
      image: "tools",
      env: { TOKEN: { value: ${JSON.stringify(SECRET)}, secret: true } },
      command: ["sh", "-c", 'echo "front starting with token $TOKEN"; mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www'],
      readiness: [{ http: { port: 8080, path: "/" } }],
      stopGracePeriod: "1s",
    },
    gone: {
      image: "tools",
      command: ["sh", "-c", "echo gone says bye; exec sleep infinity"],
      stopGracePeriod: "1s",
    },
  },
  checks: [
    {
      name: "pass",
      description: "front answers and runs commands",
      hops: ["answers", "exec"],
      run: async (ctx) => {
        await answers(ctx);
        await ctx.hop("exec", { owner: "front" }, async (h) => {
          const r = await ctx.exec("front", ["cat", "/www/index.html"]);
          if (r.exitCode !== 0) throw new Error("exit " + r.exitCode);
          h.detail(r.output.trim());
        });
      },
    },
    {
      name: "fail",
      timeout: "3s",
      hops: ["answers", "file appears", "never reached"],
      run: async (ctx) => {
        await answers(ctx);
        await ctx.hop("file appears", { owner: "front", fix: "create /www/missing in front" }, () =>
          ctx.until(async () => {
            const r = await ctx.exec("front", ["test", "-f", "/www/missing"]);
            return r.exitCode === 0 ? { ok: true, value: true } : { ok: false, why: "no /www/missing yet" };
          }, { intervalMs: 200 }),
        );
        await ctx.hop("never reached", {}, async () => undefined);
      },
    },
    {
      name: "slow",
      timeout: "60s",
      hops: ["waits"],
      run: async (ctx) => {
        await ctx.hop("waits", { owner: "front", fix: "never shown when interrupted" }, () =>
          ctx.until(async () => ({ ok: false, why: "still waiting" }), { intervalMs: 200 }),
        );
      },
    },
    {
      name: "down",
      timeout: "20s",
      hops: ["gone runs"],
      run: async (ctx) => {
        await ctx.hop("gone runs", { owner: "gone", fix: "start gone" }, async () => {
          await ctx.exec("gone", ["true"]);
        });
      },
    },
  ],
};
`;

beforeAll(async () => {
  projectDir = await tempProject("shctl-verify-");
  const name = stackName("verify");
  await writeFile(path.join(projectDir, "stack.mjs"), STACK_MODULE(name, toolsImage()));
  await writeFile(path.join(projectDir, "nochecks.yaml"), stringify({ name: stackName("nochk") }));
  stack = await loadStack(path.join(projectDir, "stack.mjs"));
  await apply(stack, engine);
  const gone = (await containersOf(name)).gone;
  if (!gone) throw new Error("no container for gone");
  await engine.stopContainer(gone.id, 1);
});

afterAll(async () => {
  await cleanup(stack, projectDir);
});

const cli = (...args: string[]) => runCli(["verify", "-f", "stack.mjs", ...args], { cwd: projectDir });

describe("verify on the real engine", () => {
  it("runs the checks side by side: hops timed, the first broken one with its owner's state and redacted log tail", async () => {
    const events: VerifyEvent[] = [];
    const r = await verify(stack as ResolvedStack, engine, {
      only: ["pass", "fail", "down"],
      onEvent: (e) => events.push(e),
    });
    expect(r.ok).toBe(false);
    expect(r.interrupted).toBe(false);
    const byName = Object.fromEntries(r.checks.map((c) => [c.name, c]));

    expect(byName.pass?.ok).toBe(true);
    expect(byName.pass?.hops.map((h) => [h.hop, h.status, h.detail])).toEqual([
      ["answers", "ok", "HTTP 200 hello"],
      ["exec", "ok", "hello"],
    ]);

    const fail = byName.fail;
    expect(fail?.ok).toBe(false);
    expect(fail?.hops.map((h) => `${h.hop}: ${h.status}`)).toEqual([
      "answers: ok",
      "file appears: failed",
      "never reached: skipped",
    ]);
    expect(fail?.broken).toMatchObject({ owner: "front", fix: "create /www/missing in front" });
    expect(fail?.broken?.detail).toMatch(/^no \/www\/missing yet \(still so after \d+(\.\d)?s\)$/);
    expect(fail?.broken?.diagnosis).toMatchObject({ service: "front", state: "running", restarts: 0 });
    expect(fail?.broken?.diagnosis?.logTail).toContain("front starting with token (sensitive)");

    const down = byName.down;
    expect(down?.broken).toMatchObject({ hop: "gone runs", owner: "gone", fix: "start gone" });
    expect(down?.broken?.detail).toBe("service gone is not running (exited)");
    expect(down?.broken?.diagnosis).toMatchObject({ service: "gone", state: "exited" });
    expect(down?.broken?.diagnosis?.logTail).toContain("gone says bye");

    // Events: each check starts with its hops and ends with its verdict; each hop starts, then ends.
    expect(
      events
        .filter((e) => e.type === "check" && e.phase !== "running")
        .map((e) => (e.type === "check" ? `${e.name} ${e.phase}` : ""))
        .sort(),
    ).toEqual(["down failed", "fail failed", "pass passed"]);
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });
});

describe("shctl verify", () => {
  it("plain output: each hop as it ends, a table per check, the broken hops explained; exit 1", async () => {
    const r = await cli("--pipeline", "pass", "--pipeline", "fail,down");
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/ pass › answers: ok \(\d+(\.\d)?m?s\) — HTTP 200 hello/);
    expect(r.stdout).toMatch(
      / fail › file appears: failed \(.*\) — no \/www\/missing yet .* \[owner: front\]/,
    );
    expect(r.stdout).toMatch(/^pass passed in .* — front answers and runs commands$/m);
    expect(r.stdout).toMatch(/^ {2}HOP +OWNER +STATUS +TIME +DETAIL$/m);
    expect(r.stdout).toMatch(/^ {2}never reached +- +skipped +- +after "file appears" broke$/m);
    expect(r.stdout).toContain('fail: broken at "file appears", owned by front');
    expect(r.stdout).toContain("  front: state running, 0 restarts, up ");
    expect(r.stdout).toContain("    | front starting with token (sensitive)");
    expect(r.stdout).toContain("  likely fix: create /www/missing in front");
    expect(r.stdout).toContain('down: broken at "gone runs", owned by gone');
    expect(r.stdout).toMatch(/ {2}gone: state exited, 0 restarts, exit code \d+/);
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("2 of 3 checks failed.");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("--pipeline runs only the named check: all pass, exit 0", async () => {
    const r = await cli("--pipeline", "pass");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toContain("fail");
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("All 1 check passed.");
  });

  it("--json: JSON lines only (the events, then the result); comma-separated names; --timeout applies", async () => {
    const r = await cli("--json", "--pipeline", "pass,down", "--timeout", "5s");
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(new Set(lines.map((l) => l.type))).toEqual(new Set(["check", "hop", "result"]));
    const result = lines.at(-1) as { type: string; ok: boolean; checks: { name: string; ok: boolean }[] };
    expect(result).toMatchObject({ type: "result", command: "verify", ok: false, interrupted: false });
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([
      ["pass", true],
      ["down", false],
    ]);
    const failed = lines.find((l) => l.type === "hop" && l.status === "failed");
    expect(failed).toMatchObject({ check: "down", hop: "gone runs", owner: "gone", fix: "start gone" });
    expect((failed?.diagnosis as { state: string } | undefined)?.state).toBe("exited");
  });

  it("Ctrl-C stops the checks where they are: the hop in progress is interrupted (no diagnosis), exit 130", async () => {
    const run = startCli(["verify", "-f", "stack.mjs", "--pipeline", "slow"], { cwd: projectDir });
    await run.waitFor(/slow: started/);
    await new Promise((r) => setTimeout(r, 500));
    run.kill("SIGINT");
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stdout).toMatch(/ slow › waits: failed \(.*\) — interrupted/);
    expect(r.stdout).not.toContain("never shown when interrupted");
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("Interrupted: 0 of 1 check passed before it.");
  });

  it("usage errors exit 2: an unknown check, a bad timeout, a stack without checks", async () => {
    const unknown = await cli("--pipeline", "nope");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no check named "nope"');
    expect(unknown.stderr).toContain("its checks: pass, fail, slow, down");
    const badTimeout = await cli("--timeout", "soon");
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain('--timeout: "soon" is not a duration');
    const none = await runCli(["verify", "-f", "nochecks.yaml"], { cwd: projectDir });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("declares no checks");
  });
});
