import { type Colors, stripAnsi } from "./colors.js";

/** What the CLI shows of any ShctlError (duck-typed so this stays pure). */
export interface ErrorView {
  name: string;
  message: string;
  details: readonly string[];
  hint: string | undefined;
  exitCode: number;
}

/**
 * ```
 * error: MESSAGE
 *   DETAIL
 * hint: HINT
 * ```
 */
export function renderError(e: ErrorView, c: Colors): string {
  const lines = [`${c.red(c.bold("error:"))} ${e.message}`];
  for (const d of e.details) {
    // A detail that spans lines keeps its own indent on every line.
    const indent = /^\s*/.exec(d)?.[0] ?? "";
    d.split("\n").forEach((l, i) => {
      lines.push(`  ${i > 0 ? indent : ""}${l}`);
    });
  }
  if (e.hint) lines.push(`${c.cyan("hint:")} ${e.hint}`);
  return lines.join("\n");
}

/**
 * The error without colour codes that came with foreign text (a builder's output, a process's
 * log): they would show as `[91m` when piped and in JSON. A detail line left blank by that goes.
 */
export function cleanView(e: ErrorView): ErrorView {
  const details: string[] = [];
  for (const d of e.details) {
    const clean = stripAnsi(d);
    if (clean.trim() === "" && d.trim() !== "") continue;
    details.push(clean);
  }
  return {
    ...e,
    message: stripAnsi(e.message),
    details,
    hint: e.hint === undefined ? undefined : stripAnsi(e.hint),
  };
}

export function errorJson(e: ErrorView): Record<string, unknown> {
  return {
    type: "error",
    error: e.name,
    message: e.message,
    details: e.details,
    hint: e.hint ?? null,
    exitCode: e.exitCode,
  };
}

/** An error that is not a ShctlError is a bug: say so, with the stack. */
export function renderInternalError(err: unknown, c: Colors): string {
  const e = err instanceof Error ? err : new Error(String(err));
  return [
    `${c.red(c.bold("internal error:"))} ${e.message}`,
    c.dim(e.stack ?? "(no stack)"),
    "This is a bug in shctl: please report it with the lines above.",
  ].join("\n");
}

/**
 * Commander's text for a usage error ("error: unknown option '--x'\n(Did you mean --y?)\n(add
 * --help …)") as the JSON error object: the first line is the message, suggestions are details.
 */
export function usageErrorJson(text: string): Record<string, unknown> {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const message = (lines[0] ?? "invalid usage").replace(/^error:\s*/, "");
  const details = lines.slice(1).filter((l) => !/^\(add --help/.test(l));
  return errorJson({
    name: "UsageError",
    message,
    details: details.map((d) => d.replace(/^\((.*)\)$/, "$1")),
    hint: "run the command with --help for its options and examples",
    exitCode: 2,
  });
}
