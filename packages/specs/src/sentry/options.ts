import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseDuration, SpecError, type SpecIssue } from "@sh/core";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/*
 * The knobs a Sentry install has, in one typed place. Upstream spreads them over `.env`, the
 * compose file and the example configs; shctl reads them from `shctl.yaml` in the project dir,
 * then lets SHCTL_* environment variables override single fields (handy in CI and for secrets
 * that should not sit in a file).
 */

/** Image keys `images` may override (the stack's image keys, not compose service names). */
export const IMAGE_KEYS = [
  "sentry",
  "snuba",
  "relay",
  "symbolicator",
  "vroom",
  "clickhouse",
  "postgres",
  "redis",
  "memcached",
  "nginx",
  "zookeeper",
  "kafka",
  "smtp",
  "geoipupdate",
] as const;
export type ImageKey = (typeof IMAGE_KEYS)[number];

// Core's duration grammar, so what passes here also passes the stack it builds ("30s", "1m30s", "500ms").
const duration = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, 'expected a duration like "30s", "500ms" or "1m30s"');

const port = z.number().int().min(1).max(65535);

// The password is written into URLs (Celery, relay), a Python literal, redis.conf and env vars;
// URL-safe characters need no escaping in any of them, so nothing can be mis-quoted.
const redisPassword = z
  .string()
  .regex(/^[A-Za-z0-9._~-]+$/, "use only letters, digits and . _ ~ - (e.g. `openssl rand -hex 24`)");

// memcached's -I accepts an integer with a k/m suffix, and refuses more than half of its 64 MB
// default memory; the same value sizes Django's cache entries in sentry.conf.py.
const SIZE = /^[1-9]\d*[KkMm]$/;
const sourcemapSize = z
  .string()
  .regex(SIZE, 'expected a size like "1M" or "512K"')
  // Checks run on after a failed regex: only judge the amount of a well-formed size.
  .refine(
    (s) => !SIZE.test(s) || sizeToBytes(s) <= 32 * 1024 * 1024,
    "memcached accepts at most 32M with its default memory",
  );

// TLS files are bind-mounted from the project dir, which a mount source may not leave.
const projectPath = z
  .string()
  .min(1)
  .refine(
    (p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes(".."),
    "expected a path inside the project dir, relative to it",
  );

const HttpsOptions = z
  .strictObject({
    /** Serve Sentry over TLS from nginx; plain HTTP then only redirects. */
    enabled: z.boolean().default(false),
    /** Host port for HTTPS (the container listens on 443). */
    port: port.default(443),
    /** PEM certificate chain, relative to the project dir. */
    certFile: projectPath.default("tls/fullchain.pem"),
    /** PEM private key, relative to the project dir. */
    keyFile: projectPath.default("tls/privkey.pem"),
  })
  .prefault({});

const HealthcheckOptions = z
  .strictObject({
    interval: duration.default("30s"),
    timeout: duration.default("1m30s"),
    retries: z.number().int().min(1).default(10),
  })
  .prefault({});

const role = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, "lowercase letters, digits, - and _ only (the node label is shctl.ROLE)");
const replicaCount = z.number().int().min(1);

/**
 * Run on a Docker Swarm instead of one engine (docs/scale.md). The stores are pinned to the nodes
 * labelled for their role (`docker node update --label-add shctl.ROLE=true NODE`); web, relay,
 * nginx and the consumers spread over the nodes with their replicas.
 */
const SwarmOptions = z
  .strictObject({
    /** Node roles of the stateful services (one node may take several). */
    roles: z
      .strictObject({
        postgres: role.default("postgres"),
        redis: role.default("redis"),
        /** Kafka and ZooKeeper. */
        kafka: role.default("kafka"),
        clickhouse: role.default("clickhouse"),
        /** smtp's spool, symbolicator's cache, vroom's profiles. */
        files: role.default("files"),
      })
      .prefault({}),
    replicas: z
      .strictObject({
        web: replicaCount.default(1),
        relay: replicaCount.default(1),
        nginx: replicaCount.default(1),
        /**
         * Each Kafka consumer's tasks. A consumer group shares a topic's partitions among its
         * members: replicas beyond the topic's partitions (`topicPartitions`) idle.
         */
        consumers: replicaCount.default(1),
      })
      .prefault({}),
    /**
     * Partitions of each Sentry topic (Kafka can add partitions, never remove them). More
     * partitions let more consumer replicas work; snuba and upstream make 1.
     */
    topicPartitions: z.number().int().min(1).max(64).default(1),
    /** A registry every node pulls from: the images built here are pushed there (swarm.registry). */
    registry: z.string().min(1).optional(),
    /**
     * Data directories on storage every node mounts at the same path (NFS or the like): Sentry's
     * file store and its config directory, which every Sentry process writes or reads.
     */
    sharedDirs: z.array(z.string().min(1)).default(["sentry", "config/sentry"]),
  })
  .superRefine((o, ctx) => {
    if (o.replicas.consumers > o.topicPartitions)
      ctx.addIssue({
        code: "custom",
        path: ["replicas", "consumers"],
        message: `${o.replicas.consumers} replicas of a consumer share a topic of ${o.topicPartitions} partition${o.topicPartitions === 1 ? "" : "s"}: ${o.replicas.consumers - o.topicPartitions} would idle; raise topicPartitions too`,
      });
  });

export const SentryOptions = z
  .strictObject({
    /** Stack name (upstream's COMPOSE_PROJECT_NAME): prefixes container and network names. */
    stackName: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, "lowercase letters, digits, - and _ only")
      .default("sentry-self-hosted"),
    /** Host port nginx publishes (upstream SENTRY_BIND; this project has always used 9006). */
    httpPort: port.default(9006),
    /** Host address the ports are published on. */
    bindAddress: z.union([z.ipv4(), z.ipv6()]).default("0.0.0.0"),
    /** Every persistent byte lives under this dir, relative to the project dir. */
    dataRoot: z.string().min(1).default("./sentrydata"),
    /** `full` runs upstream's whole set; `core` leaves out profiling. */
    profile: z.enum(["full", "core"]).default("full"),
    /** Off by default, as upstream; when set, redis requires it and every client is given it. */
    redisPassword: redisPassword.optional(),
    https: HttpsOptions,
    /**
     * Public URL users and SDKs reach Sentry at (system.url-prefix). When unset, Sentry asks for
     * it on the first login and keeps the answer in its database.
     */
    publicUrl: z
      .url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" })
      .transform((u) => u.replace(/\/+$/, ""))
      .optional(),
    /**
     * A Docker Hub mirror (e.g. "hub.example.dev"): Docker Hub images are pulled from it (official
     * ones as MIRROR/library/NAME:TAG) and tagged NAME:TAG.
     */
    registryMirror: z
      .string()
      .regex(
        /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/i,
        'expected a registry host and optional path, like "hub.example.dev"',
      )
      .refine((m) => !m.endsWith("/"), "drop the trailing slash")
      .optional(),
    /** Per-image reference overrides, keyed by IMAGE_KEYS. */
    images: z
      .record(z.string(), z.string().min(1))
      .superRefine((rec, ctx) => {
        for (const key of Object.keys(rec)) {
          if (!(IMAGE_KEYS as readonly string[]).includes(key)) {
            ctx.addIssue({
              code: "custom",
              path: [key],
              message: `unknown image key; expected one of ${IMAGE_KEYS.join(", ")}`,
            });
          }
        }
      })
      .default({}),
    /** SENTRY_EVENT_RETENTION_DAYS: events older than this are cleaned up nightly. */
    eventRetentionDays: z.number().int().min(1).default(90),
    /**
     * SENTRY_MAIL_HOST: the FQDN mail is sent from (sentry@HOST) and the smtp container's
     * hostname. Unset in upstream's .env, where Sentry then uses "localhost".
     */
    mailHost: z
      .string()
      .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, "expected a host name like mail.example.com")
      .optional(),
    /** SENTRY_MAX_EXTERNAL_SOURCEMAP_SIZE: memcached's item size limit and Django's cache entry limit. */
    maxSourcemapSize: sourcemapSize.default("1M"),
    /** Docker healthcheck timing for the services that use upstream's shared defaults. */
    healthcheck: HealthcheckOptions,
    /** When set, an admin (superuser) is created or updated after the database migration. */
    admin: z.strictObject({ email: z.email(), password: z.string().min(1) }).optional(),
    /** OPENAI_API_KEY: enables the "suggested fix" feature when set. */
    openaiApiKey: z.string().min(1).optional(),
    /** ClickHouse's share of host memory (MAX_MEMORY_USAGE_RATIO); raise it if searches come back incomplete. */
    clickhouseMemoryRatio: z.number().gt(0).max(1).default(0.3),
    /** Script run while building the local Sentry image (upstream sentry/enhance-image.sh), if it exists. */
    enhanceImageScript: z.string().min(1).default("sentry/enhance-image.sh"),
    /** Deprecated pip requirements for the local Sentry image (upstream sentry/requirements.txt), if it exists. */
    requirementsFile: z.string().min(1).default("sentry/requirements.txt"),
    /** Python appended to the generated sentry.conf.py. */
    extraSentryConf: z.string().default(""),
    /** Run on a Docker Swarm (see SwarmOptions and docs/scale.md); absent: one engine. */
    swarm: SwarmOptions.optional(),
    /** Keys merged into the generated config.yml (objects merge, other values replace). */
    configYmlOverrides: z
      .record(z.string(), z.unknown())
      .refine((o) => !("system.secret-key" in o), {
        message: "shctl manages system.secret-key; edit config.yml under the data root to rotate it",
      })
      .default({}),
  })
  .superRefine((o, ctx) => {
    if (o.https.enabled && o.publicUrl?.startsWith("http://")) {
      ctx.addIssue({
        code: "custom",
        path: ["publicUrl"],
        message: "must be an https:// URL when https is enabled",
      });
    }
    if (o.https.enabled && o.https.port === o.httpPort) {
      ctx.addIssue({ code: "custom", path: ["https", "port"], message: "must differ from httpPort" });
    }
  });

export type SentryOptions = z.infer<typeof SentryOptions>;
/** What shctl.yaml may contain (every field optional). */
export type SentryOptionsInput = z.input<typeof SentryOptions>;

/** Parses "1M"/"512K"/"1G" into bytes (K = 1024). */
export function sizeToBytes(size: string): number {
  const factor = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[size.slice(-1).toUpperCase()];
  if (factor === undefined) throw new Error(`not a size: ${size}`);
  return Math.round(Number(size.slice(0, -1)) * factor);
}

/** The file `loadSentryOptions` reads, in the project dir. */
export const OPTIONS_FILE = "shctl.yaml";

type EnvKind = "string" | "number" | "boolean";

/**
 * Environment variables that override one field each (after shctl.yaml, before validation, so
 * a bad value is reported with its field and variable):
 *
 * - SHCTL_STACK_NAME              stackName
 * - SHCTL_HTTP_PORT               httpPort (number)
 * - SHCTL_BIND_ADDRESS            bindAddress
 * - SHCTL_DATA_ROOT               dataRoot
 * - SHCTL_PROFILE                 profile (full | core)
 * - SHCTL_REDIS_PASSWORD          redisPassword (an empty value turns it off)
 * - SHCTL_HTTPS                   https.enabled (true/false/1/0)
 * - SHCTL_HTTPS_PORT              https.port (number)
 * - SHCTL_HTTPS_CERT_FILE         https.certFile
 * - SHCTL_HTTPS_KEY_FILE          https.keyFile
 * - SHCTL_PUBLIC_URL              publicUrl
 * - SHCTL_REGISTRY_MIRROR         registryMirror
 * - SHCTL_EVENT_RETENTION_DAYS    eventRetentionDays (number)
 * - SHCTL_MAIL_HOST               mailHost
 * - SHCTL_MAX_SOURCEMAP_SIZE      maxSourcemapSize
 * - SHCTL_HEALTHCHECK_INTERVAL    healthcheck.interval
 * - SHCTL_HEALTHCHECK_TIMEOUT     healthcheck.timeout
 * - SHCTL_HEALTHCHECK_RETRIES     healthcheck.retries (number)
 * - SHCTL_ADMIN_EMAIL             admin.email
 * - SHCTL_ADMIN_PASSWORD          admin.password
 * - SHCTL_OPENAI_API_KEY          openaiApiKey
 * - SHCTL_CLICKHOUSE_MEMORY_RATIO clickhouseMemoryRatio (number)
 * - SHCTL_IMAGE_<KEY>             images.<key>, e.g. SHCTL_IMAGE_SENTRY, SHCTL_IMAGE_GEOIPUPDATE
 *
 * Variables that are unset or empty are ignored (SHCTL_REDIS_PASSWORD aside, see above).
 */
export const ENV_OVERRIDES: Readonly<Record<string, { path: readonly string[]; kind: EnvKind }>> = {
  SHCTL_STACK_NAME: { path: ["stackName"], kind: "string" },
  SHCTL_HTTP_PORT: { path: ["httpPort"], kind: "number" },
  SHCTL_BIND_ADDRESS: { path: ["bindAddress"], kind: "string" },
  SHCTL_DATA_ROOT: { path: ["dataRoot"], kind: "string" },
  SHCTL_PROFILE: { path: ["profile"], kind: "string" },
  SHCTL_REDIS_PASSWORD: { path: ["redisPassword"], kind: "string" },
  SHCTL_HTTPS: { path: ["https", "enabled"], kind: "boolean" },
  SHCTL_HTTPS_PORT: { path: ["https", "port"], kind: "number" },
  SHCTL_HTTPS_CERT_FILE: { path: ["https", "certFile"], kind: "string" },
  SHCTL_HTTPS_KEY_FILE: { path: ["https", "keyFile"], kind: "string" },
  SHCTL_PUBLIC_URL: { path: ["publicUrl"], kind: "string" },
  SHCTL_REGISTRY_MIRROR: { path: ["registryMirror"], kind: "string" },
  SHCTL_EVENT_RETENTION_DAYS: { path: ["eventRetentionDays"], kind: "number" },
  SHCTL_MAIL_HOST: { path: ["mailHost"], kind: "string" },
  SHCTL_MAX_SOURCEMAP_SIZE: { path: ["maxSourcemapSize"], kind: "string" },
  SHCTL_HEALTHCHECK_INTERVAL: { path: ["healthcheck", "interval"], kind: "string" },
  SHCTL_HEALTHCHECK_TIMEOUT: { path: ["healthcheck", "timeout"], kind: "string" },
  SHCTL_HEALTHCHECK_RETRIES: { path: ["healthcheck", "retries"], kind: "number" },
  SHCTL_ADMIN_EMAIL: { path: ["admin", "email"], kind: "string" },
  SHCTL_ADMIN_PASSWORD: { path: ["admin", "password"], kind: "string" },
  SHCTL_OPENAI_API_KEY: { path: ["openaiApiKey"], kind: "string" },
  SHCTL_CLICKHOUSE_MEMORY_RATIO: { path: ["clickhouseMemoryRatio"], kind: "number" },
  ...Object.fromEntries(
    IMAGE_KEYS.map((k) => [
      `SHCTL_IMAGE_${k.toUpperCase()}`,
      { path: ["images", k], kind: "string" as const },
    ]),
  ),
};

/** The options file is invalid: exit 2, one line per problem with its path. */
export class SentryOptionsError extends SpecError {
  constructor(source: string, issues: SpecIssue[]) {
    super(source, issues);
    this.message = `${source}: ${issues.length} problem${issues.length === 1 ? "" : "s"} in the options`;
  }
}

/**
 * Validates already-parsed options (e.g. from a test or a TS stack). Throws SentryOptionsError
 * listing every problem; `envSources` maps a field path ("https.port") to the variable it came from.
 */
export function parseSentryOptions(
  raw: unknown,
  source = OPTIONS_FILE,
  envSources: ReadonlyMap<string, string> = new Map(),
): SentryOptions {
  const result = SentryOptions.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issues: SpecIssue[] = [];
  for (const issue of result.error.issues) {
    const base = issue.path.map((p) => (typeof p === "number" ? p : String(p)));
    // One line per unknown key, each at its own path, so the user sees exactly what to remove.
    const expanded: SpecIssue[] =
      issue.code === "unrecognized_keys"
        ? issue.keys.map((k) => ({ path: [...base, k], message: "unknown field" }))
        : [{ path: base, message: issue.message }];
    for (const e of expanded) {
      const from = envSources.get(e.path.join("."));
      issues.push(from ? { ...e, message: `${e.message} (from ${from})` } : e);
    }
  }
  throw new SentryOptionsError(source, issues);
}

/**
 * Reads `shctl.yaml` in `projectDir` when present, applies the SHCTL_* overrides from `env`,
 * validates, and checks that the TLS files exist when HTTPS is on.
 */
export async function loadSentryOptions(
  projectDir: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<SentryOptions> {
  const file = path.join(projectDir, OPTIONS_FILE);
  let raw: unknown = {};
  if (existsSync(file)) {
    try {
      raw = parseYaml(await readFile(file, "utf8")) ?? {};
    } catch (err) {
      throw new SentryOptionsError(OPTIONS_FILE, [
        { path: [], message: `not valid YAML: ${(err as Error).message}` },
      ]);
    }
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new SentryOptionsError(OPTIONS_FILE, [
        { path: [], message: "expected a mapping of option names to values" },
      ]);
    }
  }
  const { merged, sources } = applyEnvOverrides(raw as Record<string, unknown>, env);
  const opts = parseSentryOptions(merged, OPTIONS_FILE, sources);
  if (opts.https.enabled) {
    const missing: SpecIssue[] = [];
    for (const key of ["certFile", "keyFile"] as const) {
      const p = path.resolve(projectDir, opts.https[key]);
      if (!existsSync(p)) missing.push({ path: ["https", key], message: `no such file: ${p}` });
    }
    if (missing.length > 0) throw new SentryOptionsError(OPTIONS_FILE, missing);
  }
  return opts;
}

/** Returns a copy of `raw` with the environment's overrides applied, and where each came from. */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): { merged: Record<string, unknown>; sources: Map<string, string> } {
  const merged = structuredClone(raw);
  const sources = new Map<string, string>();
  for (const [name, { path: fieldPath, kind }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined) continue;
    if (value === "" && name !== "SHCTL_REDIS_PASSWORD") continue;
    setPath(merged, fieldPath, value === "" ? undefined : coerce(value, kind));
    sources.set(fieldPath.join("."), name);
  }
  return { merged, sources };
}

// Values that do not look like their kind are passed on as strings, so the schema reports them.
function coerce(value: string, kind: EnvKind): unknown {
  if (kind === "number") return /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
  if (kind === "boolean") {
    const v = value.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    return value;
  }
  return value;
}

function setPath(target: Record<string, unknown>, fieldPath: readonly string[], value: unknown): void {
  let node = target;
  for (const key of fieldPath.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = fieldPath[fieldPath.length - 1];
  if (last === undefined) return;
  if (value === undefined) delete node[last];
  else node[last] = value;
}
