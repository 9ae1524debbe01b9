import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadStack, type ResolvedStack } from "@sh/core";
import { nodesInOrder } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderConfigFiles } from "./files.js";
import { UPSTREAM_IMAGES } from "./images.js";
import { parseSentryOptions } from "./options.js";
import {
  CONFIG_DIRS,
  clickhouseBaseFor,
  DATA_DIRS,
  FULL_ONLY,
  sentryStack,
  sentryStackFactory,
} from "./stack.js";

let projectDir: string;
beforeAll(async () => {
  projectDir = await mkdtemp(path.join(tmpdir(), "shctl-sentry-stack-"));
});
afterAll(async () => {
  await rm(projectDir, { recursive: true, force: true });
});

const load = (env: Record<string, string> = {}, profile?: string): Promise<ResolvedStack> =>
  loadStack(sentryStackFactory, { projectDir, env, ...(profile ? { profile } : {}) });

describe("the Sentry stack", () => {
  it("keeps every persistent byte under the data root, one directory per upstream volume", async () => {
    const stack = await load();
    expect(stack.dataRoot).toBe(path.join(projectDir, "sentrydata"));
    const dirs = new Set<string>();
    for (const s of Object.values(stack.services)) {
      for (const m of s.mounts) {
        if (m.type !== "bind" || m.root !== "data") continue;
        expect(m.hostPath.startsWith(`${stack.dataRoot}${path.sep}`)).toBe(true);
        if (!m.source.startsWith("config")) dirs.add(m.source);
      }
    }
    expect([...dirs].sort()).toEqual(Object.keys(DATA_DIRS).sort());
  });

  it("declares the owner each image needs on its data directories", async () => {
    const stack = await load();
    const owner = (svc: string, target: string) => {
      const m = stack.services[svc]?.mounts.find((x) => x.target === target);
      return m?.type === "bind" ? m.owner : undefined;
    };
    expect(owner("postgres", "/var/lib/postgresql/data")).toEqual({ uid: 999, gid: 999 });
    expect(owner("clickhouse", "/var/lib/clickhouse")).toEqual({ uid: 101, gid: 101 });
    expect(owner("symbolicator", "/data")).toEqual({ uid: 10021, gid: 10021 });
    expect(owner("web", "/data")).toEqual({ uid: 999, gid: 999 });
    expect(owner("redis", "/data")).toEqual({ uid: 999, gid: 1000 });
  });

  it("publishes nginx on 9006 by default, and on the configured address and port", async () => {
    expect((await load()).services.nginx?.ports).toEqual([
      { hostIp: "0.0.0.0", host: 9006, container: 80, protocol: "tcp" },
    ]);
    const custom = await load({ SHCTL_HTTP_PORT: "8080", SHCTL_BIND_ADDRESS: "127.0.0.1" });
    expect(custom.services.nginx?.ports).toEqual([
      { hostIp: "127.0.0.1", host: 8080, container: 80, protocol: "tcp" },
    ]);
  });

  it("the core profile drops profiling, and nothing it runs depends on it", async () => {
    const core = await load({}, "core");
    for (const name of FULL_ONLY) expect(core.services[name]).toBeUndefined();
    for (const s of Object.values(core.services)) {
      for (const d of s.deps) expect(FULL_ONLY as readonly string[]).not.toContain(d.name);
    }
    // The pipelines the user needs are all there.
    for (const name of [
      "events-consumer",
      "snuba-consumer",
      "transactions-consumer",
      "snuba-transactions-consumer",
      "ingest-replay-recordings",
      "snuba-replays-consumer",
      "relay",
      "nginx",
      "web",
      "worker",
      // With transaction metrics extraction on, the accepted transactions on the Stats page are
      // the outcomes this consumer records (the event pipeline records transaction_indexed only).
      "billing-metrics-consumer",
      "generic-metrics-consumer",
    ]) {
      expect(core.services[name], name).toBeDefined();
    }
    expect(core.services["billing-metrics-consumer"]?.command).toEqual([
      "run",
      "consumer",
      "billing-metrics-consumer",
      "--consumer-group",
      "billing-metrics-consumer",
    ]);
    const conf = renderConfigFiles(parseSentryOptions({ profile: "core" }), "k".repeat(50)).find((f) =>
      f.path.endsWith("sentry.conf.py"),
    );
    expect(String(conf?.content)).not.toContain("organizations:profiling");
  });

  it("orders init jobs as upstream's install does, before the services that need them", async () => {
    const stack = await load();
    const order = nodesInOrder(stack).map((n) => n.name);
    expect(stack.jobs["sentry-upgrade"]?.deps).toContainEqual(
      expect.objectContaining({ name: "snuba-api", kind: "service", condition: "started" }),
    );
    const before = (a: string, b: string) =>
      expect(order.indexOf(a), `${a} before ${b}`).toBeLessThan(order.indexOf(b));
    before("prerequisites", "config");
    before("config", "relay-credentials");
    before("snuba-bootstrap", "snuba-migrate");
    before("snuba-bootstrap", "kafka-topics");
    before("snuba-migrate", "sentry-upgrade");
    before("kafka-topics", "sentry-upgrade");
    // As upstream's `run web upgrade`, which starts web's dependencies, snuba-api among them.
    before("snuba-api", "sentry-upgrade");
    before("sentry-upgrade", "web");
    before("kafka-topics", "snuba-consumer");
    before("relay-credentials", "relay");
  });

  it("treats a Redis password as a secret in every consumer of Redis", async () => {
    const pw = "pw-abc.123_xyz";
    const stack = await load({ SHCTL_REDIS_PASSWORD: pw });
    expect(stack.secrets).toContain(pw);
    const env = (svc: string, name: string) => stack.services[svc]?.env.find((e) => e.name === name);
    expect(env("redis", "REDISCLI_AUTH")).toEqual({ name: "REDISCLI_AUTH", value: pw, secret: true });
    expect(env("snuba-consumer", "REDIS_PASSWORD")).toEqual({
      name: "REDIS_PASSWORD",
      value: pw,
      secret: true,
    });
    expect(stack.services.redis?.command).toEqual(["redis-server", "/usr/local/etc/redis/redis.conf"]);
    // Never on a command line, where `docker inspect` and the plan would show it.
    for (const s of Object.values(stack.services))
      expect(JSON.stringify([s.command, s.entrypoint])).not.toContain(pw);
    const files = renderConfigFiles(parseSentryOptions({ redisPassword: pw }), "k".repeat(50));
    const holders = files.filter((f) => String(f.content).includes(pw)).map((f) => f.path);
    expect(holders.sort()).toEqual([
      `${CONFIG_DIRS.redis}/redis.conf`,
      `${CONFIG_DIRS.relay}/config.yml`,
      `${CONFIG_DIRS.sentry}/sentry.conf.py`,
    ]);
    for (const f of files.filter((x) => holders.includes(x.path) && !x.path.endsWith(".py")))
      expect(f.mode).toBe(0o600);
  });

  it("pulls from a registry mirror and tags the official name", async () => {
    const stack = await load({ SHCTL_REGISTRY_MIRROR: "hub.example.dev" });
    expect(stack.images.smtp).toMatchObject({
      ref: "tianon/exim4",
      mirrorRef: "hub.example.dev/tianon/exim4:latest",
      pullSources: ["hub.example.dev/tianon/exim4:latest"],
    });
    // Official images are under library/ on a Docker Hub mirror; the short name is the fallback.
    expect(stack.images.postgres).toMatchObject({
      ref: "postgres:14.5",
      pullSources: ["hub.example.dev/library/postgres:14.5", "hub.example.dev/postgres:14.5"],
    });
    // An image of another registry does not go through a Docker Hub mirror.
    expect(stack.images.geoipupdate?.pullSources).toEqual(["ghcr.io/maxmind/geoipupdate:v6.0.0"]);
    // Locally built images are never pulled.
    expect(stack.images.sentry?.mirrorRef).toBeUndefined();
    expect(stack.images.sentry?.pullSources).toEqual([]);
  });

  describe("the ClickHouse base image follows the engine's architecture, not shctl's", () => {
    const info = (architecture: string) => async () => ({
      serverVersion: "24.0.7",
      cpus: 4,
      memoryBytes: 16e9,
      os: "Docker Desktop",
      architecture,
    });
    const base = async (engineInfo?: () => ReturnType<ReturnType<typeof info>>, env = {}) => {
      const stack = await loadStack(sentryStackFactory, {
        projectDir,
        env,
        ...(engineInfo ? { engineInfo } : {}),
      });
      return {
        upstream: stack.images["clickhouse-upstream"]?.ref,
        buildArg: stack.images.clickhouse?.build?.args.BASE_IMAGE,
      };
    };

    it.each([
      ["aarch64", UPSTREAM_IMAGES.clickhouseBaseArm64],
      ["x86_64", UPSTREAM_IMAGES.clickhouseBase],
    ])("an engine on %s gets %s", async (arch, image) => {
      expect(await base(info(arch))).toEqual({ upstream: image, buildArg: image });
    });

    it("without engine info, falls back to this process's architecture", async () => {
      expect((await base()).upstream).toBe(clickhouseBaseFor(process.arch));
    });

    it("does not ask the engine when the options name the ClickHouse image", async () => {
      let asked = false;
      const engineInfo = async () => {
        asked = true;
        return info("aarch64")();
      };
      expect(await base(engineInfo, { SHCTL_IMAGE_CLICKHOUSE: "my/clickhouse:1" })).toEqual({
        upstream: "my/clickhouse:1",
        buildArg: "my/clickhouse:1",
      });
      expect(asked).toBe(false);
    });

    it("node's names for the architectures mean the same", () => {
      expect(clickhouseBaseFor("arm64")).toBe(UPSTREAM_IMAGES.clickhouseBaseArm64);
      expect(clickhouseBaseFor("x64")).toBe(UPSTREAM_IMAGES.clickhouseBase);
    });
  });

  it("builds the cleanup images from the image they extend", () => {
    const input = sentryStack(parseSentryOptions({}), projectDir);
    expect(input.images?.["sentry-cleanup"]?.needs).toEqual(["sentry"]);
    expect(input.images?.["sentry-cleanup"]?.build?.args?.BASE_IMAGE).toBe("sentry-self-hosted-local");
  });
});
