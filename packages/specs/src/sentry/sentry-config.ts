import { randomInt } from "node:crypto";
import { Document, Scalar } from "yaml";
import type { SentryOptions } from "./options.js";

/*
 * Sentry's own configuration: sentry.conf.py (Django settings, Python) and config.yml (Sentry
 * options), both generated from the options. Settings and values follow self-hosted 23.12.0's
 * sentry.conf.example.py and config.example.yml; the layout and wording are shctl's.
 */

/** Where the generated files are mounted in every Sentry container. */
export const SENTRY_CONF_DIR = "/etc/sentry";

/** The features self-hosted 23.12.0 turns on (errors, performance, replays, profiling, ...). */
export const SENTRY_FEATURES_ON: readonly string[] = [
  "organizations:discover",
  "organizations:events",
  "organizations:global-views",
  "organizations:incidents",
  "organizations:integrations-issue-basic",
  "organizations:integrations-issue-sync",
  "organizations:invite-members",
  "organizations:metric-alert-builder-aggregate",
  "organizations:sso-basic",
  "organizations:sso-rippling",
  "organizations:sso-saml2",
  "organizations:performance-view",
  "organizations:advanced-search",
  "organizations:session-replay",
  "organizations:issue-platform",
  "organizations:profiling",
  "organizations:dashboards-mep",
  "organizations:mep-rollout-flag",
  "organizations:dashboards-rh-widget",
  "organizations:metrics-extraction",
  "organizations:transaction-metrics-extraction",
  "projects:custom-inbound-filters",
  "projects:data-forwarding",
  "projects:discard-groups",
  "projects:plugins",
  "projects:rate-limits",
  "projects:servicehooks",
];

/** Kafka producer settings every Sentry process uses (50 MB messages, like the broker). */
export const SENTRY_KAFKA_OPTIONS = {
  "bootstrap.servers": "kafka:9092",
  "message.max.bytes": 50000000,
  "socket.timeout.ms": 1000,
} as const;

/** uWSGI settings for `sentry run web`, as upstream pins them. */
export const SENTRY_WEB_OPTIONS = {
  http: "0.0.0.0:9000",
  protocol: "uwsgi",
  // Sentry would otherwise also open a uwsgi socket of its own.
  "uwsgi-socket": null,
  "so-keepalive": true,
  // Relay keeps upstream connections alive for 15 to 75 s.
  "http-keepalive": 15,
  "http-chunked-input": true,
  workers: 3,
  threads: 4,
  "memory-report": false,
  // Recycle workers now and then so leaks stay bounded.
  "max-requests": 100000,
  "max-requests-delta": 500,
  "max-worker-lifetime": 86400,
  "thunder-lock": true,
  "log-x-forwarded-for": false,
  "buffer-size": 32768,
  // 200 MB request bodies (nginx caps at 100 MB; relay and uploads go through here).
  "limit-post": 209715200,
  "disable-logging": true,
  "reload-on-rss": 600,
  "ignore-sigpipe": true,
  "ignore-write-errors": true,
  "disable-write-exception": true,
} as const;

/** The redis URL Celery and relay use; the password is URL-safe by schema. */
export function redisUrl(opts: Pick<SentryOptions, "redisPassword">, db?: number): string {
  const auth = opts.redisPassword ? `:${encodeURIComponent(opts.redisPassword)}@` : "";
  return `redis://${auth}redis:6379${db === undefined ? "" : `/${db}`}`;
}

/** Python code to place as-is inside a `py()` literal. */
export class PyExpr {
  constructor(readonly code: string) {}
}

/** A Python literal for a JSON-like value (JSON string escapes are valid Python escapes). */
export function py(value: unknown, indent = 0): string {
  const pad = " ".repeat(indent);
  if (value instanceof PyExpr) return value.code;
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`no Python literal for ${value}`);
    return String(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => `${pad}    ${py(v, indent + 4)},`).join("\n")}\n${pad}]`;
  }
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return "{}";
    const key = (k: string) => (/^(0|[1-9]\d*)$/.test(k) ? k : JSON.stringify(k));
    return `{\n${entries.map(([k, v]) => `${pad}    ${key(k)}: ${py(v, indent + 4)},`).join("\n")}\n${pad}}`;
  }
  throw new Error(`no Python literal for ${typeof value}`);
}

/**
 * sentry.conf.py for every Sentry container. Retention, mail host and the sourcemap size are
 * read from the container's environment at start (the stack passes them), falling back to the
 * options' values, so changing them in shctl.yaml takes effect without rewriting this file.
 */
export function sentryConfPy(opts: SentryOptions): string {
  const redisHost: Record<string, unknown> = { host: "redis", port: 6379, db: 0 };
  if (opts.redisPassword) redisHost.password = opts.redisPassword;
  const https = opts.https.enabled;
  const urlPrefix = opts.publicUrl;

  const out: string[] = [];
  const section = (title: string, ...lines: string[]) => {
    out.push("", `# --- ${title} ${"-".repeat(Math.max(3, 86 - title.length))}`, "", ...lines);
  };

  out.push(
    "# Sentry 23.12.0 settings, generated by shctl from shctl.yaml.",
    "# shctl writes this file once and then leaves it to you: when the options would generate",
    "# something different, the new text goes to sentry.conf.py.shctl-new beside it.",
    "",
    "# Sentry's defaults first; everything below overrides them.",
    "from sentry.conf.server import *  # noqa: F401,F403",
    "",
    "import os",
    "import socket",
    "import struct",
  );

  section(
    "helpers",
    "def _shctl_env(name, fallback):",
    '    """A variable from the container environment; unset and empty both mean `fallback`."""',
    '    value = os.environ.get(name, "")',
    '    return value if value != "" else fallback',
    "",
    "",
    "def _shctl_bytes(size):",
    '    """\'1M\' -> 1048576: the <number><K|M|G> form memcached\'s -I also takes."""',
    "    size = size.strip()",
    '    return int(float(size[:-1]) * 1024 ** ("KMG".index(size[-1].upper()) + 1))',
    "",
    "",
    "def _shctl_local_networks():",
    '    """The networks this container is attached to, as CIDRs, read from its routing table.',
    "",
    "    Relay may register with web without being listed as trusted only when its address is in",
    "    INTERNAL_SYSTEM_IPS. Every directly attached network counts (not just eth0), so relay is",
    '    recognised on whichever network it shares with web."""',
    "    found = []",
    "    try:",
    '        with open("/proc/net/route") as table:',
    "            next(table)  # column titles",
    "            for row in table:",
    "                cols = row.split()",
    '                if len(cols) < 8 or cols[0] == "lo":',
    "                    continue",
    "                dest, gateway, mask = int(cols[1], 16), int(cols[2], 16), int(cols[7], 16)",
    "                # A gateway route or the default route is not a network we sit on.",
    "                if gateway != 0 or mask == 0:",
    "                    continue",
    "                # The kernel prints addresses in host byte order: pack them back natively.",
    '                net = "%s/%d" % (socket.inet_ntoa(struct.pack("=I", dest)), bin(mask).count("1"))',
    "                if net not in found:",
    "                    found.append(net)",
    "    except OSError:",
    "        pass",
    "    return tuple(found)",
    "",
    "",
    "INTERNAL_SYSTEM_IPS = _shctl_local_networks()",
  );

  section(
    "database",
    "# Upstream's postgres trusts the stack network, hence no password. Do not change",
    "# SENTRY_USE_BIG_INTS once the database exists.",
    `DATABASES = ${py({
      default: {
        ENGINE: "sentry.db.postgres",
        NAME: "postgres",
        USER: "postgres",
        PASSWORD: "",
        HOST: "postgres",
        PORT: "",
      },
    })}`,
    "SENTRY_USE_BIG_INTS = True",
  );

  section(
    "general",
    "# One organisation per install: Sentry simplifies its UI for that.",
    "SENTRY_SINGLE_ORGANIZATION = True",
    'SENTRY_OPTIONS["system.event-retention-days"] = int(',
    `    _shctl_env("SENTRY_EVENT_RETENTION_DAYS", ${py(String(opts.eventRetentionDays))})`,
    ")",
    ...(urlPrefix ? [`SENTRY_OPTIONS["system.url-prefix"] = ${py(urlPrefix)}`] : []),
  );

  section(
    "redis",
    opts.redisPassword
      ? "# redis requires a password (shctl.yaml redisPassword). Buffers, quotas, TSDB, digests\n# and the cache use this cluster."
      : "# No password, as upstream's redis. Buffers, quotas, TSDB, digests and the cache use\n# this cluster.",
    `SENTRY_OPTIONS["redis.clusters"] = ${py({ default: { hosts: { 0: redisHost } } })}`,
    "",
    "# Celery's queue lives in the same redis.",
    `BROKER_URL = ${py(redisUrl(opts, 0))}`,
  );

  section(
    "caches",
    "# memcached for Django's cache: entries may be as large as memcached's -I item limit.",
    `CACHES = ${py({
      default: {
        BACKEND: "django.core.cache.backends.memcached.MemcachedCache",
        LOCATION: ["memcached:11211"],
        TIMEOUT: 3600,
        OPTIONS: {
          server_max_value_length: new PyExpr(
            `_shctl_bytes(_shctl_env("SENTRY_MAX_EXTERNAL_SOURCEMAP_SIZE", ${py(opts.maxSourcemapSize)}))`,
          ),
        },
      },
    })}`,
    "# Event processing needs a cache of its own: redis.",
    'SENTRY_CACHE = "sentry.cache.redis.RedisCache"',
  );

  section(
    "kafka",
    `DEFAULT_KAFKA_OPTIONS = ${py(SENTRY_KAFKA_OPTIONS)}`,
    'SENTRY_EVENTSTREAM = "sentry.eventstream.kafka.KafkaEventStream"',
    'SENTRY_EVENTSTREAM_OPTIONS = {"producer_configuration": DEFAULT_KAFKA_OPTIONS}',
    'KAFKA_CLUSTERS["default"] = DEFAULT_KAFKA_OPTIONS',
  );

  section(
    "backends",
    "# Rate limits, write buffers, quotas and notification digests all sit on redis.",
    'SENTRY_RATELIMITER = "sentry.ratelimits.redis.RedisRateLimiter"',
    'SENTRY_BUFFER = "sentry.buffer.redis.RedisBuffer"',
    'SENTRY_QUOTAS = "sentry.quotas.redis.RedisQuota"',
    'SENTRY_DIGESTS = "sentry.digests.backends.redis.RedisBackend"',
    "# Charts read redis and snuba. The module is `redissnuba`: the image's built-in config names",
    "# a class that fails to load, which is why this file must be mounted.",
    'SENTRY_TSDB = "sentry.tsdb.redissnuba.RedisSnubaTSDB"',
    "# Issue search and tags come from snuba (ClickHouse).",
    'SENTRY_SEARCH = "sentry.search.snuba.EventsDatasetSnubaSearchBackend"',
    "SENTRY_SEARCH_OPTIONS = {}",
    "SENTRY_TAGSTORE_OPTIONS = {}",
    "# Release health is computed from session metrics.",
    'SENTRY_RELEASE_HEALTH = "sentry.release_health.metrics.MetricsReleaseHealthBackend"',
    'SENTRY_RELEASE_MONITOR = "sentry.release_health.release_monitor.metrics.MetricReleaseMonitorBackend"',
  );

  section(
    "web server",
    'SENTRY_WEB_HOST = "0.0.0.0"',
    "SENTRY_WEB_PORT = 9000",
    `SENTRY_WEB_OPTIONS = ${py(SENTRY_WEB_OPTIONS)}`,
  );

  section(
    "https",
    ...(https
      ? [
          "# nginx terminates TLS and says so in X-Forwarded-Proto; cookies are HTTPS-only.",
          'SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")',
          "USE_X_FORWARDED_HOST = True",
          "SESSION_COOKIE_SECURE = True",
          "CSRF_COOKIE_SECURE = True",
          "SOCIAL_AUTH_REDIRECT_IS_HTTPS = True",
        ]
      : ["# Plain HTTP (shctl.yaml https.enabled is false): no proxy TLS settings."]),
  );

  section(
    "mail",
    "# Mail leaves through the smtp service (config.yml mail.host) as sentry@<mail host>.",
    `SENTRY_OPTIONS["mail.list-namespace"] = _shctl_env("SENTRY_MAIL_HOST", ${py(opts.mailHost ?? "localhost")})`,
    'SENTRY_OPTIONS["mail.from"] = "sentry@" + SENTRY_OPTIONS["mail.list-namespace"]',
  );

  section(
    "features",
    'SENTRY_FEATURES["projects:sample-events"] = False',
    // The core profile runs no profiling services, so the feature that needs them is off.
    `SENTRY_FEATURES.update({name: True for name in ${py(
      opts.profile === "core"
        ? SENTRY_FEATURES_ON.filter((f) => f !== "organizations:profiling")
        : SENTRY_FEATURES_ON,
    )}})`,
    "# Suggested fixes send event data to OpenAI: on only when an API key is configured.",
    `SENTRY_FEATURES["organizations:open-ai-suggestion"] = ${py(Boolean(opts.openaiApiKey))}`,
  );

  section(
    "misc",
    "# Filled by the geoipupdate job when config/geoip/GeoIP.conf exists; empty otherwise.",
    'GEOIP_PATH_MMDB = "/geoip/GeoLite2-City.mmdb"',
    "# Report policy violations without blocking anything.",
    "CSP_REPORT_ONLY = True",
  );

  if (opts.extraSentryConf.trim() !== "") {
    section("extraSentryConf from shctl.yaml", opts.extraSentryConf.replace(/\s+$/, ""));
  }
  return `${out.join("\n")}\n`;
}

/** Sentry options that are fixed by the stack's layout (paths and service addresses). */
export function sentryConfigYmlValues(opts: SentryOptions, secretKey: string): Record<string, unknown> {
  const base: Record<string, unknown> = {
    "mail.host": "smtp",
    "system.secret-key": secretKey,
    "system.internal-url-prefix": "http://web:9000",
    "filestore.backend": "filesystem",
    "filestore.options": { location: "/data/files" },
    "dsym.cache-path": "/data/dsym-cache",
    "releasefile.cache-path": "/data/releasefile-cache",
    "symbolicator.enabled": true,
    "symbolicator.options": { url: "http://symbolicator:3021" },
    // Sentry's own internal project would otherwise record every transaction it serves.
    "transaction-events.force-disable-internal-project": true,
  };
  return deepMerge(base, opts.configYmlOverrides);
}

/**
 * config.yml: the secret key, file storage under /data, symbolicator and mail. The key is
 * single-quoted on its own line, as upstream writes it (its alphabet holds YAML indicators).
 */
export function sentryConfigYml(opts: SentryOptions, secretKey: string): string {
  const doc = new Document(sentryConfigYmlValues(opts, secretKey));
  const key = doc.get("system.secret-key", true);
  if (key instanceof Scalar) key.type = Scalar.QUOTE_SINGLE;
  doc.commentBefore = [
    " Sentry options for 23.12.0, generated by shctl from shctl.yaml.",
    " Options set here cannot be changed in the web UI. Keep system.secret-key secret: changing",
    " it signs everyone out. Add your own keys under configYmlOverrides in shctl.yaml.",
  ].join("\n");
  return doc.toString({ lineWidth: 0 });
}

/** The characters upstream draws secret keys from. */
export const SECRET_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789@#%^&*(-_=+)";

/** A fresh `system.secret-key`: 50 characters from SECRET_KEY_ALPHABET, uniformly, from the CSPRNG. */
export function generateSecretKey(length = 50): string {
  let key = "";
  // randomInt draws without modulo bias.
  for (let i = 0; i < length; i++) key += SECRET_KEY_ALPHABET[randomInt(SECRET_KEY_ALPHABET.length)];
  return key;
}

/**
 * The Sentry containers' entrypoint (mounted at /etc/sentry/entrypoint.sh): trusts the CA
 * certificates in config/certificates, then hands over to the image's own entrypoint.
 */
export function sentryEntrypointSh(): string {
  return [
    "#!/bin/bash",
    "# Generated by shctl. Runs as root before the image's entrypoint drops to the sentry user.",
    "set -e",
    "",
    "# Private CAs dropped into config/certificates (mounted here) become trusted system-wide;",
    "# the stack points requests, botocore and grpc at the system bundle.",
    'if [ -n "$(ls -A /usr/local/share/ca-certificates 2>/dev/null)" ]; then',
    "  update-ca-certificates",
    "fi",
    "",
    "# config.yml holds the secret key and is private (0600): hand it to the user Sentry runs as,",
    "# whatever uid the image gave it.",
    "if [ -f /etc/sentry/config.yml ] && id sentry >/dev/null 2>&1; then",
    "  chown sentry:sentry /etc/sentry/config.yml",
    "fi",
    "",
    'exec /docker-entrypoint.sh "$@"',
    "",
  ].join("\n");
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else in `over` replaces what `base` has. */
export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}
