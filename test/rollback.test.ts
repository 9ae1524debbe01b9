import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, containersOf, idle, runCli, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * Was a bug: changing a healthy service into one that never becomes ready stopped the old
 * container first; after readyTimeout the service was simply gone. The old container now stays
 * until the new one is ready, and comes back when it is not.
 */

const serve = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www";

for (const order of ["start-first", "stop-first"] as const) {
  describe(`a failed recreate (${order})`, () => {
    const name = stackName(`rb${order === "start-first" ? "a" : "b"}`);
    let dir: string;
    const spec = (command: string) =>
      JSON.stringify({
        name,
        dataRoot: "./data",
        images: { tools: toolsImage() },
        services: {
          web: idle({
            command: ["sh", "-c", command],
            readiness: [{ tcp: { port: 8080 } }],
            readyTimeout: "5s",
            stopGracePeriod: "1s",
            // A data directory only it mounts: stop-first by default.
            ...(order === "stop-first" ? { mounts: [{ source: "web", target: "/var/lib/web" }] } : {}),
          }),
        },
      });

    beforeAll(async () => {
      dir = await tempProject("shctl-rollback-");
      await writeFile(path.join(dir, "stack.json"), spec(serve));
      const r = await runCli(["apply", "-f", "stack.json"], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
    });
    afterAll(async () => {
      await runCli(["teardown", "-f", "stack.json"], { cwd: dir });
      await cleanup(undefined, dir);
    });

    it("puts the previous version back, says so, exits 1, and diff still shows the change", async () => {
      const before = (await containersOf(name)).web;
      await writeFile(path.join(dir, "stack.json"), spec("exec sleep infinity"));
      const r = await runCli(["apply", "-f", "stack.json"], { cwd: dir });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toContain("rolled back to the previous version of web");
      expect(r.stdout).toContain(order === "stop-first" ? "the old one stops first" : "recreate");
      const after = await containersOf(name);
      expect(after).toEqual({ web: { id: before?.id, state: "running" } });
      const d = await runCli(["diff", "-f", "stack.json", "--exit-code"], { cwd: dir });
      expect(d.code).toBe(3);
      expect(d.stdout).toMatch(/-\/\+ service web\s+recreate/);
    });
  });
}
