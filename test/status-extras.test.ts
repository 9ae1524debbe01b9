import { writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, loadStack, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASE_IMAGE, cleanup, engine, runCli, stackName, TOOLS_CONTEXT, tempProject } from "./helpers.js";

/*
 * A stack's own figures in `shctl status` (`statusExtras`, what the Sentry stack's consumer lag
 * uses): the hook reaches a running service through the stack connections by its name, its
 * figures become a column (QUEUE here) and a note for a failing one, --json carries them with
 * their data, --no-probes does not ask, and a hook that throws is a warning, not a failed status.
 */

let projectDir: string;
let stack: ResolvedStack | undefined;
const name = stackName("sextras");

const MODULE = `
import http from "node:http";
export const stack = {
  name: ${JSON.stringify(name)},
  images: { tools: { ref: "shctl-test/tools:latest", build: { context: ${JSON.stringify(TOOLS_CONTEXT)}, args: { BASE: ${JSON.stringify(BASE_IMAGE)} } } } },
  services: {
    web: {
      image: "tools",
      command: ["sh", "-c", "mkdir -p /www && echo 7 > /www/n && exec httpd -f -p 8080 -h /www"],
      stopGracePeriod: "1s",
    },
    idle: { image: "tools", command: ["sleep", "infinity"], stopGracePeriod: "1s" },
  },
  statusExtras: async (ctx) => {
    if (process.env.EXTRAS_FAIL) throw new Error("the broker is away");
    const body = await new Promise((resolve, reject) => {
      http.get({ host: "web", port: 8080, path: "/n", agent: ctx.httpAgent(), signal: ctx.signal }, (res) => {
        let text = "";
        res.on("data", (d) => { text += d; });
        res.on("end", () => resolve(text.trim()));
      }).on("error", reject);
    });
    return {
      web: { queue: { text: body, state: "ok", data: { n: Number(body), state: ctx.services.web.state } } },
      idle: { queue: { text: "9 stuck", state: "failure", detail: "nothing moved in 2.5s" } },
    };
  },
};
`;

beforeAll(async () => {
  projectDir = await tempProject("shctl-status-extras-");
  await writeFile(path.join(projectDir, "stack.mjs"), MODULE);
  stack = await loadStack(path.join(projectDir, "stack.mjs"));
  await apply(stack, engine);
});

afterAll(async () => {
  await cleanup(stack, projectDir);
});

const status = (args: string[] = [], env: Record<string, string> = {}) =>
  runCli(["status", "-f", "stack.mjs", ...args], { cwd: projectDir, env });

describe("a stack's own figures in status", () => {
  it("become a column, with a note for the failing one", async () => {
    const r = await status();
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^SERVICE +STATE +HEALTH +RESTARTS +UPTIME +QUEUE$/);
    expect(lines.find((l) => l.startsWith("web "))).toMatch(/ 7$/);
    expect(lines.find((l) => l.startsWith("idle "))).toMatch(/ 9 stuck$/);
    expect(r.stdout).toContain("idle: queue: nothing moved in 2.5s");
  });

  it("--json carries them with their data; --no-probes does not ask", async () => {
    const r = await status(["--json"]);
    const result = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
      services: { name: string; extras?: Record<string, unknown> }[];
    };
    const web = result.services.find((s) => s.name === "web");
    expect(web?.extras).toEqual({ queue: { text: "7", state: "ok", data: { n: 7, state: "running" } } });
    const fast = await status(["--no-probes"]);
    expect(fast.stdout.split("\n")[0]).toMatch(/UPTIME$/);
  });

  it("a hook that throws is a warning on stderr (and in --json), and status still exits 0", async () => {
    const r = await status([], { EXTRAS_FAIL: "1" });
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/UPTIME$/);
    expect(r.stderr).toContain("warning: the stack's figures (statusExtras): the broker is away");
    const j = await status(["--json"], { EXTRAS_FAIL: "1" });
    expect(JSON.parse(j.stdout.trim().split("\n").at(-1) ?? "{}").warnings).toEqual([
      "the stack's figures (statusExtras): the broker is away",
    ]);
  });
});
