import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseSentryOptions, type SentryOptionsInput } from "./options.js";
import {
  clickhouseConfigXml,
  nginxConf,
  postgresEntrypointSh,
  postgresInitHbaSh,
  redisConf,
  relayConfigYml,
  snubaEnv,
  symbolicatorConfigYml,
  TLS_CERT_PATH,
  TLS_KEY_PATH,
} from "./service-configs.js";

const opts = (o: SentryOptionsInput = {}) => parseSentryOptions(o);
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

describe("relayConfigYml", () => {
  it("is relay's processing config, as upstream's example", () => {
    expect(parseYaml(relayConfigYml(opts()))).toEqual({
      relay: { upstream: "http://web:9000/", host: "0.0.0.0", port: 3000 },
      logging: { level: "WARN" },
      processing: {
        enabled: true,
        kafka_config: [
          { name: "bootstrap.servers", value: "kafka:9092" },
          { name: "message.max.bytes", value: "50000000" },
        ],
        redis: "redis://redis:6379",
        geoip_path: "/geoip/GeoLite2-City.mmdb",
      },
    });
  });

  it("puts the redis password in relay's redis URL when set", () => {
    expect(parseYaml(relayConfigYml(opts({ redisPassword: "pw-1" }))).processing.redis).toBe(
      "redis://:pw-1@redis:6379",
    );
  });
});

describe("snubaEnv", () => {
  it("is upstream's shared snuba environment", () => {
    expect(snubaEnv(opts({ eventRetentionDays: 30 }))).toEqual({
      SNUBA_SETTINGS: "self_hosted",
      CLICKHOUSE_HOST: "clickhouse",
      DEFAULT_BROKERS: "kafka:9092",
      REDIS_HOST: "redis",
      UWSGI_MAX_REQUESTS: "10000",
      UWSGI_DISABLE_LOGGING: "true",
      SENTRY_EVENT_RETENTION_DAYS: "30",
    });
  });

  it("adds REDIS_PASSWORD only when a password is set", () => {
    expect(snubaEnv(opts({ redisPassword: "pw-2" })).REDIS_PASSWORD).toBe("pw-2");
    expect(snubaEnv(opts())).not.toHaveProperty("REDIS_PASSWORD");
  });
});

describe("redisConf", () => {
  it("sets requirepass", () => {
    expect(redisConf(opts({ redisPassword: "pw-3" }))).toMatch(/^requirepass pw-3$/m);
    expect(redisConf(opts())).not.toMatch(/^requirepass/m);
  });
});

describe("nginxConf", () => {
  it("proxies plain HTTP on port 80 to relay and web", () => {
    const conf = nginxConf(opts());
    expect(conf).toMatch(/^\s*listen 80;$/m);
    expect(conf).not.toMatch(/listen 443/);
    expect(conf).not.toMatch(/ssl_certificate/);
    expect(conf).not.toMatch(/return 30\d/);
    expect(conf).toContain("server relay:3000;");
    expect(conf).toContain("server web:9000;");
    expect(conf).toContain("location /api/store/ {");
    expect(conf).toContain("location ~ ^/api/[1-9]\\d*/ {");
    expect(conf).toContain("client_max_body_size 100m;");
    expect(conf).toContain("proxy_set_header X-Forwarded-Proto $scheme;");
  });

  it("serves TLS on 443 with the mounted cert and key, and redirects HTTP", () => {
    const conf = nginxConf(opts({ https: { enabled: true } }));
    expect(conf).toMatch(/^\s*listen 443 ssl;$/m);
    expect(conf).toContain(`ssl_certificate ${TLS_CERT_PATH};`);
    expect(conf).toContain(`ssl_certificate_key ${TLS_KEY_PATH};`);
    expect(conf).toMatch(/^\s*listen 80;$/m);
    expect(conf).toContain("return 308 https://$host$request_uri;");
    expect(conf).toContain("proxy_set_header Host $http_host;");
  });

  it("redirects to the HTTPS port when it is not 443, or to the public URL", () => {
    expect(nginxConf(opts({ https: { enabled: true, port: 8443 } }))).toContain(
      "return 308 https://$host:8443$request_uri;",
    );
    expect(
      nginxConf(
        opts({ https: { enabled: true, port: 8443 }, publicUrl: "https://sentry.example.com:8443/" }),
      ),
    ).toContain("return 308 https://sentry.example.com:8443$request_uri;");
  });

  it.skipIf(!has("nginx") || !has("openssl"))(
    "passes `nginx -t` (backend names pointed at localhost)",
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), "shctl-nginx-"));
      mkdirSync(path.join(dir, "logs"));
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=test",
          "-keyout",
          path.join(dir, "key.pem"),
          "-out",
          path.join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      for (const [name, o] of [
        ["http", opts()],
        ["https", opts({ https: { enabled: true, port: 8443 } })],
      ] as const) {
        // Outside the stack network the backend names do not resolve and the nginx user may not exist.
        const conf = nginxConf(o)
          .replace("relay:3000", "127.0.0.1:3000")
          .replace("web:9000", "127.0.0.1:9000")
          .replace(/^user nginx;$/m, "")
          .replaceAll(TLS_CERT_PATH, path.join(dir, "cert.pem"))
          .replaceAll(TLS_KEY_PATH, path.join(dir, "key.pem"))
          .replaceAll("/var/log/nginx/", `${dir}/logs/`)
          .replace("/var/run/nginx.pid", path.join(dir, `${name}.pid`));
        writeFileSync(path.join(dir, `${name}.conf`), conf);
        const r = spawnSync("nginx", ["-t", "-p", dir, "-c", path.join(dir, `${name}.conf`)], {
          encoding: "utf8",
        });
        expect(r.stderr, name).toContain("test is successful");
      }
    },
  );
});

describe("symbolicatorConfigYml", () => {
  it("matches upstream's example", () => {
    expect(parseYaml(symbolicatorConfigYml())).toEqual({
      cache_dir: "/data",
      bind: "0.0.0.0:3021",
      logging: { level: "warn" },
      metrics: { statsd: null },
      sentry_dsn: null,
    });
  });
});

describe("clickhouseConfigXml", () => {
  it("is well-formed XML under <yandex> with upstream's overrides", () => {
    const xml = clickhouseConfigXml();
    const summary = execFileSync(
      "python3",
      [
        "-c",
        [
          "import json, sys, xml.etree.ElementTree as ET",
          "root = ET.fromstring(sys.stdin.read())",
          "print(json.dumps({'root': root.tag,",
          " 'removed': sorted(e.tag for e in root if e.get('remove') == 'remove'),",
          " 'include': root.find('max_server_memory_usage_to_ram_ratio/include').get('from_env'),",
          " 'level': root.findtext('logger/level'), 'console': root.findtext('logger/console'),",
          " 'log_queries': root.findtext('profiles/default/log_queries'),",
          " 'log_query_threads': root.findtext('profiles/default/log_query_threads'),",
          " 'mixed': root.findtext('merge_tree/enable_mixed_granularity_parts')}))",
        ].join("\n"),
      ],
      { input: xml, encoding: "utf8" },
    );
    expect(JSON.parse(summary)).toEqual({
      root: "yandex",
      removed: [
        "asynchronous_metric_log",
        "metric_log",
        "part_log",
        "query_log",
        "query_thread_log",
        "session_log",
        "text_log",
        "trace_log",
      ],
      include: "MAX_MEMORY_USAGE_RATIO",
      level: "warning",
      console: "true",
      log_queries: "0",
      log_query_threads: "0",
      mixed: "1",
    });
  });
});

describe("postgres scripts", () => {
  it("are valid bash that add the replication rule and hand over to the stock entrypoint", () => {
    const entry = postgresEntrypointSh();
    const hba = postgresInitHbaSh();
    for (const sh of [entry, hba]) execFileSync("bash", ["-n"], { input: sh });
    expect(entry).toContain("cp /opt/sentry/init_hba.sh /docker-entrypoint-initdb.d/init_hba.sh");
    expect(entry).toContain("/opt/sentry/wal2json/wal2json.so");
    expect(entry).toContain('exec /usr/local/bin/docker-entrypoint.sh "$@"');
    expect(hba).toContain('echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"');
  });

  it("adds the rule to an existing pg_hba.conf once, and starts without wal2json", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "shctl-pg-"));
    const pgdata = path.join(dir, "data");
    mkdirSync(pgdata);
    writeFileSync(path.join(pgdata, "pg_hba.conf"), "local all all trust\n");
    const hbaScript = path.join(dir, "init_hba.sh");
    writeFileSync(hbaScript, postgresInitHbaSh(), { mode: 0o755 });
    // Run the wrapper with its fixed paths pointed into the temp dir and the final exec stubbed.
    const wrapper = postgresEntrypointSh()
      .replace("cp /opt/sentry/init_hba.sh /docker-entrypoint-initdb.d/init_hba.sh", ":")
      .replaceAll("/opt/sentry/init_hba.sh", hbaScript)
      .replace("/opt/sentry/wal2json", path.join(dir, "wal2json"))
      .replace('exec /usr/local/bin/docker-entrypoint.sh "$@"', 'echo "handed over: $*"');
    for (let i = 0; i < 2; i++) {
      const r = spawnSync("bash", ["-c", wrapper, "entrypoint", "postgres", "-c", "x=y"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PGDATA: pgdata },
        encoding: "utf8",
      });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("handed over: postgres -c x=y");
      expect(r.stderr).toContain("wal2json.so not found");
    }
    const hba = execFileSync("cat", [path.join(pgdata, "pg_hba.conf")], { encoding: "utf8" });
    expect(hba.match(/^host replication all all trust$/gm)).toHaveLength(1);
  }, 30_000); // two bash runs: slow on a loaded 2-core machine
});
