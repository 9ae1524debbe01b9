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

Exit codes: 0 done or nothing to do, 1 the operation failed, 2 invalid usage or invalid stack (or
refused: a damaged backup or image bundle, a restore target that is not empty), 3 diff --exit-code
found changes or conflicts, 130 interrupted.

Environment: DOCKER_HOST (where the engine is), NO_COLOR (no colours), CI (plain progress lines),
SHCTL_NO_CACHE=1 (parse and validate a stack file even when it is unchanged).
${examples([
  "shctl diff                      # what apply would do",
  "shctl apply                     # bring Sentry up (first install and every start)",
  "shctl apply -f stack.yaml       # any stack file",
  "shctl status",
  "shctl doctor                    # what is wrong, and how to fix it",
  "shctl verify                    # send an error, a transaction and a replay through it",
  "shctl logs web --follow",
  "shctl backup                    # archive the data root (services stop meanwhile)",
  "shctl restore backup.tar.gz     # into a missing or empty data root, then: shctl apply",
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
    .option(
      "--force-unlock",
      "take the stack's lock even if it looks held (last resort: only when no shctl run holds it)",
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
    .option(
      "--force-unlock",
      "take the stack's lock even if it looks held (last resort: only when no shctl run holds it)",
    )
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
    .command("backup")
    .summary("archive the whole data root (services stop while it is packed)")
    .description(
      "Write one archive of the stack's data root: the stack's running services stop (dependents " +
        "first), the data root is packed with owners, modes and links as they are, plus a manifest " +
        "(stack name and version, shctl version, job records, each file's size and SHA-256), then the " +
        "services start again in dependency order and the backup waits until they are ready. Files " +
        "that containers' users own are read through the engine: no root needed.\n" +
        "FILE defaults to ./shctl-backup-STACK-TIMESTAMP.tar.gz; a name ending in .tar is not compressed. " +
        "The archive is written as FILE.partial and renamed when complete. It holds the stack's secrets " +
        "(mode 0600).",
    )
    .argument("[FILE]", "the archive to write")
    .addOption(fileOption())
    .addOption(profileOption())
    .option("-y, --yes", "do not ask before stopping the services or replacing FILE")
    .addOption(jsonOption())
    .option("--no-wait", "do not wait for the restarted services to be ready")
    .option(
      "--wait-lock <DURATION>",
      "wait this long (e.g. 30s, 2m) for another shctl run on the stack to end",
    )
    .addHelpText(
      "after",
      `
Progress: a bar with bytes and rate on a terminal; plain timestamped lines otherwise; JSON lines
with --json. Ctrl-C removes the partial archive and starts the services again (exit 130); a
second Ctrl-C exits at once and leaves them stopped (\`shctl apply\` starts them).
Exit codes: 0 written, 1 failed, 2 refused (no data root, FILE inside it, FILE exists without --yes).
${examples([
  "shctl backup                              # ./shctl-backup-sentry-20261130T054812Z.tar.gz",
  "shctl backup /backups/sentry.tar.gz --yes # no questions (cron)",
  "shctl backup -f stack.yaml data.tar       # uncompressed",
  "shctl backup --json | tail -n 1 | jq .file",
])}`,
    )
    .action((file: string | undefined, _o, cmd: Command) =>
      runCommand(() => import("./commands/backup.js"), cmd, file),
    );

  program
    .command("restore")
    .summary("restore a backup into a missing or empty data root")
    .description(
      "Restore an archive written by `shctl backup` into the stack's data root, which must be missing " +
        "or empty and the stack stopped (anything else is refused, nothing touched). The whole archive " +
        "is checked against its manifest (every file's SHA-256) before anything is written; a damaged " +
        "or truncated archive is refused. Owners, modes and links come back as they were (files of the " +
        "user who made the backup go to the user who restores it, if that is another non-root user). " +
        "The job records come back too: the next `shctl apply` brings the stack up without running " +
        "its init jobs again.",
    )
    .argument("<FILE>", "the archive to restore")
    .addOption(fileOption())
    .addOption(profileOption())
    .option("--check", "only read and check the archive; change nothing")
    .addOption(jsonOption())
    .option(
      "--wait-lock <DURATION>",
      "wait this long (e.g. 30s, 2m) for another shctl run on the stack to end",
    )
    .addHelpText(
      "after",
      `
Ctrl-C stops the restore and removes what it wrote (exit 130).
Exit codes: 0 restored (or checked), 1 failed, 2 refused (a damaged, truncated or foreign archive;
a data root that is not empty; a stack that runs).
${examples([
  "shctl teardown --data --yes && shctl restore backup.tar.gz && shctl apply",
  "shctl restore --check backup.tar.gz        # is it intact?",
  "shctl restore -f stack.yaml data.tar --json",
])}`,
    )
    .action((file: string, _o, cmd: Command) => runCommand(() => import("./commands/restore.js"), cmd, file));

  program
    .command("status")
    .summary("each service's state, health, restarts and uptime")
    .description(
      "Show each service: state, health, restarts, uptime; * marks containers no longer in the stack.\n" +
        "A running service's readiness probes run once (at most 5s per service), so a service with " +
        "readiness probes but no Docker healthcheck shows ready or not ready; the first probe that " +
        "failed is explained below the table.\n" +
        "A stack may add its own columns: the Sentry stack's LAG is each Kafka consumer's lag (messages " +
        "not yet consumed: the topic's end offsets less the group's committed ones), sampled twice " +
        "~2.5s apart; a running consumer whose lag grew while it committed nothing is marked stuck.",
    )
    .addOption(fileOption())
    .addOption(profileOption())
    .addOption(jsonOption())
    .option(
      "--no-probes",
      "do not run readiness probes nor ask for the stack's own figures (faster; HEALTH is then Docker's only)",
    )
    .addHelpText(
      "after",
      examples(["shctl status", "shctl status --no-probes", "shctl status -f stack.yaml --json"]),
    )
    .action((_o, cmd: Command) => runCommand(() => import("./commands/status.js"), cmd));

  program
    .command("doctor")
    .summary("check what the stack needs: engine, directories, ports, images, …")
    .description(
      "Check what the stack needs, changing nothing: the engine (version, API, Docker Desktop), " +
        "where shctl and the engine run (WSL2, a remote engine), how shctl reaches containers, the " +
        "data root's file system and free disk, each data directory's owner and mode against the " +
        "spec, every published host port (free, or held by which container or process), the " +
        "registry mirror, every image, and the engine's clock; then the stack's own checks (Sentry: " +
        "CPUs, memory, disk against upstream's minimums, SSE 4.2, every Kafka topic, ClickHouse).\n" +
        "Each check prints ✓ ok, ! warning, ✗ failed or - skipped, with what fixes it. Exit 0 when " +
        "no check failed (warnings allowed), 1 when one did.",
    )
    .addOption(fileOption())
    .addOption(profileOption())
    .addOption(
      new Option("--json", 'JSON lines on stdout: a {"type":"check"} line per check, then the result'),
    )
    .addHelpText(
      "after",
      examples([
        "shctl doctor",
        "shctl doctor -f stack.yaml",
        'shctl doctor --json | jq -c \'select(.type == "check" and .check.status != "ok")\'',
        "shctl doctor || echo 'something needs fixing'",
      ]),
    )
    .action((_o, cmd: Command) => runCommand(() => import("./commands/doctor.js"), cmd));

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

  program
    .command("verify")
    .summary("send test data through the running stack and follow it hop by hop")
    .description(
      "Run the stack's end-to-end checks against the running stack. For Sentry: an error, a " +
        "transaction and a replay are sent to the public URL as an SDK sends them, then followed " +
        "with their own ids through relay, Kafka (each topic and consumer group), the worker, " +
        "ClickHouse and Postgres to Sentry's web API, each hop timed. The first broken hop names " +
        "the service that owns it, with its state, restarts, last log lines and the likely fix. " +
        "The data goes to a project of its own (shctl-verify, made through Sentry on first use and " +
        "reused), tagged shctl.verify=1 in environment shctl-verify.",
    )
    .addOption(fileOption())
    .addOption(profileOption())
    .addOption(
      new Option(
        "--pipeline <NAME>",
        "run only this check (errors, transactions, replays for Sentry); repeat or comma-separate for more",
      ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .option("--timeout <DURATION>", "how long each check may take (default: the check's own, 3m for Sentry)")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Output: each hop as it ends (a live view on a terminal, plain lines otherwise), then a table per
check (hop, owning service, status, time, what it found) and, for a check that failed, its first
broken hop explained. Exit codes: 0 every check passed, 1 one failed, 2 invalid usage (an unknown
check, a stack without checks), 130 interrupted.
${examples([
  "shctl verify",
  "shctl verify --pipeline errors",
  "shctl verify --pipeline transactions,replays --timeout 5m",
  'shctl verify --json | jq -c \'select(.type == "hop" and .status == "failed")\'',
])}`,
    )
    .action((_o, cmd: Command) => runCommand(() => import("./commands/verify.js"), cmd));

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

/**
 * A command that never settles (a promise waiting on an engine connection that went away without
 * an answer) would otherwise end the process silently with Node's exit code 13: when the event loop
 * runs dry before main() has settled, say so, as an internal error, and exit 1.
 */
let settled = false;
process.once("beforeExit", () => {
  if (settled) return;
  settled = true;
  process.stderr.write(
    [
      "error: shctl stopped waiting for something that will never answer (most likely a connection to the Docker Engine that was lost)",
      "  hint: check the engine (`docker version`), then run the command again; `shctl status` shows where the stack is",
      "  this is a bug in shctl: please report it with what you ran",
      "",
    ].join("\n"),
  );
  process.exitCode = 1;
});
main().then(
  () => {
    settled = true;
  },
  (err: unknown) => {
    settled = true;
    process.stderr.write(`internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
