import path from "node:path";
import { fileURLToPath } from "node:url";

/*
 * Where the Sentry stack keeps things: one data directory per upstream volume, the generated
 * configuration, the local build contexts, and which services only the full profile runs.
 */

export const CONTEXTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../contexts");

/** One directory per upstream volume, under the data root, with the owner and mode its image needs. */
export const DATA_DIRS = {
  sentry: { owner: "999:999", mode: "0755", volume: "sentry-data" },
  postgres: { owner: "999:999", mode: "0700", volume: "sentry-postgres" },
  redis: { owner: "999:1000", mode: "0755", volume: "sentry-redis" },
  zookeeper: { owner: "0:0", mode: "0755", volume: "sentry-zookeeper" },
  "zookeeper-log": { owner: "0:0", mode: "0755", volume: "sentry-zookeeper-log" },
  kafka: { owner: "0:0", mode: "0755", volume: "sentry-kafka" },
  "kafka-log": { owner: "0:0", mode: "0755", volume: "sentry-kafka-log" },
  clickhouse: { owner: "101:101", mode: "0755", volume: "sentry-clickhouse" },
  "clickhouse-log": { owner: "101:101", mode: "0755", volume: "sentry-clickhouse-log" },
  symbolicator: { owner: "10021:10021", mode: "0755", volume: "sentry-symbolicator" },
  vroom: { owner: "0:0", mode: "0755", volume: "sentry-vroom" },
  "nginx-cache": { owner: "0:0", mode: "0755", volume: "sentry-nginx-cache" },
  secrets: { owner: "0:0", mode: "0700", volume: "sentry-secrets" },
  smtp: { owner: "0:0", mode: "0755", volume: "sentry-smtp" },
  "smtp-log": { owner: "0:0", mode: "0755", volume: "sentry-smtp-log" },
} as const;
export type DataDir = keyof typeof DATA_DIRS;

/** Generated configuration, also under the data root (so one directory holds the whole install). */
export const CONFIG_DIRS = {
  sentry: "config/sentry",
  relay: "config/relay",
  nginx: "config/nginx",
  symbolicator: "config/symbolicator",
  clickhouse: "config/clickhouse",
  postgres: "config/postgres",
  redis: "config/redis",
  geoip: "config/geoip",
  certificates: "config/certificates",
} as const;

/**
 * Services only the `full` profile runs: profiling (not needed for errors, transactions, replays).
 * billing-metrics-consumer is not among them: with transaction metrics extraction on, it is what
 * records the accepted transactions that the Stats page counts (docs/sentry.md#profiles).
 */
export const FULL_ONLY = [
  "vroom",
  "vroom-cleanup",
  "ingest-profiles",
  "snuba-profiling-profiles-consumer",
  "snuba-profiling-functions-consumer",
] as const;
