import { writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, loadStack, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { cleanup, engine, idle, runCli, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * `shctl status` runs the readiness probes of running services once, so that services with no
 * Docker healthcheck still say whether they answer, and explains each probe that fails.
 */

let projectDir: string;
let stack: ResolvedStack | undefined;
const TOKEN = "tok-3f9a-very-secret";

beforeAll(async () => {
  projectDir = await tempProject("shctl-status-");
  const input = {
    name: stackName("status"),
    images: { tools: toolsImage() },
    services: {
      web: idle({
        command: ["sh", "-c", "mkdir -p /www && echo ok > /www/ok && exec httpd -f -p 8080 -h /www"],
        readiness: [{ http: { port: 8080, path: "/ok", expectBody: "ok" } }],
        stopGracePeriod: "1s",
      }),
      deaf: idle({ readiness: [{ tcp: { port: 6553 } }], stopGracePeriod: "1s" }),
      leaky: idle({
        env: { TOKEN: { value: TOKEN, secret: true } },
        readiness: [{ exec: ["sh", "-c", 'echo "token is $TOKEN"; exit 3'] }],
        stopGracePeriod: "1s",
      }),
      plain: idle({ stopGracePeriod: "1s" }),
      slow: idle({ readiness: [{ exec: ["sleep", "60"] }], stopGracePeriod: "1s" }),
    },
  };
  await writeFile(path.join(projectDir, "stack.yaml"), stringify(input));
  stack = await loadStack(path.join(projectDir, "stack.yaml"));
  // Not waiting: two of the services are never ready.
  await apply(stack, engine, { wait: false });
});

afterAll(async () => {
  await cleanup(stack, projectDir);
});

describe("shctl status", () => {
  it("shows ready / not ready from the probes, with why, secrets redacted", async () => {
    const r = await runCli(["status", "-f", "stack.yaml"], { cwd: projectDir });
    expect(r.code, r.stderr).toBe(0);
    const line = (svc: string) => r.stdout.split("\n").find((l) => l.startsWith(`${svc} `)) ?? "";
    expect(line("web")).toMatch(/^web +running +ready /);
    expect(line("deaf")).toMatch(/^deaf +running +not ready /);
    expect(line("leaky")).toMatch(/^leaky +running +not ready /);
    expect(line("plain")).toMatch(/^plain +running +- /);
    expect(r.stdout).toMatch(/deaf: not ready: tcp :6553: .*6553/);
    expect(r.stdout).toContain("leaky: not ready: exec sh -c");
    expect(r.stdout).toContain("exit 3: token is (sensitive)");
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it("gives up on a probe that does not answer within 5s, and exits then", async () => {
    const t0 = Date.now();
    const r = await runCli(["status", "-f", "stack.yaml"], { cwd: projectDir });
    const took = Date.now() - t0;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^slow +running +not ready /m);
    expect(r.stdout).toContain("slow: not ready: no answer within 5.0s");
    // The probe's exec (sleep 60) is abandoned: the process does not wait for it.
    expect(took).toBeLessThan(15_000);
  });

  it("--json carries ready and readyDetail; --no-probes runs none", async () => {
    const j = await runCli(["status", "-f", "stack.yaml", "--json"], { cwd: projectDir });
    expect(j.code, j.stderr).toBe(0);
    const result = JSON.parse(j.stdout.trim().split("\n").at(-1) ?? "{}") as {
      services: { name: string; ready: boolean | null; readyDetail?: string }[];
    };
    const by = Object.fromEntries(result.services.map((s) => [s.name, s]));
    expect(by.web?.ready).toBe(true);
    expect(by.deaf?.ready).toBe(false);
    expect(by.deaf?.readyDetail).toContain("tcp :6553");
    expect(by.plain?.ready).toBeUndefined();
    expect(j.stdout).not.toContain(TOKEN);

    const quick = await runCli(["status", "-f", "stack.yaml", "--no-probes"], { cwd: projectDir });
    expect(quick.code, quick.stderr).toBe(0);
    expect(quick.stdout).toMatch(/^deaf +running +- /m);
    expect(quick.stdout).toMatch(/^web +running +- /m);
    expect(quick.stdout).not.toContain("not ready");
  });
});
