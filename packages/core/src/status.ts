import { formatDuration } from "./duration.js";
import type { EngineClient } from "./engine/index.js";
import type { EventSink } from "./events.js";
import { byCodeUnit } from "./graph.js";
import { LABEL, ownedByProject } from "./labels.js";
import type { ResolvedStack } from "./model.js";
import { connectionsOf, type ProbeTarget, runProbe } from "./probe.js";
import { createReach, type Reach } from "./reach.js";
import { redact } from "./redact.js";
import type { StatusExtra } from "./schema.js";

export interface ServiceStatus {
  name: string;
  kind: "service" | "job" | "helper";
  /** "missing" when the stack has the service but the engine has no container for it. */
  state: string;
  health: string | undefined;
  restarts: number;
  startedAt: string | undefined;
  containerId: string | undefined;
  /** In the engine but no longer in the stack. */
  orphan: boolean;
  /**
   * For a running service with readiness probes: whether all of them answered just now
   * (undefined when the service has none, is not running, or probes were not asked for).
   */
  ready: boolean | undefined;
  /** Why it is not ready: the first probe that failed and its answer (secrets redacted). */
  readyDetail: string | undefined;
  /** Figures the stack adds to this row (`statusExtras`), by column, e.g. `{ lag: { text: "0" } }`. */
  extras?: Record<string, StatusExtra>;
  /** On a swarm: how many tasks run the service's current spec, of how many it wants. */
  replicas?: { running: number; desired: number };
  /** On a swarm: its tasks that are not running as they should, in words ("task 2 on node-b: …"). */
  tasks?: string[];
}

export interface StatusOptions {
  /** Run each running service's readiness probes once (default true). */
  probes?: boolean;
  /** How long one service's probes may take in all; default 5 s. */
  probeTimeoutMs?: number;
  /** Ask the stack for its own figures (`statusExtras`, e.g. consumer lag); default: as `probes`. */
  extras?: boolean;
  /** How long the stack's figures may take; default 20 s. */
  extrasTimeoutMs?: number;
  /** Receives a warning when the stack's figures could not be had. */
  onEvent?: EventSink;
}

/**
 * Each container of the stack (and each service without one): state, health, restarts, start time.
 * Services that are running and have readiness probes are probed once, all in parallel, so that a
 * service without a Docker healthcheck still says whether it answers.
 */
export async function status(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: StatusOptions = {},
): Promise<ServiceStatus[]> {
  if (stack.target === "swarm") return (await import("./swarm/status.js")).swarmStatus(stack, engine, opts);
  const list = (await engine.listContainers([`${LABEL.stack}=${stack.name}`])).filter((c) =>
    ownedByProject(c.labels, stack),
  );
  const details = await Promise.all(list.map((c) => engine.inspectContainer(c.id)));
  const out: ServiceStatus[] = [];
  const seen = new Set<string>();
  for (const d of details) {
    if (!d) continue;
    const name = d.labels[LABEL.name] ?? d.name;
    seen.add(name);
    out.push({
      name,
      kind: (d.labels[LABEL.kind] as ServiceStatus["kind"]) ?? "service",
      state: d.state,
      health: d.health,
      restarts: d.restartCount,
      startedAt: d.state === "running" ? d.startedAt : undefined,
      containerId: d.id,
      orphan: !stack.services[name] && !stack.jobs[name],
      ready: undefined,
      readyDetail: undefined,
    });
  }
  out.push(...missingRows(stack, seen));
  await probeAndAddExtras(
    stack,
    out,
    opts,
    () => createReach(engine, stack),
    (reach, timeoutMs) => probeRows(stack, engine, reach, out, timeoutMs),
  );
  return out.sort((a, b) => byCodeUnit(a.name, b.name));
}

/** A row for each service of the stack that has nothing on the target yet (`seen`: those that have). */
export function missingRows(stack: ResolvedStack, seen: ReadonlySet<string>): ServiceStatus[] {
  return Object.keys(stack.services)
    .filter((name) => !seen.has(name))
    .map((name) => ({
      name,
      kind: "service",
      state: "missing",
      health: undefined,
      restarts: 0,
      startedAt: undefined,
      containerId: undefined,
      orphan: false,
      ready: undefined,
      readyDetail: undefined,
    }));
}

/**
 * The readiness probes (`probe`: each target runs them its way, within `timeoutMs`) and the stack's
 * own figures, as the options ask for them, both over one reach, opened for them and closed after.
 */
export async function probeAndAddExtras(
  stack: ResolvedStack,
  rows: ServiceStatus[],
  opts: StatusOptions,
  openReach: () => Reach,
  probe: (reach: Reach, timeoutMs: number) => Promise<unknown>,
): Promise<void> {
  const probes = opts.probes ?? true;
  const extras = (opts.extras ?? probes) && stack.statusExtras !== undefined;
  if (!probes && !extras) return;
  const reach = openReach();
  try {
    await Promise.all([
      probes ? probe(reach, opts.probeTimeoutMs ?? 5000) : undefined,
      extras ? addExtras(stack, reach, rows, opts) : undefined,
    ]);
  } finally {
    await reach.close();
  }
}

/** Runs each running service's readiness probes once, all in parallel, and notes the answers. */
async function probeRows(
  stack: ResolvedStack,
  engine: EngineClient,
  reach: Reach,
  rows: ServiceStatus[],
  timeoutMs: number,
): Promise<void> {
  await Promise.all(
    rows.map(async (row) => {
      const svc = stack.services[row.name];
      if (row.kind !== "service" || row.state !== "running" || !row.containerId || !svc) return;
      if (svc.readiness.length === 0) return;
      const target = { engine, reach, service: svc, containerId: row.containerId };
      const why = await probeOnce(target, timeoutMs);
      row.ready = why === undefined;
      row.readyDetail = why === undefined ? undefined : redact(why, stack.secrets);
    }),
  );
}

/** The stack's own figures per service (statusExtras), within their time; a failure is a warning. */
async function addExtras(
  stack: ResolvedStack,
  reach: Reach,
  rows: ServiceStatus[],
  opts: StatusOptions,
): Promise<void> {
  const hook = stack.statusExtras;
  if (!hook) return;
  const timeoutMs = opts.extrasTimeoutMs ?? 20_000;
  const stop = new AbortController();
  const signal = stop.signal;
  const services: Record<string, { state: string; containerId: string | undefined }> = {};
  for (const r of rows) {
    if (r.kind === "service" && !r.orphan) services[r.name] = { state: r.state, containerId: r.containerId };
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const figures = await Promise.race([
      hook({ stack: stack.name, services, signal, ...connectionsOf(reach, signal) }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${formatDuration(timeoutMs)}`));
          stop.abort();
        }, timeoutMs);
      }),
    ]);
    for (const row of rows) {
      const mine = figures[row.name];
      if (row.kind !== "service" || !mine || Object.keys(mine).length === 0) continue;
      row.extras = Object.fromEntries(
        Object.entries(mine).map(([k, v]) => [
          k,
          {
            ...v,
            text: redact(v.text, stack.secrets),
            ...(v.detail ? { detail: redact(v.detail, stack.secrets) } : {}),
          },
        ]),
      );
    }
  } catch (err) {
    opts.onEvent?.({
      type: "warning",
      message: redact(
        `the stack's figures (statusExtras): ${(err as Error)?.message ?? String(err)}`,
        stack.secrets,
      ),
    });
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** Runs a service's probes once, in order; undefined when all answer, else why the first did not. */
async function probeOnce(target: ProbeTarget, timeoutMs: number): Promise<string | undefined> {
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      stop.abort();
      resolve(`no answer within ${formatDuration(timeoutMs)}`);
    }, timeoutMs);
  });
  const probes = (async () => {
    for (const probe of target.service.readiness) {
      try {
        await runProbe(target, probe, stop.signal);
      } catch (err) {
        return `${probe.label}: ${(err as Error)?.message ?? String(err)}`;
      }
    }
    return undefined;
  })();
  try {
    return await Promise.race([probes, expired]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}
