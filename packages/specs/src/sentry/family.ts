import type { StackInput } from "@sh/core";
import { CONFIG_DIRS, DATA_DIRS, type DataDir, FULL_ONLY } from "./layout.js";
import type { SentryOptions } from "./options.js";

/*
 * What every family of the Sentry stack's services shares: the options, the profile, upstream's
 * defaults (health timing, restart policy), and the templates of a Sentry and a Snuba container.
 */

export type Svc = NonNullable<StackInput["services"]>[string];
export type Dep = { condition: "started" | "healthy" | "completed"; restart?: boolean };

/** A data directory of the stack mounted at `target`, with the owner and mode its image needs. */
export const data = (dir: DataDir, target: string) => ({
  source: dir,
  target,
  owner: DATA_DIRS[dir].owner,
  mode: DATA_DIRS[dir].mode,
});

/** A generated configuration directory mounted at `target` (read-only by default). */
export const config = (dir: keyof typeof CONFIG_DIRS, target: string, readOnly = true) => ({
  source: CONFIG_DIRS[dir],
  target,
  readOnly,
});

type Mount = { source: string; target: string; readOnly?: boolean; owner?: string; mode?: string };

export interface Family {
  opts: SentryOptions;
  /** The full profile runs (profiling and billing metrics too). */
  full: boolean;
  /** The image the options name for a key, or upstream's. */
  img(key: string, fallback: string): string;
  healthDefaults: { interval: string; timeout: string; retries: number; startPeriod: string };
  restart: "unless-stopped";
  /** `{ profiles: ["full"] }` for a full-only service. */
  only(name: string): { profiles?: string[] };
  retention: string;
  /** Upstream's pass-through variables that are set. */
  passThrough(names: string[]): Record<string, string>;
  redisSecretEnv: Record<string, { value: string; secret: boolean }>;
  sentryDeps: Record<string, Dep>;
  sentryEnv: Record<string, string>;
  sentryMounts: Mount[];
  sentryInputs: { path: string }[];
  /** A container of the Sentry image with its entrypoint, env, mounts and dependencies. */
  sentry(command: string[], extra?: Partial<Svc>): Svc;
  /** A Sentry ingest consumer of a topic in a consumer group. */
  consumer(topic: string, group: string, extra?: string[]): Svc;
  snubaDeps: Record<string, Dep>;
  snubaEnv: Record<string, unknown>;
  snuba(command?: string, name?: string): Svc;
  snubaConsumer(storage: string, rest: string, name: string): Svc;
  batch750: string;
  cronEntrypoint: string;
  httpPublish: string[];
  httpsPublish: string[];
}

/** The shared part for a set of options and the profile actually run. */
export function family(opts: SentryOptions, profile: string): Family {
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

  return {
    opts,
    full,
    img,
    healthDefaults,
    restart,
    only,
    retention,
    passThrough,
    redisSecretEnv,
    sentryDeps,
    sentryEnv,
    sentryMounts,
    sentryInputs,
    sentry,
    consumer,
    snubaDeps,
    snubaEnv,
    snuba,
    snubaConsumer,
    batch750,
    cronEntrypoint,
    httpPublish,
    httpsPublish,
  };
}
