import type { EngineClient } from "../engine/index.js";
import { StepFailedError, UnknownNameError } from "../errors.js";
import { LABEL, ownedByProject } from "../labels.js";
import type { LogsOptions, LogsSource } from "../logs.js";
import type { ResolvedStack } from "../model.js";
import { redact } from "../redact.js";
import { readJobLog } from "../state.js";
import { checkManager } from "./observe.js";

/*
 * `logs` on a swarm: a service's log is every task's, from every node (the swarm gathers them); a
 * job's is its job service's while it runs, and the saved log of its latest run after.
 */

export async function swarmLogs(
  stack: ResolvedStack,
  engine: EngineClient,
  name: string,
  opts: LogsOptions,
): Promise<LogsSource> {
  await checkManager(engine);
  const svc = (await engine.listServices([`${LABEL.stack}=${stack.name}`, `${LABEL.name}=${name}`])).find(
    (s) => ownedByProject(s.labels, stack) && s.labels[LABEL.kind] !== "helper",
  );
  const names = [...Object.keys(stack.services), ...Object.keys(stack.jobs)].sort();
  if (!svc && !names.includes(name)) throw new UnknownNameError(stack.name, name, names);
  const tail = opts.tail ?? 100;
  const onLine = (l: string) => opts.onLine(redact(l, stack.secrets));
  if (!svc) {
    const saved = stack.jobs[name] ? await readJobLog(stack.dataRoot, name) : undefined;
    if (saved) {
      for (const l of tail > 0 ? saved.lines.slice(-tail) : []) onLine(l);
      return { kind: "saved job log", outcome: saved.outcome, finishedAt: saved.finishedAt };
    }
    throw new StepFailedError(
      `${stack.jobs[name] ? "job" : "service"} ${name}`,
      "logs",
      "it has no swarm service",
      {
        hint: stack.jobs[name] ? "a job's log is saved when it runs" : "run `shctl apply` first",
      },
    );
  }
  if (opts.follow)
    await engine.followServiceLogs(svc.id, tail, onLine, opts.signal ?? new AbortController().signal);
  else if (tail > 0) for (const l of await engine.serviceLogs(svc.id, tail)) onLine(l);
  return { kind: "container" };
}
