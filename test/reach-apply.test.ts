import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { networkInterfaces } from "node:os";
import path from "node:path";
import { apply, type JobContext, type ProbeContext, type ResolvedStack, status } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, engine, idle, load, recorder, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * Every kind of readiness probe, and a job that talks to a service by name, through a real apply.
 * In the integration tier this process can route to the containers (auto: direct); the isolated
 * run (npm run test:isolated: `unshare --net`, loopback only, the engine over its unix socket, as
 * with Docker Desktop or a remote engine) runs the same file and everything must go through the
 * engine. Nothing here connects to a container address itself.
 */

const ISOLATED = process.env.SHCTL_TEST_ISOLATED === "1";

/** A GET through the stack's connections; the body. */
function get(agent: http.Agent, host: string, port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: urlPath, agent }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
  });
}

/** Connects to host:port by name, sends a request line, reads the answer until the peer closes. */
async function talk(
  ctx: Pick<JobContext, "connect">,
  host: string,
  port: number,
  text: string,
): Promise<string> {
  const socket = await ctx.connect(host, port);
  return new Promise((resolve, reject) => {
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString("utf8")));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    socket.end(text);
  });
}

let projectDir: string;
let stack: ResolvedStack | undefined;
const server = `mkdir -p /www && echo 'Ok.' > /www/ping && exec httpd -f -p 8080 -h /www`;

beforeAll(async () => {
  projectDir = await tempProject("shctl-reach-apply-");
  stack = await load(
    {
      name: stackName("rapply"),
      images: { tools: toolsImage() },
      services: {
        // One service per probe kind, each ready once its httpd answers.
        tcp: idle({
          command: ["sh", "-c", server],
          readiness: [{ tcp: { port: 8080 } }],
          stopGracePeriod: "1s",
        }),
        web: idle({
          command: ["sh", "-c", server],
          readiness: [{ http: { port: 8080, path: "/ping", expectBody: "Ok" } }],
          stopGracePeriod: "1s",
        }),
        exec: idle({
          command: ["sh", "-c", server],
          readiness: [{ exec: ["test", "-f", "/www/ping"] }],
          stopGracePeriod: "1s",
        }),
        custom: idle({
          command: ["sh", "-c", server],
          readiness: [
            {
              custom: {
                name: "ping by name through the stack connections",
                check: async (ctx: ProbeContext) => {
                  const body = await get(ctx.httpAgent(), ctx.service, 8080, "/ping");
                  if (!body.includes("Ok")) throw new Error(`unexpected answer ${body}`);
                },
              },
            },
          ],
          stopGracePeriod: "1s",
        }),
        // Started only once every probed service is ready.
        client: idle({
          dependsOn: {
            tcp: { condition: "healthy" },
            web: { condition: "healthy" },
            exec: { condition: "healthy" },
            custom: { condition: "healthy" },
          },
          stopGracePeriod: "1s",
        }),
      },
      jobs: {
        // A function job that reaches a service by name over TCP and keeps what it answered.
        fetch: {
          version: "1",
          dependsOn: { web: { condition: "healthy" } },
          run: async (ctx) => {
            const answer = await talk(ctx, "web", 8080, "GET /ping HTTP/1.0\r\n\r\n");
            await writeFile(path.join(ctx.dataRoot, "fetched.txt"), answer);
            ctx.log(`reach: ${ctx.reachMode ?? "(unknown)"}`);
          },
        },
      },
    },
    projectDir,
  );
});

afterAll(async () => {
  await cleanup(stack, projectDir);
});

describe(
  ISOLATED ? "apply from an isolated network namespace" : "apply, reaching containers directly",
  () => {
    it("waits for every probe kind, starts what depends on them, and runs a job that talks to a service by name", async () => {
      if (ISOLATED) expect(Object.keys(networkInterfaces())).toEqual(["lo"]);
      const { events, onEvent } = recorder();
      await apply(stack as ResolvedStack, engine, { onEvent });
      for (const svc of ["tcp", "web", "exec", "custom"])
        expect(events).toContainEqual(
          expect.objectContaining({ resource: `service ${svc}`, phase: "healthy" }),
        );
      const answer = await readFile(path.join((stack as ResolvedStack).dataRoot, "fetched.txt"), "utf8");
      expect(answer).toMatch(/^HTTP\/1\.[01] 200/);
      expect(answer).toContain("Ok.");
      const modeLine = events.find((e) => e.type === "output" && e.line.startsWith("reach: "));
      expect(modeLine).toMatchObject({
        line: ISOLATED ? expect.stringMatching(/engine/) : expect.stringMatching(/^reach: auto: directly/),
      });
    });

    it("status runs the same probes and reports every service ready", async () => {
      const rows = await status(stack as ResolvedStack, engine);
      const probed = rows.filter((r) => ["tcp", "web", "exec", "custom"].includes(r.name));
      expect(probed.map((r) => [r.name, r.ready, r.readyDetail])).toEqual(
        ["custom", "exec", "tcp", "web"].map((n) => [n, true, undefined]),
      );
    });
  },
);
