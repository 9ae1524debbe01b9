import { type Colors, colorEnabled, createColors, isCI } from "./render/colors.js";

/**
 * Where output goes and how it looks. Only the CLI prints: plans, progress and results go to
 * stdout, errors, warnings and questions to stderr; with --json, stdout carries JSON lines only.
 */
export interface Ui {
  /** Colours for stdout and for stderr (each on only when that stream is a terminal). */
  readonly c: Colors;
  readonly ce: Colors;
  readonly json: boolean;
  /** stdout is a terminal, CI is not set and output is not JSON: progress is a live view. */
  readonly live: boolean;
  /** stdin and stderr are terminals: a question can be asked. */
  readonly canPrompt: boolean;
  out(text: string): void;
  err(text: string): void;
  /** One JSON line on stdout. */
  emit(value: unknown): void;
}

export interface GlobalOptions {
  /** False with --no-color. */
  color?: boolean;
  json?: boolean;
}

export function createUi(opts: GlobalOptions, env: Record<string, string | undefined> = process.env): Ui {
  const json = opts.json === true;
  const flag = opts.color !== false;
  return {
    c: createColors(!json && colorEnabled({ isTTY: process.stdout.isTTY, env, flag })),
    ce: createColors(colorEnabled({ isTTY: process.stderr.isTTY, env, flag })),
    json,
    live: !json && process.stdout.isTTY === true && !isCI(env) && env.TERM !== "dumb",
    canPrompt: process.stdin.isTTY === true && process.stderr.isTTY === true,
    out: (text) => {
      process.stdout.write(`${text}\n`);
    },
    err: (text) => {
      process.stderr.write(`${text}\n`);
    },
    emit: (value) => {
      process.stdout.write(`${JSON.stringify(value)}\n`);
    },
  };
}
