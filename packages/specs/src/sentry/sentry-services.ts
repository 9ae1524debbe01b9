import { config, data, type Family, type Svc } from "./family.js";
import { CONFIG_DIRS } from "./layout.js";

/*
 * Sentry itself: web, cron, worker, the ingest consumers, the post-process forwarders and the
 * subscription consumers (all one image, one entrypoint), symbolicator and vroom.
 */

export function sentryServices(f: Family): Record<string, Svc> {
  const { healthDefaults, restart, sentry, consumer } = f;
  return {
    symbolicator: {
      image: "symbolicator",
      mounts: [data("symbolicator", "/data"), config("symbolicator", "/etc/symbolicator")],
      command: "run -c /etc/symbolicator/config.yml",
      readiness: [{ http: { port: 3021, path: "/healthcheck" } }],
      dependsOn: { config: { condition: "completed" } },
      inputs: [{ path: `${CONFIG_DIRS.symbolicator}/config.yml` }],
      restart,
    },
    web: sentry(["run", "web"], {
      ulimits: { nofile: { soft: 4096, hard: 4096 } },
      healthcheck: {
        test: [
          "CMD",
          "/bin/bash",
          "-c",
          'exec 3<>/dev/tcp/127.0.0.1/9000 && echo -e "GET /_health/ HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\n\\r\\n" >&3 && grep ok -s -m 1 <&3',
        ],
        ...healthDefaults,
      },
      readiness: [{ http: { port: 9000, path: "/_health/", expectBody: "ok" } }],
      readyTimeout: "10m",
    }),
    cron: sentry(["run", "cron"]),
    // shctl: a minute to drain Celery's queues on stop, as upstream's install waits.
    worker: sentry(["run", "worker"], { stopGracePeriod: "60s" }),
    "events-consumer": consumer("ingest-events", "ingest-consumer"),
    "attachments-consumer": consumer("ingest-attachments", "ingest-consumer"),
    "transactions-consumer": consumer("ingest-transactions", "ingest-consumer"),
    "metrics-consumer": consumer("ingest-metrics", "metrics-consumer"),
    "generic-metrics-consumer": consumer("ingest-generic-metrics", "generic-metrics-consumer"),
    "billing-metrics-consumer": sentry([
      "run",
      "consumer",
      "billing-metrics-consumer",
      "--consumer-group",
      "billing-metrics-consumer",
    ]),
    "ingest-replay-recordings": consumer("ingest-replay-recordings", "ingest-replay-recordings"),
    "ingest-occurrences": consumer("ingest-occurrences", "ingest-occurrences"),
    "ingest-profiles": sentry(
      [
        "run",
        "consumer",
        "--no-strict-offset-reset",
        "ingest-profiles",
        "--consumer-group",
        "ingest-profiles",
      ],
      { profiles: ["full"] },
    ),
    "post-process-forwarder-errors": sentry([
      "run",
      "consumer",
      "post-process-forwarder-errors",
      "--consumer-group",
      "post-process-forwarder",
      "--synchronize-commit-log-topic=snuba-commit-log",
      "--synchronize-commit-group=snuba-consumers",
    ]),
    "post-process-forwarder-transactions": sentry([
      "run",
      "consumer",
      "post-process-forwarder-transactions",
      "--consumer-group",
      "post-process-forwarder",
      "--synchronize-commit-log-topic=snuba-transactions-commit-log",
      "--synchronize-commit-group",
      "transactions_group",
    ]),
    "post-process-forwarder-issue-platform": sentry([
      "run",
      "consumer",
      "post-process-forwarder-issue-platform",
      "--consumer-group",
      "post-process-forwarder",
      "--synchronize-commit-log-topic=snuba-generic-events-commit-log",
      "--synchronize-commit-group",
      "generic_events_group",
    ]),
    "subscription-consumer-events": consumer("events-subscription-results", "query-subscription-consumer"),
    "subscription-consumer-transactions": consumer(
      "transactions-subscription-results",
      "query-subscription-consumer",
    ),
    "subscription-consumer-metrics": consumer("metrics-subscription-results", "query-subscription-consumer"),
    "subscription-consumer-generic-metrics": consumer(
      "generic-metrics-subscription-results",
      "query-subscription-consumer",
    ),
    vroom: {
      image: "vroom",
      env: {
        SENTRY_KAFKA_BROKERS_PROFILING: "kafka:9092",
        SENTRY_KAFKA_BROKERS_OCCURRENCES: "kafka:9092",
        SENTRY_BUCKET_PROFILES: "file://localhost//var/lib/sentry-profiles",
        SENTRY_SNUBA_HOST: "http://snuba-api:1218",
      },
      mounts: [data("vroom", "/var/lib/sentry-profiles")],
      dependsOn: { kafka: { condition: "healthy" } },
      profiles: ["full"],
      restart,
    },
  };
}
