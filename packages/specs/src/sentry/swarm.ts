import type { StackInput } from "@sh/core";
import type { Svc } from "./family.js";
import type { SentryOptions } from "./options.js";

/*
 * The Sentry stack on a swarm (option `swarm`): the stores pinned to the nodes that take their
 * role (a node label shctl.ROLE=true), everything stateless spread with its replicas. The Sentry
 * processes share the file store and their config directory, which must then be on storage every
 * node mounts at the same path (swarm.sharedDirs); nginx's cache is a tmpfs of each task.
 */

export type SwarmOptions = NonNullable<SentryOptions["swarm"]>;

/** Which role (node label) each stateful service is pinned to. */
export function pinnedRoles(o: SwarmOptions): Record<string, string> {
  const r = o.roles;
  return {
    postgres: r.postgres,
    redis: r.redis,
    kafka: r.kafka,
    zookeeper: r.kafka,
    clickhouse: r.clickhouse,
    smtp: r.files,
    symbolicator: r.files,
    "symbolicator-cleanup": r.files,
    vroom: r.files,
    "vroom-cleanup": r.files,
  };
}

/**
 * A Kafka consumer (Sentry's or snuba's): a member of a consumer group, which shares its topic's
 * partitions among its members, so replicas beyond the partitions idle.
 */
export function isConsumer(name: string): boolean {
  return (
    (/consumer/.test(name) || /^(ingest-|post-process-forwarder-)/.test(name) || name === "snuba-replacer") &&
    name !== "snuba-api"
  );
}

/** The stack's services for a swarm: pins, replicas, nginx's cache in memory. */
export function swarmServices(services: Record<string, Svc>, o: SwarmOptions): Record<string, Svc> {
  const roles = pinnedRoles(o);
  const out: Record<string, Svc> = {};
  for (const [name, svc] of Object.entries(services)) {
    const role = roles[name];
    let s: Svc = { ...svc };
    if (role) s = { ...s, placement: { node: role } };
    else if (name === "web") s = { ...s, replicas: o.replicas.web };
    else if (name === "relay") s = { ...s, replicas: o.replicas.relay };
    else if (name === "nginx")
      s = {
        ...s,
        replicas: o.replicas.nginx,
        mounts: (s.mounts ?? []).map((m) =>
          "source" in m && m.source === "nginx-cache" ? { type: "tmpfs" as const, target: m.target } : m,
        ),
      };
    else if (isConsumer(name)) s = { ...s, replicas: o.replicas.consumers };
    // Sentry reads its config directory; on a swarm it reaches the tasks from the shared directory.
    out[name] = s;
  }
  return out;
}

/** The stack's `target` and `swarm` fields for the option. */
export function swarmTarget(o: SwarmOptions): Pick<StackInput, "target" | "swarm"> {
  return {
    target: "swarm",
    swarm: {
      ...(o.registry ? { registry: o.registry } : {}),
      sharedDirs: o.sharedDirs,
    },
  };
}
