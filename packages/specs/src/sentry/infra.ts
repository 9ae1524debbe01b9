import { config, data, type Family, type Svc } from "./family.js";
import { CONFIG_DIRS } from "./layout.js";
import { clickhouseProbe, kafkaProbe } from "./probes.js";

/*
 * Infrastructure: mail, memcached, redis, postgres, zookeeper, kafka and clickhouse, as upstream's
 * compose file runs them (images, commands, env, healthchecks, ulimits), with readiness probes.
 */

export function infraServices(f: Family): Record<string, Svc> {
  const { opts, healthDefaults, restart } = f;
  return {
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
  };
}
