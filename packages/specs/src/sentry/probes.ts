import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import type { ProbeContext } from "@sh/core";
import { kafkaClient } from "./kafka.js";

/** Ready when the broker answers a metadata request (a topic listing) — no JVM spawned per check. */
export function kafkaProbe() {
  return {
    custom: {
      name: "kafka metadata (kafkajs)",
      check: async (ctx: ProbeContext) => {
        const where = `${ctx.service}:9092`;
        const admin = kafkaClient(ctx, "shctl-probe", where).admin();
        try {
          await admin.connect();
          await admin.listTopics();
        } catch (err) {
          // kafkajs names the broker in some errors only; the last check output should always say where.
          const message = (err as Error)?.message ?? String(err);
          throw new Error(message.includes(where) ? message : `kafka at ${where}: ${message}`, {
            cause: err,
          });
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
    },
    interval: "1s",
  };
}

/** Ready when ClickHouse answers its HTTP ping (through the stack connections, wherever shctl runs). */
export function clickhouseProbe() {
  return {
    custom: {
      name: "clickhouse ping (@clickhouse/client)",
      check: async (ctx: ProbeContext) => {
        // The failed pings of a cold start are the probe's business: the library must not print them.
        const client = createClient({
          url: `http://${ctx.service}:8123`,
          http_agent: ctx.httpAgent(),
          request_timeout: 3000,
          log: { level: ClickHouseLogLevel.OFF },
        });
        try {
          const res = await client.ping();
          if (!res.success) throw res.error;
        } finally {
          await client.close();
        }
      },
    },
    interval: "1s",
  };
}
