import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  apply,
  connectEngine,
  type EngineClient,
  loadStack,
  type ProgressEvent,
  type ResolvedStack,
  type StackInput,
  teardown,
} from "@sh/core";
import { LABEL } from "@sh/core/internals";

/*
 * Shared by the integration tests: a real engine, a temporary project dir per test, the fixture
 * image built through shctl's own build path, and a way to run the real CLI.
 */

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = path.join(REPO, "packages/cli/dist/main.js");
export const TOOLS_CONTEXT = path.join(REPO, "test/fixtures/tools");
export const BASE_IMAGE = process.env.SHCTL_TEST_BASE_IMAGE ?? "shctl-test/base:bookworm";

export const engine: EngineClient = connectEngine();

/** The fixture image as a stack image: built from test/fixtures/tools on first use, then cached by the engine. */
export function toolsImage() {
  return { ref: "shctl-test/tools:latest", build: { context: TOOLS_CONTEXT, args: { BASE: BASE_IMAGE } } };
}

/**
 * Builds the fixture image through shctl's own build path when the engine lacks it (for tests that
 * run a part of a plan without its image action).
 */
export async function ensureToolsImage(): Promise<void> {
  if (await engine.inspectImage(toolsImage().ref)) return;
  const dir = await tempProject("shctl-tools-");
  const stack = await load(
    {
      name: stackName("tools"),
      images: { tools: toolsImage() },
      jobs: { noop: { image: "tools", command: ["true"] } },
    },
    dir,
  );
  try {
    await apply(stack, engine);
  } finally {
    await cleanup(stack, dir);
  }
}

/** A long-running service that stops at once (tini forwards SIGTERM). */
export function idle(extra: Record<string, unknown> = {}) {
  return { image: "tools", command: ["sleep", "infinity"], ...extra };
}

export async function tempProject(prefix = "shctl-it-"): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** The stack names this test file made, so what its tests leave on the engine can be removed. */
const named = new Set<string>();

/** A unique, valid stack name for one test. */
export function stackName(tag: string): string {
  const name = `it-${tag}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  named.add(name);
  return name;
}

/**
 * Removes the containers and networks of every stack this file named that are still on the engine
 * (a test that applied through the CLI and cleans up only its directory, a failed test); says what
 * it removed. Run after each integration file (test/leftovers.ts).
 */
export async function removeLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of named) {
    const label = [`${LABEL.stack}=${name}`];
    for (const c of await engine.listContainers(label)) {
      await engine.removeContainer(c.id);
      removed.push(`container ${c.name}`);
    }
    for (const n of await engine.listNetworks(label)) {
      await engine.removeNetwork(n.id);
      removed.push(`network ${n.name}`);
    }
  }
  named.clear();
  return removed;
}

export async function load(input: StackInput, projectDir: string, profile?: string): Promise<ResolvedStack> {
  return loadStack(input, { projectDir, ...(profile ? { profile } : {}) });
}

/** Collects events for assertions. */
export function recorder(): { events: ProgressEvent[]; onEvent: (e: ProgressEvent) => void } {
  const events: ProgressEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

/** Removes everything a test stack left: containers and networks by label, then the project dir. */
export async function cleanup(
  stack: ResolvedStack | undefined,
  projectDir: string | undefined,
): Promise<void> {
  if (stack) {
    try {
      await teardown(stack, engine, { lockWaitMs: 30_000 });
    } catch {
      // Fall back to removing by label, so one failed test does not leak into the next.
      for (const c of await engine.listContainers([`${LABEL.stack}=${stack.name}`]))
        await engine.removeContainer(c.id);
      for (const n of await engine.listNetworks([`${LABEL.stack}=${stack.name}`]))
        await engine.removeNetwork(n.id);
    }
  }
  if (projectDir) await rm(projectDir, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (built into packages/cli/dist) with CI=true, so output is plain lines. */
export function runCli(
  args: string[],
  opts: {
    cwd?: string;
    env?: Record<string, string>;
    signalAfterMs?: number;
    signal?: NodeJS.Signals;
    uid?: number;
    gid?: number;
  } = {},
): Promise<CliResult> {
  const run = startCli(args, opts);
  if (opts.signalAfterMs !== undefined)
    setTimeout(() => run.kill(opts.signal ?? "SIGINT"), opts.signalAfterMs);
  return run.done;
}

/** The stack's containers as the engine has them: name → { id, state }. */
export async function containersOf(stack: string): Promise<Record<string, { id: string; state: string }>> {
  const out: Record<string, { id: string; state: string }> = {};
  for (const c of await engine.listContainers([`${LABEL.stack}=${stack}`])) {
    out[c.labels[LABEL.name] ?? c.name] = { id: c.id, state: c.state };
  }
  return out;
}

export interface RunningCli {
  pid: number;
  /** Everything printed so far, stdout and stderr interleaved as they came. */
  output(): string;
  /** Resolves with the output once `pattern` appears in it; rejects if the CLI exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal to the CLI process. */
  kill(signal?: NodeJS.Signals): void;
  /** Whether the process has exited. */
  exited(): boolean;
  done: Promise<CliResult>;
}

/** Starts the real CLI like runCli, but hands it back while it runs: watch its output, signal it. */
export function startCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; uid?: number; gid?: number } = {},
): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, CI: "true", NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  let stdout = "";
  let stderr = "";
  let all = "";
  let exited = false;
  const watchers = new Set<() => void>();
  const changed = () => {
    for (const w of [...watchers]) w();
  };
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    all += d.toString();
    changed();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    all += d.toString();
    changed();
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      exited = true;
      changed();
      resolve({ code, stdout, stderr });
    });
  });
  return {
    pid: child.pid as number,
    output: () => all,
    waitFor: (pattern, timeoutMs = 120_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`no ${pattern} in the CLI's output within ${timeoutMs}ms:\n${all}`));
        }, timeoutMs);
        function check() {
          if (pattern.test(all)) {
            clearTimeout(timer);
            watchers.delete(check);
            resolve(all);
          } else if (exited) {
            clearTimeout(timer);
            watchers.delete(check);
            reject(new Error(`the CLI exited before ${pattern} appeared:\n${all}`));
          }
        }
        watchers.add(check);
        check();
      }),
    kill: (signal = "SIGINT") => {
      child.kill(signal);
    },
    exited: () => exited,
    done,
  };
}
