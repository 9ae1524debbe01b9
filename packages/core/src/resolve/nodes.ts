import type { SpecIssue } from "../errors.js";
import { byCodeUnit } from "../graph.js";
import type {
  ResolvedCheck,
  ResolvedDependency,
  ResolvedHealthcheck,
  ResolvedJob,
  ResolvedPort,
  ResolvedProbe,
  ResolvedService,
} from "../model.js";
import type { ServiceSpec } from "../schema.js";
import { resolveContainer, resolvePaths } from "./containers.js";
import { ms, type Resolving, selected, type Where } from "./context.js";
import { imageKey } from "./images.js";
import { commandWords } from "./words.js";

/*
 * Services and jobs of the selected profile: their containers, ports, health, readiness probes,
 * timeouts and dependencies (each checked against what it names).
 */

export function resolveServices(r: Resolving): Record<string, ResolvedService> {
  const { spec } = r;
  const services: Record<string, ResolvedService> = {};
  for (const [name, s] of Object.entries(spec.services)) {
    if (!selected(r, s.profiles)) continue;
    const where = ["services", name];
    services[name] = {
      kind: "service",
      name,
      containerName: `${spec.name}-${name}`,
      ...resolveContainer(r, where, name, s, s.aliases),
      hostname: s.hostname,
      ports: s.ports.map((p) => port(p, spec.bindAddress)),
      healthcheck: s.healthcheck ? healthcheck(s.healthcheck) : undefined,
      readiness: s.readiness.map((p, i) => probe(p, i, [...where, "readiness", i], r.issues)),
      readyTimeoutMs: ms(s.readyTimeout),
      // A swarm replaces the tasks of a lost or drained node only when they restart.
      restart: s.restart ?? (spec.target === "swarm" ? "always" : "no"),
      ulimits: Object.entries(s.ulimits)
        .map(([n, u]) => (typeof u === "number" ? { name: n, soft: u, hard: u } : { name: n, ...u }))
        .sort((a, b) => byCodeUnit(a.name, b.name)),
      stopSignal: s.stopSignal,
      stopGraceMs: ms(s.stopGracePeriod),
      init: s.init,
      update: s.update,
      deps: resolveDeps(r, [...where, "dependsOn"], s.dependsOn),
      ...(s.placement ? { placement: s.placement.node } : {}),
      ...(s.replicas !== undefined ? { replicas: s.replicas } : {}),
    };
  }
  return services;
}

export function resolveJobs(r: Resolving): Record<string, ResolvedJob> {
  const jobs: Record<string, ResolvedJob> = {};
  for (const [name, j] of Object.entries(r.spec.jobs)) {
    if (!selected(r, j.profiles)) continue;
    const where = ["jobs", name];
    jobs[name] = {
      kind: "job",
      name,
      containerName: `${r.spec.name}-job-${name}`,
      container: j.image !== undefined ? resolveContainer(r, where, name, j, []) : undefined,
      run: j.run,
      version: j.version,
      timeoutMs: ms(j.timeout),
      always: j.always,
      deps: resolveDeps(r, [...where, "dependsOn"], j.dependsOn),
      inputs: resolvePaths(r, j.inputs),
      outputs: resolvePaths(r, j.outputs),
      uses: j.uses.map((u, i) => imageKey(r, u, [...where, "uses", i])),
      ...(j.placement ? { placement: j.placement.node } : {}),
    };
  }
  return jobs;
}

/** The stack's checks, each name once. */
export function resolveChecks(r: Resolving): ResolvedCheck[] {
  const seen = new Set<string>();
  return r.spec.checks.map((c, i) => {
    if (seen.has(c.name))
      r.issues.push({ path: ["checks", i, "name"], message: `another check is named "${c.name}"` });
    seen.add(c.name);
    return {
      name: c.name,
      description: c.description,
      timeoutMs: ms(c.timeout),
      hops: c.hops,
      run: c.run,
    };
  });
}

/** Each dependency with its kind and condition; what it names must exist, run and be able to meet it. */
function resolveDeps(r: Resolving, where: Where, d: ServiceSpec["dependsOn"]): ResolvedDependency[] {
  const { spec } = r;
  const entries = Array.isArray(d)
    ? d.map((n) => [n, { condition: "started" as const, restart: false }] as const)
    : Object.entries(d);
  return entries.map(([name, dep]) => {
    const kind = spec.jobs[name] ? "job" : "service";
    const issue = (path: Where, message: string) => r.issues.push({ path, message });
    if (!spec.services[name] && !spec.jobs[name])
      issue([...where, name], `no service or job named "${name}"`);
    else if (!selected(r, (spec.services[name] ?? spec.jobs[name])?.profiles))
      issue([...where, name], `"${name}" is not in profile "${r.profile ?? "(none)"}"`);
    let condition = dep.condition;
    if (kind === "job" && condition === "healthy")
      issue([...where, name, "condition"], `"${name}" is a job: use "completed" or "started"`);
    if (kind === "service" && condition === "completed")
      issue([...where, name, "condition"], `"${name}" is a service: use "started" or "healthy"`);
    const target = spec.services[name];
    if (
      kind === "service" &&
      condition === "healthy" &&
      target &&
      !target.healthcheck &&
      target.readiness.length === 0
    )
      issue(
        [...where, name, "condition"],
        `"${name}" has no healthcheck or readiness probe, so it can never be healthy`,
      );
    if (kind === "job" && Array.isArray(d)) condition = "completed";
    return { name, kind, condition, restart: dep.restart };
  });
}

function port(p: ServiceSpec["ports"][number], bindAddress: string): ResolvedPort {
  if (typeof p !== "string")
    return { hostIp: p.hostIp ?? bindAddress, host: p.host, container: p.container, protocol: p.protocol };
  const [spec, proto] = p.split("/");
  const parts = (spec as string).match(/^(?:(.+):)?(\d+):(\d+)$/) as RegExpMatchArray;
  return {
    hostIp: (parts[1] ?? bindAddress).replace(/^\[|\]$/g, ""),
    host: Number(parts[2]),
    container: Number(parts[3]),
    protocol: proto === "udp" ? "udp" : "tcp",
  };
}

function healthcheck(h: NonNullable<ServiceSpec["healthcheck"]>): ResolvedHealthcheck {
  const test = Array.isArray(h.test)
    ? h.test[0] === "CMD" || h.test[0] === "CMD-SHELL"
      ? h.test
      : ["CMD", ...h.test]
    : ["CMD-SHELL", h.test];
  return {
    test,
    intervalMs: ms(h.interval),
    timeoutMs: ms(h.timeout),
    retries: h.retries,
    startPeriodMs: ms(h.startPeriod),
  };
}

function probe(
  p: ServiceSpec["readiness"][number],
  i: number,
  where: (string | number)[],
  issues: SpecIssue[],
): ResolvedProbe {
  const intervalMs = ms(p.interval);
  if ("tcp" in p) return { type: "tcp", port: p.tcp.port, intervalMs, label: `tcp :${p.tcp.port}` };
  if ("http" in p) {
    return {
      type: "http",
      port: p.http.port,
      path: p.http.path,
      expectBody: p.http.expectBody,
      intervalMs,
      label: `http :${p.http.port}${p.http.path}`,
    };
  }
  if ("exec" in p) {
    const command = commandWords([...where, "exec"], p.exec, issues) as string[];
    return { type: "exec", command, intervalMs, label: `exec ${command.join(" ")}` };
  }
  return {
    type: "custom",
    name: p.custom.name,
    check: p.custom.check,
    intervalMs,
    label: p.custom.name || `probe ${i}`,
  };
}
