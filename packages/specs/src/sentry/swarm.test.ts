import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadStack, type ResolvedStack, type SpecError } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSentryOptions, SentryOptionsError } from "./options.js";
import { sentryStackFactory } from "./stack.js";
import { isConsumer } from "./swarm.js";

/*
 * The Sentry stack's swarm option: it resolves as a swarm stack (core's checks for a swarm pass),
 * the stores are pinned to their roles, everything else spreads with its replicas.
 */

describe("the Sentry stack on a swarm", () => {
  let projectDir: string;
  let stack: ResolvedStack;
  const load = async (options: unknown) => {
    await writeFile(path.join(projectDir, "shctl.yaml"), JSON.stringify(options));
    return loadStack(sentryStackFactory, { projectDir, env: {} });
  };

  beforeAll(async () => {
    projectDir = await mkdtemp(path.join(tmpdir(), "shctl-sentry-swarm-"));
    stack = await load({
      swarm: {
        roles: { postgres: "db", redis: "db" },
        replicas: { web: 3, consumers: 2 },
        topicPartitions: 4,
      },
    });
  });
  afterAll(async () => {
    await rm(projectDir, { recursive: true, force: true });
  });

  it("is a swarm stack whose file store and Sentry config are on shared storage", () => {
    expect(stack.target).toBe("swarm");
    expect(stack.swarm?.sharedDirs).toEqual([
      path.join(stack.dataRoot, "config/sentry"),
      path.join(stack.dataRoot, "sentry"),
    ]);
  });

  it("pins the stores to their roles and spreads the rest", () => {
    const placement = (n: string) => stack.services[n]?.placement;
    expect(placement("postgres")).toBe("db");
    expect(placement("redis")).toBe("db");
    expect(placement("kafka")).toBe("kafka");
    expect(placement("zookeeper")).toBe("kafka");
    expect(placement("clickhouse")).toBe("clickhouse");
    for (const n of ["web", "relay", "nginx", "worker", "snuba-api", "events-consumer"])
      expect(placement(n), n).toBeUndefined();
    expect(stack.services.web?.replicas).toBe(3);
    expect(stack.services["events-consumer"]?.replicas).toBe(2);
    expect(stack.services["snuba-consumer"]?.replicas).toBe(2);
    expect(stack.services["snuba-api"]?.replicas).toBeUndefined();
    // nginx's cache is each task's own memory, so nginx may run on any node.
    expect(
      stack.services.nginx?.mounts.some((m) => m.type === "tmpfs" && m.target === "/var/cache/nginx"),
    ).toBe(true);
  });

  it("names the consumers: Kafka consumer groups, not the API", () => {
    expect(isConsumer("snuba-subscription-consumer-events")).toBe(true);
    expect(isConsumer("ingest-replay-recordings")).toBe(true);
    expect(isConsumer("post-process-forwarder-errors")).toBe(true);
    expect(isConsumer("snuba-api")).toBe(false);
    expect(isConsumer("web")).toBe(false);
  });

  it("says that consumer replicas beyond the topics' partitions would idle", () => {
    expect(() => parseSentryOptions({ swarm: { replicas: { consumers: 3 } } })).toThrow(SentryOptionsError);
    try {
      parseSentryOptions({ swarm: { replicas: { consumers: 3 }, topicPartitions: 2 } });
      expect.unreachable();
    } catch (err) {
      expect((err as SpecError).issues[0]?.message).toMatch(/1 would idle; raise topicPartitions/);
    }
    expect(
      parseSentryOptions({ swarm: { replicas: { consumers: 4 }, topicPartitions: 4 } }).swarm
        ?.topicPartitions,
    ).toBe(4);
  });

  it("runs the topics job again when the partitions change", async () => {
    const other = await load({ swarm: { topicPartitions: 2 } });
    expect(other.jobs["kafka-topics"]?.version).not.toBe(stack.jobs["kafka-topics"]?.version);
  });

  it("without the option: one engine, as before", async () => {
    const plain = await load({});
    expect(plain.target).toBeUndefined();
    expect(plain.services.postgres?.placement).toBeUndefined();
  });
});
