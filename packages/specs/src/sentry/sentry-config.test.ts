import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseSentryOptions, type SentryOptionsInput } from "./options.js";
import {
  deepMerge,
  generateSecretKey,
  SECRET_KEY_ALPHABET,
  SENTRY_FEATURES_ON,
  sentryConfigYml,
  sentryConfPy,
  sentryEntrypointSh,
} from "./sentry-config.js";

const opts = (o: SentryOptionsInput = {}) => parseSentryOptions(o);

function pythonParses(source: string): void {
  execFileSync("python3", ["-c", "import ast,sys; ast.parse(sys.stdin.read())"], { input: source });
}

// Runs the generated file against a stand-in for `sentry.conf.server` (the names it extends)
// and returns the settings it ends up with, as JSON.
const STUB_SERVER = "SENTRY_OPTIONS = {}\nSENTRY_FEATURES = {}\nKAFKA_CLUSTERS = {}\n";
const DUMP = `
import json, runpy, sys
sys.path.insert(0, sys.argv[1])
s = runpy.run_path(sys.argv[2])
keys = ["DATABASES", "SENTRY_USE_BIG_INTS", "SENTRY_SINGLE_ORGANIZATION", "SENTRY_OPTIONS", "BROKER_URL",
        "CACHES", "SENTRY_CACHE", "DEFAULT_KAFKA_OPTIONS", "SENTRY_EVENTSTREAM", "SENTRY_EVENTSTREAM_OPTIONS",
        "KAFKA_CLUSTERS", "SENTRY_RATELIMITER", "SENTRY_BUFFER", "SENTRY_QUOTAS", "SENTRY_DIGESTS",
        "SENTRY_TSDB", "SENTRY_SEARCH", "SENTRY_RELEASE_HEALTH", "SENTRY_RELEASE_MONITOR", "SENTRY_WEB_HOST",
        "SENTRY_WEB_PORT", "SENTRY_WEB_OPTIONS", "SENTRY_FEATURES", "GEOIP_PATH_MMDB", "INTERNAL_SYSTEM_IPS",
        "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "USE_X_FORWARDED_HOST",
        "SOCIAL_AUTH_REDIRECT_IS_HTTPS", "CSP_REPORT_ONLY", "EXTRA_FROM_USER"]
print(json.dumps({k: s[k] for k in keys if k in s}, default=list))
`;

// biome-ignore lint/suspicious/noExplicitAny: settings are whatever Python produced
function runConf(source: string, env: Record<string, string> = {}): Record<string, any> {
  const dir = mkdtempSync(path.join(tmpdir(), "shctl-conf-"));
  mkdirSync(path.join(dir, "stub/sentry/conf"), { recursive: true });
  writeFileSync(path.join(dir, "stub/sentry/__init__.py"), "");
  writeFileSync(path.join(dir, "stub/sentry/conf/__init__.py"), "");
  writeFileSync(path.join(dir, "stub/sentry/conf/server.py"), STUB_SERVER);
  writeFileSync(path.join(dir, "sentry.conf.py"), source);
  const out = execFileSync(
    "python3",
    ["-c", DUMP, path.join(dir, "stub"), path.join(dir, "sentry.conf.py")],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      encoding: "utf8",
    },
  );
  return JSON.parse(out);
}

describe("sentryConfPy", () => {
  it("is valid Python", () => {
    pythonParses(sentryConfPy(opts()));
    pythonParses(
      sentryConfPy(opts({ redisPassword: "pw", https: { enabled: true }, publicUrl: "https://s.example" })),
    );
  });

  it("carries every setting FACTS.md lists, with upstream's values", () => {
    const s = runConf(sentryConfPy(opts()));
    expect(s.DATABASES.default).toEqual({
      ENGINE: "sentry.db.postgres",
      NAME: "postgres",
      USER: "postgres",
      PASSWORD: "",
      HOST: "postgres",
      PORT: "",
    });
    expect(s.SENTRY_USE_BIG_INTS).toBe(true);
    expect(s.SENTRY_SINGLE_ORGANIZATION).toBe(true);
    expect(s.SENTRY_OPTIONS["system.event-retention-days"]).toBe(90);
    expect(s.SENTRY_OPTIONS["redis.clusters"]).toEqual({
      default: { hosts: { "0": { host: "redis", port: 6379, db: 0 } } },
    });
    expect(s.BROKER_URL).toBe("redis://redis:6379/0");
    expect(s.CACHES.default).toEqual({
      BACKEND: "django.core.cache.backends.memcached.MemcachedCache",
      LOCATION: ["memcached:11211"],
      TIMEOUT: 3600,
      OPTIONS: { server_max_value_length: 1048576 },
    });
    expect(s.SENTRY_CACHE).toBe("sentry.cache.redis.RedisCache");
    const kafka = {
      "bootstrap.servers": "kafka:9092",
      "message.max.bytes": 50000000,
      "socket.timeout.ms": 1000,
    };
    expect(s.DEFAULT_KAFKA_OPTIONS).toEqual(kafka);
    expect(s.SENTRY_EVENTSTREAM).toBe("sentry.eventstream.kafka.KafkaEventStream");
    expect(s.SENTRY_EVENTSTREAM_OPTIONS).toEqual({ producer_configuration: kafka });
    expect(s.KAFKA_CLUSTERS.default).toEqual(kafka);
    expect(s.SENTRY_RATELIMITER).toBe("sentry.ratelimits.redis.RedisRateLimiter");
    expect(s.SENTRY_BUFFER).toBe("sentry.buffer.redis.RedisBuffer");
    expect(s.SENTRY_QUOTAS).toBe("sentry.quotas.redis.RedisQuota");
    expect(s.SENTRY_DIGESTS).toBe("sentry.digests.backends.redis.RedisBackend");
    expect(s.SENTRY_TSDB).toBe("sentry.tsdb.redissnuba.RedisSnubaTSDB");
    expect(s.SENTRY_SEARCH).toBe("sentry.search.snuba.EventsDatasetSnubaSearchBackend");
    expect(s.SENTRY_RELEASE_HEALTH).toBe("sentry.release_health.metrics.MetricsReleaseHealthBackend");
    expect(s.SENTRY_RELEASE_MONITOR).toBe(
      "sentry.release_health.release_monitor.metrics.MetricReleaseMonitorBackend",
    );
    expect(s.SENTRY_WEB_HOST).toBe("0.0.0.0");
    expect(s.SENTRY_WEB_PORT).toBe(9000);
    expect(s.SENTRY_WEB_OPTIONS).toMatchObject({
      http: "0.0.0.0:9000",
      protocol: "uwsgi",
      "uwsgi-socket": null,
      workers: 3,
      threads: 4,
      "limit-post": 209715200,
    });
    expect(s.SENTRY_OPTIONS["mail.list-namespace"]).toBe("localhost");
    expect(s.SENTRY_OPTIONS["mail.from"]).toBe("sentry@localhost");
    for (const f of SENTRY_FEATURES_ON) expect(s.SENTRY_FEATURES[f], f).toBe(true);
    for (const f of [
      "organizations:performance-view",
      "organizations:session-replay",
      "organizations:profiling",
      "organizations:issue-platform",
      "organizations:discover",
      "organizations:dashboards-mep",
      "organizations:metrics-extraction",
      "organizations:transaction-metrics-extraction",
    ]) {
      expect(s.SENTRY_FEATURES[f], f).toBe(true);
    }
    expect(s.SENTRY_FEATURES["projects:sample-events"]).toBe(false);
    expect(s.SENTRY_FEATURES["organizations:open-ai-suggestion"]).toBe(false);
    expect(s.GEOIP_PATH_MMDB).toBe("/geoip/GeoLite2-City.mmdb");
    expect(s.CSP_REPORT_ONLY).toBe(true);
    expect(Array.isArray(s.INTERNAL_SYSTEM_IPS)).toBe(true);
    for (const net of s.INTERNAL_SYSTEM_IPS) expect(net).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect(s.SECURE_PROXY_SSL_HEADER).toBeUndefined();
    expect(s.SENTRY_OPTIONS["system.url-prefix"]).toBeUndefined();
  });

  it("reads retention, mail host and sourcemap size from the environment first", () => {
    const o = opts({ eventRetentionDays: 30, mailHost: "example.com", maxSourcemapSize: "4M" });
    const fromOptions = runConf(sentryConfPy(o));
    expect(fromOptions.SENTRY_OPTIONS["system.event-retention-days"]).toBe(30);
    expect(fromOptions.SENTRY_OPTIONS["mail.from"]).toBe("sentry@example.com");
    expect(fromOptions.CACHES.default.OPTIONS.server_max_value_length).toBe(4 * 1024 * 1024);
    const fromEnv = runConf(sentryConfPy(o), {
      SENTRY_EVENT_RETENTION_DAYS: "7",
      SENTRY_MAIL_HOST: "mail.example.org",
      SENTRY_MAX_EXTERNAL_SOURCEMAP_SIZE: "512K",
    });
    expect(fromEnv.SENTRY_OPTIONS["system.event-retention-days"]).toBe(7);
    expect(fromEnv.SENTRY_OPTIONS["mail.list-namespace"]).toBe("mail.example.org");
    expect(fromEnv.CACHES.default.OPTIONS.server_max_value_length).toBe(512 * 1024);
  });

  it("applies the redis password to the cluster and the Celery broker", () => {
    const s = runConf(sentryConfPy(opts({ redisPassword: "Pa55-word_x" })));
    expect(s.SENTRY_OPTIONS["redis.clusters"].default.hosts["0"].password).toBe("Pa55-word_x");
    expect(s.BROKER_URL).toBe("redis://:Pa55-word_x@redis:6379/0");
  });

  it("has no password anywhere when none is set", () => {
    const text = sentryConfPy(opts());
    expect(text).not.toMatch(/"password"/);
    expect(text).not.toContain("@redis");
  });

  it("turns on proxy TLS settings and the URL prefix with https", () => {
    const s = runConf(
      sentryConfPy(opts({ https: { enabled: true }, publicUrl: "https://sentry.example.com" })),
    );
    expect(s.SECURE_PROXY_SSL_HEADER).toEqual(["HTTP_X_FORWARDED_PROTO", "https"]);
    expect(s.USE_X_FORWARDED_HOST).toBe(true);
    expect(s.SESSION_COOKIE_SECURE).toBe(true);
    expect(s.CSRF_COOKIE_SECURE).toBe(true);
    expect(s.SOCIAL_AUTH_REDIRECT_IS_HTTPS).toBe(true);
    expect(s.SENTRY_OPTIONS["system.url-prefix"]).toBe("https://sentry.example.com");
  });

  it("sets the URL prefix without https when a public URL is given", () => {
    const s = runConf(sentryConfPy(opts({ publicUrl: "http://10.0.0.5:9006" })));
    expect(s.SENTRY_OPTIONS["system.url-prefix"]).toBe("http://10.0.0.5:9006");
    expect(s.SECURE_PROXY_SSL_HEADER).toBeUndefined();
  });

  it("enables suggested fixes only with an OpenAI key", () => {
    const s = runConf(sentryConfPy(opts({ openaiApiKey: "sk-test" })));
    expect(s.SENTRY_FEATURES["organizations:open-ai-suggestion"]).toBe(true);
  });

  it("appends extraSentryConf last", () => {
    const text = sentryConfPy(
      opts({ extraSentryConf: 'EXTRA_FROM_USER = "yes"\nSENTRY_SINGLE_ORGANIZATION = False\n' }),
    );
    const s = runConf(text);
    expect(s.EXTRA_FROM_USER).toBe("yes");
    expect(s.SENTRY_SINGLE_ORGANIZATION).toBe(false);
  });
});

describe("sentryConfigYml", () => {
  it("is valid YAML with a 50-character secret key and upstream's options", () => {
    const key = generateSecretKey();
    const text = sentryConfigYml(opts(), key);
    const doc = parseYaml(text);
    expect(doc["system.secret-key"]).toBe(key);
    expect(doc["system.secret-key"]).toHaveLength(50);
    expect(text).toContain(`system.secret-key: '${key}'`);
    expect(doc).toMatchObject({
      "mail.host": "smtp",
      "system.internal-url-prefix": "http://web:9000",
      "filestore.backend": "filesystem",
      "filestore.options": { location: "/data/files" },
      "dsym.cache-path": "/data/dsym-cache",
      "releasefile.cache-path": "/data/releasefile-cache",
      "symbolicator.enabled": true,
      "symbolicator.options": { url: "http://symbolicator:3021" },
      "transaction-events.force-disable-internal-project": true,
    });
  });

  it("merges configYmlOverrides", () => {
    const doc = parseYaml(
      sentryConfigYml(
        opts({
          configYmlOverrides: {
            "mail.port": 587,
            "filestore.options": { extra: 1 },
            "symbolicator.enabled": false,
          },
        }),
        "k".repeat(50),
      ),
    );
    expect(doc["mail.port"]).toBe(587);
    expect(doc["filestore.options"]).toEqual({ location: "/data/files", extra: 1 });
    expect(doc["symbolicator.enabled"]).toBe(false);
  });

  it("deepMerge replaces non-objects and merges objects", () => {
    expect(deepMerge({ a: { b: 1, c: [1] }, d: 1 }, { a: { c: [2] }, d: { e: 1 } })).toEqual({
      a: { b: 1, c: [2] },
      d: { e: 1 },
    });
  });
});

describe("generateSecretKey", () => {
  it("draws 50 characters from upstream's alphabet, differently each time", () => {
    const keys = Array.from({ length: 20 }, () => generateSecretKey());
    for (const k of keys) {
      expect(k).toHaveLength(50);
      for (const c of k) expect(SECRET_KEY_ALPHABET).toContain(c);
    }
    expect(new Set(keys).size).toBe(20);
  });
});

describe("sentryEntrypointSh", () => {
  it("trusts custom CAs, then runs the image's entrypoint", () => {
    const sh = sentryEntrypointSh();
    expect(sh.startsWith("#!/bin/bash\n")).toBe(true);
    expect(sh).toContain("update-ca-certificates");
    expect(sh).toContain('exec /docker-entrypoint.sh "$@"');
    execFileSync("bash", ["-n"], { input: sh });
  });
});
