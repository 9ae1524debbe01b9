import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import {
  connectEngine,
  type EngineInfoSummary,
  InterruptedError,
  isShctlError,
  loadStack,
  type ResolvedStack,
  SpecError,
  UsageError,
} from "@sh/core";
import { JsonProgress, LiveProgress, PlainProgress, type Progress } from "../render/progress.js";
import { closest } from "../render/suggest.js";
import type { Ui } from "../ui.js";

/**
 * Where shctl kept a stack file's data when the file named no `dataRoot`, before the default
 * became ./data: a project that still has its data there is told, never silently given a new
 * empty data root.
 */
const OLD_DEFAULT_DATA_ROOT = "sentrydata";

export interface StackOptions {
  file?: string;
  profile?: string;
}

/** Asks one question on the terminal; undefined when the user cancelled (Ctrl-C / Ctrl-D). */
export type Asker = (question: string, opts: { secret: boolean }) => Promise<string | undefined>;

/** A secret, typed twice until both agree and it is not empty; undefined when cancelled. */
async function askConfirmed(prompt: string, ask: Asker): Promise<string | undefined> {
  for (;;) {
    const first = await ask(`${prompt}: `, { secret: true });
    if (first === undefined) return undefined;
    if (first === "") continue;
    const again = await ask("Again, to confirm: ", { secret: true });
    if (again === undefined) return undefined;
    if (again === first) return first;
    process.stderr.write("They differ; once more.\n");
  }
}

/**
 * `-f FILE` → that stack file (YAML, JSON or a JS module exporting `stack`); without it, the
 * default stack of @sh/specs (Sentry), configured from the current directory.
 */
export async function resolveStack(
  opts: StackOptions,
  missingHint?: string,
  ask?: Asker,
): Promise<ResolvedStack> {
  if (opts.file !== undefined && !existsSync(opts.file)) {
    const near = nearbyFile(opts.file);
    throw new UsageError(`no such stack file: ${opts.file}`, {
      hint: near
        ? `did you mean ${near}?`
        : (missingHint ?? "give the path of a stack file with -f, or leave -f out for the Sentry stack"),
    });
  }
  if (opts.file !== undefined && statSync(opts.file).isDirectory()) {
    throw new UsageError(`-f ${opts.file} is a directory`, {
      hint: "give the stack file itself, e.g. -f stack.yaml",
    });
  }
  const profile = opts.profile !== undefined ? { profile: opts.profile } : {};
  try {
    return await loadWithProfile(opts, profile, ask);
  } catch (err) {
    throw profileAsUsage(err, opts.profile);
  }
}

/**
 * A stack file that names no data root gets ./data; if its data is under the old default
 * (./sentrydata, with shctl's records in it) and ./data does not exist, stop and say so.
 */
function checkOldDefaultDataRoot(stack: ResolvedStack): ResolvedStack {
  if (!stack.dataRootDefaulted) return stack;
  const old = path.join(stack.projectDir, OLD_DEFAULT_DATA_ROOT);
  if (existsSync(path.join(old, ".shctl")) && !existsSync(stack.dataRoot)) {
    throw new UsageError(
      `this stack's data is under ./${OLD_DEFAULT_DATA_ROOT} (shctl's default data root before it became ./data)`,
      { hint: `add \`dataRoot: ./${OLD_DEFAULT_DATA_ROOT}\` to ${stack.source}, then run the command again` },
    );
  }
  return stack;
}

/** A file next to a missing one whose name is close to it (stack.yml → stack.yaml), if any. */
export function nearbyFile(file: string): string | undefined {
  const dir = path.dirname(file);
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((n) => /\.(ya?ml|json|m?js)$/i.test(n));
  } catch {
    return undefined;
  }
  const [best] = closest(path.basename(file), entries);
  return best === undefined ? undefined : dir === "." && !file.startsWith("./") ? best : path.join(dir, best);
}

/**
 * An unknown --profile is a mistake on the command line, not in the stack file: a usage error
 * (still exit 2) that points at the flag.
 */
export function profileAsUsage(err: unknown, profile: string | undefined): unknown {
  if (profile === undefined || !(err instanceof SpecError)) return err;
  const [only, ...rest] = err.issues;
  if (!only || rest.length > 0 || only.path.join(".") !== "profile") return err;
  return new UsageError(`--profile ${profile}: ${only.message}`, {
    hint: only.message.includes("this stack has")
      ? "name one of the stack's profiles, or leave --profile out for its default"
      : "this stack has no profiles: leave --profile out",
  });
}

async function loadWithProfile(
  opts: StackOptions,
  profile: { profile?: string },
  ask: Asker | undefined,
): Promise<ResolvedStack> {
  const engineInfo = lazyEngineInfo();
  if (opts.file !== undefined) {
    const file = opts.file;
    return loadStack(file, { ...profile, engineInfo })
      .then(checkOldDefaultDataRoot)
      .catch((err: unknown) => {
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
  const { defaultStack, firstRunQuestions } = await import("@sh/specs");
  const projectDir = process.cwd();
  const env = ask ? await firstRunAnswers(await firstRunQuestions(projectDir), ask) : process.env;
  return loadStack(defaultStack, { projectDir, env, ...profile, engineInfo });
}

/**
 * The connected engine's info for a stack factory that asks (Sentry's: the engine's architecture
 * picks the ClickHouse image), fetched at most once and only if asked. When the engine cannot be
 * reached, the factory's call rejects with the same EngineUnreachableError the command itself
 * would report.
 */
function lazyEngineInfo(): () => Promise<EngineInfoSummary> {
  let info: Promise<EngineInfoSummary> | undefined;
  return () => {
    info ??= connectEngine().info();
    return info;
  };
}

/**
 * The default stack's first-run questions (Sentry: its first admin user), asked on a terminal;
 * the answers reach the stack as environment variables, never a file. An empty answer to the
 * first question skips the rest.
 */
async function firstRunAnswers(
  questions: { env: string; prompt: string; secret: boolean }[],
  ask: Asker,
): Promise<Record<string, string | undefined>> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const q of questions) {
    const answer = q.secret
      ? await askConfirmed(q.prompt, ask)
      : await ask(`${q.prompt}: `, { secret: false });
    if (answer === undefined) throw new InterruptedError("cancelled at a question; nothing was changed");
    if (answer === "") return { ...process.env };
    env[q.env] = answer;
  }
  return env;
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
