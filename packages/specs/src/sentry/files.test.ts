import { describe, expect, it } from "vitest";
import { renderConfigFiles } from "./files.js";
import { parseSentryOptions } from "./options.js";

const KEY = "a".repeat(50);
const text = (c: string | Uint8Array) => (typeof c === "string" ? c : Buffer.from(c).toString("latin1"));

describe("renderConfigFiles", () => {
  it("renders every config file the stack mounts", () => {
    const paths = renderConfigFiles(parseSentryOptions({}), KEY).map((f) => f.path);
    expect(paths.sort()).toEqual(
      [
        "config/clickhouse/config.xml",
        "config/geoip/GeoLite2-City.mmdb",
        "config/nginx/nginx.conf",
        "config/postgres/init_hba.sh",
        "config/postgres/postgres-entrypoint.sh",
        "config/relay/config.yml",
        "config/sentry/config.yml",
        "config/sentry/entrypoint.sh",
        "config/sentry/sentry.conf.py",
        "config/symbolicator/config.yml",
      ].sort(),
    );
  });

  it("adds redis.conf and locks down relay's config when a redis password is set", () => {
    const files = renderConfigFiles(parseSentryOptions({ redisPassword: "pw-xyz" }), KEY);
    const byPath = new Map(files.map((f) => [f.path, f]));
    expect(byPath.get("config/redis/redis.conf")).toMatchObject({
      mode: 0o600,
      owner: { uid: 999, gid: 1000 },
    });
    expect(byPath.get("config/relay/config.yml")).toMatchObject({
      mode: 0o600,
      owner: { uid: 10001, gid: 10001 },
    });
    const withPassword = files.filter((f) => text(f.content).includes("pw-xyz")).map((f) => f.path);
    expect(withPassword.sort()).toEqual([
      "config/redis/redis.conf",
      "config/relay/config.yml",
      "config/sentry/sentry.conf.py",
    ]);
  });

  it("mentions no password anywhere when none is set", () => {
    for (const f of renderConfigFiles(parseSentryOptions({}), KEY)) {
      const t = text(f.content);
      expect(t, f.path).not.toMatch(/requirepass|REDIS_PASSWORD|"password":|redis:\/\/:/);
    }
  });

  it("is deterministic for the same options and key", () => {
    const o = parseSentryOptions({ https: { enabled: true } });
    expect(JSON.stringify(renderConfigFiles(o, KEY))).toBe(JSON.stringify(renderConfigFiles(o, KEY)));
  });

  it("marks scripts executable and the GeoIP database as maintained elsewhere", () => {
    for (const f of renderConfigFiles(parseSentryOptions({}), KEY)) {
      if (f.path.endsWith(".sh")) expect(f.mode, f.path).toBe(0o755);
    }
    const geo = renderConfigFiles(parseSentryOptions({}), KEY).find((f) => f.path.endsWith(".mmdb"));
    expect(geo?.userOwned).toBe(true);
  });
});
