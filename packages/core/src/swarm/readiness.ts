import { setTimeout as sleep } from "node:timers/promises";
import type { TaskSummary } from "../engine/index.js";
import { HealthTimeoutError, StepFailedError } from "../errors.js";
import { ServiceWaits } from "../execute/service-waits.js";
import type { ResolvedProbe, ResolvedService } from "../model.js";
import { TASK_LABEL } from "./names.js";
import { type ProbeEnv, probeTask } from "./probes.js";
import type { SwarmRun } from "./run.js";
import { taskEnded, taskLine, waitingLine } from "./words.js";

/*
 * Readiness on a swarm: as many tasks as the service wants run its current spec (the swarm counts
 * a task with a healthcheck as running only once it is healthy), no update or rollback is under
 * way, and then the readiness probes answer on each task: tcp and http probes over the overlay
 * network (from this node's reach helper, to tasks on any node), exec probes in the tasks of this
 * node (the engine shctl talks to cannot exec on another node: a task there counts as ready once
 * it runs, healthcheck included). Task states and failures are reported as they change.
 */

const FIRST_POLL_MS = 250;
const MAX_POLL_MS = 1000;
/** After this long without readiness, the wait's line says why. */
const EXPLAIN_AFTER_MS = 2000;

/** The service's update was rolled back by the swarm, or stopped: what the swarm said, and the tasks. */
export class SwarmRollbackError extends StepFailedError {}

export class SwarmReadiness extends ServiceWaits {
  private readonly warned = new Set<string>();

  constructor(
    private readonly run: SwarmRun,
    onFailure?: (service: string, err: unknown) => void,
  ) {
    super(onFailure);
  }

  /** Fails unless a task of the service runs now (a `started` dependency this run did not touch). */
  override async ensureRunning(service: string): Promise<void> {
    const id = this.run.serviceIds.get(service);
    const tasks = id ? await this.run.engine.listTasks([id]) : [];
    if (!tasks.some((t) => t.state === "running" && t.desiredState === "running"))
      throw new StepFailedError(`service ${service}`, "dependency", "no task of it runs", {
        hint: `\`shctl status\` shows its tasks and why; \`shctl logs ${service}\` what they said`,
      });
  }

  protected override async doWait(s: ResolvedService): Promise<void> {
    const resource = `service ${s.name}`;
    const t0 = Date.now();
    const deadline = t0 + s.readyTimeoutMs;
    const id = this.run.serviceIds.get(s.name);
    if (!id) throw new StepFailedError(resource, "wait for readiness", "it has no swarm service");
    this.run.phase(resource, "waiting");
    const tasks = await this.waitTasks(s, id, t0, deadline);
    if (tasks === undefined) return;
    for (const probe of s.readiness) {
      if (!(await this.waitProbe(s, id, probe, t0, deadline))) return;
    }
    this.ready.add(s.name);
    this.run.phase(resource, "healthy", `${tasks.length}/${tasks.length} ready`, t0);
  }

  /** Until enough tasks run the current spec: those tasks; undefined when the run stopped first. */
  private async waitTasks(
    s: ResolvedService,
    id: string,
    t0: number,
    deadline: number,
  ): Promise<TaskSummary[] | undefined> {
    const resource = `service ${s.name}`;
    let said = "";
    let delay = FIRST_POLL_MS;
    for (;;) {
      if (this.run.signal.aborted) return undefined;
      const [svc, tasks] = await Promise.all([
        this.run.engine.inspectService(id),
        this.run.engine.listTasks([id]),
      ]);
      if (!svc) throw new StepFailedError(resource, "wait for readiness", "its swarm service was removed");
      const spec = svc.spec as {
        TaskTemplate?: { ContainerSpec?: { Labels?: Record<string, string> } };
        Mode?: { Replicated?: { Replicas?: number } };
      };
      const hash = spec.TaskTemplate?.ContainerSpec?.Labels?.[TASK_LABEL.hash];
      const want = spec.Mode?.Replicated?.Replicas ?? 1;
      const current = tasks.filter((t) => t.labels[TASK_LABEL.hash] === hash);
      const running = current.filter((t) => t.state === "running" && t.desiredState === "running");
      const update = svc.updateStatus?.state;
      const lines = this.problems(current);
      if (update === "rollback_completed" || update === "rollback_paused" || update === "paused") {
        throw new SwarmRollbackError(
          resource,
          "update",
          update === "paused"
            ? `the swarm paused its update: ${svc.updateStatus?.message ?? ""}`
            : `the swarm rolled it back: ${svc.updateStatus?.message ?? ""}`,
          {
            details: lines.length > 0 ? ["its tasks:", ...lines.map((l) => `  ${l}`)] : [],
            hint: `the service runs its previous spec and \`shctl diff\` still shows the change: fix the cause above (\`shctl logs ${s.name}\`), then run apply again`,
          },
        );
      }
      const settled = update !== "updating" && update !== "rollback_started";
      if (running.length >= want && settled) return running;
      if (want > 0 && s.restart === "no" && current.length >= want && current.every(taskEnded))
        throw new StepFailedError(resource, "start", "its tasks ended and its restart policy is no", {
          details: lines.map((l) => `  ${l}`),
          hint: `\`shctl logs ${s.name}\` shows what they said`,
        });
      const now = Date.now();
      const line = waitingLine(running.length, want, update === "updating", current, (n) =>
        this.run.nodeName(n),
      );
      if (now - t0 >= EXPLAIN_AFTER_MS && line !== said) {
        said = line;
        this.run.phase(resource, "waiting", line);
      }
      if (now + delay > deadline)
        throw new HealthTimeoutError(
          s.name,
          now - t0,
          lines.map((l) => this.run.redact(l)),
          "running",
        );
      await sleep(delay, undefined, { signal: this.run.signal }).catch(() => undefined);
      delay = Math.min(MAX_POLL_MS, delay * 2);
    }
  }

  /** The current tasks that are not running, in words, the latest first. */
  private problems(tasks: TaskSummary[]): string[] {
    return tasks
      .filter((t) => t.state !== "running")
      .sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1))
      .slice(0, 5)
      .map((t) => taskLine(t, (n) => this.run.nodeName(n)));
  }

  /** Until the probe answers on every running task of the current spec: true; false when the run stopped. */
  private async waitProbe(
    s: ResolvedService,
    id: string,
    probe: ResolvedProbe,
    t0: number,
    deadline: number,
  ): Promise<boolean> {
    let last = "";
    let explained = "";
    for (;;) {
      if (this.run.signal.aborted) return false;
      const [svc, tasks] = await Promise.all([
        this.run.engine.inspectService(id),
        this.run.engine.listTasks([id]),
      ]);
      const hash = (svc?.spec as { TaskTemplate?: { ContainerSpec?: { Labels?: Record<string, string> } } })
        ?.TaskTemplate?.ContainerSpec?.Labels?.[TASK_LABEL.hash];
      const running = tasks.filter(
        (t) => t.state === "running" && t.desiredState === "running" && t.labels[TASK_LABEL.hash] === hash,
      );
      try {
        if (running.length === 0) throw new Error("no task runs");
        for (const t of running) await probeTask(this.probeEnv(), s, t, probe, (m) => this.warnOnce(s, m));
        return true;
      } catch (err) {
        if (this.run.signal.aborted) return false;
        last = `${probe.label}: ${(err as Error)?.message ?? String(err)}`;
      }
      const waited = Date.now() - t0;
      if (waited >= EXPLAIN_AFTER_MS && last !== explained) {
        explained = last;
        this.run.phase(`service ${s.name}`, "waiting", last);
      }
      const delay = Math.min(probe.intervalMs, Math.max(50, waited * 0.05));
      if (Date.now() + delay > deadline)
        throw new HealthTimeoutError(s.name, Date.now() - t0, [this.run.redact(last)], "ready");
      await sleep(delay, undefined, { signal: this.run.signal }).catch(() => undefined);
    }
  }

  private probeEnv(): ProbeEnv {
    return {
      engine: this.run.engine,
      reach: this.run.reach(),
      self: this.run.self,
      nodeName: (id) => this.run.nodeName(id),
      stack: this.run.stack,
      signal: this.run.signal,
    };
  }

  private warnOnce(s: ResolvedService, message: string): void {
    if (this.warned.has(s.name)) return;
    this.warned.add(s.name);
    this.run.emit({ type: "warning", resource: `service ${s.name}`, message });
  }
}
