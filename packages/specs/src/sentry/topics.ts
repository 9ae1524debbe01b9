/*
 * Every Kafka topic Sentry 23.12.0 needs. Consumers exit with UNKNOWN_TOPIC_OR_PART when one is
 * missing, and snuba's bootstrap only logs a failed creation, so shctl checks the whole list
 * after bootstrap and creates what is absent.
 *
 * Checked against snuba at tag 23.12.0: `snuba/utils/streams/topics.py` (the Topic enum, all of
 * which `snuba bootstrap` creates, and get_topic_creation_config for per-topic settings), and
 * against self-hosted 23.12.0's install/create-kafka-topics.sh for the ingest topics.
 * Snuba gives every topic 1 partition and replication factor 1 (no TOPIC_PARTITION_COUNTS).
 */

export interface KafkaTopic {
  readonly name: string;
  /** Topic-level configs to create it with (all values as Kafka takes them: strings). */
  readonly config: Readonly<Record<string, string>>;
  /** Who creates it upstream: snuba's bootstrap, or self-hosted's install script. */
  readonly createdBy: "snuba-bootstrap" | "install";
}

// Snuba stamps these with the broker's append time so its consumers' time windows do not
// depend on producer clocks.
const LOG_APPEND_TIME = { "message.timestamp.type": "LogAppendTime" } as const;
// Commit logs are read for the latest offset per partition: compaction keeps them small.
const COMMIT_LOG = { "cleanup.policy": "compact,delete", "min.compaction.lag.ms": "3600000" } as const;

const snuba = (name: string, config: Record<string, string> = {}): KafkaTopic => ({
  name,
  config,
  createdBy: "snuba-bootstrap",
});
const install = (name: string): KafkaTopic => ({ name, config: {}, createdBy: "install" });

/** Snuba's Topic enum at 23.12.0, in its order (47 topics). */
export const SNUBA_TOPICS: readonly KafkaTopic[] = [
  snuba("events", LOG_APPEND_TIME),
  snuba("event-replacements"),
  snuba("snuba-commit-log", COMMIT_LOG),
  snuba("cdc"),
  snuba("transactions", LOG_APPEND_TIME),
  snuba("snuba-transactions-commit-log", COMMIT_LOG),
  snuba("snuba-metrics", LOG_APPEND_TIME),
  snuba("outcomes"),
  snuba("ingest-sessions"),
  snuba("snuba-sessions-commit-log", COMMIT_LOG),
  snuba("snuba-metrics-commit-log", COMMIT_LOG),
  snuba("scheduled-subscriptions-events"),
  snuba("scheduled-subscriptions-transactions"),
  snuba("scheduled-subscriptions-sessions"),
  snuba("scheduled-subscriptions-metrics"),
  snuba("scheduled-subscriptions-generic-metrics-sets"),
  snuba("scheduled-subscriptions-generic-metrics-distributions"),
  snuba("scheduled-subscriptions-generic-metrics-counters"),
  snuba("events-subscription-results"),
  snuba("transactions-subscription-results"),
  snuba("sessions-subscription-results"),
  snuba("metrics-subscription-results"),
  snuba("generic-metrics-subscription-results"),
  snuba("snuba-queries", { "max.message.bytes": "2000000" }),
  snuba("processed-profiles", LOG_APPEND_TIME),
  snuba("profiles-call-tree"),
  // Replay events carry large payloads: 15 MB per message instead of the broker's default.
  snuba("ingest-replay-events", { ...LOG_APPEND_TIME, "max.message.bytes": "15000000" }),
  snuba("snuba-generic-metrics", LOG_APPEND_TIME),
  snuba("snuba-generic-metrics-sets-commit-log", COMMIT_LOG),
  snuba("snuba-generic-metrics-distributions-commit-log", COMMIT_LOG),
  snuba("snuba-generic-metrics-counters-commit-log", COMMIT_LOG),
  snuba("generic-events", LOG_APPEND_TIME),
  snuba("snuba-generic-events-commit-log", COMMIT_LOG),
  snuba("group-attributes", LOG_APPEND_TIME),
  snuba("snuba-attribution"),
  snuba("snuba-dead-letter-metrics"),
  snuba("snuba-dead-letter-metrics-sets"),
  snuba("snuba-dead-letter-metrics-counters"),
  snuba("snuba-dead-letter-metrics-distributions"),
  snuba("snuba-dead-letter-sessions"),
  snuba("snuba-dead-letter-generic-metrics"),
  snuba("snuba-dead-letter-replays"),
  snuba("snuba-dead-letter-generic-events"),
  snuba("snuba-dead-letter-querylog"),
  snuba("snuba-dead-letter-group-attributes"),
  snuba("snuba-spans"),
  snuba("shared-resources-usage"),
];

/** The topics self-hosted's installer adds after snuba's bootstrap (8; broker defaults). */
export const INSTALL_TOPICS: readonly KafkaTopic[] = [
  install("ingest-attachments"),
  install("ingest-transactions"),
  install("ingest-events"),
  install("ingest-replay-recordings"),
  install("profiles"),
  install("ingest-occurrences"),
  install("ingest-metrics"),
  // Read by generic-metrics-consumer (billing-metrics-consumer reads what it writes: snuba-generic-metrics).
  install("ingest-performance-metrics"),
];

/** All 55 topics, snuba's first. */
export const SENTRY_TOPICS: readonly KafkaTopic[] = [...SNUBA_TOPICS, ...INSTALL_TOPICS];

/** Just the names, for listings and checks. */
export const SENTRY_TOPIC_NAMES: readonly string[] = SENTRY_TOPICS.map((t) => t.name);
