import {
  checkClock,
  checkEngine,
  checkHost,
  checkImages,
  checkMirror,
  checkPort,
  engineIsLocal,
} from "./doctor-checks.js";
import { checkDataDirs, checkDataRootFs, checkDisk } from "./doctor-data.js";
import type { PortHolder } from "./doctor-ports.js";
import { formatDuration } from "./duration.js";
import type { ContainerSummary, EngineClient, EngineInfo } from "./engine/index.js";
import { engineFacts } from "./engine-facts.js";
import { EngineUnreachableError, isShctlError } from "./errors.js";
import { type HostFacts, readHostFacts } from "./host.js";
import { LABEL } from "./labels.js";
import type { ResolvedPort, ResolvedStack } from "./model.js";
import { connectionsOf } from "./probe.js";
import { createReach, type ReachOptions } from "./reach.js";
import { redact } from "./redact.js";
import type { DoctorCheckResult, DoctorContext, EngineInfoSummary } from "./schema.js";

/*
 * `shctl doctor`: checks of what a stack needs, each ok, a warning, a failure or skipped, with
 * what fixes it. The built-in ones (engine, host, reach, data root and directories, disk, ports,
 * mirror, images, clock) are the same for every stack; a stack adds its own (`doctor` in the
 * stack), and one with a built-in check's id takes that check's place. Nothing is changed.
 */

export interface DoctorFinding extends DoctorCheckResult {
  /** A stable name: "engine", "data-dirs", "port:9000/tcp", or a stack check's id. */
  id: string;
  title: string;
  /** Where the check came from: shctl's built-in checks, or the stack's own. */
  source: "builtin" | "stack";
  elapsedMs: number;
}

export interface DoctorOptions {
  /** Called with each finding as soon as it and all before it are known (the order of the list). */
  onFinding?: (f: DoctorFinding) => void;
  /** The machine shctl runs on (tests pass made-up ones). */
  host?: HostFacts;
  /** Longest time one check may take (default 20 s); a check that takes longer fails. */
  checkTimeoutMs?: number;
  /** For the reach (SHCTL_REACH); default process.env. */
  env?: NodeJS.ProcessEnv;
  reach?: Pick<ReachOptions, "setting" | "helperImageRepo">;
  /** Who holds a free-looking host port (tests); default: bind it for an instant, then /proc. */
  probePort?: (p: ResolvedPort) => Promise<PortHolder>;
}

interface Planned {
  id: string;
  title: string;
  source: "builtin" | "stack";
  run: (signal: AbortSignal) => Promise<DoctorCheckResult>;
}

/** What the checks share: the engine's answer, listings and facts, each asked for once. */
interface Shared {
  stack: ResolvedStack;
  engine: EngineClient;
  host: HostFacts;
  local: boolean;
  reach: ReturnType<typeof createReach>;
  engineProbe: ReturnType<typeof checkEngine>;
  allContainers: () => Promise<ContainerSummary[]>;
  ownContainers: () => Promise<ContainerSummary[]>;
  facts: () => Promise<EngineInfoSummary>;
  probePort: DoctorOptions["probePort"];
}

function memo<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= f();
    return p;
  };
}

/** Runs every check (in parallel) and returns the findings in a fixed order. */
export async function doctor(
  stack: ResolvedStack,
  engine: EngineClient,
  opts: DoctorOptions = {},
): Promise<DoctorFinding[]> {
  const sh: Shared = {
    stack,
    engine,
    host: opts.host ?? (await readHostFacts()),
    local: engineIsLocal(engine),
    reach: createReach(engine, stack, { ...(opts.env ? { env: opts.env } : {}), ...opts.reach }),
    engineProbe: checkEngine(engine),
    allContainers: memo(() => engine.listContainers([])),
    ownContainers: memo(async () =>
      (await engine.listContainers([`${LABEL.stack}=${stack.name}`])).filter(
        (c) => c.labels[LABEL.kind] !== "helper",
      ),
    ),
    facts: memo(() => engineFacts(engine, stack.name)),
    probePort: opts.probePort,
  };
  const builtin = builtinChecks(sh);
  const fromStack = stackChecks(sh);
  // A stack check with a built-in check's id replaces it, in the built-in's place.
  const replaced = new Map(fromStack.map((c) => [c.id, c]));
  const planned = [
    ...builtin.map((b) => replaced.get(b.id) ?? b),
    ...fromStack.filter((c) => !builtin.some((b) => b.id === c.id)),
  ];

  const timeoutMs = opts.checkTimeoutMs ?? 20_000;
  try {
    const running = planned.map((p) => runOne(p, timeoutMs, stack.secrets));
    const out: DoctorFinding[] = [];
    for (const r of running) {
      const f = await r;
      out.push(f);
      opts.onFinding?.(f);
    }
    return out;
  } finally {
    await sh.reach.close().catch(() => undefined);
  }
}

/** The checks every stack gets, in their order. */
function builtinChecks(sh: Shared): Planned[] {
  const { stack, engine, host, local, reach } = sh;
  /** A check that needs the engine: skipped when the engine does not answer. */
  const withEngine =
    (f: (info: EngineInfo) => Promise<DoctorCheckResult>) => async (): Promise<DoctorCheckResult> => {
      const { info } = await sh.engineProbe;
      if (!info) return { status: "skipped", detail: "the engine does not answer" };
      return f(info);
    };
  const builtin: Planned[] = [
    { id: "engine", title: "engine", source: "builtin", run: async () => (await sh.engineProbe).result },
    {
      id: "host",
      title: "where shctl and the engine run",
      source: "builtin",
      run: async () => checkHost(engine, (await sh.engineProbe).info, host),
    },
    {
      id: "reach",
      title: "how shctl reaches containers",
      source: "builtin",
      run: withEngine(async () => ({ status: "ok", detail: (await reach.describe()).summary })),
    },
    {
      id: "data-root",
      title: "data root file system",
      source: "builtin",
      run: () => checkDataRootFs(stack, host, local),
    },
    { id: "disk", title: "free disk", source: "builtin", run: () => checkDisk(stack) },
    {
      id: "data-dirs",
      title: "data directories (owner, mode)",
      source: "builtin",
      run: () => checkDataDirs(stack, host, local),
    },
  ];
  for (const svc of Object.values(stack.services).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (const p of svc.ports) {
      const addr = p.hostIp && p.hostIp !== "0.0.0.0" ? `${p.hostIp}:` : "";
      builtin.push({
        id: `port:${addr}${p.host}/${p.protocol}`,
        title: `host port ${addr}${p.host}/${p.protocol} (${svc.name})`,
        source: "builtin",
        run: withEngine(async () =>
          checkPort(stack, svc.name, p, await sh.allContainers(), local, sh.probePort),
        ),
      });
    }
  }
  if (stack.registryMirror) {
    const mirror = stack.registryMirror;
    builtin.push({
      id: "mirror",
      title: `registry mirror ${mirror}`,
      source: "builtin",
      run: () => checkMirror(mirror),
    });
  }
  builtin.push(
    { id: "images", title: "images", source: "builtin", run: withEngine(() => checkImages(stack, engine)) },
    { id: "clock", title: "clock", source: "builtin", run: withEngine(() => checkClock(engine)) },
  );
  return builtin;
}

/** The stack's own checks (`doctor` in the stack), each with the context it runs in. */
function stackChecks(sh: Shared): Planned[] {
  return (sh.stack.doctor ?? []).map((c) => ({
    id: c.id,
    title: c.title,
    source: "stack",
    // Run even without an engine (a check may need only the machine); one that asks the engine
    // for its info is skipped then (engineInfo throws EngineUnreachableError).
    run: (signal) => c.run(contextFor(sh, signal)),
  }));
}

function contextFor(sh: Shared, signal: AbortSignal): DoctorContext {
  const { stack, engine, reach } = sh;
  const containerOf = async (service: string): Promise<ContainerSummary | undefined> =>
    (await sh.ownContainers()).find(
      (c) => c.labels[LABEL.name] === service && c.labels[LABEL.kind] !== "job",
    );
  return {
    stack: stack.name,
    dataRoot: stack.dataRoot,
    projectDir: stack.projectDir,
    signal,
    host: sh.host,
    engineInfo: async (): Promise<EngineInfoSummary> => {
      if (!(await sh.engineProbe).info) throw new EngineUnreachableError(engine.where, "it did not answer");
      return sh.facts();
    },
    reachMode: async () => (await reach.describe()).summary,
    serviceState: async (service) => (await containerOf(service))?.state ?? "missing",
    containerName: (service) => stack.services[service]?.containerName ?? service,
    exec: async (service, cmd) => {
      const c = await containerOf(service);
      if (c?.state !== "running") throw new Error(`${service} is not running`);
      return engine.exec(c.id, cmd, signal);
    },
    address: (service, port) => reach.address(service, port),
    ...connectionsOf(reach, signal),
  };
}

/** Runs one check within its time, turning what it throws into a failure (or a skip, without an engine). */
async function runOne(p: Planned, timeoutMs: number, secrets: string[]): Promise<DoctorFinding> {
  const t0 = Date.now();
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<DoctorCheckResult>((resolve) => {
    timer = setTimeout(() => {
      // Settled first, so the check's own answer to the abort does not win the race.
      resolve({ status: "failure", detail: `no answer within ${formatDuration(timeoutMs)}` });
      stop.abort();
    }, timeoutMs);
  });
  let result: DoctorCheckResult;
  try {
    result = await Promise.race([p.run(stop.signal), expired]);
  } catch (err) {
    result =
      err instanceof EngineUnreachableError
        ? { status: "skipped", detail: "it needs the engine, which does not answer" }
        : {
            status: "failure",
            detail: `the check failed: ${String((err as Error)?.message ?? err)}`,
            ...(isShctlError(err) && err.hint ? { fix: err.hint } : {}),
          };
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  const clean = (s: string) => redact(s, secrets);
  return {
    id: p.id,
    title: p.title,
    source: p.source,
    status: result.status,
    detail: clean(result.detail),
    ...(result.lines && result.lines.length > 0 ? { lines: result.lines.map(clean) } : {}),
    ...(result.fix ? { fix: clean(result.fix) } : {}),
    ...(result.commands && result.commands.length > 0 ? { commands: result.commands } : {}),
    elapsedMs: Date.now() - t0,
  };
}
