import { connectEngine, logs } from "@sh/core";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions } from "../ui.js";
import { resolveStack, type StackOptions } from "./common.js";

export interface LogsCommandOptions extends StackOptions, GlobalOptions {
  follow?: boolean;
  tail?: number;
}

export async function run(service: string, o: LogsCommandOptions): Promise<number> {
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
    await logs(stack, engine, service, {
      ...(o.tail !== undefined ? { tail: o.tail } : {}),
      follow: o.follow === true,
      signal: controller.signal,
      onLine: (line) => {
        process.stdout.write(`${line}\n`);
      },
    });
  } finally {
    interrupt.dispose();
  }
  return interrupted ? 130 : 0;
}
