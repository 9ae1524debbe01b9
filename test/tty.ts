import { spawn } from "node:child_process";
import { CLI } from "./helpers.js";

/*
 * The CLI on a real pseudo-terminal (under script(1)), as a person at a terminal runs it: stdin,
 * stdout and stderr are the terminal, so the live view runs and questions are asked. Colours off
 * to keep the text simple.
 */

export interface TtyRun {
  /** Everything the terminal showed so far. */
  output(): string;
  /** Resolves once `pattern` is in the output; fails after the run's wait (60 s unless told). */
  waitFor(pattern: RegExp): Promise<void>;
  /** Writes to the terminal as if typed ("\u0003" is Ctrl-C). */
  type(text: string): void;
  done: Promise<{ code: number | null; output: string }>;
}

export interface TtyOptions {
  cwd: string;
  /** The terminal's size (script's own is 80 columns). */
  size?: { cols: number; rows: number };
  /** Added to the environment (after CI, TERM=xterm and NO_COLOR). */
  env?: Record<string, string>;
  /** How long waitFor waits. */
  waitMs?: number;
}

export function onTty(args: string[], opts: TtyOptions): TtyRun {
  const cli = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ");
  const command = opts.size ? `stty cols ${opts.size.cols} rows ${opts.size.rows}; ${cli}` : cli;
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    cwd: opts.cwd,
    env: { ...process.env, CI: "", TERM: "xterm", NO_COLOR: "1", ...opts.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const waitMs = opts.waitMs ?? 60_000;
  let output = "";
  const watchers = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d.toString();
    for (const w of [...watchers]) w();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      child.stdin.destroy();
      resolve({ code, output });
    });
  });
  return {
    output: () => output,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${pattern} within ${waitMs / 1000} s:\n${output}`)),
          waitMs,
        );
        const check = () => {
          if (!pattern.test(output)) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
      }),
    type: (text) => child.stdin.write(text),
    done,
  };
}
