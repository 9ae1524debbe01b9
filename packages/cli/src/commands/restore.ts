import path from "node:path";
import { connectEngine, formatBytes, formatDuration, parseDuration, restore, UsageError } from "@sh/core";
import type { Progress } from "../render/progress.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { createProgress, displayPath, resolveStack, type StackOptions } from "./common.js";

export interface RestoreCommandOptions extends StackOptions, GlobalOptions {
  check?: boolean;
  waitLock?: string;
}

export async function run(file: string, o: RestoreCommandOptions, ui: Ui): Promise<number> {
  const lockWaitMs = o.waitLock === undefined ? 0 : parseDuration(o.waitLock);
  if (lockWaitMs === undefined) {
    throw new UsageError(`--wait-lock: "${o.waitLock}" is not a duration`, {
      hint: "give one like 30s, 2m or 1m30s",
    });
  }
  const stack = await resolveStack(o);
  const engine = connectEngine();
  const controller = new AbortController();
  let progress: Progress | undefined;
  const where = displayPath(stack.dataRoot);
  const interrupt = onInterrupt(() => {
    controller.abort();
    const notice = o.check
      ? "interrupted: stopping the check"
      : "interrupted: stopping, and removing what was restored so far; press Ctrl-C again to exit now";
    if (progress) progress.note(ui.c.yellow(notice));
    else if (!ui.json) ui.err(ui.ce.yellow(notice));
  });
  const t0 = Date.now();
  try {
    const r = await restore(stack, engine, {
      file,
      lockWaitMs,
      signal: controller.signal,
      checkOnly: o.check === true,
      onEvent: (e) => {
        if (e.type === "plan") return;
        if (!progress) {
          if (!ui.json) ui.out("");
          progress = createProgress(ui, o.check ? "checking" : "restoring", [
            `archive ${path.basename(file)}`,
            `dir ${path.relative(stack.projectDir, stack.dataRoot) || "."}`,
          ]);
        }
        progress.event(e);
      },
    });
    progress?.stop();
    const m = r.manifest;
    if (ui.json) {
      ui.emit({
        type: "result",
        command: "restore",
        stack: stack.name,
        file: r.file,
        restored: r.restored,
        dataRoot: stack.dataRoot,
        backup: {
          stack: m.stack,
          tool: m.tool,
          createdAt: m.createdAt,
          files: m.totals.files,
          entries: m.totals.entries,
          dataBytes: m.totals.bytes,
          jobs: Object.keys(m.jobs).sort(),
        },
        durationMs: r.durationMs,
      });
      return 0;
    }
    const of = `stack ${m.stack.name}${m.stack.version ? ` ${m.stack.version}` : ""}, backed up ${m.createdAt.replace(/\.\d{3}Z$/, "Z")} by ${m.tool}`;
    ui.out("");
    if (!r.restored) {
      ui.out(
        ui.c.green(
          `${displayPath(r.file)} is intact: ${m.totals.files} files, ${formatBytes(m.totals.bytes)}, every checksum matches (${of}).`,
        ),
      );
      return 0;
    }
    ui.out(
      ui.c.green(
        `Restored ${m.totals.files} files (${formatBytes(m.totals.bytes)}) into ${where} in ${formatDuration(Date.now() - t0)} (${of}).`,
      ),
    );
    const jobs = Object.keys(m.jobs).length;
    ui.out(
      `Next: \`shctl apply\` brings the stack up${jobs > 0 ? `; the ${jobs} init job${jobs === 1 ? "" : "s"} that had completed will not run again` : ""}.`,
    );
    return 0;
  } finally {
    progress?.stop();
    interrupt.dispose();
  }
}
