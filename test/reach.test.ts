import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { apply, connectEngine, createReach, type Reach, ReachError, type ResolvedStack } from "@sh/core";
import { ensureHelperImage, LABEL, runHelperCommand } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, engine, idle, load, REPO, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * Reaching container ports through the engine: an exec of shctl's helper in a helper container on
 * the stack network carries each connection, so nothing needs a route to the containers.
 *
 * Run normally, SHCTL_REACH=engine forces that path. Run with SHCTL_TEST_ISOLATED=1 inside
 * `unshare --net` (npm run test:isolated), this process has only loopback, like a client of Docker
 * Desktop or of a remote engine: the automatic choice must be the engine, and everything must still
 * work. Nothing here connects to a container address directly except from the root namespace.
 */

const ISOLATED = process.env.SHCTL_TEST_ISOLATED === "1";
if (ISOLATED)
  console.warn("reach.test: isolated run: the root-namespace test (auto picks direct) is skipped");
const PAGE = "hello through the engine";

let projectDir: string;
let stack: ResolvedStack | undefined;
let reach: Reach;

async function httpGet(
  agent: http.Agent,
  host: string,
  urlPath: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: 8080, path: urlPath, agent }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

/** The helper containers of the stack (long-lived reach helpers and one-shots). */
async function helpers(name: string) {
  return (await engine.listContainers([`${LABEL.stack}=${name}`, `${LABEL.helper}=true`])).filter(
    (c) => c.labels[LABEL.name] === "reach",
  );
}

beforeAll(async () => {
  projectDir = await tempProject("shctl-reach-");
  stack = await load(
    {
      name: stackName("reach"),
      images: { tools: toolsImage() },
      services: {
        web: idle({
          command: [
            "sh",
            "-c",
            `mkdir -p /www && echo '${PAGE}' > /www/index.html && printf 'Ok.\\n' > /www/ping && exec httpd -f -p 8080 -h /www`,
          ],
          aliases: ["www"],
          stopGracePeriod: "1s",
        }),
      },
    },
    projectDir,
  );
  // No readiness probes: they would connect from this process, which may have no route.
  await apply(stack, engine, { wait: false });
  reach = createReach(engine, stack, ISOLATED ? { env: {} } : { setting: "engine" });
  // httpd starts a moment after the container: wait until it accepts (through the engine).
  for (let i = 0; ; i++) {
    try {
      (await reach.connect("web", 8080)).destroy();
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

afterAll(async () => {
  await reach?.close();
  await cleanup(stack, projectDir);
});

describe(
  ISOLATED
    ? "reach from an isolated network namespace (auto)"
    : "reach through the engine (SHCTL_REACH=engine)",
  () => {
    it("chooses the engine, and says why", async () => {
      const m = await reach.modeFor("web");
      expect(m.mode).toBe("engine");
      expect(m.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const d = await reach.describe();
      if (ISOLATED) {
        // Really isolated: loopback only, so nothing could have gone to a container directly.
        expect(Object.keys(networkInterfaces())).toEqual(["lo"]);
        expect(d.setting).toBe("auto");
        expect(m.why).toBe(`${m.ip} is on none of this process's network interfaces`);
      } else {
        expect(d.summary).toBe("engine (SHCTL_REACH=engine)");
      }
    });

    it.skipIf(ISOLATED)(
      "would go directly from the root namespace in auto mode (decided without traffic)",
      async () => {
        const auto = createReach(engine, stack as ResolvedStack, { env: {} });
        expect((await auto.modeFor("web")).mode).toBe("direct");
        expect((await auto.describe()).summary).toMatch(/^auto: directly to container addresses/);
        await auto.close();
      },
    );

    it("connects to an open port, by service name and by IP", async () => {
      const s = await reach.connect("web", 8080);
      const { ip } = await reach.modeFor("web");
      expect(s.remoteAddress).toBe(ip);
      expect(s.remotePort).toBe(8080);
      s.destroy();
      (await reach.connect(ip, 8080)).destroy();
    });

    it("reports a closed port as refused, with the address, the mode and what to do", async () => {
      const { ip } = await reach.modeFor("web");
      const err = (await reach.connect("web", 8081).catch((e) => e)) as ReachError;
      expect(err).toBeInstanceOf(ReachError);
      expect(err.code).toBe("ECONNREFUSED");
      expect(err.mode).toBe("engine");
      expect(err.message).toBe(`cannot reach web:8081 (${ip}:8081) through the engine: refused`);
      expect(err.hint).toContain("SHCTL_REACH=direct");
    });

    it("reports a name no container answers to", async () => {
      const err = (await reach.connect("nosuch", 80).catch((e) => e)) as ReachError;
      expect(err.code).toBe("ENOTFOUND");
      expect(err.message).toContain(`no running container of stack ${stack?.name} answers to that name`);
    });

    it("serves http.request through its agent, by service name and alias, with keep-alive", async () => {
      const agent = reach.httpAgent({ keepAlive: true });
      expect(await httpGet(agent, "web", "/")).toEqual({ status: 200, body: `${PAGE}\n` });
      expect(await httpGet(agent, "www", "/")).toEqual({ status: 200, body: `${PAGE}\n` });
      expect((await httpGet(agent, "web", "/missing")).status).toBe(404);
      agent.destroy();
    });

    it("serves @clickhouse/client through http_agent", async () => {
      const client = createClient({
        url: "http://web:8080",
        http_agent: reach.httpAgent({ keepAlive: true }),
        request_timeout: 5000,
        log: { level: ClickHouseLogLevel.OFF },
      });
      try {
        expect(await client.ping()).toEqual({ success: true });
      } finally {
        await client.close();
      }
    });

    it("hands out a socket at once (kafkajs' socketFactory), by service name, writes held until connected", async () => {
      let connected = false;
      const s = reach.socket("web", 8080, () => {
        connected = true;
      });
      expect(s.connecting).toBe(true);
      s.setKeepAlive(true, 60_000);
      s.write("GET / HTTP/1.0\r\n\r\n");
      let response = "";
      s.on("data", (d) => (response += d));
      await new Promise((r) => s.once("close", r));
      expect(connected).toBe(true);
      expect(response).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
      expect(response).toContain(PAGE);
    });

    it("gives a loopback forwarder to callers that connect themselves", async () => {
      const a = await reach.address("web", 8080);
      expect(a.host).toBe("127.0.0.1");
      expect(await reach.address("web", 8080)).toEqual(a);
      const res = await fetch(`http://127.0.0.1:${a.port}/`);
      expect(await res.text()).toBe(`${PAGE}\n`);
    });

    it("leaves no connection processes behind in the helper", async () => {
      for (let i = 0; i < 8; i++) (await reach.connect("web", 8080)).destroy();
      await new Promise((r) => setTimeout(r, 1000));
      const [helper] = await helpers(stack?.name as string);
      const top = spawnSync("docker", ["top", helper?.id as string, "-o", "pid,args"]).stdout.toString();
      const connects = top.split("\n").filter((l) => l.includes("shctl-helper connect"));
      // Only the ones started ahead of time wait (2), plus perhaps one still ending.
      expect(connects.length, top).toBeLessThanOrEqual(3);
    });

    it("starts another helper when its helper container disappears", async () => {
      const [before] = await helpers(stack?.name as string);
      await engine.removeContainer(before?.id as string);
      (await reach.connect("web", 8080)).destroy();
      const after = await helpers(stack?.name as string);
      expect(after).toHaveLength(1);
      expect(after[0]?.id).not.toBe(before?.id);
    });

    it("does not keep a process alive that forgets close() (its waiting execs are unref'd)", async () => {
      const core = path.join(REPO, "packages/core/dist/index.js");
      const script = `
        import { connectEngine, createReach } from ${JSON.stringify(core)};
        const stack = JSON.parse(process.env.STACK);
        const reach = createReach(connectEngine(), stack, { setting: "engine" });
        (await reach.connect("web", 8080)).destroy();
        console.log("connected");`;
      const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        env: { ...process.env, STACK: JSON.stringify({ name: stack?.name, networks: stack?.networks }) },
        timeout: 30_000,
      });
      expect(child.stdout.toString(), child.stderr.toString()).toBe("connected\n");
      expect(child.status).toBe(0);
      // It left its helper container behind (the next apply removes such leftovers): remove it here.
      const left = (await helpers(stack?.name as string)).filter((c) =>
        c.name.includes(`-reach-${child.pid}-`),
      );
      expect(left).toHaveLength(1);
      for (const c of left) await engine.removeContainer(c.id);
    });

    it("close() removes the helper container and the forwarders", async () => {
      const r = createReach(engine, stack as ResolvedStack, { setting: "engine" });
      const a = await r.address("web", 8080);
      expect(await (await fetch(`http://127.0.0.1:${a.port}/`)).text()).toBe(`${PAGE}\n`);
      expect(await helpers(stack?.name as string)).toHaveLength(2);
      await r.close();
      expect(await helpers(stack?.name as string)).toHaveLength(1);
      await expect(fetch(`http://127.0.0.1:${a.port}/`)).rejects.toThrow();
      expect(() => r.socket("web", 8080)).toThrow("closed");
    });
  },
);

describe("the helper image", () => {
  const repo = `shctl-test/helper-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  let ref: string | undefined;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "shctl-helper-it-"));
  });
  afterAll(async () => {
    if (ref) spawnSync("docker", ["rmi", ref]);
    await rm(dir, { recursive: true, force: true });
  });

  it("is created from the embedded binary when missing (no registry), then reused", async () => {
    const fresh = connectEngine(); // its own memo
    ref = await ensureHelperImage(fresh, { repo });
    expect(ref).toMatch(new RegExp(`^${repo}:[0-9a-f]{12}$`));
    const img = await fresh.inspectImage(ref);
    expect(img).toBeDefined();
    expect(fresh.calls.byOperation["image.import"]).toBe(1);
    expect(await ensureHelperImage(connectEngine(), { repo })).toBe(ref);
    const r = await runHelperCommand(fresh, {
      stack: "shctl-helper-it",
      repo,
      args: ["cat", "/proc/cpuinfo"],
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/processor|BogoMIPS/i);
  });

  it("runs one-shot commands on a bind mount as root: chown, chmod, rmtree", async () => {
    await writeFile(path.join(dir, "a"), "a");
    await writeFile(path.join(dir, "b"), "b");
    const run = (args: string[]) =>
      runHelperCommand(engine, { stack: "shctl-helper-it", repo, args, binds: [`${dir}:/target`] });
    expect((await run(["chown", "123:456", "/target/a"])).exitCode).toBe(0);
    expect((await run(["chmod", "0600", "/target/a"])).exitCode).toBe(0);
    expect(await stat(path.join(dir, "a"))).toMatchObject({ uid: 123, gid: 456, mode: 0o100600 });
    const missing = await run(["chmod", "0600", "/target/nope"]);
    expect(missing).toMatchObject({ exitCode: 1, stderr: "chmod /target/nope: error 2\n" });
    expect((await run(["rmtree", "/target"])).exitCode).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });
});
