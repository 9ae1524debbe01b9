import { AssignerProtocol } from "kafkajs";
import { describe, expect, it } from "vitest";
import { decodeAssignment, type KafkaAdmin, kafkaReader, psqlReader, StoreUnreachable } from "./clients.js";

/*
 * The readers behind the hops, with a fake kafkajs admin client and a fake `exec` (the real
 * ones run in test/sentry-verify.test.ts against real ClickHouse and Postgres, and in
 * test/sentry-verify-kafka.test.ts against a real broker when one is given).
 */

function fakeAdmin(over: Partial<KafkaAdmin> = {}): KafkaAdmin & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    connect: async () => {
      calls.push("connect");
    },
    disconnect: async () => {
      calls.push("disconnect");
    },
    fetchTopicOffsets: async (topic: string) => {
      calls.push(`offsets ${topic}`);
      return [
        { partition: 1, offset: "7", high: "7", low: "0" },
        { partition: 0, offset: "42", high: "42", low: "3" },
      ];
    },
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics?: string[] }) => {
      calls.push(`committed ${groupId} ${topics?.join(",")}`);
      return [
        {
          topic: "events",
          partitions: [
            { partition: 0, offset: "41", metadata: null },
            { partition: 1, offset: "-1", metadata: null },
          ],
        },
      ];
    },
    describeGroups: async (ids: string[]) => {
      calls.push(`group ${ids.join(",")}`);
      return {
        groups: [
          {
            groupId: "snuba-consumers",
            state: "Stable",
            protocol: "range",
            protocolType: "consumer",
            members: [
              {
                memberId: "m1",
                clientId: "rdkafka",
                clientHost: "/172.18.0.9",
                memberMetadata: Buffer.alloc(0),
                memberAssignment: AssignerProtocol.MemberAssignment.encode({
                  version: 0,
                  assignment: { events: [0], "ingest-replay-events": [0] },
                  userData: Buffer.alloc(0),
                }),
              },
              {
                memberId: "m2",
                clientId: "rdkafka",
                clientHost: "/172.18.0.10",
                memberMetadata: Buffer.alloc(0),
                memberAssignment: Buffer.alloc(0),
              },
            ],
          },
        ],
      };
    },
    ...over,
  } as KafkaAdmin & { calls: string[] };
}

describe("the Kafka reader", () => {
  it("end offsets per partition, committed offsets (none = absent), members' assignments; one connection", async () => {
    const admin = fakeAdmin();
    const r = kafkaReader(() => admin, "kafka:9092");
    expect(await r.endOffsets("events")).toEqual({ 0: 42, 1: 7 });
    expect(await r.committed("snuba-consumers", "events")).toEqual({ 0: 41 });
    expect(await r.group("snuba-consumers")).toEqual({
      state: "Stable",
      members: [
        {
          clientId: "rdkafka",
          clientHost: "/172.18.0.9",
          assignment: { events: [0], "ingest-replay-events": [0] },
        },
        { clientId: "rdkafka", clientHost: "/172.18.0.10", assignment: {} },
      ],
    });
    await r.close();
    expect(admin.calls).toEqual([
      "connect",
      "offsets events",
      "committed snuba-consumers events",
      "group snuba-consumers",
      "disconnect",
    ]);
  });

  it("a group the broker does not know is Dead with no members", async () => {
    const r = kafkaReader(() => fakeAdmin({ describeGroups: async () => ({ groups: [] }) }), "kafka:9092");
    expect(await r.group("nobody")).toEqual({ state: "Dead", members: [] });
  });

  it("a broker that does not answer is unreachable (owner kafka); an answer such as an unknown topic is not", async () => {
    const down = kafkaReader(
      () =>
        fakeAdmin({
          connect: async () => {
            throw new Error("Connection error: connect ECONNREFUSED 10.0.0.5:9092");
          },
        }),
      "kafka:9092",
    );
    const err = await down.endOffsets("events").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnreachable);
    expect(err).toMatchObject({
      service: "kafka",
      message: expect.stringContaining("kafka at kafka:9092: Connection error"),
    });
    const unknown = kafkaReader(
      () =>
        fakeAdmin({
          fetchTopicOffsets: async () => {
            throw new Error("This server does not host this topic-partition");
          },
        }),
      "kafka:9092",
    );
    const e2 = await unknown.endOffsets("nope").catch((e: unknown) => e);
    expect(e2).not.toBeInstanceOf(StoreUnreachable);
    expect((e2 as Error).message).toBe(
      "kafka: end offsets of nope: This server does not host this topic-partition",
    );
  });

  it("an assignment that is empty or not the consumer protocol's decodes to nothing", () => {
    expect(decodeAssignment(undefined)).toEqual({});
    expect(decodeAssignment(Buffer.from([1, 2, 3]))).toEqual({});
  });
});

describe("the Postgres reader (psql by exec)", () => {
  it("runs psql as Sentry's user on its database, each row as row_to_json", async () => {
    const seen: string[][] = [];
    const r = psqlReader(async (cmd) => {
      seen.push(cmd);
      return { exitCode: 0, output: '{"id":12,"times_seen":3}\n{"id":13,"times_seen":1}\n' };
    });
    expect(await r.rows("SELECT id, times_seen FROM sentry_groupedmessage")).toEqual([
      { id: 12, times_seen: 3 },
      { id: 13, times_seen: 1 },
    ]);
    expect(seen[0]).toEqual([
      "psql",
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-X",
      "-q",
      "-t",
      "-A",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      "SELECT row_to_json(t) FROM (SELECT id, times_seen FROM sentry_groupedmessage) t",
    ]);
  });

  it("a server that does not answer, or a container that is not there, is unreachable; a bad query is not", async () => {
    const refused = psqlReader(async () => ({
      exitCode: 2,
      output: 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed',
    }));
    await expect(refused.rows("SELECT 1")).rejects.toBeInstanceOf(StoreUnreachable);
    const gone = psqlReader(async () => {
      throw new Error("service postgres is not running (exited)");
    });
    await expect(gone.rows("SELECT 1")).rejects.toMatchObject({ service: "postgres" });
    const bad = psqlReader(async () => ({
      exitCode: 1,
      output: 'ERROR:  relation "nodestore_node" does not exist',
    }));
    const err = await bad.rows("SELECT 1").catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(StoreUnreachable);
    expect((err as Error).message).toBe(
      'postgres: psql exited 1: ERROR:  relation "nodestore_node" does not exist',
    );
  });
});
