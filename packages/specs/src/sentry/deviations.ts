/**
 * Where the Sentry stack differs from upstream's 23.12.0 compose file, and why. The conformance
 * test allows exactly these differences, and docs/sentry.md must list each one.
 */
export interface Deviation {
  /** A service name, or "*" for every service. */
  service: string;
  /** The compared field: image, command, entrypoint, env, healthcheck, ulimits, restart, dependsOn, volumes, ports, service. */
  field: string;
  /** For env and dependsOn: the keys that may differ. */
  keys?: string[];
  reason: string;
}

const SENTRY_SERVICES = [
  "web",
  "cron",
  "worker",
  "events-consumer",
  "attachments-consumer",
  "transactions-consumer",
  "metrics-consumer",
  "generic-metrics-consumer",
  "billing-metrics-consumer",
  "ingest-replay-recordings",
  "ingest-occurrences",
  "ingest-profiles",
  "post-process-forwarder-errors",
  "post-process-forwarder-transactions",
  "post-process-forwarder-issue-platform",
  "subscription-consumer-events",
  "subscription-consumer-transactions",
  "subscription-consumer-metrics",
  "subscription-consumer-generic-metrics",
  "sentry-cleanup",
];

const SNUBA_SERVICES = [
  "snuba-api",
  "snuba-consumer",
  "snuba-outcomes-consumer",
  "snuba-transactions-consumer",
  "snuba-replays-consumer",
  "snuba-issue-occurrence-consumer",
  "snuba-metrics-consumer",
  "snuba-generic-metrics-distributions-consumer",
  "snuba-generic-metrics-sets-consumer",
  "snuba-generic-metrics-counters-consumer",
  "snuba-replacer",
  "snuba-subscription-consumer-events",
  "snuba-subscription-consumer-transactions",
  "snuba-subscription-consumer-metrics",
  "snuba-profiling-profiles-consumer",
  "snuba-profiling-functions-consumer",
];

export const DEVIATIONS: Deviation[] = [
  {
    service: "*",
    field: "volumes",
    reason:
      "named volumes and ./sentry, ./relay, ./nginx… bind mounts become bind mounts under the data root (data in ./sentrydata/<volume>, generated config in ./sentrydata/config/<dir>), so removing one directory uninstalls everything",
  },
  {
    service: "geoipupdate",
    field: "service",
    reason:
      "a one-shot job in the full profile, run only when config/geoip/GeoIP.conf exists (upstream's install runs it the same way); it is not a long-running service",
  },
  ...SENTRY_SERVICES.map((service) => ({
    service,
    field: "dependsOn",
    keys: ["sentry-upgrade"],
    reason: "Sentry processes start only after the `sentry-upgrade` init job has migrated the database",
  })),
  ...SNUBA_SERVICES.map((service) => ({
    service,
    field: "dependsOn",
    keys: ["snuba-migrate", "kafka-topics"],
    reason:
      "snuba processes start only after snuba's migrations and the Kafka topics exist (no UNKNOWN_TOPIC_OR_PART races)",
  })),
  {
    service: "relay",
    field: "dependsOn",
    keys: ["relay-credentials"],
    reason: "relay starts after its credentials have been generated and checked",
  },
  ...["postgres", "clickhouse", "symbolicator", "nginx", "redis"].map((service) => ({
    service,
    field: "dependsOn",
    keys: ["config"],
    reason:
      "the service reads a file the `config` init job generates (entrypoint, config.xml, config.yml, nginx.conf, redis.conf)",
  })),
  ...SENTRY_SERVICES.map((service) => ({
    service,
    field: "dependsOn",
    keys: ["vroom"],
    reason:
      "in the core profile vroom is not run, so nothing waits for it (the full profile keeps the dependency)",
  })),
  {
    service: "nginx",
    field: "ports",
    reason:
      "published on the configured bind address and port (default 0.0.0.0:9006, as the user runs it today) instead of $SENTRY_BIND (9000); with HTTPS also on the HTTPS port, with the certificate and key mounted read-only",
  },
  {
    service: "redis",
    field: "command",
    reason:
      "with a Redis password, redis-server reads a generated redis.conf holding `requirepass` (off by default: then unchanged)",
  },
  {
    service: "redis",
    field: "env",
    keys: ["REDISCLI_AUTH"],
    reason:
      "with a Redis password, redis-cli (the healthcheck) reads it from REDISCLI_AUTH, so the healthcheck command stays upstream's",
  },
  ...SNUBA_SERVICES.map((service) => ({
    service,
    field: "env",
    keys: ["REDIS_PASSWORD"],
    reason: "with a Redis password, snuba gets it in REDIS_PASSWORD (off by default: then absent)",
  })),
  {
    service: "smtp",
    field: "platform",
    reason:
      "upstream pins `platform: linux/amd64`; shctl does not set a platform (the image is multi-arch capable on x86_64 hosts)",
  },
  {
    service: "postgres",
    field: "wal2json",
    reason:
      "upstream's install downloads wal2json for snuba's change-data-capture, which no 23.12.0 service runs; shctl's postgres entrypoint installs it only if you put wal2json.so in config/postgres/wal2json/",
  },
  {
    service: "*",
    field: "stopGracePeriod",
    reason:
      "longer stop grace for stateful services (postgres 60s, kafka 60s, clickhouse 90s) and the worker (60s, so Celery drains, as upstream's install waits 60s)",
  },
  {
    service: "*",
    field: "readiness",
    reason:
      "readiness probes (kafkajs metadata, ClickHouse ping, pg_isready, redis-cli ping, HTTP health endpoints) gate dependents as soon as a service is ready instead of at the next 30 s healthcheck",
  },
  {
    service: "sentry",
    field: "build",
    reason:
      "the local sentry image gets enhance-image.sh and requirements.txt as build arguments instead of copying the config dir into the image; the config is mounted at /etc/sentry as upstream does",
  },
];
