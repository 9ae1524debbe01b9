import {
  apply,
  ConflictError,
  connectEngine,
  diff,
  formatDuration,
  InterruptedError,
  type Plan,
  type ProgressEvent,
  parseDuration,
  UsageError,
} from "@sh/core";
import { ask } from "../prompt.js";
import { countPlan, hasChanges, isDestructive, renderPlan } from "../render/plan.js";
import type { Progress } from "../render/progress.js";
import { notStarted, stoppedSummary } from "../render/summary.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { createProgress, displayPath, resolveStack, type StackOptions } from "./common.js";

export interface ApplyCommandOptions extends StackOptions, GlobalOptions {
  yes?: boolean;
  dryRun?: boolean;
  /** False with --no-wait. */
  wait?: boolean;
  waitLock?: string;
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

  // On a terminal, ask before anything that exists is removed or replaced (unless --yes).
  let confirmed: Plan | undefined;
  if (!o.yes && !o.dryRun && !ui.json && ui.canPrompt) {
    const p = await diff(stack, engine);
    if (isDestructive(p) && p.conflicts.length === 0) {
      ui.out(renderPlan(p, ui.c));
      ui.out("");
      const where = displayPath(stack.dataRoot);
      const answer = await ask(`Apply this plan to stack ${stack.name}? Data under ${where} is kept. [y/N] `);
      if (answer === undefined) {
        ui.err("Cancelled; nothing was changed.");
        return 130;
      }
      if (!/^y(es)?$/i.test(answer)) {
        ui.err("Cancelled; nothing was changed.");
        return 1;
      }
      confirmed = p;
    }
  }

  const controller = new AbortController();
  let shown: Plan | undefined;
  let planChanged = false;
  let progress: Progress | undefined;
  /** Resources that reached a phase. */
  const seen = new Set<string>();
  const warn = (message: string) => {
    if (progress) progress.note(ui.c.yellow(`warning: ${message}`));
    else if (ui.json) ui.emit({ type: "warning", message });
    else ui.err(`${ui.ce.yellow("warning:")} ${message}`);
  };
  const onEvent = (e: ProgressEvent) => {
    if (e.type === "phase") seen.add(e.resource);
    if (e.type !== "plan") {
      if (progress) progress.event(e);
      else if (ui.json) ui.emit(e);
      else if (e.type === "warning") warn(e.resource ? `${e.resource}: ${e.message}` : e.message);
      return;
    }
    shown = e.plan;
    if (ui.json) ui.emit(e);
    else if (!(confirmed && samePlan(confirmed, e.plan))) {
      if (confirmed && hasChanges(e.plan)) {
        // Something changed between the question and the lock: run nothing the user has not seen.
        planChanged = true;
        controller.abort();
        ui.out(ui.c.yellow("The plan changed after it was confirmed; nothing is done. The plan now:"));
      }
      ui.out(renderPlan(e.plan, ui.c));
    }
    if (!o.dryRun && !planChanged && e.plan.actions.length > 0 && e.plan.conflicts.length === 0) {
      if (!ui.json) ui.out("");
      progress = createProgress(
        ui,
        "applying",
        e.plan.actions.map((a) => a.resource),
      );
    }
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
      dryRun: o.dryRun === true,
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    });
    progress?.stop();
    if (o.dryRun || !r.result) {
      const n = r.plan.conflicts.length;
      if (n > 0) {
        // A dry run says what apply would do: here, stop at the conflicts (exit 1, as apply would).
        if (!ui.json) ui.out(`\n${ui.c.dim("Dry run: nothing was changed.")}`);
        throw new ConflictError(`${n} conflict${n === 1 ? "" : "s"} would stop this apply`, {
          details: ui.json ? r.plan.conflicts.map((k) => `${k.resource}: ${k.message}`) : [],
          hint: ui.json
            ? r.plan.conflicts.map((k) => k.hint).join("; ")
            : "resolve the conflicts listed above, then run apply again",
        });
      }
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
    if (progress && !ui.json && !planChanged) {
      progress.stop();
      const how = err instanceof InterruptedError ? "interrupted" : "failed";
      ui.out("");
      ui.out(stoppedSummary(how, Date.now() - t0, shown ? notStarted(shown, seen) : [], ui.c));
    }
    progress?.stop();
    if (planChanged && err instanceof InterruptedError) {
      throw new ConflictError("the plan changed after it was confirmed, so nothing was changed", {
        hint: "read the plan above and run apply again",
      });
    }
    if (err instanceof ConflictError && !ui.json && shown && shown.conflicts.length > 0) {
      // The plan above lists each conflict with its hint; say it once more in one line.
      throw new ConflictError(err.message, {
        hint: "resolve the conflicts listed above, then run apply again",
      });
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

/** The same actions with the same changes (what the user confirmed is what runs). */
function samePlan(a: Plan, b: Plan): boolean {
  const key = (p: Plan) => JSON.stringify(p.actions.map((x) => [x.id, x.changes]));
  return key(a) === key(b);
}
