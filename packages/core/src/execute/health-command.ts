import type { EngineClient } from "../engine/index.js";
import type { ResolvedHealthcheck } from "../model.js";

/*
 * A service whose readiness is its Docker healthcheck (it has no readiness probes) is ready once
 * its healthcheck's command succeeds. Docker 20.10–24 runs that command first an `interval` after
 * the container starts (30 s in many stacks), so a wait on the engine's verdict alone leaves a
 * service that was ready in a second waiting half a minute. Readiness runs the same command in the
 * container itself (an exec, as the container's user, like the engine's check) soon after the
 * start, backing off to the interval: one success is the engine's own rule for "healthy". The
 * engine's verdict still counts too; a command that cannot run (exit 126/127) stops these runs.
 */

/** The first run comes this long after the wait starts; each later one waits twice as long… */
const FIRST_MS = 100;
/** …up to the healthcheck's interval, and never more than this. */
const MAX_GAP_MS = 5000;
/** Docker's default healthcheck timeout. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** The healthcheck's test as an exec command (CMD: as-is; CMD-SHELL: in /bin/sh -c), or none. */
export function healthCommand(test: string[]): string[] | undefined {
  if (test[0] === "CMD" && test.length > 1) return test.slice(1);
  if (test[0] === "CMD-SHELL" && test[1] !== undefined) return ["/bin/sh", "-c", test[1]];
  return undefined;
}

export class HealthCommand {
  private command: string[] | undefined;
  private gap = FIRST_MS;
  private nextAt: number;

  constructor(
    private readonly engine: EngineClient,
    private readonly containerId: string,
    private readonly healthcheck: ResolvedHealthcheck,
    private readonly signal: AbortSignal,
    startedAt: number,
  ) {
    this.command = healthCommand(healthcheck.test);
    this.nextAt = startedAt + FIRST_MS;
  }

  /** Milliseconds until the next run is due (0: now); Infinity when there are no more runs. */
  dueIn(now = Date.now()): number {
    return this.command ? Math.max(0, this.nextAt - now) : Number.POSITIVE_INFINITY;
  }

  /**
   * Runs the command when due: true when it succeeded; otherwise its answer in a few words. It has
   * the healthcheck's timeout, cut to what is left before `deadline`; a command (or a connection)
   * that hangs past it is given up on, whether or not the exec heeds its abort.
   */
  async run(deadline: number): Promise<true | string | undefined> {
    const command = this.command;
    if (!command || this.dueIn() > 0) return undefined;
    const cap = Math.min(
      MAX_GAP_MS,
      this.healthcheck.intervalMs > 0 ? this.healthcheck.intervalMs : MAX_GAP_MS,
    );
    this.gap = Math.min(cap, this.gap * 2);
    const timeoutMs = Math.max(
      0,
      Math.min(
        this.healthcheck.timeoutMs > 0 ? this.healthcheck.timeoutMs : DEFAULT_TIMEOUT_MS,
        deadline - Date.now(),
      ),
    );
    const stop = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const r = await Promise.race([
        this.engine.exec(this.containerId, command, AbortSignal.any([this.signal, stop.signal])),
        timedOut,
      ]);
      if (r === "timeout") return `timed out after ${Math.round(timeoutMs / 100) / 10}s`;
      if (r.exitCode === 0) return true;
      // The command is not there or cannot run: the engine's check would say so too, on its own.
      if (r.exitCode === 126 || r.exitCode === 127) this.command = undefined;
      const last = r.output.trim().split("\n").at(-1)?.trim();
      return `[exit ${r.exitCode}]${last ? ` ${last}` : ""}`;
    } catch (err) {
      return (err as Error)?.message ?? String(err);
    } finally {
      clearTimeout(timer);
      stop.abort();
      this.nextAt = Date.now() + this.gap;
    }
  }
}
