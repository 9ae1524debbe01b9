import { writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, HealthTimeoutError, type ProgressEvent, type ResolvedStack, StepFailedError } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, engine, idle, load, runCli, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * Readiness that tells the truth: a probe reaches the container's own listener (never the
 * engine's proxy on a published port), a wait ends as soon as the container exits, a dependency
 * that never gets ready is the failure (not its dependent), and two such failures are both said.
 */

let projectDir: string;
const stacks: ResolvedStack[] = [];
beforeAll(async () => {
  projectDir = await tempProject("shctl-truth-");
});
afterAll(async () => {
  for (const s of stacks) await cleanup(s, undefined);
  await cleanup(undefined, projectDir);
});

async function stackOf(tag: string, services: Record<string, object>): Promise<ResolvedStack> {
  const s = await load(
    { name: stackName(tag), images: { tools: toolsImage() }, services } as Parameters<typeof load>[0],
    projectDir,
  );
  stacks.push(s);
  return s;
}

const port = () => 21000 + Math.floor(Math.random() * 20000);
const httpd = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www";

// Was a bug: with `ports: ["127.0.0.1:H:8080"]` and a tcp probe on 8080, a container where nothing
// listened was reported healthy in 1 ms (docker-proxy accepted the connection) and dependents started.
describe("a TCP probe on a published port", () => {
  it("is not fooled when nothing listens, published or not", async () => {
    for (const published of [true, false]) {
      const s = await stackOf("deaf", {
        deaf: idle({
          ...(published ? { ports: [`127.0.0.1:${port()}:8080`] } : {}),
          readiness: [{ tcp: { port: 8080 } }],
          readyTimeout: "3s",
          stopGracePeriod: "1s",
        }),
      });
      const err = await apply(s, engine).catch((e: unknown) => e);
      expect(err, `published: ${published}`).toBeInstanceOf(HealthTimeoutError);
    }
  });

  it("passes when the container listens, published or not", async () => {
    for (const published of [true, false]) {
      const s = await stackOf("hears", {
        hears: idle({
          command: ["sh", "-c", httpd],
          ...(published ? { ports: [`127.0.0.1:${port()}:8080`] } : {}),
          readiness: [{ tcp: { port: 8080 } }],
          readyTimeout: "20s",
          stopGracePeriod: "1s",
        }),
      });
      await apply(s, engine);
    }
  });
});

// Was a bug: a container that exited was waited for until its readyTimeout (5 minutes by default)
// when the service had readiness probes.
it("a wait ends as soon as the container exits, with its exit code and last log lines", async () => {
  const s = await stackOf("quits", {
    quits: idle({
      command: ["sh", "-c", "echo cannot open the database; exit 3"],
      readiness: [{ tcp: { port: 8080 } }],
      readyTimeout: "5m",
    }),
  });
  const t0 = Date.now();
  const err = (await apply(s, engine).catch((e: unknown) => e)) as StepFailedError;
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(err).toBeInstanceOf(StepFailedError);
  expect(err.message).toContain("service quits: wait for health failed: the container exited with code 3");
  expect(err.details.join("\n")).toContain("cannot open the database");
});

// Was a bug: when two services failed their deadlines only one was reported, and the failure was
// put on a dependent that was only waiting for one of them.
it("each service that never gets ready fails as itself; what waits for them just does not start", async () => {
  const never = (extra: Record<string, unknown> = {}) =>
    idle({ readiness: [{ tcp: { port: 8080 } }], readyTimeout: "3s", stopGracePeriod: "1s", ...extra });
  const s = await stackOf("twofail", {
    a: never(),
    b: never(),
    app: idle({ dependsOn: { a: { condition: "healthy" }, b: { condition: "healthy" } } }),
  });
  const events: ProgressEvent[] = [];
  await apply(s, engine, { onEvent: (e) => events.push(e) }).catch((e: unknown) => e);
  const failed = events
    .filter((e) => e.type === "phase" && e.phase === "failed")
    .map((e) => (e as { resource: string }).resource);
  // The first to fail ends the run; the other wait, cut short then, is reported as not ready; the
  // dependent never fails in their place.
  expect(failed.length).toBe(1);
  expect(["service a", "service b"]).toContain(failed[0]);
  const outcome = events.find((e) => e.type === "outcome") as { notDone: string[]; notReady: string[] };
  expect(outcome.notDone).toContain("container.create:app");
  const said = new Set([...failed, ...outcome.notReady.map((n) => `service ${n}`)]);
  for (const svc of ["service a", "service b"]) expect(said.has(svc), svc).toBe(true);
  expect(failed).not.toContain("service app");
});

// Was a bug: the first apply's hint for a host port held by another process was lost on the next
// apply (which only starts the container the first one made).
it("a host port held outside the engine gets the same hint on every apply", async () => {
  const net = await import("node:net");
  const holder = net.createServer();
  const p = port();
  await new Promise<void>((r) => holder.listen(p, "127.0.0.1", r));
  try {
    const file = path.join(projectDir, "held.yaml");
    await writeFile(
      file,
      JSON.stringify({
        name: stackName("held"),
        images: { tools: toolsImage() },
        services: { web: idle({ ports: [`127.0.0.1:${p}:8080`], stopGracePeriod: "1s" }) },
      }),
    );
    for (let i = 0; i < 2; i++) {
      const r = await runCli(["apply", "-f", "held.yaml"], { cwd: projectDir });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr, `apply ${i + 1}`).toContain("another process or container uses that host port");
    }
    await runCli(["teardown", "-f", "held.yaml"], { cwd: projectDir });
  } finally {
    holder.close();
  }
});

// Was a bug: after a failed job, `diff` said "never completed" rather than how its last run ended.
it("after a failed job, diff says how and when its last run ended", async () => {
  const file = path.join(projectDir, "failjob.yaml");
  await writeFile(
    file,
    JSON.stringify({
      name: stackName("failjob"),
      images: { tools: toolsImage() },
      jobs: { migrate: { image: "tools", command: ["sh", "-c", "exit 1"] } },
    }),
  );
  const r = await runCli(["apply", "-f", "failjob.yaml"], { cwd: projectDir });
  expect(r.code).toBe(1);
  const d = await runCli(["diff", "-f", "failjob.yaml"], { cwd: projectDir });
  expect(d.stdout).toMatch(/> job migrate +run \(its last run failed with exit code 1 at \d{4}-\d\d-\d\dT/);
});
