/*
 * Every Kafka consumer service of Sentry 23.12.0 self-hosted: the consumer group it commits in and
 * the topic(s) it reads, so `shctl status` can show each one's lag.
 *
 * Sources (the 23.12.0 tags): the `command` of each service in self-hosted's docker-compose.yml
 * (line numbers below) gives the consumer and its --consumer-group; the topic a Sentry consumer
 * reads is in sentry's src/sentry/consumers/__init__.py (the KAFKA_CONSUMERS table, l.123-279)
 * with topic names from src/sentry/conf/server.py (KAFKA_TOPICS, l.3395-3428); the topic a snuba
 * storage's consumer reads is in that storage's yaml (snuba/datasets/configuration/*); snuba's
 * default group is `snuba-consumers` (snuba/cli/consumer.py l.46-50) and its replacer's
 * `snuba-replacers` (snuba/cli/replacer.py l.20-22).
 *
 * Lag is keyed by (group, topic), never by group alone: several services share a group on
 * different topics (ingest-consumer, post-process-forwarder, query-subscription-consumer,
 * snuba-consumers). The post-process forwarders also create a `sentry-commit-log-<hex>` group per
 * start that never commits: it is not listed.
 */

export interface KafkaConsumer {
  readonly service: string;
  readonly group: string;
  readonly topics: readonly string[];
}

const c = (service: string, group: string, ...topics: string[]): KafkaConsumer => ({
  service,
  group,
  topics,
});

export const SENTRY_CONSUMERS: readonly KafkaConsumer[] = [
  // Sentry's ingest consumers (compose l.345-371): `run consumer <name> --consumer-group <group>`.
  c("events-consumer", "ingest-consumer", "ingest-events"), // l.345-347
  c("attachments-consumer", "ingest-consumer", "ingest-attachments"), // l.348-350
  c("transactions-consumer", "ingest-consumer", "ingest-transactions"), // l.351-353
  c("metrics-consumer", "metrics-consumer", "ingest-metrics"), // l.354-356
  // The consumer named ingest-generic-metrics reads ingest-performance-metrics (server.py).
  c("generic-metrics-consumer", "generic-metrics-consumer", "ingest-performance-metrics"), // l.357-359
  c("billing-metrics-consumer", "billing-metrics-consumer", "snuba-generic-metrics"), // l.360-362
  c("ingest-replay-recordings", "ingest-replay-recordings", "ingest-replay-recordings"), // l.363-365
  c("ingest-occurrences", "ingest-occurrences", "ingest-occurrences"), // l.366-368
  c("ingest-profiles", "ingest-profiles", "profiles"), // l.369-371
  // The post-process forwarders (l.372-380) read what snuba's consumers wrote, one commit log behind.
  c("post-process-forwarder-errors", "post-process-forwarder", "events"), // l.372-374
  c("post-process-forwarder-transactions", "post-process-forwarder", "transactions"), // l.375-377
  c("post-process-forwarder-issue-platform", "post-process-forwarder", "generic-events"), // l.378-380
  // Alert subscriptions' results (l.381-392).
  c("subscription-consumer-events", "query-subscription-consumer", "events-subscription-results"), // l.381-383
  c("subscription-consumer-transactions", "query-subscription-consumer", "transactions-subscription-results"), // l.384-386
  c("subscription-consumer-metrics", "query-subscription-consumer", "metrics-subscription-results"), // l.387-389
  c(
    "subscription-consumer-generic-metrics",
    "query-subscription-consumer",
    "generic-metrics-subscription-results",
  ), // l.390-392
  // Snuba's storage consumers (l.256-304): `consumer --storage <s> [--consumer-group <g>]`.
  c("snuba-consumer", "snuba-consumers", "events"), // l.256-258, storage errors
  c("snuba-outcomes-consumer", "snuba-consumers", "outcomes"), // l.262-264, outcomes_raw
  c("snuba-transactions-consumer", "transactions_group", "transactions"), // l.266-268
  c("snuba-replays-consumer", "snuba-consumers", "ingest-replay-events"), // l.269-271, replays
  c("snuba-issue-occurrence-consumer", "generic_events_group", "generic-events"), // l.272-274, search_issues
  c("snuba-metrics-consumer", "snuba-metrics-consumers", "snuba-metrics"), // l.275-277, metrics_raw
  c(
    "snuba-generic-metrics-distributions-consumer",
    "snuba-gen-metrics-distributions-consumers",
    "snuba-generic-metrics",
  ), // l.278-280
  c("snuba-generic-metrics-sets-consumer", "snuba-gen-metrics-sets-consumers", "snuba-generic-metrics"), // l.281-283
  c(
    "snuba-generic-metrics-counters-consumer",
    "snuba-gen-metrics-counters-consumers",
    "snuba-generic-metrics",
  ), // l.284-286
  c("snuba-replacer", "snuba-replacers", "event-replacements"), // l.287-289, default group
  // Subscription schedulers read the commit log of the group they follow (l.290-298).
  c("snuba-subscription-consumer-events", "snuba-events-subscriptions-consumers", "snuba-commit-log"), // l.290-292
  c(
    "snuba-subscription-consumer-transactions",
    "snuba-transactions-subscriptions-consumers",
    "snuba-transactions-commit-log",
  ), // l.293-295
  c(
    "snuba-subscription-consumer-metrics",
    "snuba-metrics-subscriptions-consumers",
    "snuba-metrics-commit-log",
  ), // l.296-298
  c("snuba-profiling-profiles-consumer", "snuba-consumers", "processed-profiles"), // l.299-301, profiles
  c("snuba-profiling-functions-consumer", "snuba-consumers", "profiles-call-tree"), // l.302-304, functions_raw
];
