import net from "node:net";
import { runCheck } from "@sh/core/internals";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, describe, expect, it } from "vitest";
import { type Clients, stackKafkaReader } from "../packages/specs/src/sentry/verify/clients.js";
import {
  consumersAssigned,
  groupCaughtUp,
  offsetMoved,
  type Pipeline,
} from "../packages/specs/src/sentry/verify/hops.js";
import { fakeHarness } from "../packages/specs/src/sentry/verify/testing.js";
import type { TopicLeg } from "../packages/specs/src/sentry/verify/topology.js";

/*
 * verify's Kafka hops (consumers assigned, offset moved, group caught up) with the real kafkajs
 * reader against a real broker: SHCTL_TEST_KAFKA_BROKERS=host:port (none can be installed here,
 * so without it this file is skipped, saying so). The test makes its own topic, a consumer group
 * that reads and commits it (kafkajs, standing in for Sentry's and snuba's consumers), and a
 * group that never reads; the hops must see the first catch up and the second not.
 */

const BROKERS = (process.env.SHCTL_TEST_KAFKA_BROKERS ?? "")
  .split(",")
  .map((b) => b.trim())
  .filter(Boolean);
if (BROKERS.length === 0)
  console.warn(
    "sentry-verify-kafka.test.ts: skipped: set SHCTL_TEST_KAFKA_BROKERS=host:port to run verify's Kafka hops against a broker",
  );

const first = BROKERS[0] ?? "127.0.0.1:9092";
const address = {
  host: first.slice(0, first.lastIndexOf(":")),
  port: Number(first.slice(first.lastIndexOf(":") + 1)),
};
/** Every host the broker advertises goes to the one address given. */
const connections = {
  socket: (_h: string, _p: number, onConnect?: () => void) => net.connect(address, onConnect),
};

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const topic = `shctl-verify-test-${suffix}`;
const group = `shctl-verify-test-reader-${suffix}`;
const idle = `shctl-verify-test-idle-${suffix}`;
const kafka = new Kafka({ clientId: "shctl-test", brokers: BROKERS, logLevel: logLevel.NOTHING });
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe.skipIf(BROKERS.length === 0)(
  "verify's Kafka hops against a real broker (SHCTL_TEST_KAFKA_BROKERS)",
  () => {
    it("a consumer that joined is assigned; the offset moves after a send; the reading group catches up, the idle one not", async () => {
      const admin = kafka.admin();
      await admin.connect();
      cleanups.push(() => admin.disconnect());
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      cleanups.push(() => admin.deleteTopics({ topics: [topic] }));

      const consumer = kafka.consumer({ groupId: group });
      await consumer.connect();
      cleanups.push(() => consumer.disconnect());
      await consumer.subscribe({ topic, fromBeginning: false });
      await consumer.run({ autoCommitInterval: 200, eachMessage: async () => undefined });

      const reader = stackKafkaReader(connections, first);
      cleanups.push(() => reader.close());
      const clients = { kafka: reader, close: async () => {} } as unknown as Clients;
      const reading: TopicLeg = { topic, group, consumer: "reader", producer: "test" };
      const idleLeg: TopicLeg = { topic, group: idle, consumer: "idle-reader", producer: "test" };

      const r = await runCheck(
        {
          name: "kafka",
          run: async (ctx) => {
            const p: Pipeline = {
              ctx,
              clients,
              stack: "s",
              origin: "http://x",
              client: "t",
              intervalMs: 200,
            };
            await consumersAssigned(p, [reading]);
            const before = await reader.endOffsets(topic);
            const producer = kafka.producer();
            await producer.connect();
            await producer.send({ topic, messages: [{ value: "shctl verify" }] });
            await producer.disconnect();
            const moved = await offsetMoved(p, reading, before);
            await groupCaughtUp(p, reading, moved);
            await groupCaughtUp(p, idleLeg, moved);
          },
        },
        fakeHarness({ timeoutMs: 20_000 }),
      );
      const hop = (name: string) => r.hops.find((h) => h.hop === name);
      expect(hop("consumers assigned")).toMatchObject({ status: "ok", detail: `${group} has ${topic}[0]` });
      expect(hop(`${topic}: offset moved`)?.detail).toMatch(new RegExp(`^${topic}\\[0\\] (\\d+) → \\d+$`));
      expect(hop(`${group} caught up on ${topic}`)?.status).toBe("ok");
      expect(r.broken).toMatchObject({ hop: `${idle} caught up on ${topic}`, owner: "idle-reader" });
      expect(r.broken?.detail).toContain(`${idle} has no commit on ${topic}[0] yet`);
    });
  },
);
