import { connectEngine, diff, hasChanges } from "@sh/core";
import { countPlan, renderPlan } from "../render/plan.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { resolveStack, type StackOptions } from "./common.js";

export interface DiffCommandOptions extends StackOptions, GlobalOptions {
  exitCode?: boolean;
}

/** Prints what `apply` would do. Exit 0, or 3 with --exit-code when there is anything to do or a conflict. */
export async function run(o: DiffCommandOptions, ui: Ui): Promise<number> {
  const stack = await resolveStack(o);
  const plan = await diff(stack, connectEngine());
  const changes = hasChanges(plan);
  if (ui.json) {
    ui.emit({ type: "plan", plan });
    ui.emit({
      type: "result",
      command: "diff",
      stack: stack.name,
      profile: stack.profile ?? null,
      changes,
      summary: countPlan(plan),
      conflicts: plan.conflicts.length,
    });
  } else ui.out(renderPlan(plan, ui.c));
  return o.exitCode && changes ? 3 : 0;
}
