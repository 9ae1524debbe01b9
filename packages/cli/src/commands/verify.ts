import { connectEngine, parseDuration, UsageError, type VerifyEvent, verify } from "@sh/core";
import { LiveVerify, PlainVerify, renderVerifySummary, type VerifyView } from "../render/verify.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { resolveStack, type StackOptions } from "./common.js";

export interface VerifyCommandOptions extends StackOptions, GlobalOptions {
  /** --pipeline, repeated or comma-separated. */
  pipeline?: string[];
  timeout?: string;
}

/** `shctl verify`: runs the stack's checks; exit 0 when all pass, 1 when one fails, 130 interrupted. */
export async function run(o: VerifyCommandOptions, ui: Ui): Promise<number> {
  const timeoutMs = o.timeout === undefined ? undefined : parseDuration(o.timeout);
  if (timeoutMs === undefined && o.timeout !== undefined) {
    throw new UsageError(`--timeout: "${o.timeout}" is not a duration`, {
      hint: "give one like 90s, 3m or 5m",
    });
  }
  if (timeoutMs !== undefined && timeoutMs <= 0)
    throw new UsageError("--timeout must be longer than 0", { hint: "give one like 90s, 3m or 5m" });
  const only = (o.pipeline ?? [])
    .flatMap((p) => p.split(","))
    .map((p) => p.trim())
    .filter(Boolean);
  const stack = await resolveStack(o);
  const engine = connectEngine();
  const controller = new AbortController();
  let view: VerifyView | undefined;
  const interrupt = onInterrupt(() => {
    controller.abort();
    const text = "stopping the checks where they are; press Ctrl-C again to exit now";
    if (view) view.note(ui.c.yellow(text));
    else ui.err(text);
  });
  try {
    const onEvent = (e: VerifyEvent) => {
      if (ui.json) ui.emit(e);
      else {
        view ??= ui.live
          ? new LiveVerify(process.stdout, ui.c).start()
          : new PlainVerify(process.stdout, ui.c);
        view.event(e);
      }
    };
    const result = await verify(stack, engine, {
      ...(only.length > 0 ? { only } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      onEvent,
      signal: controller.signal,
    });
    view?.stop();
    if (ui.json) {
      ui.emit({
        type: "result",
        command: "verify",
        stack: stack.name,
        ok: result.ok,
        interrupted: result.interrupted,
        checks: result.checks,
      });
    } else {
      ui.out("");
      ui.out(renderVerifySummary(result.checks, ui.c, { interrupted: result.interrupted }));
    }
    return result.interrupted ? 130 : result.ok ? 0 : 1;
  } finally {
    view?.stop();
    interrupt.dispose();
  }
}
