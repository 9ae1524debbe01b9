import { setMaxListeners } from "node:events";
import { chmod, chown, mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import pLimit from "p-limit";
import { createBody, ownershipLabels } from "./container-config.js";
import { formatDuration } from "./duration.js";
import type { EngineClient, EngineEvent } from "./engine.js";
import {
  ConflictError,
  EngineError,
  HealthTimeoutError,
  InterruptedError,
  isShctlError,
  JobFailedError,
  StepFailedError,
} from "./errors.js";
import type { EventSink, Phase } from "./events.js";
import { effectiveContextHash, jobKey, networkHash, serviceSnapshot, sha256, snapshotHash } from "./hash.js";
import { LABEL } from "./labels.js";
import type { ResolvedProbe, ResolvedService, ResolvedStack } from "./model.js";
import { contextFiles } from "./observe.js";
import type { Action, Plan } from "./plan.js";
import { probeAddress, runProbe } from "./probe.js";
import { redact } from "./redact.js";
import type { RunContainerOptions } from "./schema.js";
import { JOB_LOG_LINES, recordJob, saveJobLog } from "./state.js";

export interface ExecuteOptions {
  /**
   * How many actions run at once; default 32. The engine queues what it cannot do at once; on 2
   * cores, 40 services reach running about 10% sooner with 32 than with 8.
   */
  concurrency?: number;
  /** Aborting stops scheduling; actions in flight finish, then InterruptedError is thrown. */
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** Wait until every started service is healthy and ready before returning; default true. */
  wait?: boolean;
}

export interface ExecuteResult {
  done: string[];
  skipped: string[];
  durationMs: number;
}

const LOG_TAIL = 50;
/** A log tail long enough to mean "from the start". */
const ALL_LINES = 1_000_000;

/**
 * Carries out a plan: the only code that changes the engine or the data root. Each action runs once
 * the actions it waits for are done and its dependencies meet their conditions (started, healthy,
 * completed); on the first failure nothing new starts, and the error names the resource and the step.
 */
export async function execute(
  plan: Plan,
  stack: ResolvedStack,
  engine: EngineClient,
  opts: ExecuteOptions = {},
): Promise<ExecuteResult> {
  const run = new Execution(plan, stack, engine, opts);
  return run.go();
}

class Execution {
  private readonly emit: EventSink;
  private readonly limit;
  private readonly started = Date.now();
  private readonly done = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();
  private failure: unknown;
  private readonly internal = new AbortController();
  /** Container ID of each service, as observed or as created in this run. */
  private readonly containerIds = new Map<string, string>();
  /** Image ID of each image key, once known. */
  private readonly imageIds = new Map<string, string>();
  /** Image lookups in flight, so that containers created together share one inspect per image. */
  private readonly imageLookups = new Map<string, Promise<string>>();
  private readonly readyWaits = new Map<string, Promise<void>>();
  private readonly listeners = new Map<string, Set<(e: EngineEvent) => void>>();
  private eventsStarted = false;
  private readonly nodeAction = new Map<string, Action>();

  constructor(
    private readonly plan: Plan,
    private readonly stack: ResolvedStack,
    private readonly engine: EngineClient,
    private readonly opts: ExecuteOptions,
  ) {
    this.emit = opts.onEvent ?? (() => {});
    this.limit = pLimit(opts.concurrency ?? 32);
    for (const [name, id] of Object.entries(plan.containers)) this.containerIds.set(name, id);
    for (const a of plan.actions) {
      if (a.containerId && a.kind.startsWith("container.") && stack.services[a.target])
        this.containerIds.set(a.target, a.containerId);
      if (a.kind === "job.run" || (a.kind.startsWith("container.") && a.kind !== "container.remove"))
        this.nodeAction.set(a.target, a);
    }
    opts.signal?.addEventListener("abort", () => this.internal.abort(), { once: true });
    // Every service waiting for health listens for the abort: as many listeners as services.
    setMaxListeners(0, this.internal.signal);
  }

  private phase(resource: string, phase: Phase, message?: string, since?: number) {
    this.emit({
      type: "phase",
      resource,
      phase,
      ...(message !== undefined ? { message: redact(message, this.stack.secrets) } : {}),
      ...(since !== undefined ? { elapsedMs: Date.now() - since } : {}),
    });
  }

  async go(): Promise<ExecuteResult> {
    const byId = new Map(this.plan.actions.map((a) => [a.id, a]));
    const schedule = (a: Action): Promise<void> => {
      const existing = this.pending.get(a.id);
      if (existing) return existing;
      const p = (async () => {
        await Promise.all(
          a.after
            .map((id) => byId.get(id))
            .filter((x): x is Action => !!x)
            .map(schedule),
        );
        await this.gate(a);
        if (this.stopped()) return;
        await this.limit(async () => {
          if (this.stopped()) return;
          try {
            await this.perform(a);
            this.done.add(a.id);
          } catch (err) {
            this.fail(a, err);
          }
        });
      })().catch((err) => this.fail(a, err));
      this.pending.set(a.id, p);
      return p;
    };
    try {
      await Promise.all(this.plan.actions.map(schedule));
      if (!this.stopped() && this.opts.wait !== false) {
        const toWait = this.plan.actions
          .filter(
            (a) =>
              a.kind.startsWith("container.") &&
              a.kind !== "container.remove" &&
              a.kind !== "container.update",
          )
          .map((a) => a.target)
          .concat(this.plan.unready ?? [])
          .map((name) => this.stack.services[name])
          .filter((s): s is ResolvedService => !!s);
        await Promise.all(toWait.map((s) => this.waitReady(s).catch((err) => this.fail(undefined, err))));
      }
    } finally {
      this.internal.abort();
    }
    if (this.failure !== undefined) throw this.failure;
    if (this.opts.signal?.aborted) {
      const skipped = this.plan.actions.filter((a) => !this.done.has(a.id)).map((a) => a.resource);
      throw new InterruptedError(
        `interrupted: ${this.done.size} of ${this.plan.actions.length} steps done, nothing new was started`,
        {
          details: skipped.length > 0 ? [`not done: ${[...new Set(skipped)].join(", ")}`] : [],
          hint: "run apply again to finish; it continues from what the engine has now",
        },
      );
    }
    return {
      done: [...this.done],
      skipped: this.plan.actions.filter((a) => !this.done.has(a.id)).map((a) => a.id),
      durationMs: Date.now() - this.started,
    };
  }

  private stopped(): boolean {
    return this.failure !== undefined || this.opts.signal?.aborted === true;
  }

  private fail(a: Action | undefined, err: unknown) {
    // A wait outside any action (health after the last step) still ends its resource as failed.
    if (!a && err instanceof StepFailedError) this.phase(err.resource, "failed", err.message);
    if (this.failure !== undefined) {
      // Steps in flight that fail after the first failure still show as failed, not as running.
      if (a)
        this.phase(
          a.resource,
          "failed",
          isShctlError(err) ? err.message : String((err as Error)?.message ?? err),
        );
      return;
    }
    if (a)
      this.phase(
        a.resource,
        "failed",
        isShctlError(err) ? err.message : String((err as Error)?.message ?? err),
      );
    this.failure =
      isShctlError(err) || !a
        ? err
        : new StepFailedError(a.resource, a.kind, String((err as Error)?.message ?? err), { cause: err });
  }

  /** Waits until every dependency of the action's service or job meets its condition. */
  private async gate(a: Action): Promise<void> {
    if (a.kind === "container.remove" || a.kind === "container.update") return;
    const node = this.stack.services[a.target] ?? this.stack.jobs[a.target];
    if (!node || (a.kind !== "job.run" && !a.kind.startsWith("container."))) return;
    await Promise.all(
      node.deps.map(async (d) => {
        const depAction = this.nodeAction.get(d.name);
        if (depAction) await this.pending.get(depAction.id);
        if (this.stopped()) return;
        if (d.condition === "healthy") {
          const svc = this.stack.services[d.name];
          if (svc) {
            this.phase(`${node.kind} ${node.name}`, "waiting", `for ${d.name} to be healthy`);
            await this.waitReady(svc);
          }
        } else if (d.condition === "started" && d.kind === "service" && !depAction) {
          await this.ensureRunning(d.name);
        }
      }),
    );
  }

  private async ensureRunning(service: string): Promise<void> {
    const id = this.containerIds.get(service);
    const info = id ? await this.engine.inspectContainer(id) : undefined;
    if (info?.state !== "running") {
      throw new StepFailedError(`service ${service}`, "dependency", `it is ${info?.state ?? "missing"}`, {
        hint: `run apply again; if it keeps stopping, check \`shctl logs ${service}\``,
      });
    }
  }

  private async perform(a: Action): Promise<void> {
    const t0 = Date.now();
    switch (a.kind) {
      case "network.create":
        return this.createNetwork(a, t0);
      case "network.remove":
        this.phase(a.resource, "removing");
        await this.removeNetwork(a);
        this.phase(a.resource, "done", "removed", t0);
        return;
      case "image.pull":
        return this.pull(a, t0);
      case "image.build":
        return this.build(a, t0);
      case "dir.create":
        return this.createDir(a, t0);
      case "job.run":
        return this.runJob(a, t0);
      case "container.create":
      case "container.recreate":
        return this.replaceContainer(a, t0);
      case "container.update":
        this.phase(a.resource, "updating");
        await this.engine.updateContainer(a.containerId as string, {
          RestartPolicy: { Name: this.stack.services[a.target]?.restart ?? "no" },
        });
        this.phase(a.resource, "done", "updated in place", t0);
        return;
      case "container.start":
        this.phase(a.resource, "starting");
        await this.engine.startContainer(a.containerId as string);
        this.phase(a.resource, "running", undefined, t0);
        return;
      case "container.restart": {
        this.phase(a.resource, "restarting");
        const svc = this.stack.services[a.target];
        await this.engine.restartContainer(
          a.containerId as string,
          svc ? Math.ceil(svc.stopGraceMs / 1000) : undefined,
        );
        this.phase(a.resource, "running", undefined, t0);
        return;
      }
      case "container.remove":
        this.phase(a.resource, "removing");
        await this.engine.stopContainer(a.containerId as string);
        await this.engine.removeContainer(a.containerId as string);
        this.phase(a.resource, "done", "removed", t0);
        return;
      default: {
        const never: never = a.kind;
        throw new Error(`unknown action ${String(never)}`);
      }
    }
  }

  private async createNetwork(a: Action, t0: number) {
    const n = this.stack.networks[a.target];
    if (!n) return;
    this.phase(a.resource, "creating");
    await this.engine.createNetwork({
      Name: n.dockerName,
      Driver: n.driver,
      Internal: n.internal,
      CheckDuplicate: true,
      Labels: {
        ...n.labels,
        [LABEL.stack]: this.stack.name,
        [LABEL.name]: n.name,
        [LABEL.hash]: networkHash(n),
      },
    });
    this.phase(a.resource, "done", "created", t0);
  }

  private async removeNetwork(a: Action) {
    try {
      await this.engine.removeNetwork(a.networkId as string);
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 403) {
        throw new StepFailedError(a.resource, "remove", err.message, {
          cause: err,
          hint: "a container outside this stack is still attached: `docker network inspect` shows which; disconnect it and run again (Docker 20.10 may also keep stale endpoints, moby#43286: restarting the engine clears them)",
        });
      }
      throw err;
    }
  }

  private async pull(a: Action, t0: number) {
    const img = this.stack.images[a.target];
    if (!img) return;
    this.phase(a.resource, "pulling", img.mirrorRef ?? img.ref);
    const onLine = (line: string) => this.emit({ type: "output", resource: a.resource, line });
    try {
      if (img.mirrorRef) {
        await this.engine.pullImage(img.mirrorRef, onLine);
        await this.engine.tagImage(img.mirrorRef, img.ref);
      } else await this.engine.pullImage(img.ref, onLine);
    } catch (err) {
      throw new StepFailedError(a.resource, "pull", (err as Error).message, {
        cause: err,
        hint: img.mirrorRef
          ? `check that ${img.mirrorRef} exists on the mirror and the mirror is reachable`
          : `check the image name and that a registry is reachable; behind a firewall, set registryMirror`,
      });
    }
    const info = await this.engine.inspectImage(img.ref);
    if (info) this.imageIds.set(img.key, info.id);
    this.phase(a.resource, "done", "pulled", t0);
  }

  private async build(a: Action, t0: number) {
    const img = this.stack.images[a.target];
    if (!img?.build) return;
    this.phase(a.resource, "building", img.ref);
    const files = await contextFiles(img.build.contextDir);
    // Loaded here: only builds need it, and every command would pay for it at start.
    const { pack } = await import("tar-fs");
    const tar = pack(img.build.contextDir, { entries: files }) as unknown as Readable;
    const tail: string[] = [];
    try {
      await this.engine.buildImage(
        tar,
        {
          ref: img.ref,
          dockerfile: img.build.dockerfile,
          args: img.build.args,
          target: img.build.target,
          labels: {
            // Not LABEL.stack: image labels are inherited by every container made from the image.
            [LABEL.builtBy]: this.stack.name,
            [LABEL.context]: effectiveContextHash(
              a.contextHash ?? "",
              await Promise.all(img.needs.map((n) => this.imageIdentity(n))),
            ),
          },
        },
        (line) => {
          tail.push(line);
          if (tail.length > 20) tail.shift();
          this.emit({ type: "output", resource: a.resource, line });
        },
      );
    } catch (err) {
      throw new StepFailedError(a.resource, "build", (err as Error).message, {
        cause: err,
        details: tail.length > 0 ? ["last build output:", ...tail.map((l) => `  ${l}`)] : [],
        hint: `fix the Dockerfile or context in ${img.build.contextDir}, then run apply again`,
      });
    }
    const info = await this.engine.inspectImage(img.ref);
    if (info) this.imageIds.set(img.key, info.id);
    this.phase(a.resource, "done", "built", t0);
  }

  private async createDir(a: Action, t0: number) {
    this.phase(a.resource, "creating");
    await mkdir(a.target, { recursive: true });
    if (a.mode !== undefined) await chmod(a.target, a.mode);
    if (a.owner) {
      try {
        await chown(a.target, a.owner.uid, a.owner.gid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
        await this.helperChown(a);
      }
    }
    this.phase(a.resource, "done", a.owner ? `owner ${a.owner.uid}:${a.owner.gid}` : "created", t0);
  }

  /** Without the right to chown, a short-lived helper container (root inside) sets the owner. */
  private async helperChown(a: Action) {
    const image = await this.helperImage();
    if (!image) {
      throw new StepFailedError(
        a.resource,
        "chown",
        `cannot give ${a.target} to ${a.owner?.uid}:${a.owner?.gid}`,
        {
          hint: "run shctl as root, or set `helperImage` to an image present locally so a helper container can do it",
        },
      );
    }
    const code = await runHelper(this.engine, this.stack.name, image, a.target, [
      "chown",
      `${a.owner?.uid}:${a.owner?.gid}`,
      "/target",
    ]);
    if (code !== 0)
      throw new StepFailedError(a.resource, "chown", `the helper container exited with ${code}`);
  }

  private async helperImage(): Promise<string | undefined> {
    const candidates = [this.stack.helperImage, ...Object.values(this.stack.images).map((i) => i.ref)].filter(
      (x): x is string => !!x,
    );
    for (const ref of candidates) if (await this.engine.inspectImage(ref)) return ref;
    return undefined;
  }

  private async imageIdentity(key: string): Promise<string> {
    const known = this.imageIds.get(key);
    if (known) return known;
    let lookup = this.imageLookups.get(key);
    if (!lookup) {
      lookup = (async () => {
        const ref = this.stack.images[key]?.ref ?? key;
        const info = await this.engine.inspectImage(ref);
        if (!info) throw new StepFailedError(`image ${key}`, "resolve", `${ref} is not present locally`);
        if (!this.imageIds.has(key)) this.imageIds.set(key, info.id);
        return info.id;
      })();
      this.imageLookups.set(key, lookup);
      lookup.catch(() => this.imageLookups.delete(key));
    }
    return lookup;
  }

  private async checkMountSources(resource: string, mounts: ResolvedService["mounts"]) {
    for (const m of mounts) {
      if (m.type !== "bind" || m.kind !== "file") continue;
      const ok = await stat(m.hostPath).then(
        (s) => s.isFile(),
        () => false,
      );
      if (!ok) {
        throw new StepFailedError(
          resource,
          "create",
          `the file ${m.hostPath} (mounted at ${m.target}) does not exist`,
          {
            hint: "create it, or let a job that this service depends on generate it",
          },
        );
      }
    }
  }

  private async replaceContainer(a: Action, t0: number) {
    const s = this.stack.services[a.target];
    if (!s) return;
    const imageId = await this.imageIdentity(s.image);
    const ref = this.stack.images[s.image]?.ref ?? s.image;
    const snap = serviceSnapshot(s, imageId, ref, await inputDigests(s.inputs));
    if (a.kind === "container.recreate" && a.containerId && a.changes.every((c) => c.field === "image")) {
      // Recreated only because its image or an input was about to be rebuilt or rewritten (no
      // field changed): skip if both came out the same.
      const current = await this.engine.inspectContainer(a.containerId);
      if (current && current.labels[LABEL.hash] === snapshotHash(snap) && current.imageId === imageId) {
        if (current.state !== "running") await this.engine.startContainer(current.id);
        this.phase(a.resource, "unchanged", "its image and inputs came out the same", t0);
        return;
      }
    }
    await this.checkMountSources(a.resource, s.mounts);
    if (a.containerId) {
      this.phase(a.resource, "stopping");
      await this.engine.stopContainer(a.containerId, Math.ceil(s.stopGraceMs / 1000));
      await this.engine.removeContainer(a.containerId);
    }
    this.phase(a.resource, "creating");
    const body = createBody(this.stack, s.containerName, s, ownershipLabels(this.stack.name, s, snap), s);
    const id = await this.createOrConflict(a, body);
    this.containerIds.set(s.name, id);
    await this.connectOtherNetworks(id, s.networks);
    this.phase(a.resource, "starting");
    try {
      await this.engine.startContainer(id);
    } catch (err) {
      throw new StepFailedError(a.resource, "start", (err as Error).message, {
        cause: err,
        hint: startHint(String((err as Error).message), s.name),
      });
    }
    this.phase(a.resource, "running", undefined, t0);
  }

  private async createOrConflict(a: Action, body: Record<string, unknown>): Promise<string> {
    try {
      return await this.engine.createContainer(body);
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 409) {
        throw new ConflictError(
          `${a.resource}: the name ${String(body.name)} is taken by a container shctl does not own`,
          {
            cause: err,
            hint: `remove or rename it (docker rm -f ${String(body.name)}), then apply again`,
          },
        );
      }
      throw err;
    }
  }

  private async connectOtherNetworks(id: string, networks: { name: string; aliases: string[] }[]) {
    for (const n of networks.slice(1)) {
      const dockerName = this.stack.networks[n.name]?.dockerName;
      if (dockerName) await this.engine.connectNetwork(dockerName, id, n.aliases);
    }
  }

  private async runJob(a: Action, t0: number) {
    const job = this.stack.jobs[a.target];
    if (!job) return;
    const digests = await inputDigests(job.inputs);
    if (job.run) {
      this.phase(a.resource, "running");
      const key = jobKey(job, undefined, undefined, digests);
      const timeout = AbortSignal.timeout(job.timeoutMs);
      const signal = AbortSignal.any([this.internal.signal, timeout]);
      const lines: string[] = [];
      let outcome = "was interrupted";
      try {
        await job.run({
          stack: this.stack.name,
          dataRoot: this.stack.dataRoot,
          projectDir: this.stack.projectDir,
          signal,
          log: (line) => {
            const clean = redact(line, this.stack.secrets);
            lines.push(clean);
            if (lines.length > 2 * JOB_LOG_LINES) lines.splice(0, lines.length - JOB_LOG_LINES);
            this.emit({ type: "output", resource: a.resource, line: clean });
          },
          engineInfo: () => this.engine.info(),
          address: async (service, port) => {
            const svc = this.stack.services[service];
            const id = this.containerIds.get(service);
            if (!svc || !id) throw new Error(`service ${service} has no container`);
            return probeAddress(this.engine, svc, id, port);
          },
          runContainer: (o) => this.runOneOff(job.name, o),
        });
        outcome = "completed";
      } catch (err) {
        const message = redact(String((err as Error)?.message ?? err), this.stack.secrets);
        outcome = this.internal.signal.aborted
          ? "was interrupted"
          : timeout.aborted
            ? `was stopped after its ${formatDuration(job.timeoutMs)} timeout`
            : `failed: ${message}`;
        if (isShctlError(err)) throw err;
        throw new StepFailedError(a.resource, "run", message, {
          cause: err,
          hint: "fix the cause above, then run apply again: the job re-runs",
        });
      } finally {
        await this.saveJobLog(a.resource, job.name, outcome, lines);
      }
      await recordJob(this.stack.dataRoot, job.name, key);
      this.phase(a.resource, "done", "completed", t0);
      return;
    }
    const spec = job.container;
    if (!spec) return;
    const imageId = await this.imageIdentity(spec.image);
    const ref = this.stack.images[spec.image]?.ref ?? spec.image;
    const key = jobKey(job, imageId, ref, digests);
    // Planned only because its image was about to be rebuilt: skip if the image came out the same.
    if (!job.always && a.recordedKey === key) {
      this.phase(a.resource, "unchanged", "the image came out the same", t0);
      return;
    }
    await this.checkMountSources(a.resource, spec.mounts);
    this.phase(a.resource, "creating");
    const snap = { job: key };
    const labels = ownershipLabels(this.stack.name, job, snap, { [LABEL.jobKey]: key });
    const id = await this.createOrConflict(a, createBody(this.stack, job.containerName, spec, labels));
    const following = new AbortController();
    let outcome: string | undefined;
    try {
      await this.connectOtherNetworks(id, spec.networks);
      this.phase(a.resource, "running");
      const timeout = AbortSignal.timeout(job.timeoutMs);
      const waiting = this.engine.waitContainer(id, timeout);
      await this.engine.startContainer(id);
      // Its log lines as they come (a migration can run for minutes): the live view shows the last.
      const streamed = this.engine
        .followLogs(
          id,
          ALL_LINES,
          (line) =>
            this.emit({ type: "output", resource: a.resource, line: redact(line, this.stack.secrets) }),
          following.signal,
        )
        .catch(() => undefined); // only a view: the exit code and the log tail decide
      let code: number;
      try {
        code = await waiting;
        // The stream ends with the container; wait briefly for its last lines.
        await Promise.race([streamed, new Promise((r) => setTimeout(r, 1000))]);
      } catch (err) {
        if (!timeout.aborted) throw err;
        outcome = `was stopped after its ${formatDuration(job.timeoutMs)} timeout`;
        await this.engine.killContainer(id);
        const tail = (await this.engine.containerLogs(id, LOG_TAIL)).map((l) =>
          redact(l, this.stack.secrets),
        );
        throw new StepFailedError(
          a.resource,
          "run",
          `still running after ${Math.round(job.timeoutMs / 1000)}s; stopped`,
          {
            details: ["last log lines:", ...tail.map((l) => `  ${l}`)],
            hint: `if it is only slow, raise jobs.${job.name}.timeout`,
          },
        );
      }
      outcome = code === 0 ? "completed" : `failed with exit code ${code}`;
      if (code !== 0) {
        const tail = (await this.engine.containerLogs(id, LOG_TAIL)).map((l) =>
          redact(l, this.stack.secrets),
        );
        throw new JobFailedError(job.name, code, tail);
      }
      await recordJob(this.stack.dataRoot, job.name, key);
    } catch (err) {
      // Not an exit code or a timeout (set above): the engine failed to run it.
      outcome ??= `failed: ${redact(String((err as Error)?.message ?? err), this.stack.secrets)}`;
      throw err;
    } finally {
      following.abort();
      // Its container goes now: keep the log of this run for `shctl logs JOB` (when the engine
      // gives it; otherwise the previous run's saved log stays).
      const lines = await this.engine.containerLogs(id, JOB_LOG_LINES).catch(() => undefined);
      if (lines)
        await this.saveJobLog(
          a.resource,
          job.name,
          outcome ?? "was interrupted",
          lines.map((l) => redact(l, this.stack.secrets)),
        );
      await this.engine.removeContainer(id);
    }
    this.phase(a.resource, "done", "completed", t0);
  }

  /** Saves a job run's log lines (already redacted); a failure to save is a warning, not an error. */
  private async saveJobLog(resource: string, job: string, outcome: string, lines: string[]) {
    try {
      await saveJobLog(this.stack.dataRoot, job, {
        outcome,
        finishedAt: new Date().toISOString(),
        lines: lines.slice(-JOB_LOG_LINES),
      });
    } catch (err) {
      this.emit({
        type: "warning",
        message: `${resource}: could not save its log for \`shctl logs\`: ${(err as Error).message}`,
      });
    }
  }

  private async runOneOff(job: string, o: RunContainerOptions) {
    const img = this.stack.images[o.image];
    const ref = img?.ref ?? o.image;
    const first = Object.values(this.stack.networks)[0];
    const id = await this.engine.createContainer({
      Image: ref,
      ...(o.command ? { Cmd: o.command } : {}),
      ...(o.entrypoint ? { Entrypoint: o.entrypoint } : {}),
      ...(o.user ? { User: o.user } : {}),
      Env: Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: { [LABEL.stack]: this.stack.name, [LABEL.kind]: "helper", [LABEL.name]: job },
      HostConfig: {
        Binds: (o.mounts ?? []).map(
          (m) => `${path.resolve(this.stack.dataRoot, m.source)}:${m.target}:${m.readOnly ? "ro" : "rw"}`,
        ),
        NetworkMode: o.network === false || !first ? "none" : first.dockerName,
      },
    });
    try {
      const waiting = this.engine.waitContainer(id);
      await this.engine.startContainer(id);
      const exitCode = await waiting;
      const [stdout, stderr] = await Promise.all([
        this.engine.containerLogs(id, 0, { stdout: true, stderr: false }),
        this.engine.containerLogs(id, 0, { stdout: false, stderr: true }),
      ]);
      return { exitCode, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
    } finally {
      await this.engine.removeContainer(id);
    }
  }

  // ---- readiness -------------------------------------------------------------------------

  private ensureEvents() {
    if (this.eventsStarted) return;
    this.eventsStarted = true;
    this.engine
      .events([`${LABEL.stack}=${this.stack.name}`], this.internal.signal, (e) => {
        for (const fn of this.listeners.get(e.id) ?? []) fn(e);
      })
      .catch(() => {
        // Without events the waiters still re-inspect on their timers.
      });
  }

  /** Memoized: healthy (Docker healthcheck) and ready (readiness probes), within the service's readyTimeout. */
  private waitReady(s: ResolvedService): Promise<void> {
    let p = this.readyWaits.get(s.name);
    if (!p) {
      p = this.doWaitReady(s);
      this.readyWaits.set(s.name, p);
    }
    return p;
  }

  private async doWaitReady(s: ResolvedService): Promise<void> {
    const resource = `service ${s.name}`;
    const t0 = Date.now();
    const deadline = t0 + s.readyTimeoutMs;
    const id = this.containerIds.get(s.name);
    if (!id) throw new StepFailedError(resource, "wait for health", "it has no container");
    if (!s.healthcheck && s.readiness.length === 0) return;
    this.phase(resource, "waiting");
    // Readiness probes, when a service has them, decide on their own: they answer as soon as the
    // service is ready, while the engine's healthcheck may only run again an interval later.
    if (s.readiness.length > 0) {
      for (const probe of s.readiness) await this.waitProbe(s, id, probe, deadline, t0);
    } else if (s.healthcheck) await this.waitHealthy(s, id, deadline, t0);
    if (this.internal.signal.aborted) return; // interrupted: not known to be healthy
    this.phase(resource, "healthy", undefined, t0);
  }

  private async waitHealthy(s: ResolvedService, id: string, deadline: number, t0: number): Promise<void> {
    this.ensureEvents();
    let wake: () => void = () => {};
    const listener = (e: EngineEvent) => {
      if (e.action.startsWith("health_status") || e.action === "die" || e.action === "start") wake();
    };
    const set = this.listeners.get(id) ?? new Set();
    set.add(listener);
    this.listeners.set(id, set);
    try {
      for (;;) {
        if (this.internal.signal.aborted && this.opts.signal?.aborted)
          throw new InterruptedError("interrupted while waiting");
        const info = await this.engine.inspectContainer(id);
        if (!info)
          throw new StepFailedError(`service ${s.name}`, "wait for health", "its container disappeared");
        if (info.health === "healthy") return;
        if (info.state === "exited" || info.state === "dead") {
          const tail = (await this.engine.containerLogs(id, LOG_TAIL)).map((l) =>
            redact(l, this.stack.secrets),
          );
          throw new StepFailedError(
            `service ${s.name}`,
            "wait for health",
            `the container exited with code ${info.exitCode}`,
            {
              details: ["last log lines:", ...tail.map((l) => `  ${l}`)],
              hint: `fix the cause above, then run apply again`,
            },
          );
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new HealthTimeoutError(
            s.name,
            Date.now() - t0,
            info.healthLog.slice(-3).map((l) => redact(l, this.stack.secrets)),
            "healthy",
          );
        }
        // An unhealthy report is not final while the deadline allows: slow cold starts recover.
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.internal.signal.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, Math.min(left, 5000));
          wake = done;
          this.internal.signal.addEventListener("abort", done, { once: true });
        });
        if (this.internal.signal.aborted) {
          if (this.failure !== undefined) return;
          if (this.opts.signal?.aborted) return;
        }
      }
    } finally {
      set.delete(listener);
    }
  }

  private async waitProbe(
    s: ResolvedService,
    id: string,
    probe: ResolvedProbe,
    deadline: number,
    t0: number,
  ) {
    let last = "";
    for (;;) {
      if (this.internal.signal.aborted) return;
      try {
        await runProbe(this.engine, s, id, probe, this.internal.signal);
        return;
      } catch (err) {
        last = `${probe.label}: ${(err as Error)?.message ?? String(err)}`;
      }
      if (Date.now() + probe.intervalMs > deadline) {
        throw new HealthTimeoutError(s.name, Date.now() - t0, [redact(last, this.stack.secrets)], "ready");
      }
      await new Promise((r) => setTimeout(r, probe.intervalMs));
    }
  }
}

async function inputDigests(paths: string[]): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  await Promise.all(
    paths.map(async (p) => {
      out[p] = await readFile(p).then(
        (b) => sha256(b),
        () => null,
      );
    }),
  );
  return out;
}

/**
 * Runs a short-lived root helper container with `dir` mounted at /target, and removes it.
 * Used to chown new directories and to delete files of other users, without needing root on the host.
 */
export async function runHelper(
  engine: EngineClient,
  stack: string,
  image: string,
  dir: string,
  cmd: string[],
): Promise<number> {
  const id = await engine.createContainer({
    Image: image,
    Entrypoint: [],
    Cmd: cmd,
    User: "0:0",
    Labels: { [LABEL.stack]: stack, [LABEL.kind]: "helper", [LABEL.name]: "helper", [LABEL.helper]: "true" },
    HostConfig: { Binds: [`${dir}:/target:rw`], NetworkMode: "none" },
  });
  try {
    const waiting = engine.waitContainer(id);
    await engine.startContainer(id);
    return await waiting;
  } finally {
    await engine.removeContainer(id);
  }
}

/** What to do about a container that the engine would not start. */
function startHint(message: string, service: string): string {
  if (/port is already allocated|address already in use/i.test(message))
    return "another process or container uses that host port: free it or change the port";
  if (/setting rlimit/i.test(message))
    return `the engine may not raise a limit above its own: lower services.${service}.ulimits, or raise the Docker daemon's (e.g. LimitNOFILE in its systemd unit, default-ulimits in daemon.json)`;
  return `check \`shctl logs ${service}\``;
}
