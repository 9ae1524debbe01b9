import {
  connectEngine,
  type DoctorFinding,
  doctor,
  EngineUnreachableError,
  type ResolvedStack,
  summarizeFindings,
} from "@sh/core";
import { renderDoctorSummary, renderFinding } from "../render/doctor.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { resolveStack, type StackOptions } from "./common.js";

/**
 * `shctl doctor`: every check with its verdict and fix, as each is known; exit 1 when one failed
 * (warnings and skipped checks do not fail it). An engine that cannot be reached while the stack
 * loads (the default stack asks it for its architecture) is the engine check's failure, reported
 * the same way.
 */
export async function run(o: StackOptions & GlobalOptions, ui: Ui): Promise<number> {
  const show = (f: DoctorFinding) => {
    if (ui.json) ui.emit({ type: "check", check: f });
    else ui.out(renderFinding(f, ui.c));
  };
  let stack: ResolvedStack;
  try {
    stack = await resolveStack(o);
  } catch (err) {
    if (!(err instanceof EngineUnreachableError)) throw err;
    const f: DoctorFinding = {
      id: "engine",
      title: "engine",
      source: "builtin",
      status: "failure",
      detail: err.message,
      lines: err.details,
      ...(err.hint ? { fix: err.hint } : {}),
      elapsedMs: 0,
    };
    return finish(ui, undefined, [f], show);
  }
  const findings = await doctor(stack, connectEngine(), { onFinding: show });
  return finish(ui, stack.name, findings, undefined);
}

function finish(
  ui: Ui,
  stack: string | undefined,
  findings: DoctorFinding[],
  show: ((f: DoctorFinding) => void) | undefined,
): number {
  for (const f of show ? findings : []) show?.(f);
  const n = summarizeFindings(findings);
  if (ui.json) {
    ui.emit({
      type: "result",
      command: "doctor",
      ...(stack ? { stack } : {}),
      ok: !n.failed,
      counts: { ok: n.ok, warning: n.warning, failure: n.failure, skipped: n.skipped },
      checks: findings,
    });
  } else ui.out(renderDoctorSummary(n, ui.c));
  return n.failed ? 1 : 0;
}
