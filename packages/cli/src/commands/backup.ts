import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  backup,
  CancelledError,
  connectEngine,
  formatBytes,
  formatDuration,
  InterruptedError,
  parseDuration,
  RefusedError,
  UsageError,
} from "@sh/core";
import { ask } from "../prompt.js";
import type { Progress } from "../render/progress.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { createProgress, displayPath, resolveStack, type StackOptions } from "./common.js";

export interface BackupCommandOptions extends StackOptions, GlobalOptions {
  yes?: boolean;
  waitLock?: string;
  /** False with --no-wait. */
  wait?: boolean;
}

/** shctl's version, as the archive names its writer. */
function shctlVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
    ).version;
  } catch {
    return "unknown";
  }
}

/** `shctl-backup-STACK-20261130T054812Z.tar.gz` in the current directory. */
export function defaultBackupName(stack: string, now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
  return `shctl-backup-${stack}-${stamp}.tar.gz`;
}

export async function run(file: string | undefined, o: BackupCommandOptions, ui: Ui): Promise<number> {
  const lockWaitMs = o.waitLock === undefined ? 0 : parseDuration(o.waitLock);
  if (lockWaitMs === undefined) {
    throw new UsageError(`--wait-lock: "${o.waitLock}" is not a duration`, {
      hint: "give one like 30s, 2m or 1m30s",
    });
  }
  const stack = await resolveStack(o);
  const target = path.resolve(file ?? defaultBackupName(stack.name));
  const shown = displayPath(target);
  const asking = !o.yes && !ui.json && ui.canPrompt;
  let overwrite = o.yes === true;
  if (existsSync(target) && !overwrite) {
    if (!asking) {
      throw new RefusedError(`${shown} exists already`, {
        hint: "give another file name, or pass --yes to replace it",
      });
    }
    const answer = await ask(`${shown} exists. Replace it? [y/N] `);
    if (answer === undefined) throw new InterruptedError("cancelled at the question: nothing was changed");
    if (!/^y(es)?$/i.test(answer)) {
      ui.err("Cancelled; nothing was changed.");
      return 1;
    }
    overwrite = true;
  }

  const engine = connectEngine();
  const controller = new AbortController();
  let progress: Progress | undefined;
  const startProgress = () => {
    if (progress) return;
    if (!ui.json) ui.out("");
    progress = createProgress(ui, "backing up", [`archive ${path.basename(target)}`]);
  };
  const confirm = async (services: string[]): Promise<boolean> => {
    if (asking) {
      ui.err(
        `The backup stops ${services.length} service${services.length === 1 ? "" : "s"} of stack ${stack.name} ` +
          `(${services.join(", ")}) while it packs ${displayPath(stack.dataRoot)}, then starts them again.`,
      );
      const answer = await ask("Stop them and back up now? [y/N] ");
      if (answer === undefined) throw new InterruptedError("cancelled at the question: nothing was changed");
      if (!/^y(es)?$/i.test(answer)) return false;
    }
    startProgress();
    return true;
  };
  const interrupt = onInterrupt(() => {
    controller.abort();
    const notice =
      "interrupted: removing the partial archive and starting the services again; press Ctrl-C again to exit now (then `shctl apply` starts them)";
    if (progress) progress.note(ui.c.yellow(notice));
    else if (!ui.json) ui.err(ui.ce.yellow(notice));
  });
  const t0 = Date.now();
  try {
    const r = await backup(stack, engine, {
      file: target,
      overwrite,
      lockWaitMs,
      signal: controller.signal,
      tool: `shctl ${shctlVersion()}`,
      wait: o.wait !== false,
      confirm,
      onEvent: (e) => {
        if (e.type === "plan") return;
        startProgress();
        progress?.event(e);
      },
    });
    progress?.stop();
    if (ui.json) {
      ui.emit({
        type: "result",
        command: "backup",
        stack: stack.name,
        file: r.file,
        archiveBytes: r.archiveBytes,
        compressed: r.compressed,
        files: r.manifest.totals.files,
        entries: r.manifest.totals.entries,
        dataBytes: r.manifest.totals.bytes,
        jobs: Object.keys(r.manifest.jobs).sort(),
        stopped: r.stopped,
        downtimeMs: r.downtimeMs,
        durationMs: r.durationMs,
      });
      return 0;
    }
    ui.out("");
    ui.out(
      ui.c.green(
        `Backed up stack ${stack.name} to ${shown}: ${r.manifest.totals.files} files, ${formatBytes(r.manifest.totals.bytes)} ` +
          `(${formatBytes(r.archiveBytes)} on disk) in ${formatDuration(Date.now() - t0)}.`,
      ),
    );
    if (r.stopped.length > 0)
      ui.out(
        ui.c.dim(
          `${r.stopped.length} service${r.stopped.length === 1 ? " was" : "s were"} down for ${formatDuration(r.downtimeMs)} and ${r.stopped.length === 1 ? "is" : "are"} running again.`,
        ),
      );
    ui.out(
      ui.c.dim(`The archive holds the stack's secrets: keep it private. Restore: shctl restore ${shown}`),
    );
    return 0;
  } catch (err) {
    progress?.stop();
    if (err instanceof CancelledError) {
      ui.err("Cancelled; nothing was changed.");
      return 1;
    }
    throw err;
  } finally {
    interrupt.dispose();
  }
}
