import { ownershipLabels } from "../container-config.js";
import { HASH_RECIPE, hashOf, type Snapshot, serviceSnapshot } from "../hash.js";
import { LABEL } from "../labels.js";
import type { ContainerSpec, ResolvedJob, ResolvedService, ResolvedStack } from "../model.js";
import type { TaskFile } from "./files.js";
import { jobServiceName, roleConstraint, serviceName, TASK_LABEL } from "./names.js";

/*
 * The swarm's ServiceSpec of a service or a job, from the resolved stack: pure. Services resolve
 * each other by name through DNS round robin (endpoint mode dnsrr: no virtual IP, which needs
 * IPVS in the kernel), publish ports on their node (publish mode host: the ingress mesh needs
 * IPVS too), get read-only files as configs, and roll with the swarm's update config.
 */

const NS_PER_MS = 1_000_000;
/** How long the swarm watches a new task for failure before it counts as updated. */
export const UPDATE_MONITOR_MS = 5000;
/** How long the swarm waits before it restarts a task that exited. */
export const RESTART_DELAY_MS = 2000;

/** The image a service runs: a reference, and what identifies its content (undefined: the reference). */
export interface SwarmImage {
  /** What the task's container spec names (a pushed image by digest). */
  run: string;
  /** The stack's reference, for snapshots and messages. */
  ref: string;
  /** The local image ID of an image this machine has and made (built, loaded); null while pending. */
  identity: string | null | undefined;
}

/** The snapshot shctl applies and diffs: the engine's snapshot of a container, plus the swarm's fields. */
export function swarmSnapshot(
  s: ResolvedService,
  image: SwarmImage,
  inputs: Record<string, string | null>,
  files: TaskFile[],
): Snapshot {
  const snap = serviceSnapshot(s, image.identity ?? null, image.ref, inputs);
  return {
    ...snap,
    image: image.identity === undefined ? image.ref : snap.image,
    replicas: s.replicas ?? 1,
    placement: s.placement,
    configs: Object.fromEntries(
      files.map((f) => [
        f.target,
        `${f.digest.slice(0, 12)}:${f.mode.toString(8)}${f.uid || f.gid ? `:${f.uid}:${f.gid}` : ""}`,
      ]),
    ),
  };
}

/** The hash of what a task runs (the snapshot without the task count): a change restarts tasks. */
export function taskHash(snapshot: Snapshot): string {
  const { replicas: _replicas, ...task } = snapshot;
  return hashOf({ recipe: HASH_RECIPE, task });
}

/** A config a task gets, as the spec names it. */
export interface ConfigRef {
  file: TaskFile;
  id: string;
  name: string;
}

function ns(ms: number): number {
  return ms * NS_PER_MS;
}

/** The container part of a task, shared by services, jobs and their updates. */
function containerSpec(
  stack: ResolvedStack,
  name: string,
  spec: ContainerSpec,
  image: string,
  configs: ConfigRef[],
  hash: string,
  s?: ResolvedService,
): Record<string, unknown> {
  const hc = s?.healthcheck;
  return {
    Image: image,
    ...(spec.entrypoint ? { Command: spec.entrypoint } : {}),
    ...(spec.command ? { Args: spec.command } : {}),
    Env: spec.env.map((e) => `${e.name}=${e.value}`),
    ...(spec.user ? { User: spec.user } : {}),
    ...(spec.workingDir ? { Dir: spec.workingDir } : {}),
    ...(s?.hostname ? { Hostname: s.hostname } : {}),
    Labels: { ...spec.labels, [TASK_LABEL.service]: `${stack.name}/${name}`, [TASK_LABEL.hash]: hash },
    Mounts: spec.mounts.flatMap((m) => {
      if (m.type === "tmpfs")
        return [
          {
            Type: "tmpfs",
            Target: m.target,
            ...(m.sizeBytes ? { TmpfsOptions: { SizeBytes: m.sizeBytes } } : {}),
          },
        ];
      if (m.readOnly) return []; // a config
      return [{ Type: "bind", Source: m.hostPath, Target: m.target, ReadOnly: false }];
    }),
    Configs: configs.map((c) => ({
      ConfigID: c.id,
      ConfigName: c.name,
      File: { Name: c.file.target, UID: String(c.file.uid), GID: String(c.file.gid), Mode: c.file.mode },
    })),
    ...(hc
      ? {
          Healthcheck: {
            Test: hc.test,
            Interval: ns(hc.intervalMs),
            Timeout: ns(hc.timeoutMs),
            Retries: hc.retries,
            StartPeriod: ns(hc.startPeriodMs),
          },
        }
      : {}),
    Hosts: spec.extraHosts.map((h) => {
      const i = h.indexOf(":");
      return i < 0 ? h : `${h.slice(i + 1)} ${h.slice(0, i)}`;
    }),
    ...(s?.init ? { Init: true } : {}),
    ...(s?.stopSignal ? { StopSignal: s.stopSignal } : {}),
    ...(s ? { StopGracePeriod: ns(s.stopGraceMs) } : {}),
    ...(s && s.ulimits.length > 0
      ? { Ulimits: s.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) }
      : {}),
  };
}

function networks(stack: ResolvedStack, spec: ContainerSpec) {
  return spec.networks.map((n) => ({
    Target: stack.networks[n.name]?.dockerName ?? n.name,
    Aliases: n.aliases,
  }));
}

const RESTART: Record<ResolvedService["restart"], string> = {
  no: "none",
  "on-failure": "on-failure",
  always: "any",
  "unless-stopped": "any",
};

export interface ServiceSpecInput {
  image: string;
  configs: ConfigRef[];
  snapshot: Snapshot;
  order: "start-first" | "stop-first";
  /** Carried over from the service (a restart adds one: the swarm replaces every task). */
  forceUpdate: number;
}

export function serviceSpec(
  stack: ResolvedStack,
  s: ResolvedService,
  i: ServiceSpecInput,
): Record<string, unknown> {
  const update = {
    Parallelism: 1,
    Delay: 0,
    FailureAction: "rollback",
    Monitor: ns(UPDATE_MONITOR_MS),
    MaxFailureRatio: 0,
    Order: i.order,
  };
  return {
    Name: serviceName(stack.name, s.name),
    Labels: ownershipLabels(stack, s, i.snapshot),
    TaskTemplate: {
      ContainerSpec: containerSpec(stack, s.name, s, i.image, i.configs, taskHash(i.snapshot), s),
      RestartPolicy: { Condition: RESTART[s.restart], Delay: ns(RESTART_DELAY_MS), MaxAttempts: 0 },
      Placement: { Constraints: s.placement ? [roleConstraint(s.placement)] : [] },
      Networks: networks(stack, s),
      ForceUpdate: i.forceUpdate,
    },
    Mode: { Replicated: { Replicas: s.replicas ?? 1 } },
    UpdateConfig: update,
    RollbackConfig: { ...update, FailureAction: "pause" },
    EndpointSpec: {
      Mode: "dnsrr",
      Ports: s.ports.map((p) => ({
        Protocol: p.protocol,
        TargetPort: p.container,
        PublishedPort: p.host,
        PublishMode: "host",
      })),
    },
  };
}

/**
 * A job's one-off service: one task, never restarted, removed once it ended. A replicated service
 * of one task with restart "none", not a swarm job (mode replicated-job): the tasks of a removed
 * job service are never reaped (Engine 20.10), and would leave an exited container on the node.
 */
export function jobServiceSpec(
  stack: ResolvedStack,
  job: ResolvedJob,
  spec: ContainerSpec,
  i: { image: string; configs: ConfigRef[]; jobKey: string },
): Record<string, unknown> {
  return {
    Name: jobServiceName(stack.name, job.name),
    Labels: ownershipLabels(stack, job, { job: i.jobKey }, { [LABEL.jobKey]: i.jobKey }),
    TaskTemplate: {
      ContainerSpec: containerSpec(stack, job.name, spec, i.image, i.configs, i.jobKey),
      RestartPolicy: { Condition: "none", MaxAttempts: 0 },
      Placement: { Constraints: job.placement ? [roleConstraint(job.placement)] : [] },
      Networks: networks(stack, spec),
    },
    Mode: { Replicated: { Replicas: 1 } },
    EndpointSpec: { Mode: "dnsrr" },
  };
}
