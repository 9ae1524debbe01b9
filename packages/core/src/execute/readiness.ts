import { setTimeout as sleep } from "node:timers/promises";
import type { EngineEvent } from "../engine/index.js";
import { HealthTimeoutError, StepFailedError } from "../errors.js";
import { LABEL } from "../labels.js";
import type { ResolvedProbe, ResolvedService } from "../model.js";
import { probeAnswer, runProbe } from "../probe.js";
import type { RunContext } from "./context.js";
import { HealthCommand } from "./health-command.js";
import { ServiceWaits } from "./service-waits.js";

/*
 * Waiting until services are ready: their readiness probes answer (or, without probes, the Docker
 * healthcheck says healthy or its command succeeds when run in the container), within each
 * service's readyTimeout. Probes run fast at first and back
 * off to their interval; the engine's events wake a wait at once when a container starts, dies or
 * changes health, and a container that has stopped ends its wait at once, with why.
 */

const LOG_TAIL = 50;
/** The first probe retries come this fast; later ones space out with the time waited (5%). */
const FIRST_RETRY_MS = 50;
/** After this long without readiness, the wait's line says why (the last probe's answer). */
const EXPLAIN_AFTER_MS = 2000;

export class Readiness extends ServiceWaits {
  /**
   * The last answer of each service still waited for (a probe's, in full, or its healthcheck's),
   * redacted; a service leaves it once ready or failed. What is left when a run stops says why
   * the waits it cut short had not ended.
   */
  readonly pending = new Map<string, string>();
  private readonly listeners = new Map<string, Set<(e: EngineEvent) => void>>();
  private eventsStarted = false;

  constructor(
    private readonly ctx: RunContext,
    onFailure?: (service: string, err: unknown) => void,
  ) {
    super(onFailure);
  }

  /** Fails unless the service's container runs now (a `started` dependency that was not touched). */
  override async ensureRunning(service: string): Promise<void> {
    const id = this.ctx.containerIds.get(service);
    const info = id ? await this.ctx.engine.inspectContainer(id) : undefined;
    if (info?.state !== "running") {
      throw new StepFailedError(`service ${service}`, "dependency", `it is ${info?.state ?? "missing"}`, {
        hint: `run apply again; if it keeps stopping, check \`shctl logs ${service}\``,
      });
    }
  }

  protected override async doWait(s: ResolvedService): Promise<void> {
    const resource = `service ${s.name}`;
    const t0 = Date.now();
    const id = this.ctx.containerIds.get(s.name);
    if (!id) throw new StepFailedError(resource, "wait for health", "it has no container");
    if (!s.healthcheck && s.readiness.length === 0) {
      this.ready.add(s.name);
      return;
    }
    this.ctx.phase(resource, "waiting");
    this.pending.set(s.name, "no answer yet");
    const watch = this.watch(id);
    try {
      // Readiness probes, when a service has them, decide on their own: they answer as soon as the
      // service is ready, while the engine's healthcheck may only run again an interval later.
      if (s.readiness.length > 0) {
        for (const probe of s.readiness) {
          if (!(await this.waitProbe(s, id, probe, t0, watch))) return;
        }
      } else if (!(await this.waitHealthy(s, id, t0, watch))) return;
    } catch (err) {
      this.pending.delete(s.name);
      throw err;
    } finally {
      watch.close();
    }
    this.pending.delete(s.name);
    this.ready.add(s.name);
    this.ctx.phase(resource, "healthy", undefined, t0);
  }

  /** Until the probe answers: true; false when the run stopped first. */
  private async waitProbe(
    s: ResolvedService,
    id: string,
    probe: ResolvedProbe,
    t0: number,
    watch: Watch,
  ): Promise<boolean> {
    const deadline = t0 + s.readyTimeoutMs;
    let last = "";
    /** The last answer in a few words, for the waiting line (`last` goes into errors in full). */
    let answer = "";
    let explained = "";
    let nextCheck = 0;
    for (;;) {
      if (this.ctx.signal.aborted) return false;
      if (watch.died() || Date.now() >= nextCheck) {
        await this.failIfStopped(s, id, last);
        nextCheck = Date.now() + 5000;
      }
      try {
        await runProbe(
          { engine: this.ctx.engine, reach: this.ctx.reach(), service: s, containerId: id },
          probe,
          this.ctx.signal,
        );
        return true;
      } catch (err) {
        if (this.ctx.signal.aborted) return false;
        last = `${probe.label}: ${(err as Error)?.message ?? String(err)}`;
        answer = probeAnswer(probe.label, err);
        this.pending.set(s.name, this.ctx.redact(last));
      }
      const waited = Date.now() - t0;
      if (waited >= EXPLAIN_AFTER_MS && answer !== explained) {
        explained = answer;
        this.ctx.phase(`service ${s.name}`, "waiting", answer);
      }
      const delay = Math.min(probe.intervalMs, Math.max(FIRST_RETRY_MS, waited * 0.05));
      if (Date.now() + delay > deadline) {
        throw new HealthTimeoutError(s.name, Date.now() - t0, [this.ctx.redact(last)], "ready");
      }
      await watch.sleep(delay, this.ctx.signal);
    }
  }

  /**
   * Until the Docker healthcheck says healthy, or its command succeeds when readiness runs it in
   * the container (health-command.ts): true; false when the run stopped first.
   */
  private async waitHealthy(s: ResolvedService, id: string, t0: number, watch: Watch): Promise<boolean> {
    const deadline = t0 + s.readyTimeoutMs;
    const own = s.healthcheck
      ? new HealthCommand(this.ctx.engine, id, s.healthcheck, this.ctx.signal, t0)
      : undefined;
    let ownAnswer = "";
    let explained = "";
    for (;;) {
      if (this.ctx.signal.aborted) return false;
      const info = await this.ctx.engine.inspectContainer(id);
      if (!info) throw disappeared(s.name);
      if (info.health === "healthy") return true;
      if (info.state === "running" && own && own.dueIn() === 0) {
        const r = await own.run(deadline);
        if (r === true) return true;
        if (this.ctx.signal.aborted) return false;
        if (r) ownAnswer = r;
      }
      // The healthcheck's last answer, once it has one and the wait has lasted: "healthcheck [exit 1] …".
      const lines = (info.healthLog.at(-1) ?? "").split("\n").filter((l) => l.trim());
      const answer = (lines.length > 1 ? `${lines[0]} … ${lines.at(-1)?.trim()}` : lines[0]) || ownAnswer;
      if (answer) this.pending.set(s.name, this.ctx.redact(`healthcheck ${answer}`));
      if (answer && Date.now() - t0 >= EXPLAIN_AFTER_MS && answer !== explained) {
        explained = answer;
        this.ctx.phase(`service ${s.name}`, "waiting", `healthcheck ${answer}`);
      }
      if (info.state === "exited" || info.state === "dead") await this.failIfStopped(s, id, "");
      const left = deadline - Date.now();
      if (left <= 0) {
        const log = info.healthLog.slice(-3);
        throw new HealthTimeoutError(
          s.name,
          Date.now() - t0,
          (log.length > 0 ? log : ownAnswer ? [`healthcheck ${ownAnswer}`] : []).map((l) =>
            this.ctx.redact(l),
          ),
          "healthy",
        );
      }
      // An unhealthy report is not final while the deadline allows: slow cold starts recover.
      // Until its first answer is shown, look every 2 s (the engine sends no event per check).
      // While it is not running (restarting, paused), its command is not run: the engine's events
      // wake the wait when it starts again.
      const look = explained ? 5000 : EXPLAIN_AFTER_MS;
      const ownDue = own && info.state === "running" ? own.dueIn() : look;
      await watch.sleep(Math.min(left, look, ownDue), this.ctx.signal);
    }
  }

  /** A container that exited (and will not be restarted by its policy) ends the wait with why. */
  private async failIfStopped(s: ResolvedService, id: string, lastProbe: string): Promise<void> {
    const info = await this.ctx.engine.inspectContainer(id);
    if (!info) throw disappeared(s.name);
    if (info.state !== "exited" && info.state !== "dead") return;
    const tail = (await this.ctx.engine.containerLogs(id, LOG_TAIL).catch(() => [])).map((l) =>
      this.ctx.redact(l),
    );
    throw new StepFailedError(
      `service ${s.name}`,
      "wait for health",
      `the container exited with code ${info.exitCode}`,
      {
        details: [
          ...(lastProbe ? [`last probe: ${this.ctx.redact(lastProbe)}`] : []),
          ...(tail.length > 0 ? ["last log lines:", ...tail.map((l) => `  ${l}`)] : ["(it printed nothing)"]),
        ],
        hint: `fix the cause above, then run apply again (\`shctl logs ${s.name}\` shows the whole log)`,
      },
    );
  }

  /** Engine events for one container: wakes sleeps on start, die and health changes. */
  private watch(id: string): Watch {
    this.startEvents();
    let died = false;
    let wake: (() => void) | undefined;
    const listener = (e: EngineEvent) => {
      if (e.action === "die") died = true;
      if (e.action === "die" || e.action === "start" || e.action.startsWith("health_status")) wake?.();
    };
    const set = this.listeners.get(id) ?? new Set();
    set.add(listener);
    this.listeners.set(id, set);
    return {
      died: () => {
        const d = died;
        died = false;
        return d;
      },
      sleep: async (ms, signal) => {
        const woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        const stop = new AbortController();
        try {
          await Promise.race([
            sleep(ms, undefined, { signal: AbortSignal.any([signal, stop.signal]) }).catch(() => undefined),
            woken,
          ]);
        } finally {
          stop.abort();
          wake = undefined;
        }
      },
      close: () => set.delete(listener),
    };
  }

  private startEvents(): void {
    if (this.eventsStarted) return;
    this.eventsStarted = true;
    this.ctx.engine
      .events([`${LABEL.stack}=${this.ctx.stack.name}`], this.ctx.signal, (e) => {
        for (const fn of this.listeners.get(e.id) ?? []) fn(e);
      })
      .catch(() => {
        // Without events the waits still look again on their timers.
      });
  }
}

interface Watch {
  /** Whether the container died since the last call. */
  died(): boolean;
  /** Sleeps `ms`, or until an event about the container, or until the signal aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

/** A container removed while its health was waited for (`docker rm -f`, another tool): said, with the fix. */
function disappeared(service: string): StepFailedError {
  return new StepFailedError(`service ${service}`, "wait for health", "its container disappeared", {
    hint: "something removed it while apply waited for it (`docker rm`, another tool); run apply again to create it anew",
  });
}
