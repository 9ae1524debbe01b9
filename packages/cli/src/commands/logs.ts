import { connectEngine, logs, UnknownNameError, UsageError } from "@sh/core";
import { unknownNameHint } from "../render/suggest.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { resolveStack, type StackOptions } from "./common.js";

export interface LogsCommandOptions extends StackOptions, GlobalOptions {
  follow?: boolean;
  tail?: number;
}

export async function run(service: string, o: LogsCommandOptions, ui: Ui): Promise<number> {
  const stack = await resolveStack(
    o,
    "-f names the stack file in every shctl command; to follow the log, use -F or --follow",
  );
  const engine = connectEngine();
  const controller = new AbortController();
  let interrupted = false;
  const interrupt = onInterrupt(() => {
    interrupted = true;
    controller.abort();
    if (!o.follow) process.exit(130);
  });
  try {
    const source = await logs(stack, engine, service, {
      ...(o.tail !== undefined ? { tail: o.tail } : {}),
      follow: o.follow === true,
      signal: controller.signal,
      onLine: (line) => {
        process.stdout.write(`${line}\n`);
      },
    });
    if (source.kind === "saved job log") {
      // The lines are the log itself (stdout); where they come from goes to stderr.
      ui.err(
        ui.ce.dim(
          `(job ${service} is not running: this is the saved log of its latest run, which ${source.outcome}` +
            `${source.finishedAt ? ` at ${source.finishedAt}` : ""})`,
        ),
      );
    }
  } catch (err) {
    // A name the stack does not have is most likely a typo: name what exists, the closest first.
    if (err instanceof UnknownNameError)
      throw new UsageError(err.message, { hint: unknownNameHint(service, err.names, "services and jobs") });
    throw err;
  } finally {
    interrupt.dispose();
  }
  return interrupted ? 130 : 0;
}
