import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { StackFactory, StackInput } from "@sh/core";
import { LOCAL_IMAGES, UPSTREAM_IMAGES } from "./images.js";
import { initJobs } from "./jobs.js";
import { loadSentryOptions, type SentryOptions } from "./options.js";
import { clickhouseProbe, kafkaProbe } from "./probes.js";
import { TLS_CERT_PATH, TLS_KEY_PATH } from "./service-configs.js";

/*
 * The Sentry 23.12.0 self-hosted stack as shctl specs. Images, commands, entrypoints, environment,
 * healthchecks, ulimits, restart policies and dependency conditions follow upstream's compose file
 * for 23.12.0; every deviation is listed in docs/sentry.md with its reason.
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

type Svc = NonNullable<StackInput["services"]>[string];
type Dep = { condition: "started" | "healthy" | "completed"; restart?: boolean };

const data = (dir: DataDir, target: string) => ({
  source: dir,
  target,
  owner: DATA_DIRS[dir].owner,
  mode: DATA_DIRS[dir].mode,
});
const config = (dir: keyof typeof CONFIG_DIRS, target: string, readOnly = true) => ({
  source: CONFIG_DIRS[dir],
  target,
  readOnly,
});

/**
 * The ClickHouse base image for an engine architecture, as upstream's install picks it from
 * `docker info`'s Architecture (install/detect-platform.sh): the arm build on aarch64, the stable
 * x86_64 build otherwise. Node's names ("arm64", "x64") are accepted too.
 */
export function clickhouseBaseFor(architecture: string): string {
  return /^(aarch64|arm64)$/i.test(architecture)
    ? UPSTREAM_IMAGES.clickhouseBaseArm64
    : UPSTREAM_IMAGES.clickhouseBase;
}

/**
 * Builds the stack for a set of options; `profile` picks full (default) or core. `engineArch` is
 * the architecture of the engine the stack runs on (its `docker info` Architecture); without it,
 * this process's own architecture stands in for it, which is right only when the engine runs on
 * the same machine (a remote engine, or Docker Desktop on another CPU type, can differ).
 */
export function sentryStack(
  opts: SentryOptions,
  projectDir: string,
  profileArg?: string,
  engineArch?: string,
): StackInput {
  const profile = profileArg ?? opts.profile;
  // The generated configs follow the profile actually run (the command line may override the file).
  opts = { ...opts, profile: profile === "core" ? "core" : "full" };
  const full = profile === "full";
  const img = (key: string, fallback: string) => opts.images[key] ?? fallback;
  const hc = opts.healthcheck;
  const healthDefaults = {
    interval: hc.interval,
    timeout: hc.timeout,
    retries: hc.retries,
    startPeriod: "10s",
  };
  const restart = "unless-stopped" as const;
  const only = (name: string) =>
    (FULL_ONLY as readonly string[]).includes(name) ? { profiles: ["full"] } : {};
  const retention = String(opts.eventRetentionDays);

  // Pass-through variables (empty in upstream's compose file: taken from the host when set).
  const passThrough = (names: string[]): Record<string, string> => {
    const out: Record<string, string> = {};
    const values: Record<string, string | undefined> = {
      SENTRY_EVENT_RETENTION_DAYS: retention,
      SENTRY_MAIL_HOST: opts.mailHost,
      SENTRY_MAX_EXTERNAL_SOURCEMAP_SIZE: opts.maxSourcemapSize,
      OPENAI_API_KEY: opts.openaiApiKey,
    };
    for (const n of names) {
      const v = values[n];
      if (v !== undefined && v !== "") out[n] = v;
    }
    return out;
  };

  const redisSecretEnv: Record<string, { value: string; secret: boolean }> = opts.redisPassword
    ? { REDIS_PASSWORD: { value: opts.redisPassword, secret: true } }
    : {};

  // --- shared defaults ------------------------------------------------------------------------
  const sentryDeps: Record<string, Dep> = {
    redis: { condition: "healthy" },
    kafka: { condition: "healthy" },
    postgres: { condition: "healthy" },
    memcached: { condition: "started" },
    smtp: { condition: "started" },
    "snuba-api": { condition: "started" },
    "snuba-consumer": { condition: "started" },
    "snuba-outcomes-consumer": { condition: "started" },
    "snuba-transactions-consumer": { condition: "started" },
    "snuba-subscription-consumer-events": { condition: "started" },
    "snuba-subscription-consumer-transactions": { condition: "started" },
    "snuba-replacer": { condition: "started" },
    symbolicator: { condition: "started" },
    ...(full ? { vroom: { condition: "started" } } : {}),
    // shctl: the database is migrated before any Sentry process starts.
    "sentry-upgrade": { condition: "completed" },
  };
  const sentryEnv = {
    PYTHONUSERBASE: "/data/custom-packages",
    SENTRY_CONF: "/etc/sentry",
    SNUBA: "http://snuba-api:1218",
    VROOM: "http://vroom:8085",
    DEFAULT_CA_BUNDLE: "/etc/ssl/certs/ca-certificates.crt",
    REQUESTS_CA_BUNDLE: "/etc/ssl/certs/ca-certificates.crt",
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH_ENV_VAR: "/etc/ssl/certs/ca-certificates.crt",
    ...passThrough([
      "SENTRY_EVENT_RETENTION_DAYS",
      "SENTRY_MAIL_HOST",
      "SENTRY_MAX_EXTERNAL_SOURCEMAP_SIZE",
      "OPENAI_API_KEY",
    ]),
  };
  const sentryMounts = [
    data("sentry", "/data"),
    config("sentry", "/etc/sentry", false),
    config("geoip", "/geoip"),
    config("certificates", "/usr/local/share/ca-certificates"),
  ];
  // Editing one of these recreates every Sentry container (they all read them).
  const sentryInputs = [
    { path: `${CONFIG_DIRS.sentry}/sentry.conf.py` },
    { path: `${CONFIG_DIRS.sentry}/config.yml` },
  ];
  const sentry = (command: string[], extra: Partial<Svc> = {}): Svc => ({
    image: "sentry",
    entrypoint: "/etc/sentry/entrypoint.sh",
    command,
    env: sentryEnv,
    mounts: sentryMounts,
    dependsOn: sentryDeps,
    restart,
    inputs: sentryInputs,
    stopGracePeriod: "10s",
    ...extra,
  });
  const consumer = (topic: string, group: string, extra: string[] = []): Svc =>
    sentry(["run", "consumer", ...extra, topic, "--consumer-group", group]);

  const snubaDeps: Record<string, Dep> = {
    clickhouse: { condition: "healthy" },
    kafka: { condition: "healthy" },
    redis: { condition: "healthy" },
    // shctl: snuba's tables and every Kafka topic exist before a consumer starts.
    "snuba-migrate": { condition: "completed" },
    "kafka-topics": { condition: "completed" },
  };
  const snubaEnv = {
    SNUBA_SETTINGS: "self_hosted",
    CLICKHOUSE_HOST: "clickhouse",
    DEFAULT_BROKERS: "kafka:9092",
    REDIS_HOST: "redis",
    UWSGI_MAX_REQUESTS: "10000",
    UWSGI_DISABLE_LOGGING: "true",
    SENTRY_EVENT_RETENTION_DAYS: retention,
    ...redisSecretEnv,
  };
  const snuba = (command?: string, name?: string): Svc => ({
    image: "snuba",
    ...(command ? { command } : {}),
    env: snubaEnv,
    dependsOn: snubaDeps,
    restart,
    ...(name ? only(name) : {}),
  });
  const snubaConsumer = (storage: string, rest: string, name: string) =>
    snuba(`consumer --storage ${storage} ${rest}`, name);
  const batch750 = "--max-batch-time-ms 750 --no-strict-offset-reset";

  const cronEntrypoint = "/entrypoint.sh";
  const httpPublish = [`${opts.bindAddress}:${opts.httpPort}:80/tcp`];
  const httpsPublish = opts.https.enabled ? [`${opts.bindAddress}:${opts.https.port}:443/tcp`] : [];

  const services: Record<string, Svc> = {
    smtp: {
      image: "smtp",
      ...(opts.mailHost ? { hostname: opts.mailHost } : {}),
      mounts: [data("smtp", "/var/spool/exim4"), data("smtp-log", "/var/log/exim4")],
      restart,
    },
    memcached: {
      image: "memcached",
      command: ["-I", opts.maxSourcemapSize],
      healthcheck: { test: "echo stats | nc 127.0.0.1 11211", ...healthDefaults },
      readiness: [{ tcp: { port: 11211 } }],
      restart,
    },
    redis: {
      image: "redis",
      ...(opts.redisPassword ? { command: ["redis-server", "/usr/local/etc/redis/redis.conf"] } : {}),
      // redis-cli reads the password from REDISCLI_AUTH, so upstream's healthcheck works unchanged.
      env: opts.redisPassword ? { REDISCLI_AUTH: { value: opts.redisPassword, secret: true } } : {},
      healthcheck: { test: "redis-cli ping", ...healthDefaults },
      readiness: [{ exec: ["redis-cli", "ping"] }],
      mounts: [
        data("redis", "/data"),
        ...(opts.redisPassword ? [{ ...config("redis", "/usr/local/etc/redis"), kind: "dir" as const }] : []),
      ],
      ulimits: { nofile: { soft: 10032, hard: 10032 } },
      dependsOn: opts.redisPassword ? { config: { condition: "completed" } } : {},
      inputs: opts.redisPassword ? [{ path: `${CONFIG_DIRS.redis}/redis.conf` }] : [],
      restart,
    },
    postgres: {
      image: "postgres",
      healthcheck: { test: ["CMD-SHELL", "pg_isready -U postgres"], ...healthDefaults },
      readiness: [{ exec: ["pg_isready", "-U", "postgres"] }],
      command: [
        "postgres",
        "-c",
        "wal_level=logical",
        "-c",
        "max_replication_slots=1",
        "-c",
        "max_wal_senders=1",
      ],
      env: { POSTGRES_HOST_AUTH_METHOD: "trust" },
      entrypoint: "/opt/sentry/postgres-entrypoint.sh",
      mounts: [data("postgres", "/var/lib/postgresql/data"), config("postgres", "/opt/sentry/")],
      dependsOn: { config: { condition: "completed" } },
      // shctl: a clean shutdown spares a long WAL recovery on the next start.
      stopGracePeriod: "60s",
      restart,
    },
    zookeeper: {
      image: "zookeeper",
      env: {
        ZOOKEEPER_CLIENT_PORT: "2181",
        CONFLUENT_SUPPORT_METRICS_ENABLE: "false",
        ZOOKEEPER_LOG4J_ROOT_LOGLEVEL: "WARN",
        ZOOKEEPER_TOOLS_LOG4J_LOGLEVEL: "WARN",
        KAFKA_OPTS: "-Dzookeeper.4lw.commands.whitelist=ruok",
      },
      ulimits: { nofile: { soft: 4096, hard: 4096 } },
      mounts: [
        data("zookeeper", "/var/lib/zookeeper/data"),
        data("zookeeper-log", "/var/lib/zookeeper/log"),
        data("secrets", "/etc/zookeeper/secrets"),
      ],
      healthcheck: {
        test: ["CMD-SHELL", 'echo "ruok" | nc -w 2 localhost 2181 | grep imok'],
        ...healthDefaults,
      },
      readiness: [{ exec: ["sh", "-c", "echo ruok | nc -w 2 localhost 2181 | grep imok"] }],
      restart,
    },
    kafka: {
      image: "kafka",
      dependsOn: { zookeeper: { condition: "healthy" } },
      env: {
        KAFKA_ZOOKEEPER_CONNECT: "zookeeper:2181",
        KAFKA_ADVERTISED_LISTENERS: "PLAINTEXT://kafka:9092",
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
        KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: "1",
        KAFKA_LOG_RETENTION_HOURS: "24",
        KAFKA_MESSAGE_MAX_BYTES: "50000000",
        KAFKA_MAX_REQUEST_SIZE: "50000000",
        CONFLUENT_SUPPORT_METRICS_ENABLE: "false",
        KAFKA_LOG4J_LOGGERS:
          "kafka.cluster=WARN,kafka.controller=WARN,kafka.coordinator=WARN,kafka.log=WARN,kafka.server=WARN,kafka.zookeeper=WARN,state.change.logger=WARN",
        KAFKA_LOG4J_ROOT_LOGLEVEL: "WARN",
        KAFKA_TOOLS_LOG4J_LOGLEVEL: "WARN",
      },
      ulimits: { nofile: { soft: 4096, hard: 4096 } },
      mounts: [
        data("kafka", "/var/lib/kafka/data"),
        data("kafka-log", "/var/lib/kafka/log"),
        data("secrets", "/etc/kafka/secrets"),
      ],
      healthcheck: {
        test: ["CMD-SHELL", "/usr/bin/kafka-topics --bootstrap-server kafka:9092 --list"],
        ...healthDefaults,
        interval: "10s",
        timeout: "10s",
        retries: 30,
      },
      readiness: [kafkaProbe()],
      readyTimeout: "10m",
      stopGracePeriod: "60s",
      restart,
    },
    clickhouse: {
      image: "clickhouse",
      ulimits: { nofile: { soft: 262144, hard: 262144 } },
      mounts: [
        data("clickhouse", "/var/lib/clickhouse"),
        data("clickhouse-log", "/var/log/clickhouse-server"),
        {
          source: `${CONFIG_DIRS.clickhouse}/config.xml`,
          target: "/etc/clickhouse-server/config.d/sentry.xml",
          readOnly: true,
          kind: "file",
        },
      ],
      env: { MAX_MEMORY_USAGE_RATIO: String(opts.clickhouseMemoryRatio) },
      healthcheck: {
        test: ["CMD-SHELL", "http_proxy='' wget -nv -t1 --spider 'http://localhost:8123/' || exit 1"],
        interval: "10s",
        timeout: "10s",
        retries: 30,
      },
      readiness: [clickhouseProbe()],
      readyTimeout: "10m",
      dependsOn: { config: { condition: "completed" } },
      inputs: [{ path: `${CONFIG_DIRS.clickhouse}/config.xml` }],
      // shctl: an unclean stop leaves "suspiciously many broken parts"; give it time to flush.
      stopGracePeriod: "90s",
      restart,
    },
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
    symbolicator: {
      image: "symbolicator",
      mounts: [data("symbolicator", "/data"), config("symbolicator", "/etc/symbolicator")],
      command: "run -c /etc/symbolicator/config.yml",
      readiness: [{ http: { port: 3021, path: "/healthcheck" } }],
      dependsOn: { config: { condition: "completed" } },
      inputs: [{ path: `${CONFIG_DIRS.symbolicator}/config.yml` }],
      restart,
    },
    "symbolicator-cleanup": {
      image: "symbolicator-cleanup",
      command: ["55 23 * * * gosu symbolicator symbolicator cleanup"],
      mounts: [data("symbolicator", "/data")],
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
    "sentry-cleanup": sentry([`0 0 * * * gosu sentry sentry cleanup --days ${retention}`], {
      image: "sentry-cleanup",
      entrypoint: cronEntrypoint,
    }),
    nginx: {
      image: "nginx",
      ports: [...httpPublish, ...httpsPublish],
      mounts: [
        config("nginx", "/etc/nginx"),
        data("nginx-cache", "/var/cache/nginx"),
        ...(opts.https.enabled
          ? [
              {
                source: opts.https.certFile,
                root: "project" as const,
                target: TLS_CERT_PATH,
                readOnly: true,
                kind: "file" as const,
              },
              {
                source: opts.https.keyFile,
                root: "project" as const,
                target: TLS_KEY_PATH,
                readOnly: true,
                kind: "file" as const,
              },
            ]
          : []),
      ],
      dependsOn: {
        web: { condition: "started" },
        relay: { condition: "started" },
        config: { condition: "completed" },
      },
      readiness: [{ tcp: { port: 80 } }],
      inputs: [{ path: `${CONFIG_DIRS.nginx}/nginx.conf` }],
      restart,
    },
    relay: {
      image: "relay",
      mounts: [config("relay", "/work/.relay"), config("geoip", "/geoip")],
      dependsOn: {
        kafka: { condition: "healthy" },
        redis: { condition: "healthy" },
        web: { condition: "healthy" },
        "relay-credentials": { condition: "completed" },
      },
      readiness: [{ http: { port: 3000, path: "/api/relay/healthcheck/ready/" } }],
      inputs: [
        { path: `${CONFIG_DIRS.relay}/config.yml` },
        { path: `${CONFIG_DIRS.relay}/credentials.json` },
      ],
      restart,
    },
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
    "vroom-cleanup": {
      image: "vroom-cleanup",
      entrypoint: cronEntrypoint,
      env: passThrough(["SENTRY_EVENT_RETENTION_DAYS"]),
      command: [`0 0 * * * find /var/lib/sentry-profiles -type f -mtime +${retention} -delete`],
      mounts: [data("vroom", "/var/lib/sentry-profiles")],
      profiles: ["full"],
      restart,
    },
  };

  const enhance = readOptional(projectDir, opts.enhanceImageScript);
  const requirements = readOptional(projectDir, opts.requirementsFile);
  const clickhouseBase = clickhouseBaseFor(engineArch ?? process.arch);

  return {
    name: opts.stackName,
    dataRoot: opts.dataRoot,
    bindAddress: opts.bindAddress,
    ...(opts.registryMirror ? { registryMirror: opts.registryMirror } : {}),
    defaultProfile: opts.profile,
    notes: [
      `Sentry: ${opts.publicUrl ?? `${opts.https.enabled ? "https" : "http"}://localhost:${opts.https.enabled ? opts.https.port : opts.httpPort}`}/`,
      opts.admin
        ? `Sign in as ${opts.admin.email}.`
        : "Create the first user: set admin.email and admin.password in shctl.yaml and run `shctl apply`, or run `docker exec -it " +
          `${opts.stackName}-web sentry createuser --superuser\``,
      "Everyday start: `shctl apply` (see the plan first with `shctl diff`); state: `shctl status`; logs: `shctl logs web`.",
    ],
    profiles: ["full", "core"],
    networks: { default: {} },
    images: {
      sentry: {
        ref: LOCAL_IMAGES.sentry,
        build: {
          context: path.join(CONTEXTS, "sentry"),
          args: {
            SENTRY_IMAGE: img("sentry", UPSTREAM_IMAGES.sentry),
            ENHANCE_SCRIPT_B64: enhance ? Buffer.from(enhance).toString("base64") : "",
            REQUIREMENTS_B64: requirements ? Buffer.from(requirements).toString("base64") : "",
          },
        },
        needs: ["sentry-upstream"],
      },
      "sentry-upstream": { ref: img("sentry", UPSTREAM_IMAGES.sentry) },
      clickhouse: {
        ref: LOCAL_IMAGES.clickhouse,
        build: {
          context: path.join(CONTEXTS, "clickhouse"),
          args: { BASE_IMAGE: img("clickhouse", clickhouseBase) },
        },
        needs: ["clickhouse-upstream"],
      },
      "clickhouse-upstream": { ref: img("clickhouse", clickhouseBase) },
      "sentry-cleanup": {
        ref: LOCAL_IMAGES.sentryCleanup,
        build: { context: path.join(CONTEXTS, "cron"), args: { BASE_IMAGE: LOCAL_IMAGES.sentry } },
        needs: ["sentry"],
      },
      "symbolicator-cleanup": {
        ref: LOCAL_IMAGES.symbolicatorCleanup,
        build: {
          context: path.join(CONTEXTS, "cron"),
          args: { BASE_IMAGE: img("symbolicator", UPSTREAM_IMAGES.symbolicator) },
        },
        needs: ["symbolicator"],
      },
      "vroom-cleanup": {
        ref: LOCAL_IMAGES.vroomCleanup,
        build: {
          context: path.join(CONTEXTS, "cron"),
          args: { BASE_IMAGE: img("vroom", UPSTREAM_IMAGES.vroom) },
        },
        needs: ["vroom"],
      },
      snuba: { ref: img("snuba", UPSTREAM_IMAGES.snuba) },
      relay: { ref: img("relay", UPSTREAM_IMAGES.relay) },
      symbolicator: { ref: img("symbolicator", UPSTREAM_IMAGES.symbolicator) },
      vroom: { ref: img("vroom", UPSTREAM_IMAGES.vroom) },
      postgres: { ref: img("postgres", UPSTREAM_IMAGES.postgres) },
      redis: { ref: img("redis", UPSTREAM_IMAGES.redis) },
      memcached: { ref: img("memcached", UPSTREAM_IMAGES.memcached) },
      nginx: { ref: img("nginx", UPSTREAM_IMAGES.nginx) },
      zookeeper: { ref: img("zookeeper", UPSTREAM_IMAGES.zookeeper) },
      kafka: { ref: img("kafka", UPSTREAM_IMAGES.kafka) },
      smtp: { ref: img("smtp", UPSTREAM_IMAGES.smtp) },
      geoipupdate: { ref: img("geoipupdate", UPSTREAM_IMAGES.geoipupdate) },
    },
    services,
    jobs: initJobs(opts, projectDir, { sentryEnv, sentryMounts, snubaEnv, full }),
  };
}

function readOptional(projectDir: string, file: string | undefined): string | undefined {
  if (!file) return undefined;
  const p = path.resolve(projectDir, file);
  if (!existsSync(p)) return undefined;
  const text = readFileSync(p, "utf8");
  return text.trim() === "" ? undefined : text;
}

/** The stack factory the CLI uses: options from shctl.yaml and the environment. */
export const sentryStackFactory: StackFactory = async ({ projectDir, env, profile, engineInfo }) => {
  const opts = await loadSentryOptions(projectDir, env);
  // The engine is asked only when its architecture decides something: the ClickHouse base image,
  // unless the options name one. Without engine info (tests, tooling that loads the stack without
  // an engine), sentryStack falls back to this process's architecture.
  const engineArch =
    engineInfo && opts.images.clickhouse === undefined ? (await engineInfo()).architecture : undefined;
  return sentryStack(opts, projectDir, profile, engineArch);
};
