import type { EngineClient } from "./engine/index.js";
import { StepFailedError, UnknownNameError } from "./errors.js";
import { LABEL, ownedByProject } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { redact } from "./redact.js";
import { readJobLog } from "./state.js";

/** Where `logs` read from: a container, or the saved log of a job's latest run. */
export type LogsSource =
  | { kind: "container" }
  | { kind: "saved job log"; outcome: string; finishedAt: string };

/** What `logs` prints and how: the last `tail` lines, then, with `follow`, new ones until `signal` aborts. */
export interface LogsOptions {
  tail?: number;
  follow?: boolean;
  signal?: AbortSignal;
  onLine: (line: string) => void;
}

/**
 * Prints a service's or job's log lines (secrets redacted) through `onLine`; with `follow`, until
 * the signal aborts. A job whose container is gone (it ended) prints the saved log of its latest
 * run instead.
 */
export async function logs(
  stack: ResolvedStack,
  engine: EngineClient,
  service: string,
  opts: LogsOptions,
): Promise<LogsSource> {
  if (stack.target === "swarm")
    return (await import("./swarm/logs.js")).swarmLogs(stack, engine, service, opts);
  const list = (
    await engine.listContainers([`${LABEL.stack}=${stack.name}`, `${LABEL.name}=${service}`])
  ).filter((c) => ownedByProject(c.labels, stack));
  const c = list[0];
  const names = [...Object.keys(stack.services), ...Object.keys(stack.jobs)].sort();
  // A name outside the stack may still be an orphan's container; if not, it is a name mistake.
  if (!c && !names.includes(service)) throw new UnknownNameError(stack.name, service, names);
  const tail = opts.tail ?? 100;
  const onLine = (l: string) => opts.onLine(redact(l, stack.secrets));
  if (!c) {
    const saved = stack.jobs[service] ? await readJobLog(stack.dataRoot, service) : undefined;
    if (saved) {
      for (const l of tail > 0 ? saved.lines.slice(-tail) : []) onLine(l);
      return { kind: "saved job log", outcome: saved.outcome, finishedAt: saved.finishedAt };
    }
    if (stack.jobs[service]) {
      throw new StepFailedError(`job ${service}`, "logs", "it is not running and has no saved log", {
        hint: "a job's log is saved when it runs; `shctl apply` runs it when it has not completed",
      });
    }
    throw new StepFailedError(`service ${service}`, "logs", "it has no container", {
      hint: stack.services[service]
        ? "run `shctl apply` first"
        : `the stack has: ${Object.keys(stack.services).sort().join(", ")}`,
    });
  }
  if (opts.follow) await engine.followLogs(c.id, tail, onLine, opts.signal ?? new AbortController().signal);
  // As with docker logs: --tail 0 prints nothing (the engine reads a tail of 0 as "all").
  else if (tail > 0) for (const l of await engine.containerLogs(c.id, tail)) onLine(l);
  return { kind: "container" };
}
