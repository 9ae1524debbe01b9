#!/usr/bin/env node
import { readFileSync } from "node:fs";
import nodeModule from "node:module";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { createUi, type GlobalOptions } from "./ui.js";

/*
 * shctl: parse the command line, then load only the command that runs. Every error ends in one
 * place (reportError), which prints it and picks the exit code: 0 ok, 1 failed, 2 invalid usage or
 * stack, 3 `diff --exit-code` found changes or conflicts, 130 interrupted.
 */

// Node ≥ 22.1 can keep compiled code between runs; most of a no-op apply is module loading
// (dockerode, zod), so everyday commands start faster. Older Node has no such cache: nothing changes.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const version = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

function intArg(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    return n;
  };
}

const fileOption = () =>
  new Option(
    "-f, --file <FILE>",
    "stack file (YAML, JSON, or a JS module exporting `stack`); default: Sentry",
  );
const profileOption = () =>
  new Option("--profile <PROFILE>", "profile to run (default: the stack's defaultProfile)");
const jsonOption = () =>
  new Option("--json", "JSON lines on stdout: the events, then a result or an error object");

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;

let ui = createUi({});

/**
 * With --json anywhere on the line, even a usage error is a JSON error object on stdout (scripts
 * parse stdout line by line); commander's own text for it is kept here instead of printed.
 */
const jsonRequested = process.argv.slice(2).includes("--json");
let usageText = "";

/** Runs a command module's `run` with the merged options; sets the exit code it returns. */
async function runCommand(
  load: () => Promise<{ run: (...args: never[]) => Promise<number> }>,
  cmd: Command,
  ...args: unknown[]
): Promise<void> {
  const opts = cmd.optsWithGlobals() as GlobalOptions;
  ui = createUi(opts);
  const mod = await load();
  process.exitCode = await (mod.run as (...a: unknown[]) => Promise<number>)(...args, opts, ui);
}

function buildProgram(): Command {
  const program = new Command("shctl")
    .description("Reconcile a stack of containers on the Docker Engine: plan, apply, tear down.")
    .version(version, "-V, --version", "print the version")
    .option("--no-color", "no colours (also NO_COLOR=1); colours are used only on a terminal")
    .helpOption("-h, --help", "show help")
    // `docker compose -f FILE up` habit: -f before the command works too (hidden; each command lists it).
    .addOption(fileOption().hideHelp())
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError()
    .showHelpAfterError("(add --help for usage and examples)")
    .exitOverride()
    .configureOutput({
      writeErr: (text) => {
        if (jsonRequested) usageText += text;
        else process.stderr.write(text);
      },
    })
    .addHelpText(
      "after",
      `
Without -f, the stack is Sentry 23.12.0 self-hosted (@sh/specs), configured by ./shctl.yaml and
SHCTL_* variables. "-f FILE" is the stack file in every command (as in kubectl apply -f), and may
come before the command too (as in docker compose -f FILE up).

Exit codes: 0 done or nothing to do, 1 the operation failed, 2 invalid usage or invalid stack,
3 diff --exit-code found changes or conflicts, 130 interrupted.

Environment: DOCKER_HOST (where the engine is), NO_COLOR (no colours), CI (plain progress lines),
SHCTL_NO_CACHE=1 (parse and validate a stack file even when it is unchanged).
${examples([
  "shctl diff                      # what apply would do",
  "shctl apply                     # bring Sentry up (first install and every start)",
  "shctl apply -f stack.yaml       # any stack file",
  "shctl status",
  "shctl logs web --follow",
  "shctl images save images.tar    # every image, for a machine without registry access",
  "shctl teardown --data --yes     # remove everything, data included",
])}`,
    );

  program
    .command("apply")
    .summary("make the engine match the stack (plan, then carry it out)")
    .description(
      "Make the engine match the stack: print the plan, then carry it out in dependency order. " +
        "On a terminal, asks before removing or recreating containers (--yes skips the question).",
    )
    .addOption(fileOption())
    .addOption(profileOption())
    .option("-y, --yes", "do not ask before removing or recreating anything")
    .option("--dry-run", "print the plan only; change nothing")
    .addOption(jsonOption())
    .option("--no-wait", "do not wait for started services to be healthy before returning")
    .option(
      "--wait-lock <DURATION>",
      "wait this long (e.g. 30s, 2m) for another shctl run on the stack to end",
    )
    .addOption(
      new Option("--concurrency <N>", "how many steps run at once (default 32)").argParser(intArg(1)),
    )
    .addHelpText(
      "after",
      `
Progress: a live view on a terminal; plain timestamped lines when stdout is not a terminal or CI
is set; JSON lines with --json. Ctrl-C finishes the steps in flight and starts nothing new (exit
130; run apply again to continue); a second Ctrl-C exits at once.
${examples([
  "shctl apply",
  "shctl apply --profile core --yes",
  "shctl apply -f stack.yaml --dry-run",
  "shctl apply -f stack.yaml --json --wait-lock 2m",
])}`,
    )
    .action((_o, cmd: Command) => runCommand(() => import("./commands/apply.js"), cmd));

  program
    .command("diff")
    .summary("print what apply would do")
    .description("Print what apply would do, changing nothing.")
    .addOption(fileOption())
    .addOption(profileOption())
    .addOption(jsonOption())
    .option("--exit-code", "exit 3 when there are changes or conflicts (0 when there are none)")
    .addHelpText(
      "after",
      `
Symbols: + create (or pull/build an image), ~ update in place, start or restart, -/+ recreate (with each
field that changed; secrets show as (sensitive)), - remove, > run a job.
${examples([
  "shctl diff",
  "shctl diff -f stack.yaml --profile dev",
  "shctl diff --exit-code || echo 'the stack needs an apply'",
  "shctl diff --json | jq -c 'select(.type == \"plan\") | .plan.actions[].id'",
])}`,
    )
    .action((_o, cmd: Command) => runCommand(() => import("./commands/diff.js"), cmd));

  program
    .command("teardown")
    .summary("remove the stack's containers and networks (--data: and its data)")
    .description(
      "Stop and remove the stack's containers and networks (found by label). The data root stays " +
        "unless --data, which deletes it after confirmation.",
    )
    .addOption(fileOption())
    .addOption(profileOption())
    .option("--data", "also delete the data root (asks on a terminal; needs --yes otherwise)")
    .option("-y, --yes", "do not ask before deleting the data root")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      examples([
        "shctl teardown                     # containers and networks; data stays",
        "shctl teardown --data              # asks: type the stack name or y",
        "shctl teardown -f stack.yaml --data --yes",
      ]),
    )
    .action((_o, cmd: Command) => runCommand(() => import("./commands/teardown.js"), cmd));

  program
    .command("status")
    .summary("each service's state, health, restarts and uptime")
    .description(
      "Show each service: state, health, restarts, uptime; * marks containers no longer in the stack.\n" +
        "A running service's readiness probes run once (at most 5s per service), so a service with " +
        "readiness probes but no Docker healthcheck shows ready or not ready; the first probe that " +
        "failed is explained below the table.",
    )
    .addOption(fileOption())
    .addOption(profileOption())
    .addOption(jsonOption())
    .option("--no-probes", "do not run readiness probes (faster; HEALTH is then Docker's only)")
    .addHelpText(
      "after",
      examples(["shctl status", "shctl status --no-probes", "shctl status -f stack.yaml --json"]),
    )
    .action((_o, cmd: Command) => runCommand(() => import("./commands/status.js"), cmd));

  program
    .command("logs")
    .summary("print a service's or job's log (-F to follow)")
    .description(
      "Print a service's or job's log (secrets redacted). -f is the stack file, as everywhere in " +
        "shctl, so following the log is -F/--follow.\nA job that has ended shows the saved log of " +
        "its latest run (its last 1000 lines are kept; --tail applies, -F does not).",
    )
    .argument("<SERVICE|JOB>", "service or job name")
    .showHelpAfterError(
      "(-f is the stack file in shctl; follow the log with -F or --follow; add --help for more)",
    )
    .addOption(fileOption())
    .addOption(profileOption())
    .option("-F, --follow", "keep printing new lines until Ctrl-C")
    .addOption(
      new Option("--tail <N>", "how many of the last lines to print first (default 100)").argParser(
        intArg(0),
      ),
    )
    .addHelpText(
      "after",
      examples([
        "shctl logs web",
        "shctl logs web --follow --tail 20",
        "shctl logs sentry-upgrade --tail 0   # whether the job's latest run completed",
        "shctl logs -f stack.yaml db -F",
      ]),
    )
    .action((service: string, _o, cmd: Command) =>
      runCommand(() => import("./commands/logs.js"), cmd, service),
    );

  const images = program
    .command("images")
    .summary("save the stack's images to one file, or load them from it (install without a registry)")
    .description(
      "Carry the stack's images to a machine that cannot reach a registry: `images save FILE` where " +
        "the registry is reachable, `images load FILE` on the other machine; apply then pulls nothing.",
    )
    .addHelpText(
      "after",
      examples([
        "shctl images save sentry-images.tar               # every image Sentry runs, pulled or built",
        "shctl images load sentry-images.tar               # on the machine without registry access",
        "shctl images save -f stack.yaml --profile dev app.tar",
        "shctl images load --check sentry-images.tar       # is the copy whole? loads nothing",
      ]),
    );

  images
    .command("save")
    .summary("write every image the stack runs into one file")
    .description(
      "Write every image the stack (and profile) runs, pulled or built, into one file: a tar holding " +
        "the engine's image archive (as `docker save` writes it) and a manifest with each image's " +
        "reference and ID and the archive's SHA-256. Images the engine lacks are pulled or built " +
        "first, as apply would. The file appears only once it is complete.",
    )
    .argument("<FILE>", "the bundle to write (a .tar; an existing file is replaced)")
    .addOption(fileOption())
    .addOption(profileOption())
    .option("--no-pull", "do not pull or build missing images: fail if the engine lacks one")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
The bundle is an uncompressed tar; compress it afterwards if you like (gzip): images load reads
a .tar.gz as it is. Images referenced by digest cannot be carried (the engine knows a digest only
for an image it pulled).
${examples([
  "shctl images save sentry-images.tar",
  "shctl images save --profile core core-images.tar",
  "shctl images save -f stack.yaml --no-pull app.tar --json",
])}`,
    )
    .action((file: string, _o, cmd: Command) =>
      runCommand(() => import("./commands/images.js").then((m) => ({ run: m.save })), cmd, file),
    );

  images
    .command("load")
    .summary("check a bundle completely, then load its images")
    .description(
      "Check a bundle completely (the tar, the archive's size and SHA-256, that every image is in " +
        "it under its reference with its ID) before anything is loaded; then load it and check that " +
        "every reference has the ID the bundle gives it. A damaged or truncated bundle is refused " +
        "(exit 2) and nothing is loaded. The stack file is not needed.",
    )
    .argument("<FILE>", "the bundle (.tar, or .tar.gz)")
    .option("--check", "only check the bundle and say which images the engine lacks; load nothing")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Reading a bundle takes two passes over it (one to check, one to load); no copy of it is made.
${examples(["shctl images load sentry-images.tar", "shctl images load --check sentry-images.tar.gz", "shctl images load app.tar --json"])}`,
    )
    .action((file: string, _o, cmd: Command) =>
      runCommand(() => import("./commands/images.js").then((m) => ({ run: m.load })), cmd, file),
    );

  return program;
}

async function main(): Promise<void> {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    // `shctl logs web | head`: the reader went away; stop quietly.
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; everything else commander rejects is invalid usage (it printed why).
      const ok = err.code === "commander.helpDisplayed" || err.code === "commander.version";
      process.exitCode = ok ? 0 : 2;
      if (!ok && jsonRequested) {
        const { usageErrorJson } = await import("./render/error.js");
        createUi({ json: true }).emit(usageErrorJson(usageText || err.message));
      }
      return;
    }
    process.exitCode = await import("./report.js").then((m) => m.reportError(err, ui));
  }
}

await main();
