import { chmod, chown, mkdir, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { apply, type DoctorFinding, doctor, loadStack, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  cleanup,
  engine,
  ensureToolsImage,
  load,
  runCli,
  stackName,
  tempProject,
  toolsImage,
} from "./helpers.js";
import { asUser, dockerGid, nonRootSkip, UID, userProject } from "./non-root-user.js";

/*
 * `shctl doctor` against the real engine and real directories: a data directory given to the
 * wrong owner and mode (failure, with the exact chown and chmod), a host port published by a
 * container of another stack (named), one held by a process of this machine (named by pid), one
 * published by the service's own container (ok), an image the engine lacks (listed), the local
 * registry as the mirror (answers) and a closed port as the mirror (fails); the CLI's lines, exit
 * codes (0 with warnings only, 1 with a failure) and JSON.
 *
 * The stack has two profiles: `base` (web only: applied, so web runs with its port and its data
 * directory) and `conflicts` (also api and admin, whose ports are taken and whose image is missing:
 * checked, never applied).
 */

const REGISTRY = process.env.SHCTL_TEST_REGISTRY ?? "127.0.0.1:5555";
const OWNER = { uid: 1234, gid: 1234 };

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "0.0.0.0", r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

let projectDir: string;
let holderDir: string;
let holder: ResolvedStack | undefined;
let stack: ResolvedStack | undefined;
let listener: net.Server;
const ports = { web: 0, api: 0, admin: 0 };
const name = stackName("doctor");
const holderName = stackName("dochold");

function input(mirror: string) {
  return {
    name,
    // The same for the CLI (whose default is ./sentrydata) and loadStack (./data).
    dataRoot: "data",
    registryMirror: mirror,
    profiles: ["base", "conflicts"],
    defaultProfile: "base",
    images: { tools: toolsImage(), ghost: { ref: "shctl-test/doctor-ghost:missing" } },
    services: {
      web: {
        image: "tools",
        command: ["sleep", "infinity"],
        ports: [`${ports.web}:80`],
        mounts: [{ source: "db", target: "/db", owner: `${OWNER.uid}:${OWNER.gid}`, mode: "0750" }],
        stopGracePeriod: "1s",
      },
      api: { image: "tools", profiles: ["conflicts"], ports: [`${ports.api}:8080`] },
      admin: { image: "ghost", profiles: ["conflicts"], ports: [`${ports.admin}:80`] },
    },
  };
}

beforeAll(async () => {
  await ensureToolsImage();
  ports.web = await freePort();
  ports.api = await freePort();
  ports.admin = await freePort();
  projectDir = await tempProject("shctl-doctor-");
  holderDir = await tempProject("shctl-doctor-holder-");
  await writeFile(path.join(projectDir, "stack.yaml"), stringify(input(REGISTRY)));
  await writeFile(
    path.join(projectDir, "closed-mirror.yaml"),
    stringify(input(`127.0.0.1:${await freePort()}`)),
  );
  // Another stack's container publishes api's port.
  holder = await load(
    {
      name: holderName,
      images: { tools: toolsImage() },
      services: {
        x: {
          image: "tools",
          command: ["sleep", "infinity"],
          ports: [`${ports.api}:80`],
          stopGracePeriod: "1s",
        },
      },
    },
    holderDir,
  );
  await apply(holder, engine);
  // This process holds admin's port.
  listener = net.createServer();
  await new Promise<void>((r) => listener.listen(ports.admin, "0.0.0.0", r));
  stack = await loadStack(path.join(projectDir, "stack.yaml"));
  await apply(stack, engine);
});

afterAll(async () => {
  await new Promise<void>((r) => (listener ? listener.close(() => r()) : r()));
  await cleanup(stack, projectDir);
  await cleanup(holder, holderDir);
});

const cli = (...args: string[]) => runCli(["doctor", "-f", "stack.yaml", ...args], { cwd: projectDir });
const byId = (findings: DoctorFinding[]) => Object.fromEntries(findings.map((f) => [f.id, f]));

describe("shctl doctor", () => {
  it("with the stack as applied: every check ok or a warning, exit 0, a line per check", async () => {
    const r = await cli();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^✓ engine: Docker .* \(API 1\.\d+\)/m);
    expect(r.stdout).toMatch(
      new RegExp(
        `^✓ host port ${ports.web}/tcp \\(web\\): published by web's own container ${name}-web`,
        "m",
      ),
    );
    expect(r.stdout).toMatch(/^✓ data directories \(owner, mode\): 1 data directory as the spec says$/m);
    expect(r.stdout).toMatch(
      new RegExp(`^✓ registry mirror ${REGISTRY}: http://${REGISTRY}/v2/ answers HTTP 200`, "m"),
    );
    expect(r.stdout).toMatch(/^✓ images: all 1 image present$/m);
    expect(r.stdout).toMatch(/^✓ clock: the engine's clock is \d+\.\ds (ahead of|behind) this machine's/m);
    expect(r.stdout).toMatch(/^\d+ ok, \d+ warnings?, 0 failed/m);
  });

  it("names who holds each taken port, lists the missing image; exit 1", async () => {
    const r = await cli("--profile", "conflicts");
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain(
      `✗ host port ${ports.api}/tcp (api): held by container ${holderName}-x (stack ${holderName}, service x)`,
    );
    expect(r.stdout).toContain(`      docker stop ${holderName}-x`);
    expect(r.stdout).toContain(`✗ host port ${ports.admin}/tcp (admin): held by process ${process.pid}`);
    expect(r.stdout).toContain("! images: 1 of 2 images missing");
    expect(r.stdout).toContain("    shctl-test/doctor-ghost:missing (ghost): missing; apply pulls it");
    expect(r.stdout).toMatch(/, 2 failed/);
  });

  it("--json: a check line per check, then the result with the counts; the exit code as without", async () => {
    const r = await cli("--profile", "conflicts", "--json");
    expect(r.code).toBe(1);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const checks = lines.filter((l) => l.type === "check").map((l) => l.check as DoctorFinding);
    const result = lines.at(-1) as {
      type: string;
      command: string;
      ok: boolean;
      counts: Record<string, number>;
      checks: DoctorFinding[];
    };
    expect(result).toMatchObject({ type: "result", command: "doctor", stack: name, ok: false });
    expect(result.checks).toEqual(checks);
    expect(result.counts.failure).toBe(2);
    const port = checks.find((c) => c.id === `port:${ports.api}/tcp`);
    expect(port).toMatchObject({
      title: `host port ${ports.api}/tcp (api)`,
      status: "failure",
      source: "builtin",
      commands: [`docker stop ${holderName}-x`],
    });
    expect(typeof port?.elapsedMs).toBe("number");
  });

  it("a data directory with the wrong owner and mode fails, with the exact commands that fix it", async () => {
    if (!stack) throw new Error("no stack");
    const dir = path.join(stack.dataRoot, "db");
    expect((await stat(dir)).uid).toBe(OWNER.uid);
    await chown(dir, 0, 0);
    await chmod(dir, 0o777);
    try {
      const f = byId(await doctor(stack, engine))["data-dirs"];
      expect(f).toMatchObject({
        status: "failure",
        detail: "1 of 1 data directory differs from the spec",
        lines: ["db (web): owner 0:0, the spec says 1234:1234; mode 0777, the spec says 0750"],
      });
      // Root runs them as they are; another user is told to use sudo.
      const sudo = process.getuid?.() === 0 ? "" : "sudo ";
      expect(f?.commands).toEqual([`${sudo}chown 1234:1234 ${dir}`, `${sudo}chmod 0750 ${dir}`]);
      const r = await cli();
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`      ${sudo}chown 1234:1234 ${dir}`);
    } finally {
      await chown(dir, OWNER.uid, OWNER.gid);
      await chmod(dir, 0o750);
    }
    expect(byId(await doctor(stack, engine))["data-dirs"]?.status).toBe("ok");
  });

  it("a mirror on a closed port fails, saying what it tried", async () => {
    const r = await runCli(["doctor", "-f", "closed-mirror.yaml", "--json"], { cwd: projectDir });
    expect(r.code).toBe(1);
    const mirror = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; check?: DoctorFinding })
      .find((l) => l.check?.id === "mirror")?.check;
    expect(mirror?.status).toBe("failure");
    expect(mirror?.lines?.join("\n")).toMatch(/ECONNREFUSED/);
  });

  it("--help has examples", async () => {
    const r = await runCli(["doctor", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toMatch(/Exit 0 when no check failed \(warnings allowed\), 1 when one did/);
  });
});

describe.skipIf(Boolean(nonRootSkip))(
  nonRootSkip
    ? `shctl doctor as a non-root member of the docker group: skipped because ${nonRootSkip}`
    : "shctl doctor as a non-root member of the docker group",
  () => {
    let dir: string;
    beforeAll(async () => {
      dir = await userProject("shctl-doctor-user-");
      await writeFile(
        path.join(dir, "stack.yaml"),
        stringify({
          name: stackName("docuser"),
          dataRoot: "data",
          images: { tools: toolsImage() },
          services: {
            web: {
              image: "tools",
              mounts: [
                { source: "db", target: "/db", owner: "1234:1234", mode: "0750" },
                { source: "locked/inner", target: "/inner", owner: "5:5" },
              ],
            },
          },
        }),
      );
      // Made by root: the data root (not this user's to write), a directory with the wrong owner
      // and mode, and one inside a directory this user may not enter.
      await mkdir(path.join(dir, "data/db"), { recursive: true });
      await chmod(path.join(dir, "data/db"), 0o777);
      await mkdir(path.join(dir, "data/locked/inner"), { recursive: true });
      await chmod(path.join(dir, "data/locked"), 0o700);
    });
    afterAll(async () => {
      await cleanup(undefined, dir);
    });

    it("says sudo in each command, and what it could not look at", async () => {
      const r = await asUser(dir, ["doctor", "-f", "stack.yaml", "--json"]);
      expect(r.code, r.stderr).toBe(1);
      const checks = byId(
        r.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { type: string; check?: DoctorFinding })
          .flatMap((l) => (l.check ? [l.check] : [])),
      );
      const data = path.join(dir, "data");
      expect(checks["data-root"]).toMatchObject({
        status: "failure",
        commands: [`sudo chown ${UID}:${dockerGid} ${data}`],
      });
      expect(checks["data-dirs"]).toMatchObject({
        status: "failure",
        lines: [
          "db (web): owner 0:0, the spec says 1234:1234; mode 0777, the spec says 0750",
          "locked/inner: cannot look at it (EACCES): run shctl doctor as root to check it",
        ],
        commands: [`sudo chown 1234:1234 ${data}/db`, `sudo chmod 0750 ${data}/db`],
      });
    });
  },
);
