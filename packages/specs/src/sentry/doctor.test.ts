import { tmpdir } from "node:os";
import type { DoctorContext, EngineInfoSummary, HostFacts } from "@sh/core";
import { describe, expect, it } from "vitest";
import {
  cpusCheck,
  createTopicCommand,
  diskCheck,
  kafkaTopicsCheck,
  memoryCheck,
  platformCheck,
  sentryDoctorChecks,
  sse42Check,
  topicsResult,
} from "./doctor.js";
import { SENTRY_TOPIC_NAMES, SENTRY_TOPICS } from "./topics.js";

/*
 * The Sentry stack's doctor checks over made-up engines and machines. ClickHouse and Kafka
 * against real servers: test/sentry-doctor.test.ts.
 */

const ENGINE: EngineInfoSummary = {
  serverVersion: "24.0.7",
  cpus: 8,
  memoryBytes: 16 * 1024 ** 3,
  os: "Debian GNU/Linux 12 (bookworm)",
  architecture: "x86_64",
};
const LINUX: HostFacts = { platform: "linux", env: {}, procVersion: "Linux version 6.1", mounts: "" };
const WSL: HostFacts = { ...LINUX, env: { WSL_DISTRO_NAME: "Ubuntu" } };

const never = () => Promise.reject(new Error("not in this test"));
function ctx(
  engine: Partial<EngineInfoSummary> = {},
  host: HostFacts = LINUX,
  state = "running",
): DoctorContext {
  return {
    stack: "sentry-self-hosted",
    dataRoot: tmpdir(),
    projectDir: tmpdir(),
    signal: new AbortController().signal,
    host,
    engineInfo: async () => ({ ...ENGINE, ...engine }),
    reachMode: async () => "direct",
    serviceState: async () => state,
    containerName: (s) => `sentry-self-hosted-${s}-1`,
    exec: never,
    address: never,
    connect: never,
    socket: () => {
      throw new Error("not in this test");
    },
    httpAgent: () => {
      throw new Error("not in this test");
    },
  };
}

describe("the Sentry stack's doctor checks", () => {
  it("CPUs and memory against upstream's minimums, pointing at where to raise them", async () => {
    expect(await cpusCheck(ctx())).toMatchObject({ status: "ok", detail: "8 CPUs (at least 2)" });
    expect(await cpusCheck(ctx({ cpus: 2 }))).toMatchObject({ status: "warning" });
    const one = await cpusCheck(ctx({ cpus: 1 }, WSL));
    expect(one).toMatchObject({
      status: "failure",
      detail: "the engine has 1 CPU(s); Sentry needs at least 2",
    });
    expect(one.fix).toMatch(/\.wslconfig/);
    expect((await memoryCheck(ctx())).status).toBe("ok");
    expect((await memoryCheck(ctx({ memoryBytes: 6 * 1024 ** 3 }))).status).toBe("warning");
    const low = await memoryCheck(ctx({ memoryBytes: 2 * 1024 ** 3, os: "Docker Desktop" }));
    expect(low).toMatchObject({
      status: "failure",
      detail: "the engine has 2048 MB of memory; Sentry needs at least 3800 MB",
    });
    expect(low.fix).toMatch(/Docker Desktop: Settings → Resources/);
  });

  it("the platform: architecture, Docker version, no Git Bash", async () => {
    expect(await platformCheck(ctx())).toMatchObject({ status: "ok", detail: "Docker 24.0.7 on x86_64" });
    expect((await platformCheck(ctx({ architecture: "s390x" }))).status).toBe("failure");
    expect((await platformCheck(ctx({ serverVersion: "18.09.1" }))).detail).toMatch(/older than 19\.03\.6/);
    expect((await platformCheck(ctx({}, { ...LINUX, env: { MSYSTEM: "MINGW64" } }))).status).toBe("failure");
  });

  it("SSE 4.2: judged where upstream judges it, skipped with why elsewhere", async () => {
    const flags = ["sse", "sse2", "sse4_1"];
    expect((await sse42Check(ctx({ cpuFlags: flags }))).status).toBe("failure");
    expect((await sse42Check(ctx({ cpuFlags: [...flags, "sse4_2"], cpuModel: "AMD EPYC" }))).detail).toBe(
      "the engine's CPU has it (AMD EPYC)",
    );
    expect(await sse42Check(ctx({}))).toMatchObject({
      status: "skipped",
      detail: "the CPU's flags could not be read through the engine",
    });
    expect((await sse42Check(ctx({ cpuFlags: flags, cpuModel: "Common KVM processor" }))).status).toBe(
      "skipped",
    );
    expect((await sse42Check(ctx({ architecture: "aarch64" }))).status).toBe("ok");
  });

  it("free disk against the 20 GB upstream recommends, in the built-in disk check's place", async () => {
    const r = await diskCheck(ctx());
    expect(r.detail).toMatch(/free of .* at /);
    expect(sentryDoctorChecks()[0]?.id).toBe("disk");
  });

  it("Kafka topics: each missing one with the command that creates it; skipped while kafka does not run", async () => {
    const all = await topicsResult(async () => [...SENTRY_TOPIC_NAMES, "__consumer_offsets"], "k-1");
    expect(all).toMatchObject({ status: "ok", detail: `all ${SENTRY_TOPICS.length} topics present` });
    const some = await topicsResult(
      async () => SENTRY_TOPIC_NAMES.filter((t) => t !== "ingest-events" && t !== "events"),
      "sentry-self-hosted-kafka-1",
    );
    expect(some.status).toBe("failure");
    expect(some.detail).toBe(`2 of ${SENTRY_TOPICS.length} topics missing: events, ingest-events`);
    expect(some.commands).toEqual([
      "docker exec sentry-self-hosted-kafka-1 kafka-topics --create --topic events --bootstrap-server kafka:9092 --config message.timestamp.type=LogAppendTime",
      "docker exec sentry-self-hosted-kafka-1 kafka-topics --create --topic ingest-events --bootstrap-server kafka:9092",
    ]);
    expect(await kafkaTopicsCheck(ctx({}, LINUX, "missing"))).toMatchObject({ status: "skipped" });
    const ev = SENTRY_TOPICS.find((t) => t.name === "ingest-replay-events");
    if (ev) expect(createTopicCommand("k", ev)).toMatch(/--config max\.message\.bytes=15000000$/);
  });
});
