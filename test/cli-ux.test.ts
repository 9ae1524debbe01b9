import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  containersOf,
  engine,
  load,
  runCli,
  stackName,
  tempProject,
  toolsImage,
} from "./helpers.js";
import { onTty, type TtyRun } from "./tty.js";

/*
 * The CLI as people (and scripts) use it: every line of --json output is JSON, even for a usage
 * error; a typo in a service name gets a suggestion; a failed apply ends with what it did not
 * start and shows the failed resource as failed; a secret never shows.
 */

const SECRET = "ux-secret-9f3a1c";

let dir: string;
const stacks: ResolvedStack[] = [];
/** Containers made outside shctl (no stack labels), removed after the tests. */
const foreign: string[] = [];

/** Writes the stack as stack.yaml (JSON is YAML) and keeps it for cleanup. */
async function stackFile(input: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, `${input.name as string}.yaml`);
  await writeFile(file, JSON.stringify(input, null, 2));
  stacks.push(await load(input as never, dir));
  return file;
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  const lines = stdout.split("\n").filter((l) => l !== "");
  return lines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new Error(`not a JSON line: ${l}\n--- all of stdout:\n${stdout}`);
    }
  });
}

/** Starts the CLI on a real pseudo-terminal in the project (see tty.ts). */
function startOnTty(args: string[]): TtyRun {
  return onTty(args, { cwd: dir });
}

function runOnTty(args: string[]): Promise<{ code: number | null; output: string }> {
  return startOnTty(args).done;
}

beforeAll(async () => {
  dir = await tempProject("shctl-ux-");
});
afterAll(async () => {
  for (const id of foreign) await engine.removeContainer(id).catch(() => {});
  for (const s of stacks) await cleanup(s, undefined);
  await cleanup(undefined, dir);
});

describe("usage errors", () => {
  it("with --json, an unknown option or command is one JSON error line on stdout, exit 2", async () => {
    const bogus = await runCli(["apply", "--json", "--bogus"]);
    expect(bogus.code).toBe(2);
    expect(jsonLines(bogus.stdout)).toEqual([
      expect.objectContaining({
        type: "error",
        error: "UsageError",
        message: "unknown option '--bogus'",
        exitCode: 2,
      }),
    ]);

    const typo = await runCli(["aply", "--json"]);
    expect(typo.code).toBe(2);
    const [err] = jsonLines(typo.stdout);
    expect(err).toMatchObject({ type: "error", message: "unknown command 'aply'" });
    expect(err?.details).toEqual(["Did you mean apply?"]);
  });

  it("without --json, the same error is text on stderr with the suggestion, and stdout stays empty", async () => {
    const r = await runCli(["aply"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("unknown command 'aply'");
    expect(r.stderr).toContain("Did you mean apply?");
  });
});

describe("stack file and profile mistakes", () => {
  it("-f naming a directory is a usage error, as JSON with --json", async () => {
    const r = await runCli(["diff", "-f", dir, "--json"]);
    expect(r.code).toBe(2);
    expect(jsonLines(r.stdout)).toEqual([
      expect.objectContaining({ type: "error", error: "UsageError", message: `-f ${dir} is a directory` }),
    ]);
  });

  it("an unknown --profile names the flag and the stack's profiles", async () => {
    const file = path.join(dir, "profiled.yaml");
    await writeFile(
      file,
      JSON.stringify({
        name: stackName("ux-prof"),
        profiles: ["core", "full"],
        services: { web: { image: "x", profiles: ["full"] } },
      }),
    );
    const r = await runCli(["diff", "-f", file, "--profile", "ful"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--profile ful: unknown profile "ful"; this stack has: core, full');
    expect(r.stderr).not.toContain("fix the fields named above");

    const typo = await runCli(["diff", "-f", path.join(dir, "profiled.yml")]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`did you mean ${file}?`);
  });
});

it("teardown --data --json on a terminal asks nothing: it needs --yes, said as JSON", async () => {
  const file = path.join(dir, "td.yaml");
  await writeFile(file, JSON.stringify({ name: stackName("ux-td"), services: { web: { image: "x" } } }));
  const r = await runOnTty(["teardown", "-f", file, "--data", "--json"]);
  expect(r.code).toBe(2);
  expect(r.output).not.toContain("Type the stack name");
  expect(jsonLines(r.output.replace(/\r/g, ""))).toEqual([
    expect.objectContaining({ type: "error", error: "UsageError", hint: expect.stringContaining("--yes") }),
  ]);
});

describe("logs", () => {
  let file: string;
  beforeAll(async () => {
    file = await stackFile({
      name: stackName("ux-logs"),
      images: { tools: toolsImage() },
      jobs: { seed: { image: "tools", command: ["sh", "-c", "echo seeded"] } },
      services: {
        web: {
          image: "tools",
          command: ["sh", "-c", 'echo "web up with $TOKEN"; sleep infinity'],
          env: { TOKEN: { value: SECRET, secret: true } },
          stopGracePeriod: "1s",
        },
      },
    });
    const r = await runCli(["apply", "-f", file, "--no-wait"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Done: \d+ actions in [\d.]+m?s\.\nHealth was not waited for \(--no-wait\)/);
  });

  it("-f may come before the command, as with docker compose", async () => {
    const r = await runCli(["-f", file, "status", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const [result] = jsonLines(r.stdout);
    expect(result).toMatchObject({ type: "result", command: "status" });
    const services = (result?.services ?? []) as { name: string; state: string }[];
    expect(services.map((s) => [s.name, s.state])).toEqual([["web", "running"]]);
  });

  it("a mistyped name exits 2 and suggests the closest service", async () => {
    const r = await runCli(["logs", "-f", file, "wbe"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no service or job named "wbe"');
    expect(r.stderr).toContain("did you mean web?");
  });

  it("a name far from every other lists what the stack has", async () => {
    const r = await runCli(["logs", "-f", file, "kafka"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("seed, web");
  });

  it("a job that has ended shows the saved log of its latest run, saying so on stderr", async () => {
    const r = await runCli(["logs", "-f", file, "seed"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("seeded\n");
    expect(r.stderr).toContain("job seed is not running: this is the saved log of its latest run");
  });

  it("a service's log shows its lines with the secret redacted", async () => {
    const r = await runCli(["logs", "-f", file, "web", "--tail", "5"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("web up with (sensitive)");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });
});

describe("an apply that fails", () => {
  let file: string;
  beforeAll(async () => {
    file = await stackFile({
      name: stackName("ux-fail"),
      images: { tools: toolsImage() },
      jobs: {
        migrate: {
          image: "tools",
          command: ["sh", "-c", 'echo "migrating with $TOKEN"; exit 3'],
          env: { TOKEN: { value: SECRET, secret: true } },
        },
      },
      services: {
        app: {
          image: "tools",
          command: ["sleep", "infinity"],
          dependsOn: { migrate: { condition: "completed" } },
          stopGracePeriod: "1s",
        },
      },
    });
  });

  it("ends with what it did not start, and the failed job's line says why once", async () => {
    const r = await runCli(["apply", "-f", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/job migrate: failed — run failed: exited with code 3/);
    expect(r.stdout).toMatch(/Apply failed after [\d.]+m?s; not done: service app\./);
    expect(r.stderr).toContain("migrating with (sensitive)");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("on a terminal, the live view marks the job failed and ends with the summary, cursor shown again", async () => {
    const r = await runOnTty(["apply", "-f", file]);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/✖ job migrate +failed +[\d.]+m?s +run failed: exited with code 3/);
    expect(r.output).toMatch(/Apply failed after [\d.]+m?s; not done: service app\./);
    expect(r.output).toContain("\u001b[?25h");
    expect(r.output).not.toContain(SECRET);
  });

  it("with --json, every line is JSON, the last one the error, and the secret is in none", async () => {
    const r = await runCli(["apply", "-f", file, "--json"]);
    expect(r.code).toBe(1);
    const lines = jsonLines(r.stdout);
    expect(lines.at(-1)).toMatchObject({ type: "error", error: "JobFailedError", exitCode: 1 });
    expect(lines.some((l) => l.type === "plan")).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    expect(r.stdout).not.toContain("Apply failed");
  });
});

it("a service that never becomes healthy shows as failed, not as still waiting", async () => {
  const file = await stackFile({
    name: stackName("ux-sick"),
    images: { tools: toolsImage() },
    services: {
      sick: {
        image: "tools",
        command: ["sleep", "infinity"],
        healthcheck: { test: ["CMD", "false"], interval: "1s", retries: 100 },
        readyTimeout: "3s",
        stopGracePeriod: "1s",
      },
    },
  });
  const r = await runCli(["apply", "-f", file]);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/service sick: failed — wait for health failed: not healthy after \d+s/);
  expect(r.stdout).toMatch(/Apply failed after [\d.]+m?s\./);
});

it("apply --dry-run with a conflict exits 1 as apply would, and says nothing was changed", async () => {
  const name = stackName("ux-dry");
  const file = await stackFile({
    name,
    images: { tools: toolsImage() },
    services: { web: { image: "tools", command: ["sleep", "infinity"] } },
  });
  foreign.push(
    await engine.createContainer({ name: `${name}-web`, Image: "shctl-test/tools:latest", Cmd: ["true"] }),
  );
  const r = await runCli(["apply", "-f", file, "--dry-run"]);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain("1 conflict: apply changes nothing until it is resolved");
  expect(r.stdout).toContain("Dry run: nothing was changed.");
  expect(r.stderr).toContain("1 conflict would stop this apply");

  const j = await runCli(["apply", "-f", file, "--dry-run", "--json"]);
  expect(j.code).toBe(1);
  const lines = jsonLines(j.stdout);
  expect(lines.map((l) => l.type)).toEqual(["plan", "error"]);
  expect(lines[1]).toMatchObject({
    error: "ConflictError",
    hint: expect.stringContaining(`docker rm -f ${name}-web`),
  });
});

it("on a terminal, Ctrl-C at apply's question says nothing was changed, and changes nothing", async () => {
  const name = stackName("ux-ask");
  const spec = (command: string[]) => ({
    name,
    images: { tools: toolsImage() },
    services: { web: { image: "tools", command, stopGracePeriod: "1s" } },
  });
  const file = await stackFile(spec(["sleep", "infinity"]));
  expect((await runCli(["apply", "-f", file])).code).toBe(0);
  const before = await containersOf(name);
  await writeFile(file, JSON.stringify(spec(["sleep", "999999"])));

  const run = startOnTty(["apply", "-f", file]);
  await run.waitFor(/Apply this plan to stack .*\[y\/N\]/);
  run.type("\u0003");
  const r = await run.done;
  expect(r.code).toBe(130);
  expect(r.output).toContain("Cancelled; nothing was changed.");
  expect(await containersOf(name)).toEqual(before);
});

it("a failed build's colour codes reach neither plain output nor the JSON error", async () => {
  // The engine's classic builder wraps a RUN step's stderr in colour codes of its own.
  const context = path.join(dir, "bad-build");
  await mkdir(context, { recursive: true });
  await writeFile(
    path.join(context, "Dockerfile"),
    `FROM ${toolsImage().build.args.BASE}\nRUN echo "fatal: missing thing" >&2; exit 7\n`,
  );
  const name = stackName("ux-bbuild");
  const file = await stackFile({
    name,
    images: { app: { ref: `shctl-test/${name}:1`, build: { context } } },
    services: { app: { image: "app" } },
  });
  const r = await runCli(["apply", "-f", file]);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain("image app | fatal: missing thing");
  expect(r.stderr).toContain("fatal: missing thing");
  expect(r.stdout + r.stderr).not.toContain("\u001b");

  const j = await runCli(["apply", "-f", file, "--json"]);
  expect(j.code).toBe(1);
  const error = jsonLines(j.stdout).at(-1);
  expect(error).toMatchObject({ type: "error", exitCode: 1 });
  expect(JSON.stringify(error)).toContain("fatal: missing thing");
  expect(JSON.stringify(error)).not.toMatch(/\\u001b/);
});
