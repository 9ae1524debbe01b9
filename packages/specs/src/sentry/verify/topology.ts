/*
 * Where each of verify's items travels in Sentry 23.12.0 self-hosted: the Kafka topic it is
 * written to, the consumer group (and the stack's service) that reads it, the service that
 * writes it, and the ClickHouse table it ends in. Read from the upstream sources at their 23.12.0
 * tags (getsentry/sentry, getsentry/snuba, getsentry/self-hosted; relay near 23.12: its exact tag
 * was not available, the files read match the 23.12 era); each entry says where.
 */

export interface TopicLeg {
  topic: string;
  /** The consumer group that reads it. */
  group: string;
  /** The stack's service that runs that consumer. */
  consumer: string;
  /** The stack's service that writes to the topic. */
  producer: string;
}

export interface Topology<K extends string = string> {
  /** Every service the pipeline needs running (besides the stores the hops read). */
  services: string[];
  legs: Record<K, TopicLeg>;
  /** The ClickHouse table the item ends in (snuba's local table: a single-node cluster). */
  table: string;
}

/*
 * Errors.
 * - relay writes events to `ingest-events` (relay-kafka src/config.rs, define_topic_assignments;
 *   relay-server src/services/store.rs sends an envelope without attachments there).
 * - the `events-consumer` service runs Sentry's `ingest-events` consumer in group
 *   `ingest-consumer` (self-hosted 23.12.0 docker-compose.yml, events-consumer's command;
 *   sentry 23.12.0 src/sentry/consumers/__init__.py maps it to settings.KAFKA_INGEST_EVENTS).
 * - it hands the event to Celery (src/sentry/ingest/consumer/processors.py, preprocess_event;
 *   src/sentry/tasks/store.py, queues events.process_event / events.save_event), which the
 *   `worker` service runs; save_event writes the event to the eventstream topic `events`
 *   (src/sentry/eventstream/kafka/backend.py; KAFKA_EVENTS = "events" in src/sentry/conf/server.py).
 * - snuba's `errors` storage reads `events` (snuba 23.12.0
 *   snuba/datasets/configuration/events/storages/errors.yaml, stream_loader.default_topic) with
 *   the CLI's default group `snuba-consumers` (snuba/cli/consumer.py, --consumer-group default;
 *   self-hosted's `snuba-consumer` passes none) into `errors_local` (errors.yaml local_table_name;
 *   snuba/datasets/schemas/tables.py uses the local table on a single node).
 */
export const ERRORS: Topology<"ingest" | "processed"> = {
  services: ["nginx", "relay", "kafka", "redis", "events-consumer", "worker", "snuba-consumer", "web"],
  legs: {
    ingest: {
      topic: "ingest-events",
      group: "ingest-consumer",
      consumer: "events-consumer",
      producer: "relay",
    },
    processed: { topic: "events", group: "snuba-consumers", consumer: "snuba-consumer", producer: "worker" },
  },
  table: "errors_local",
};

/*
 * Transactions.
 * - relay writes transactions to `ingest-transactions` (relay-kafka config.rs; store.rs).
 * - `transactions-consumer` runs Sentry's `ingest-transactions` consumer in group
 *   `ingest-consumer` (self-hosted docker-compose.yml), which calls Celery's
 *   save_event_transaction (src/sentry/ingest/consumer/processors.py; queue
 *   events.save_event_transaction in src/sentry/tasks/store.py) on the `worker`; it writes to
 *   `transactions` (eventstream backend.py; KAFKA_TRANSACTIONS in conf/server.py).
 * - snuba's `transactions` storage reads `transactions` (snuba
 *   snuba/datasets/configuration/transactions/storages/transactions.yaml) in group
 *   `transactions_group` (self-hosted's snuba-transactions-consumer passes it) into
 *   `transactions_local`.
 */
export const TRANSACTIONS: Topology<"ingest" | "processed"> = {
  services: [
    "nginx",
    "relay",
    "kafka",
    "redis",
    "transactions-consumer",
    "worker",
    "snuba-transactions-consumer",
    "web",
  ],
  legs: {
    ingest: {
      topic: "ingest-transactions",
      group: "ingest-consumer",
      consumer: "transactions-consumer",
      producer: "relay",
    },
    processed: {
      topic: "transactions",
      group: "transactions_group",
      consumer: "snuba-transactions-consumer",
      producer: "worker",
    },
  },
  table: "transactions_local",
};

/*
 * Replays: two items, two paths.
 * - replay events: relay writes them to `ingest-replay-events` (relay-kafka config.rs; store.rs,
 *   produce_replay_event); snuba's `replays` storage reads that topic directly (snuba
 *   snuba/datasets/configuration/replays/storages/replays.yaml, default_topic) in the default
 *   group `snuba-consumers` (self-hosted's snuba-replays-consumer passes none; the same group
 *   name as the errors consumer, on another topic) into `replays_local`.
 * - recordings: relay writes them to `ingest-replay-recordings` (store.rs,
 *   produce_replay_recording); the `ingest-replay-recordings` service runs Sentry's consumer of
 *   that name in the group of that name (self-hosted docker-compose.yml; sentry
 *   src/sentry/consumers/__init__.py), which stores the segment in the filestore and a row in
 *   Postgres `replays_replayrecordingsegment` (src/sentry/replays/models.py;
 *   src/sentry/replays/lib/storage.py, FilestoreBlob) and writes nothing back to Kafka.
 */
export const REPLAYS: Topology<"events" | "recordings"> = {
  services: ["nginx", "relay", "kafka", "snuba-replays-consumer", "ingest-replay-recordings", "web"],
  legs: {
    events: {
      topic: "ingest-replay-events",
      group: "snuba-consumers",
      consumer: "snuba-replays-consumer",
      producer: "relay",
    },
    recordings: {
      topic: "ingest-replay-recordings",
      group: "ingest-replay-recordings",
      consumer: "ingest-replay-recordings",
      producer: "relay",
    },
  },
  table: "replays_local",
};

/** The stores the hops read (each owns the hops that cannot reach it). */
export const STORES = ["kafka", "clickhouse", "postgres"] as const;
