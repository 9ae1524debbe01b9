import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import type { CheckContext, StackConnections } from "@sh/core";
import { type Admin, AssignerProtocol } from "kafkajs";
import { kafkaClient } from "../kafka.js";
import { type HttpAnswer, type PublicTarget, request } from "./http.js";

/*
 * What the hops read, behind small interfaces: Kafka offsets and group assignments (kafkajs
 * admin), ClickHouse rows (@clickhouse/client), Postgres rows (psql in the postgres container)
 * and HTTP to the public URL. The real ones reach the stack through the check's connections;
 * unit tests give fakes. A store that cannot be reached throws StoreUnreachable naming its
 * service, so the hop can name it as the owner.
 */

/** Kafka partition → offset. */
export type Offsets = Record<number, number>;

export interface GroupMember {
  clientId: string;
  clientHost: string;
  /** topic → partitions assigned to this member. */
  assignment: Record<string, number[]>;
}

export interface KafkaReader {
  /** Each partition's end offset (the next offset to be written). */
  endOffsets(topic: string): Promise<Offsets>;
  /** The group's committed offset per partition of `topic`; partitions without a commit are absent. */
  committed(group: string, topic: string): Promise<Offsets>;
  /** The group's state and its members' assignments. */
  group(group: string): Promise<{ state: string; members: GroupMember[] }>;
}

export interface SqlReader {
  /** Rows as JSON objects. */
  rows(sql: string): Promise<Record<string, unknown>[]>;
}

export interface HttpClient {
  request(req: {
    method: "GET" | "POST";
    path: string;
    headers?: Record<string, string>;
    body?: Buffer;
    signal?: AbortSignal;
  }): Promise<HttpAnswer>;
}

export interface Clients {
  kafka: KafkaReader;
  clickhouse: SqlReader;
  postgres: SqlReader;
  http: HttpClient;
  close(): Promise<void>;
}

/** A store (kafka, clickhouse, postgres, nginx) did not answer: the hop names it as the owner. */
export class StoreUnreachable extends Error {
  constructor(
    readonly service: string,
    message: string,
    readonly hint?: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
  }
}

const messageOf = (err: unknown) => (err as Error)?.message ?? String(err);

/** The real clients of a check: through its stack connections (and `exec` for psql). */
export function stackClients(ctx: CheckContext, target: PublicTarget): Clients {
  const kafka = stackKafkaReader(ctx);
  const clickhouse = clickhouseReader(ctx);
  return {
    kafka,
    clickhouse,
    postgres: psqlReader((cmd) => ctx.exec("postgres", cmd)),
    http: {
      request: (req) => request(ctx, target, { ...req, signal: req.signal ?? ctx.signal }),
    },
    close: async () => {
      await Promise.all([kafka.close(), clickhouse.close()]);
    },
  };
}

/** What kafkaReader asks of a kafkajs admin client (tests give a fake). */
export type KafkaAdmin = Pick<
  Admin,
  "connect" | "disconnect" | "fetchTopicOffsets" | "fetchOffsets" | "describeGroups"
>;

/** Kafka offsets and groups through a kafkajs admin client over the stack connections. */
export function stackKafkaReader(
  conn: Pick<StackConnections, "socket">,
  broker = "kafka:9092",
): KafkaReader & { close(): Promise<void> } {
  return kafkaReader(() => kafkaClient(conn, "shctl-verify", broker).admin(), broker);
}

/** Kafka offsets and groups through an admin client (connected on first use). */
export function kafkaReader(
  makeAdmin: () => KafkaAdmin,
  where: string,
): KafkaReader & { close(): Promise<void> } {
  type Admin = KafkaAdmin;
  let admin: Admin | undefined;
  let connecting: Promise<Admin> | undefined;
  const get = (): Promise<Admin> => {
    if (admin) return Promise.resolve(admin);
    connecting ??= (async () => {
      const a = makeAdmin();
      try {
        await a.connect();
      } catch (err) {
        connecting = undefined;
        throw new StoreUnreachable(
          "kafka",
          `kafka at ${where}: ${messageOf(err)}`,
          "`shctl status` and `shctl logs kafka`",
          {
            cause: err,
          },
        );
      }
      admin = a;
      return a;
    })();
    return connecting;
  };
  const call = async <T>(what: string, fn: (a: Admin) => Promise<T>): Promise<T> => {
    const a = await get();
    try {
      return await fn(a);
    } catch (err) {
      const m = messageOf(err);
      // A broken connection (not an answer such as "unknown topic") is the broker's.
      if (
        /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection (timeout|error)|Closed connection|not connected/i.test(
          m,
        )
      ) {
        throw new StoreUnreachable(
          "kafka",
          `kafka at ${where}: ${what}: ${m}`,
          "`shctl status` and `shctl logs kafka`",
          {
            cause: err,
          },
        );
      }
      throw new Error(`kafka: ${what}: ${m}`, { cause: err });
    }
  };
  return {
    endOffsets: (topic) =>
      call(`end offsets of ${topic}`, async (a) => {
        const out: Offsets = {};
        for (const p of await a.fetchTopicOffsets(topic)) out[p.partition] = Number(p.high);
        return out;
      }),
    committed: (group, topic) =>
      call(`offsets of ${group} on ${topic}`, async (a) => {
        const out: Offsets = {};
        for (const t of await a.fetchOffsets({ groupId: group, topics: [topic] })) {
          if (t.topic !== topic) continue;
          for (const p of t.partitions) {
            const n = Number(p.offset);
            if (n >= 0) out[p.partition] = n;
          }
        }
        return out;
      }),
    group: (group) =>
      call(`group ${group}`, async (a) => {
        const { groups } = await a.describeGroups([group]);
        const g = groups.find((x) => x.groupId === group);
        if (!g) return { state: "Dead", members: [] };
        return {
          state: g.state,
          members: g.members.map((m) => ({
            clientId: m.clientId,
            clientHost: m.clientHost,
            assignment: decodeAssignment(m.memberAssignment),
          })),
        };
      }),
    close: async () => {
      const a = admin;
      admin = undefined;
      connecting = undefined;
      await a?.disconnect().catch(() => undefined);
    },
  };
}

/** A member's assignment (the consumer protocol's encoding; empty while the group rebalances). */
export function decodeAssignment(buf: Buffer | undefined): Record<string, number[]> {
  if (!buf || buf.length === 0) return {};
  try {
    return AssignerProtocol.MemberAssignment.decode(buf)?.assignment ?? {};
  } catch {
    return {};
  }
}

/** ClickHouse rows through @clickhouse/client, over the stack connections' HTTP agent. */
export function clickhouseReader(
  conn: Pick<StackConnections, "httpAgent">,
  url = "http://clickhouse:8123",
): SqlReader & {
  close(): Promise<void>;
} {
  let client: ReturnType<typeof createClient> | undefined;
  return {
    rows: async (sql) => {
      client ??= createClient({
        url,
        http_agent: conn.httpAgent(),
        request_timeout: 10_000,
        log: { level: ClickHouseLogLevel.OFF },
      });
      let text: string;
      try {
        const rs = await client.query({ query: sql, format: "JSONEachRow" });
        text = await rs.text();
      } catch (err) {
        const m = messageOf(err);
        // An answer from ClickHouse (a query error) has a code (older servers only say it in the
        // text, "Code: 60, e.displayText() = …"); anything else is the connection's.
        if (/^\d+$/.test(String((err as { code?: unknown })?.code)) || /^Code: \d+/.test(m))
          throw new Error(`clickhouse: ${m.trim()}`, { cause: err });
        throw new StoreUnreachable(
          "clickhouse",
          `clickhouse at ${url}: ${m}`,
          "`shctl status` and `shctl logs clickhouse`",
          {
            cause: err,
          },
        );
      }
      return text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    close: async () => {
      await client?.close().catch(() => undefined);
      client = undefined;
    },
  };
}

/**
 * Postgres rows through `psql` in the postgres container (as upstream's scripts query it; the
 * database and user are Sentry's: `postgres`). Each row comes back as row_to_json.
 */
export function psqlReader(
  exec: (cmd: string[]) => Promise<{ exitCode: number; output: string }>,
): SqlReader {
  return {
    rows: async (sql) => {
      const cmd = [
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
        `SELECT row_to_json(t) FROM (${sql}) t`,
      ];
      let r: { exitCode: number; output: string };
      try {
        r = await exec(cmd);
      } catch (err) {
        throw new StoreUnreachable(
          "postgres",
          `postgres: ${messageOf(err)}`,
          "`shctl status` and `shctl logs postgres`",
          {
            cause: err,
          },
        );
      }
      const out = r.output.trim();
      if (r.exitCode !== 0) {
        const m = out.split("\n").slice(-2).join(" | ");
        if (/could not connect|connection to server|the database system is (starting|shutting)/i.test(m))
          throw new StoreUnreachable(
            "postgres",
            `postgres: ${m}`,
            "`shctl status` and `shctl logs postgres`",
          );
        throw new Error(`postgres: psql exited ${r.exitCode}: ${m}`);
      }
      return out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}
