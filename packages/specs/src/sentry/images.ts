/**
 * Every image the Sentry 23.12.0 stack runs, pinned in one place. Keys are the stack's image
 * keys; `images` in shctl.yaml overrides any of them (e.g. to use locally built replacements).
 */
export const SENTRY_VERSION = "23.12.0";

export const UPSTREAM_IMAGES = {
  sentry: `getsentry/sentry:${SENTRY_VERSION}`,
  snuba: `getsentry/snuba:${SENTRY_VERSION}`,
  relay: `getsentry/relay:${SENTRY_VERSION}`,
  symbolicator: `getsentry/symbolicator:${SENTRY_VERSION}`,
  vroom: `getsentry/vroom:${SENTRY_VERSION}`,
  clickhouseBase: "altinity/clickhouse-server:21.8.13.1.altinitystable",
  clickhouseBaseArm64: "altinity/clickhouse-server:21.8.12.29.altinitydev.arm",
  postgres: "postgres:14.5",
  redis: "redis:6.2.13-alpine",
  memcached: "memcached:1.6.21-alpine",
  nginx: "nginx:1.25.2-alpine",
  zookeeper: "confluentinc/cp-zookeeper:5.5.7",
  kafka: "confluentinc/cp-kafka:5.5.7",
  smtp: "tianon/exim4",
  geoipupdate: "ghcr.io/maxmind/geoipupdate:v6.0.0",
} as const;

/** Names of the images shctl builds locally (the same names upstream's compose file gives them). */
export const LOCAL_IMAGES = {
  sentry: "sentry-self-hosted-local",
  clickhouse: "clickhouse-self-hosted-local",
  sentryCleanup: "sentry-cleanup-self-hosted-local",
  symbolicatorCleanup: "symbolicator-cleanup-self-hosted-local",
  vroomCleanup: "vroom-cleanup-self-hosted-local",
} as const;
