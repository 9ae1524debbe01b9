import { formatDuration } from "../duration.js";
import type { EngineClient, TaskSummary } from "../engine/index.js";
import { byCodeUnit } from "../graph.js";
import { LABEL, ownedByProject } from "../labels.js";
import type { ResolvedStack } from "../model.js";
import { redact } from "../redact.js";
import { missingRows, probeAndAddExtras, type ServiceStatus, type StatusOptions } from "../status.js";
import { TASK_LABEL } from "./names.js";
import { checkManager } from "./observe.js";
import { probeTask } from "./probes.js";
import { createSwarmReach } from "./reach.js";
import { taskLine } from "./words.js";

/*
 * `status` on a swarm: one row per service with its tasks counted (running the current spec, of
 * how many wanted), the state in one word, the tasks that are not as they should be in words (where
 * they are, what they wait for, why they failed), and the readiness probes run once.
 */

export async function swarmStatus(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: StatusOptions = {},
): Promise<ServiceStatus[]> {
  const self = await checkManager(engine);
  const [nodes, listed] = await Promise.all([
    engine.listNodes(),
    engine.listServices([`${LABEL.stack}=${stack.name}`]),
  ]);
  const services = listed.filter((s) => ownedByProject(s.labels, stack) && s.labels[LABEL.kind] !== "helper");
  const tasks = await engine.listTasks(services.map((s) => s.id));
  const hostOf = new Map(nodes.map((n) => [n.id, n.hostname]));
  const twice = new Set(nodes.map((n) => n.hostname).filter((h, i, all) => all.indexOf(h) !== i));
  const nodeName = (id: string) => {
    const h = hostOf.get(id) ?? id.slice(0, 12);
    return twice.has(h) ? `${h} (${id.slice(0, 12)})` : h;
  };
  const rows: (ServiceStatus & { running?: TaskSummary[] })[] = [];
  const seen = new Set<string>();
  for (const svc of services) {
    const name = svc.labels[LABEL.name] ?? svc.name;
    const kind = (svc.labels[LABEL.kind] as ServiceStatus["kind"]) ?? "service";
    seen.add(name);
    const spec = svc.spec as {
      TaskTemplate?: { ContainerSpec?: { Labels?: Record<string, string> } };
      Mode?: { Replicated?: { Replicas?: number }; ReplicatedJob?: unknown };
    };
    const hash = spec.TaskTemplate?.ContainerSpec?.Labels?.[TASK_LABEL.hash];
    const mine = tasks.filter((t) => t.serviceId === svc.id);
    const desired = spec.Mode?.Replicated ? (spec.Mode.Replicated.Replicas ?? 1) : 1;
    const running = mine.filter(
      (t) => t.state === "running" && t.desiredState === "running" && t.labels[TASK_LABEL.hash] === hash,
    );
    const wanted = mine.filter((t) => t.desiredState === "running" && t.state !== "running");
    const update = svc.updateStatus?.state;
    const state =
      kind === "job"
        ? (mine[0]?.state ?? "pending")
        : desired === 0
          ? "scaled to 0"
          : running.length >= desired
            ? update === "updating" || update === "rollback_started"
              ? "updating"
              : "running"
            : running.length > 0
              ? "degraded"
              : wanted.some((t) => t.state === "pending")
                ? "pending"
                : "starting";
    const started = running.map((t) => t.timestamp).sort()[0];
    rows.push({
      name,
      kind,
      state,
      health: undefined,
      restarts: mine.filter((t) => t.state === "failed" || t.state === "rejected").length,
      startedAt: started,
      containerId: running[0]?.containerId,
      orphan: kind === "service" && !stack.services[name],
      ready: undefined,
      readyDetail: undefined,
      replicas: { running: running.length, desired },
      tasks: [
        ...wanted.map((t) => redact(taskLine(t, nodeName), stack.secrets)),
        ...(update && update !== "completed" && svc.updateStatus?.message
          ? [`update ${update.replace("_", " ")}: ${svc.updateStatus.message}`]
          : []),
      ],
      running,
    });
  }
  rows.push(...missingRows(stack, seen));
  await probeAndAddExtras(
    stack,
    rows,
    opts,
    () => createSwarmReach(engine, stack),
    (reach, timeoutMs) =>
      Promise.all(rows.map((r) => probeRow(stack, engine, reach, self, nodeName, r, timeoutMs))),
  );
  return rows.map(({ running: _running, ...r }) => r).sort((a, b) => byCodeUnit(a.name, b.name));
}

/** Runs the service's probes once against each of its running tasks; notes the first failure. */
async function probeRow(
  stack: ResolvedStack,
  engine: EngineClient,
  reach: ReturnType<typeof createSwarmReach>,
  self: string,
  nodeName: (id: string) => string,
  row: ServiceStatus & { running?: TaskSummary[] },
  timeoutMs: number,
): Promise<void> {
  const svc = stack.services[row.name];
  if (!svc || row.kind !== "service" || !row.running?.length) return;
  if (svc.healthcheck) row.health = "healthy"; // a running task with a healthcheck passed it
  if (svc.readiness.length === 0) return;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  try {
    for (const t of row.running)
      for (const probe of svc.readiness)
        await probeTask(
          { engine, reach, self, nodeName, stack, signal: stop.signal },
          svc,
          t,
          probe,
          () => {},
        );
    row.ready = true;
  } catch (err) {
    row.ready = false;
    row.readyDetail = redact(
      stop.signal.aborted
        ? `no answer within ${formatDuration(timeoutMs)}`
        : ((err as Error)?.message ?? String(err)),
      stack.secrets,
    );
  } finally {
    clearTimeout(timer);
  }
}
