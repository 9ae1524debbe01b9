import {
  apply,
  CancelledError,
  ConflictError,
  connectEngine,
  formatDuration,
  hasChanges,
  InterruptedError,
  isDestructive,
  type Plan,
  type ProgressEvent,
  parseDuration,
  resourceKey,
  UsageError,
} from "@sh/core";
import { ask } from "../prompt.js";
import { countPlan, renderPlan } from "../render/plan.js";
import type { Progress } from "../render/progress.js";
import { notDone, stoppedSummary } from "../render/summary.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { createProgress, displayPath, resolveStack, type StackOptions } from "./common.js";

export interface ApplyCommandOptions extends StackOptions, GlobalOptions {
  yes?: boolean;
  dryRun?: boolean;
  /** False with --no-wait. */
  wait?: boolean;
  waitLock?: string;
  forceUnlock?: boolean;
  concurrency?: number;
}

const INTERRUPT_NOTICE =
  "finishing the steps in flight, starting nothing new; press Ctrl-C again to exit now";

export async function run(o: ApplyCommandOptions, ui: Ui): Promise<number> {
  const lockWaitMs = o.waitLock === undefined ? 0 : parseDuration(o.waitLock);
  if (lockWaitMs === undefined) {
    throw new UsageError(`--wait-lock: "${o.waitLock}" is not a duration`, {
      hint: "give one like 30s, 2m or 1m30s",
    });
  }
  // On a terminal, the default stack may ask its first-run questions (Sentry: the first admin user).
  const stack = await resolveStack(
    o,
    undefined,
    !o.yes && !o.dryRun && !ui.json && ui.canPrompt ? ask : undefined,
  );
  const engine = connectEngine();
  const controller = new AbortController();
  let shown: Plan | undefined;
  let progress: Progress | undefined;
  /** How the execution ended (its last event), and the resources that failed on the way. */
  let outcome: { notDone: string[]; notReady: string[] } | undefined;
  const failed = new Set<string>();
  const warn = (message: string) => {
    if (progress) progress.note(ui.c.yellow(`warning: ${message}`));
    else if (ui.json) ui.emit({ type: "warning", message });
    else ui.err(`${ui.ce.yellow("warning:")} ${message}`);
  };
  const startProgress = (p: Plan) => {
    if (o.dryRun || p.actions.length === 0 || p.conflicts.length > 0) return;
    if (!ui.json) ui.out("");
    progress = createProgress(
      ui,
      "applying",
      p.actions.map((a) => resourceKey(a.resource)),
    );
  };
  // On a terminal, ask before anything that exists is removed or replaced (unless --yes): core asks
  // under the lock, with the plan that will run.
  const asking = !o.yes && !o.dryRun && !ui.json && ui.canPrompt;
  const confirm = async (p: Plan): Promise<boolean> => {
    if (asking && isDestructive(p)) {
      ui.out("");
      const where = displayPath(stack.dataRoot);
      const answer = await ask(`Apply this plan to stack ${stack.name}? Data under ${where} is kept. [y/N] `);
      if (answer === undefined) throw new InterruptedError("cancelled at the question: nothing was changed");
      if (!/^y(es)?$/i.test(answer)) return false;
    }
    startProgress(p);
    return true;
  };
  const onEvent = (e: ProgressEvent) => {
    if (e.type === "outcome") outcome = e;
    if (e.type === "phase" && e.phase === "failed") failed.add(e.resource);
    if (e.type !== "plan") {
      if (progress) progress.event(e);
      else if (ui.json) ui.emit(e);
      else if (e.type === "warning") warn(e.resource ? `${e.resource}: ${e.message}` : e.message);
      return;
    }
    shown = e.plan;
    if (ui.json) ui.emit(e);
    else ui.out(renderPlan(e.plan, ui.c));
  };

  const interrupt = onInterrupt(() => {
    controller.abort();
    if (shown === undefined) {
      // Before the plan, apply only waits for the lock or reads the engine: nothing has changed,
      // and the lock wait would not see the abort, so stop now. Our lock (if any) goes on exit.
      void stopBeforeAnyChange(ui);
      return;
    }
    if (progress) progress.note(ui.c.yellow(INTERRUPT_NOTICE));
    else warn(INTERRUPT_NOTICE);
  });
  const t0 = Date.now();
  try {
    const r = await apply(stack, engine, {
      onEvent,
      signal: controller.signal,
      wait: o.wait !== false,
      lockWaitMs,
      ...(o.forceUnlock ? { forceUnlock: true } : {}),
      dryRun: o.dryRun === true,
      confirm,
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    });
    progress?.stop();
    if (o.dryRun || !r.result) {
      if (ui.json) {
        ui.emit({
          type: "result",
          command: "apply",
          dryRun: true,
          stack: stack.name,
          changes: hasChanges(r.plan),
          summary: countPlan(r.plan),
        });
      } else if (hasChanges(r.plan)) ui.out(`\n${ui.c.dim("Dry run: nothing was changed.")}`);
      return 0;
    }
    const { done, skipped } = r.result;
    const durationMs = Date.now() - t0;
    if (ui.json) {
      ui.emit({
        type: "result",
        command: "apply",
        stack: stack.name,
        profile: stack.profile ?? null,
        actions: r.plan.actions.length,
        done,
        skipped,
        durationMs,
        notes: stack.notes,
      });
      return 0;
    }
    if (r.plan.actions.length > 0) {
      const extra = skipped.length > 0 ? ` (${skipped.length} skipped: ${skipped.join(", ")})` : "";
      ui.out("");
      ui.out(
        ui.c.green(
          `Done: ${done.length} action${done.length === 1 ? "" : "s"} in ${formatDuration(durationMs)}.`,
        ) + extra,
      );
      if (o.wait === false)
        ui.out(ui.c.dim("Health was not waited for (--no-wait): `shctl status` shows it."));
    }
    if (stack.notes.length > 0) ui.out(`\n${stack.notes.join("\n")}`);
    return 0;
  } catch (err) {
    if (progress && !ui.json) {
      progress.stop();
      const how = err instanceof InterruptedError ? "interrupted" : "failed";
      ui.out("");
      // What failed says so on its own line: the summary names the rest that was not done.
      const rest = shown && outcome ? notDone(shown, outcome).filter((r) => !failed.has(r)) : [];
      ui.out(stoppedSummary(how, Date.now() - t0, rest, ui.c));
    }
    progress?.stop();
    if (err instanceof ConflictError && !ui.json && shown && shown.conflicts.length > 0) {
      // The plan above lists each conflict with its hint; say it once more in one line.
      if (o.dryRun) ui.out(`\n${ui.c.dim("Dry run: nothing was changed.")}`);
      throw new ConflictError(err.message, {
        hint: "resolve the conflicts listed above, then run apply again",
      });
    }
    if (err instanceof CancelledError) {
      ui.err("Cancelled; nothing was changed.");
      return 1;
    }
    if (err instanceof InterruptedError && !progress && err.message.startsWith("cancelled at the question")) {
      ui.err("Cancelled; nothing was changed.");
      return 130;
    }
    throw err;
  } finally {
    interrupt.dispose();
  }
}

async function stopBeforeAnyChange(ui: Ui): Promise<never> {
  const { reportError } = await import("../report.js");
  const code = await reportError(
    new InterruptedError("interrupted before the plan: nothing was changed", {
      hint: "run apply again when you want to",
    }),
    ui,
  );
  process.exit(code);
}
