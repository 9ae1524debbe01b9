import type { Family, Svc } from "./family.js";

/*
 * Snuba: its API and every consumer, replacer and subscription scheduler of upstream's compose
 * file, each after the tables and topics it needs exist.
 */

export function snubaServices(f: Family): Record<string, Svc> {
  const { snuba, snubaConsumer, batch750 } = f;
  return {
    "snuba-api": {
      ...snuba(),
      readiness: [{ http: { port: 1218, path: "/health" } }],
    },
    "snuba-consumer": snubaConsumer("errors", `--auto-offset-reset=latest ${batch750}`, "snuba-consumer"),
    "snuba-outcomes-consumer": snubaConsumer(
      "outcomes_raw",
      `--auto-offset-reset=earliest ${batch750}`,
      "snuba-outcomes-consumer",
    ),
    "snuba-transactions-consumer": snubaConsumer(
      "transactions",
      `--consumer-group transactions_group --auto-offset-reset=latest ${batch750}`,
      "snuba-transactions-consumer",
    ),
    "snuba-replays-consumer": snubaConsumer(
      "replays",
      `--auto-offset-reset=latest ${batch750}`,
      "snuba-replays-consumer",
    ),
    "snuba-issue-occurrence-consumer": snubaConsumer(
      "search_issues",
      `--consumer-group generic_events_group --auto-offset-reset=latest ${batch750}`,
      "snuba-issue-occurrence-consumer",
    ),
    "snuba-metrics-consumer": snubaConsumer(
      "metrics_raw",
      `--consumer-group snuba-metrics-consumers --auto-offset-reset=latest ${batch750}`,
      "snuba-metrics-consumer",
    ),
    "snuba-generic-metrics-distributions-consumer": snubaConsumer(
      "generic_metrics_distributions_raw",
      `--consumer-group snuba-gen-metrics-distributions-consumers --auto-offset-reset=latest ${batch750}`,
      "snuba-generic-metrics-distributions-consumer",
    ),
    "snuba-generic-metrics-sets-consumer": snubaConsumer(
      "generic_metrics_sets_raw",
      `--consumer-group snuba-gen-metrics-sets-consumers --auto-offset-reset=latest ${batch750}`,
      "snuba-generic-metrics-sets-consumer",
    ),
    "snuba-generic-metrics-counters-consumer": snubaConsumer(
      "generic_metrics_counters_raw",
      `--consumer-group snuba-gen-metrics-counters-consumers --auto-offset-reset=latest ${batch750}`,
      "snuba-generic-metrics-counters-consumer",
    ),
    "snuba-replacer": snuba(
      "replacer --storage errors --auto-offset-reset=latest --no-strict-offset-reset",
      "snuba-replacer",
    ),
    "snuba-subscription-consumer-events": snuba(
      "subscriptions-scheduler-executor --dataset events --entity events --auto-offset-reset=latest --no-strict-offset-reset --consumer-group=snuba-events-subscriptions-consumers --followed-consumer-group=snuba-consumers --schedule-ttl=60 --stale-threshold-seconds=900",
      "snuba-subscription-consumer-events",
    ),
    "snuba-subscription-consumer-transactions": snuba(
      "subscriptions-scheduler-executor --dataset transactions --entity transactions --auto-offset-reset=latest --no-strict-offset-reset --consumer-group=snuba-transactions-subscriptions-consumers --followed-consumer-group=transactions_group --schedule-ttl=60 --stale-threshold-seconds=900",
      "snuba-subscription-consumer-transactions",
    ),
    "snuba-subscription-consumer-metrics": snuba(
      "subscriptions-scheduler-executor --dataset metrics --entity metrics_sets --entity metrics_counters --auto-offset-reset=latest --no-strict-offset-reset --consumer-group=snuba-metrics-subscriptions-consumers --followed-consumer-group=snuba-metrics-consumers --schedule-ttl=60 --stale-threshold-seconds=900",
      "snuba-subscription-consumer-metrics",
    ),
    "snuba-profiling-profiles-consumer": snubaConsumer(
      "profiles",
      "--auto-offset-reset=latest --max-batch-time-ms 1000 --no-strict-offset-reset",
      "snuba-profiling-profiles-consumer",
    ),
    "snuba-profiling-functions-consumer": snubaConsumer(
      "functions_raw",
      "--auto-offset-reset=latest --max-batch-time-ms 1000 --no-strict-offset-reset",
      "snuba-profiling-functions-consumer",
    ),
  };
}
