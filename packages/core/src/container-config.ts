import { canonicalJson, HASH_RECIPE, type Snapshot, snapshotHash } from "./hash.js";
import { LABEL } from "./labels.js";
import type { ContainerSpec, ResolvedService, ResolvedStack } from "./model.js";

const NS_PER_MS = 1_000_000;

/** The Engine API body for creating a service's or job's container (first network only; others are connected after). */
export function createBody(
  stack: ResolvedStack,
  name: string,
  spec: ContainerSpec,
  labels: Record<string, string>,
  service?: ResolvedService,
): Record<string, unknown> {
  const image = stack.images[spec.image]?.ref ?? spec.image;
  const binds: string[] = [];
  const tmpfs: Record<string, string> = {};
  for (const m of spec.mounts) {
    if (m.type === "bind") {
      const opts = [m.readOnly ? "ro" : "rw", ...(m.selinux ? [m.selinux] : [])];
      binds.push(`${m.hostPath}:${m.target}:${opts.join(",")}`);
    } else tmpfs[m.target] = m.sizeBytes ? `size=${m.sizeBytes}` : "";
  }
  const first = spec.networks[0];
  const firstNet = first ? stack.networks[first.name]?.dockerName : undefined;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of service?.ports ?? []) {
    const key = `${p.container}/${p.protocol}`;
    exposed[key] = {};
    bindings[key] = [...(bindings[key] ?? []), { HostIp: p.hostIp, HostPort: String(p.host) }];
  }
  const hc = service?.healthcheck;
  return {
    name,
    Image: image,
    ...(spec.command ? { Cmd: spec.command } : {}),
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    Env: spec.env.map((e) => `${e.name}=${e.value}`),
    ...(spec.user ? { User: spec.user } : {}),
    ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
    ...(service?.hostname ? { Hostname: service.hostname } : {}),
    Labels: { ...spec.labels, ...labels },
    ExposedPorts: exposed,
    ...(hc
      ? {
          Healthcheck: {
            Test: hc.test,
            Interval: hc.intervalMs * NS_PER_MS,
            Timeout: hc.timeoutMs * NS_PER_MS,
            Retries: hc.retries,
            StartPeriod: hc.startPeriodMs * NS_PER_MS,
          },
        }
      : {}),
    ...(service?.stopSignal ? { StopSignal: service.stopSignal } : {}),
    ...(service ? { StopTimeout: Math.ceil(service.stopGraceMs / 1000) } : {}),
    HostConfig: {
      Binds: binds,
      Tmpfs: tmpfs,
      PortBindings: bindings,
      RestartPolicy: { Name: service?.restart ?? "no" },
      Ulimits: (service?.ulimits ?? []).map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      Init: service?.init ?? false,
      ExtraHosts: spec.extraHosts,
      ...(firstNet ? { NetworkMode: firstNet } : {}),
    },
    ...(first && firstNet
      ? { NetworkingConfig: { EndpointsConfig: { [firstNet]: { Aliases: first.aliases } } } }
      : {}),
  };
}

/** The labels that mark a container as the stack's and record what was applied. */
export function ownershipLabels(
  stack: { name: string; dataRoot: string },
  node: { name: string; kind: "service" | "job"; deps: { name: string }[] },
  snapshot: Snapshot,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    [LABEL.stack]: stack.name,
    [LABEL.project]: stack.dataRoot,
    [LABEL.name]: node.name,
    [LABEL.kind]: node.kind,
    [LABEL.recipe]: String(HASH_RECIPE),
    [LABEL.hash]: snapshotHash(snapshot),
    [LABEL.snapshot]: canonicalJson(snapshot),
    [LABEL.dependsOn]: node.deps.map((d) => d.name).join(","),
    ...extra,
  };
}
