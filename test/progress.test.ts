import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, type ResolvedStack, type TransferProgress } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  engine,
  ensureToolsImage,
  load,
  recorder,
  runCli,
  stackName,
  startCli,
  tempProject,
  toolsImage,
} from "./helpers.js";
import {
  localImageId,
  type PushedImage,
  pushImage,
  rand,
  registryAnswers,
  removeLocal,
  TEST_REGISTRY,
} from "./registry.js";
import { onTty, type TtyRun } from "./tty.js";

/*
 * Progress as a self-hoster reads it, on the real engine and the real registry: a pull's layers
 * and bytes (API events, plain lines, JSON lines, the live view on a terminal), a build's step, a
 * wait that says why it still waits, the end of a failed apply that counts what it did not do,
 * and an interrupted one that counts a wait cut short as not done.
 */

const REG = TEST_REGISTRY;
const registryUp = await registryAnswers(REG);
if (!registryUp)
  console.warn(`pull progress tests skipped: no registry answers at ${REG} (scripts/test-env.sh starts one)`);

const r = rand();
/** One image per pull test: each pull transfers its own payload layers. */
const repo = `${REG}/shctl-it/progress-${r}`;
const pushed: Record<string, PushedImage> = {};
const localRefs: string[] = [];

let dir: string;
const stacks: ResolvedStack[] = [];

/** Writes a stack file into its own directory and keeps the stack for clean-up. */
async function stackFile(
  input: Record<string, unknown>,
): Promise<{ file: string; cwd: string; stack: ResolvedStack }> {
  const cwd = path.join(dir, input.name as string);
  await mkdir(cwd, { recursive: true });
  const file = path.join(cwd, "stack.json");
  await writeFile(file, JSON.stringify({ dataRoot: "./data", ...input }, null, 2));
  const stack = await load({ dataRoot: "./data", ...input } as never, cwd);
  stacks.push(stack);
  return { file, cwd, stack };
}

/** A stack of one service running the pushed image `tag`. */
function pullStack(tag: string) {
  return stackFile({
    name: stackName(`prog-${tag}`),
    services: { app: { image: `${repo}:${tag}`, stopGracePeriod: "1s" } },
  });
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}\n--- all of stdout:\n${stdout}`);
      }
    });
}

/** Runs the CLI on a real pseudo-terminal (the live view runs), wide enough for the long image names of these tests. */
function applyOnTty(args: string[], cwd: string): TtyRun {
  return onTty(args, { cwd, size: { cols: 200, rows: 40 }, waitMs: 90_000 });
}

const MB = 1_000_000;

beforeAll(async () => {
  dir = await tempProject("shctl-progress-");
  await ensureToolsImage();
  if (!registryUp) return;
  // Two payload layers on the base layer (present locally, so "already exists"): 3 layers.
  const tags = ["api", "plain", "json", "tty"];
  for (const t of tags) localRefs.push(`${repo}:${t}`);
  const images = await Promise.all(
    // The terminal's pull is bigger, so that the live view redraws (every 100 ms) while it runs.
    tags.map((t) =>
      pushImage(REG, [`shctl-it/progress-${r}:${t}`], { layers: [t === "tty" ? 24 * MB : 3 * MB, 2 * MB] }),
    ),
  );
  for (const [i, t] of tags.entries()) pushed[t] = images[i] as PushedImage;
}, 240_000);

afterAll(async () => {
  for (const s of stacks) await cleanup(s, undefined);
  await removeLocal(localRefs);
  await cleanup(undefined, dir);
});

describe.skipIf(!registryUp)(`a pull's progress (registry ${REG})`, () => {
  it("comes as figures, a few a second, ending with every layer and byte, before the image is done", async () => {
    const { stack } = await pullStack("api");
    expect(await localImageId(`${repo}:api`)).toBeUndefined();
    const rec = recorder();
    const t0 = Date.now();
    await apply(stack, engine, { onEvent: rec.onEvent });
    const elapsed = Date.now() - t0;
    const resource = `image ${repo}:api`;
    const progress = rec.events.filter(
      (e): e is TransferProgress => e.type === "progress" && e.resource === resource,
    );
    expect(progress.length, JSON.stringify(rec.events)).toBeGreaterThan(0);
    expect(progress.every((p) => p.what === "pull")).toBe(true);
    // Throttled: at most one per 250 ms, and the last one.
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 2);
    const last = progress.at(-1) as TransferProgress;
    expect(last.layers).toEqual({ done: 3, total: 3 });
    // Random payload does not compress: the compressed layers are about their 5 MB.
    expect(last.bytes?.total).toBe(last.bytes?.done);
    expect(last.bytes?.done).toBeGreaterThan(4.9 * MB);
    expect(last.bytes?.done).toBeLessThan(5.2 * MB);
    const done = rec.events.findIndex(
      (e) => e.type === "phase" && e.resource === resource && e.phase === "done",
    );
    expect(rec.events.indexOf(last)).toBeLessThan(done);
    // The per-layer messages are figures now, not output lines.
    const lines = rec.events
      .filter((e) => e.type === "output" && e.resource === resource)
      .map((e) => (e as { line: string }).line);
    expect(
      lines.filter((l) =>
        /Pull complete|Download complete|Waiting|Pulling fs layer|Downloading|Extracting/.test(l),
      ),
    ).toEqual([]);
    expect(lines.some((l) => l.startsWith("Digest: sha256:"))).toBe(true);
  });

  it("plain output: the pulling line, then the done line with layers, size and rate; no line per layer", async () => {
    const { file, cwd } = await pullStack("plain");
    const out = await runCli(["apply", "-f", file], { cwd });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(new RegExp(`image ${esc(repo)}:plain: pulling — ${esc(repo)}:plain`));
    expect(out.stdout).toMatch(
      new RegExp(
        `image ${esc(repo)}:plain: done — pulled 3 layers, 5\\.\\d MB(, [\\d.]+ [kMG]?B/s)? \\([\\d.]+m?s\\)`,
      ),
    );
    expect(out.stdout).not.toMatch(/Pull complete|Download complete|Pulling fs layer|Extracting/);
    expect(await localImageId(`${repo}:plain`)).toBe(pushed.plain?.id);
  });

  it("--json: progress events with figures, every line JSON", async () => {
    const { file, cwd } = await pullStack("json");
    const out = await runCli(["apply", "-f", file, "--json"], { cwd });
    expect(out.code, out.stderr).toBe(0);
    const lines = jsonLines(out.stdout);
    const progress = lines.filter((l) => l.type === "progress");
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({
      type: "progress",
      resource: `image ${repo}:json`,
      what: "pull",
      layers: { done: 3, total: 3 },
      bytes: { done: expect.any(Number), total: expect.any(Number) },
      elapsedMs: expect.any(Number),
    });
    expect(lines.at(-1)).toMatchObject({ type: "result", command: "apply" });
  });

  it("on a terminal: the live view ends the image's line with what was pulled", async () => {
    const { file, cwd } = await pullStack("tty");
    const { code, output } = await applyOnTty(["apply", "-f", file], cwd).done;
    expect(code, output).toBe(0);
    expect(output).toMatch(
      new RegExp(`✔ image ${esc(repo)}:tty +done +[\\d.]+m?s +pulled 3 layers, 26\\.\\d MB`),
    );
    // While it ran, its line had the figures (layers, then bytes once the engine reported sizes).
    expect(output).toMatch(
      new RegExp(`image ${esc(repo)}:tty +pulling +[\\d.]+m?s +(\\[#*-*\\] +\\d+% +)?\\d/3 layers`),
    );
    expect(output).toMatch(
      new RegExp(
        `image ${esc(repo)}:tty +pulling +[\\d.]+m?s +(\\[#*-*\\] +\\d+% +)?\\d/3 layers +[\\d.]+(/[\\d.]+)? [kM]?B`,
      ),
    );
    expect(output).toContain("\u001b[?25h");
  });
});

// The classic builder runs RUN steps on the engine's default bridge (docker0). On a machine where
// it was deleted, every such build fails ("could not find bridge docker0"); say so and skip.
const bridgeGone = !process.env.DOCKER_HOST && !existsSync("/sys/class/net/docker0");
if (bridgeGone)
  console.warn(
    "build progress test skipped: the engine's default bridge docker0 is missing on this machine, so RUN steps cannot run",
  );

describe.skipIf(bridgeGone)("a build's progress", () => {
  it("names the current step and the last line the step printed", async () => {
    const ctx = path.join(dir, "build-ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(
      path.join(ctx, "Dockerfile"),
      [
        `FROM ${toolsImage().ref}`,
        `RUN echo "compiling part one ${r}" && echo "linking ${r}"`,
        `RUN echo "packing ${r}"`,
        'CMD ["sleep", "infinity"]',
        "",
      ].join("\n"),
    );
    const { stack } = await stackFile({
      name: stackName("prog-build"),
      images: { app: { ref: `shctl-it/progress-build-${r}:dev`, build: { context: ctx } } },
      jobs: { noop: { image: "app", command: ["true"] } },
    });
    localRefs.push(`shctl-it/progress-build-${r}:dev`);
    const rec = recorder();
    await apply(stack, engine, { onEvent: rec.onEvent });
    const progress = rec.events.filter(
      (e): e is TransferProgress => e.type === "progress" && e.resource === "image app",
    );
    expect(progress.every((p) => p.what === "build")).toBe(true);
    // Throttled, so not every step need show; the last figures always do.
    // Four steps of the Dockerfile, and the builder's two for shctl's labels.
    expect(progress.at(-1)?.step).toMatch(/^Step 6\/6 : LABEL io\.shctl\./);
    const seen = progress.map((p) => `${p.step} · ${p.line ?? ""}`);
    expect(seen.every((s) => /^Step [1-6]\/6 : /.test(s))).toBe(true);
    // A line a step printed shows with it (the builder's own "--->" lines never do).
    expect(progress.some((p) => p.line?.startsWith("--->"))).toBe(false);
    const outputs = rec.events
      .filter((e) => e.type === "output" && e.resource === "image app")
      .map((e) => (e as { line: string }).line);
    expect(outputs).toContain(`linking ${r}`);
  });
});

describe("a wait says why", () => {
  /**
   * Services never ready, each with another kind of answer. (A fresh stack per run: a service
   * with probes but no healthcheck that was left running counts as ready to the next apply.)
   */
  const waitStack = (tag: string) =>
    stackFile({
      name: stackName(tag),
      images: { tools: toolsImage() },
      services: {
        // busybox httpd over an empty directory: every path is 404.
        web: {
          image: "tools",
          command: ["sh", "-c", "mkdir -p /srv/empty && exec httpd -f -p 8080 -h /srv/empty"],
          readiness: [{ http: { port: 8080, path: "/" } }],
          readyTimeout: "5s",
          stopGracePeriod: "1s",
        },
        // A Docker healthcheck that keeps failing.
        checked: {
          image: "tools",
          command: ["sleep", "infinity"],
          healthcheck: { test: ["CMD", "sh", "-c", "echo not yet; exit 1"], interval: "1s", retries: 30 },
          readyTimeout: "5s",
          stopGracePeriod: "1s",
        },
        // Nothing listens on 9092.
        broker: {
          image: "tools",
          command: ["sleep", "infinity"],
          readiness: [{ tcp: { port: 9092 } }],
          readyTimeout: "5s",
          stopGracePeriod: "1s",
        },
      },
    });

  it("after two seconds, the waiting line shows the last probe's answer (plain)", async () => {
    const { file, cwd } = await waitStack("prog-wait");
    const out = await runCli(["apply", "-f", file], { cwd });
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/service web: waiting — http :8080\/ → 404\n/);
    expect(out.stdout).toMatch(/service broker: waiting — tcp :9092 refused\n/);
    expect(out.stdout).toMatch(/service checked: waiting — healthcheck \[exit 1\] not yet\n/);
    // Once each (a new line only when the answer changes).
    expect(out.stdout.match(/service web: waiting — http/g)).toHaveLength(1);
    // The error still has the probe's whole answer.
    expect(out.stderr).toMatch(/http :8080\/: HTTP 404/);
  });

  it("the same on the live line, and as the phase's message in JSON", async () => {
    const { file, cwd } = await waitStack("prog-waitt");
    const tty = await applyOnTty(["apply", "-f", file], cwd).done;
    expect(tty.code).toBe(1);
    expect(tty.output).toMatch(/service web +waiting +[\d.]+m?s +http :8080\/ → 404/);
    expect(tty.output).toMatch(/service broker +waiting +[\d.]+m?s +tcp :9092 refused/);
    const j = await waitStack("prog-waitj");
    const json = await runCli(["apply", "-f", j.file, "--json"], { cwd: j.cwd });
    const waits = jsonLines(json.stdout).filter(
      (l) => l.type === "phase" && l.phase === "waiting" && l.message,
    );
    expect(waits).toContainEqual(
      expect.objectContaining({ resource: "service web", message: "http :8080/ → 404" }),
    );
  });
});

describe("the end of an apply that did not finish", () => {
  it("a failed apply counts what it did not do by kind once there are many", async () => {
    const svc = {
      image: "tools",
      command: ["sleep", "infinity"],
      stopGracePeriod: "1s",
      dependsOn: { gate: { condition: "completed" } },
    };
    const { file, cwd } = await stackFile({
      name: stackName("prog-many"),
      images: { tools: toolsImage() },
      jobs: {
        gate: { image: "tools", command: ["sh", "-c", "echo closed; exit 1"] },
        seed: { image: "tools", command: ["true"], dependsOn: { gate: { condition: "completed" } } },
        index: { image: "tools", command: ["true"], dependsOn: { gate: { condition: "completed" } } },
      },
      services: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`s${i}`, svc])),
    });
    const out = await runCli(["apply", "-f", file], { cwd });
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/job gate: failed — run failed: exited with code 1/);
    expect(out.stdout).toMatch(
      /Apply failed after [\d.]+m?s; not done: 9 services and 2 jobs \(`shctl diff` lists them\)\./,
    );
    // The same on a terminal; with --json, the outcome event has the plan's actions not done.
    const tty = await applyOnTty(["apply", "-f", file], cwd).done;
    expect(tty.code).toBe(1);
    expect(tty.output).toMatch(/✖ job gate +failed/);
    expect(tty.output).toMatch(
      /Apply failed after [\d.]+m?s; not done: 9 services and 2 jobs \(`shctl diff` lists them\)\./,
    );
    const json = await runCli(["apply", "-f", file, "--json"], { cwd });
    expect(json.code).toBe(1);
    const outcome = jsonLines(json.stdout).find((l) => l.type === "outcome") as { notDone: string[] };
    expect(
      outcome.notDone.filter((id) => id.startsWith("container.start:") || id.startsWith("job.run:")).sort(),
    ).toEqual(
      [
        ...Array.from({ length: 9 }, (_, i) => `container.start:s${i}`),
        "job.run:gate",
        "job.run:index",
        "job.run:seed",
      ].sort(),
    );
  });

  /** A service whose readiness never comes, waited for at the end of the apply. */
  const slowStack = (tag: string) =>
    stackFile({
      name: stackName(tag),
      images: { tools: toolsImage() },
      services: {
        slow: {
          image: "tools",
          command: ["sleep", "infinity"],
          readiness: [{ exec: ["false"] }],
          readyTimeout: "2m",
          stopGracePeriod: "1s",
        },
      },
    });

  it("an interrupted apply counts a wait it cut short as not done", async () => {
    const { file, cwd } = await slowStack("prog-cut");
    const running = startCli(["apply", "-f", file], { cwd });
    await running.waitFor(/service slow: waiting/);
    running.kill("SIGINT");
    const out = await running.done;
    expect(out.code, out.stdout + out.stderr).toBe(130);
    expect(out.stdout).toMatch(/Apply interrupted after [\d.]+m?s; not done: service slow\./);
    expect(out.stderr).toMatch(/not done: service slow/);
  });

  it("the same on a terminal, Ctrl-C typed", async () => {
    const { file, cwd } = await slowStack("prog-cutt");
    const tty = applyOnTty(["apply", "-f", file], cwd);
    await tty.waitFor(/service slow +waiting/);
    tty.type("\u0003");
    const out = await tty.done;
    expect(out.code, out.output).toBe(130);
    expect(out.output).toMatch(/Apply interrupted after [\d.]+m?s; not done: service slow\./);
  });

  it("with --json, the outcome event names the wait cut short as not ready", async () => {
    const { file, cwd } = await slowStack("prog-cutj");
    const json = startCli(["apply", "-f", file, "--json"], { cwd });
    await json.waitFor(/"phase":"waiting"/);
    json.kill("SIGINT");
    const j = await json.done;
    expect(j.code).toBe(130);
    const lines = jsonLines(j.stdout);
    expect(lines.find((l) => l.type === "outcome")).toMatchObject({ notReady: ["slow"] });
    expect(lines.at(-1)).toMatchObject({ type: "error", error: "InterruptedError", exitCode: 130 });
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
