import net from "node:net";
import path from "node:path";
import { apply, type DoctorContext, type DoctorFinding, doctor, type ResolvedStack } from "@sh/core";
import { LABEL } from "@sh/core/internals";
import { sentryDoctorChecks } from "@sh/specs";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kafkaTopicsCheck } from "../packages/specs/src/sentry/doctor.js";
import { kafkaClient } from "../packages/specs/src/sentry/kafka.js";
import { consumerLag } from "../packages/specs/src/sentry/lag.js";
import { clickhouseProbe } from "../packages/specs/src/sentry/probes.js";
import { SENTRY_TOPICS } from "../packages/specs/src/sentry/topics.js";
import { BASE_IMAGE, cleanup, engine, load, REPO, stackName, tempProject } from "./helpers.js";

/*
 * The Sentry stack's doctor checks and consumer lag against real servers. ClickHouse: the infra
 * stand-in (Debian's ClickHouse, test/fixtures/infra/clickhouse) as the stack's `clickhouse`
 * service, checked through the stack connections as `shctl doctor` does. Kafka: no broker can be
 * installed here; with SHCTL_TEST_KAFKA_BROKERS=host:port the topics check and the lag of a
 * consumer group run against that broker (skipped, and said so, without it).
 */

const BROKERS = (process.env.SHCTL_TEST_KAFKA_BROKERS ?? "")
  .split(",")
  .map((b) => b.trim())
  .filter(Boolean);

let projectDir: string;
let stack: ResolvedStack | undefined;
const byId = (findings: DoctorFinding[]) => Object.fromEntries(findings.map((f) => [f.id, f]));

describe("the Sentry doctor checks on the real engine, ClickHouse running", () => {
  beforeAll(async () => {
    projectDir = await tempProject("shctl-sentry-doctor-");
    stack = await load(
      {
        name: stackName("sdoctor"),
        images: {
          clickhouse: {
            ref: "shctl-test/sentry-clickhouse:bookworm",
            build: { context: path.join(REPO, "test/fixtures/infra/clickhouse"), args: { BASE: BASE_IMAGE } },
          },
        },
        services: {
          clickhouse: { image: "clickhouse", readiness: [clickhouseProbe()], stopGracePeriod: "2s" },
        },
        doctor: sentryDoctorChecks(),
      },
      projectDir,
    );
    await apply(stack, engine);
  });
  afterAll(async () => {
    await cleanup(stack, projectDir);
  });

  it("ClickHouse answers through the stack connections; Kafka, which does not run, is skipped; the engine's CPU is judged", async () => {
    if (!stack) throw new Error("no stack");
    const f = byId(await doctor(stack, engine));
    expect(f["sentry-clickhouse"]).toMatchObject({
      status: "ok",
      detail: expect.stringMatching(/^answers at clickhouse:8123 \(ClickHouse \d+\.\d+/),
    });
    expect(f["sentry-kafka-topics"]).toMatchObject({
      status: "skipped",
      detail: "kafka is missing: its topics cannot be listed (`shctl apply` starts it)",
    });
    // The stack's disk check (20 GB recommended) takes the built-in one's place.
    expect(f.disk).toMatchObject({ source: "stack", detail: expect.stringContaining("20 GB") });
    // The CPU flags come from the engine side (the helper reads /proc/cpuinfo): judged on x86_64.
    const sse = f["sentry-sse42"];
    if (process.arch === "x64") expect(sse?.status).toMatch(/^(ok|failure)$/);
    expect(f["sentry-cpus"]?.detail).toMatch(/CPU/);
    expect(f["sentry-memory"]?.detail).toMatch(/MB/);
  });

  it("ClickHouse stopped: skipped with its state", async () => {
    if (!stack) throw new Error("no stack");
    const id = (await engine.listContainers([`${LABEL.stack}=${stack.name}`])).find(
      (c) => c.labels[LABEL.name] === "clickhouse",
    )?.id;
    if (!id) throw new Error("no clickhouse container");
    await engine.stopContainer(id, 2);
    const f = byId(await doctor(stack, engine));
    expect(f["sentry-clickhouse"]).toMatchObject({
      status: "skipped",
      detail: expect.stringMatching(/^clickhouse is exited/),
    });
  });
});

function parseBroker(b: string): { host: string; port: number } {
  const i = b.lastIndexOf(":");
  return { host: b.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(b.slice(i + 1)) };
}

/** Stack connections that send every host to the broker (it is not a container here). */
function connectionsTo(address: { host: string; port: number }) {
  const socket = (_h: string, _p: number, onConnect?: () => void) =>
    net.connect({ host: address.host, port: address.port }, onConnect);
  return {
    socket,
    connect: (h: string, p: number) =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = socket(h, p, () => resolve(s));
        s.once("error", reject);
      }),
    httpAgent: () => {
      throw new Error("no HTTP here");
    },
  };
}

describe.skipIf(BROKERS.length === 0)(
  BROKERS.length === 0
    ? "against a real Kafka broker: skipped because SHCTL_TEST_KAFKA_BROKERS is not set (set it to host:port of a test broker to run these)"
    : `against the Kafka broker at ${BROKERS.join(",")}`,
  () => {
    const broker = () => parseBroker(BROKERS[0] as string);
    const direct = () => new Kafka({ clientId: "shctl-test", brokers: BROKERS, logLevel: logLevel.NOTHING });

    it("the topics check lists what the broker lacks of Sentry's topics", async () => {
      const ctx = {
        ...connectionsTo(broker()),
        serviceState: async () => "running",
        containerName: () => "kafka-test",
        signal: AbortSignal.timeout(30_000),
      } as unknown as DoctorContext;
      const r = await kafkaTopicsCheck(ctx);
      const admin = direct().admin();
      await admin.connect();
      const present = new Set(await admin.listTopics());
      await admin.disconnect();
      const missing = SENTRY_TOPICS.filter((t) => !present.has(t.name));
      expect(r.status).toBe(missing.length === 0 ? "ok" : "failure");
      expect(r.commands ?? []).toHaveLength(missing.length);
    });

    it("a group's lag: end offsets less committed ones; stuck when messages arrive and it commits nothing", async () => {
      const topic = `shctl-lag-${process.pid}-${Date.now()}`;
      const group = `${topic}-group`;
      const k = direct();
      const admin = k.admin();
      await admin.connect();
      const producer = k.producer();
      await producer.connect();
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
        });
        const consumers = [{ service: "svc", group, topics: [topic] }];
        const lagAdmin = kafkaClient(connectionsTo(broker()), "shctl-test-lag").admin();
        await lagAdmin.connect();
        try {
          // Never committed: "no commits yet".
          await producer.send({ topic, messages: [{ value: "1" }, { value: "2" }] });
          let out = await consumerLag(lagAdmin, consumers, { svc: { state: "running" } }, { intervalMs: 10 });
          expect(out.svc?.lag.text).toBe("no commits yet");
          // Committed at 1 of 5: lag 4, steady.
          await producer.send({ topic, messages: [{ value: "3" }, { value: "4" }, { value: "5" }] });
          await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: "1" }] });
          out = await consumerLag(lagAdmin, consumers, { svc: { state: "running" } }, { intervalMs: 10 });
          expect(out.svc?.lag).toMatchObject({ text: "4" });
          // Messages arrive between the samples and nothing is committed: stuck.
          const sending = new Promise((r) => setTimeout(r, 500)).then(() =>
            producer.send({ topic, messages: [{ value: "6" }] }),
          );
          out = await consumerLag(lagAdmin, consumers, { svc: { state: "running" } }, { intervalMs: 2000 });
          await sending;
          expect(out.svc?.lag).toMatchObject({ text: "5 stuck", state: "failure" });
        } finally {
          await lagAdmin.disconnect();
        }
      } finally {
        await producer.disconnect();
        await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
        await admin.disconnect();
      }
    });
  },
);
