import { existsSync } from "node:fs";
import path from "node:path";
import { isShctlError, loadStack, type ResolvedStack, SpecError, UsageError } from "@sh/core";
import { JsonProgress, LiveProgress, PlainProgress, type Progress } from "../render/progress.js";
import type { Ui } from "../ui.js";

export interface StackOptions {
  file?: string;
  profile?: string;
}

/**
 * `-f FILE` → that stack file (YAML, JSON or a JS module exporting `stack`); without it, the
 * default stack of @sh/specs (Sentry), configured from the current directory.
 */
export async function resolveStack(opts: StackOptions, missingHint?: string): Promise<ResolvedStack> {
  if (opts.file !== undefined && !existsSync(opts.file)) {
    throw new UsageError(`no such stack file: ${opts.file}`, {
      hint: missingHint ?? "give the path of a stack file with -f, or leave -f out for the Sentry stack",
    });
  }
  const profile = opts.profile !== undefined ? { profile: opts.profile } : {};
  if (opts.file !== undefined) {
    const file = opts.file;
    return loadStack(file, profile).catch((err: unknown) => {
      // A stack module that fails to import or throws is a problem in the stack, not in shctl.
      if (isShctlError(err) || !/\.m?js$/i.test(file)) throw err;
      const where = String((err as Error)?.stack ?? "")
        .split("\n")
        .find((l) => l.includes(path.basename(file)))
        ?.trim();
      throw new SpecError(file, [
        {
          path: [],
          message: `the stack module failed: ${(err as Error)?.message ?? String(err)}${where ? ` (${where})` : ""}`,
        },
      ]);
    });
  }
  const { defaultStack } = await import("@sh/specs");
  return loadStack(defaultStack, { projectDir: process.cwd(), ...profile });
}

/** The progress view for this output: JSON lines, a live view on a terminal, or plain lines. */
export function createProgress(ui: Ui, label: string, resources: string[] = []): Progress {
  if (ui.json) return new JsonProgress(process.stdout);
  if (ui.live) return new LiveProgress(process.stdout, ui.c, label).expect(resources).start();
  return new PlainProgress(process.stdout, ui.c);
}

/** A path as the user would type it: ./data when under the current directory, else absolute. */
export function displayPath(p: string, cwd: string = process.cwd()): string {
  const rel = path.relative(cwd, p);
  if (rel === "") return ".";
  return rel.startsWith("..") || path.isAbsolute(rel) ? p : `./${rel}`;
}
