import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  ENV_OVERRIDES,
  IMAGE_KEYS,
  loadSentryOptions,
  parseSentryOptions,
  SentryOptionsError,
  sizeToBytes,
} from "./options.js";

function projectWith(yaml?: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "shctl-opts-"));
  if (yaml !== undefined) writeFileSync(path.join(dir, "shctl.yaml"), yaml);
  return dir;
}

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SentryOptionsError);
    return (err as SentryOptionsError).issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  }
  throw new Error("expected a SentryOptionsError");
}

async function asyncIssuesOf(p: Promise<unknown>): Promise<{ path: string; message: string }[]> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SentryOptionsError);
    return (err as SentryOptionsError).issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  }
  throw new Error("expected a SentryOptionsError");
}

describe("SentryOptions defaults", () => {
  it("fills every default from an empty document", () => {
    const o = parseSentryOptions({});
    expect(o).toMatchObject({
      stackName: "sentry-self-hosted",
      httpPort: 9006,
      bindAddress: "0.0.0.0",
      dataRoot: "./sentrydata",
      profile: "full",
      https: { enabled: false, port: 443, certFile: "tls/fullchain.pem", keyFile: "tls/privkey.pem" },
      images: {},
      eventRetentionDays: 90,
      maxSourcemapSize: "1M",
      healthcheck: { interval: "30s", timeout: "1m30s", retries: 10 },
      clickhouseMemoryRatio: 0.3,
      extraSentryConf: "",
      configYmlOverrides: {},
    });
    expect(o.redisPassword).toBeUndefined();
    expect(o.mailHost).toBeUndefined();
    expect(o.admin).toBeUndefined();
    expect(o.registryMirror).toBeUndefined();
  });

  it("accepts a full document", () => {
    const o = parseSentryOptions({
      httpPort: 8080,
      redisPassword: "s3cret-pw",
      https: { enabled: true, port: 8443 },
      publicUrl: "https://sentry.example.com/",
      registryMirror: "hub.example.dev",
      images: { sentry: "my/sentry:1" },
      mailHost: "mail.example.com",
      admin: { email: "admin@example.com", password: "pw" },
    });
    expect(o.publicUrl).toBe("https://sentry.example.com");
    expect(o.images.sentry).toBe("my/sentry:1");
  });
});

describe("SentryOptions validation", () => {
  it("rejects unknown keys with their path, at any depth", () => {
    const issues = issuesOf(() =>
      parseSentryOptions({ httpPortt: 1, https: { enabeld: true }, healthcheck: { x: 1 } }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: "httpPortt", message: "unknown field" },
        { path: "https.enabeld", message: "unknown field" },
        { path: "healthcheck.x", message: "unknown field" },
      ]),
    );
  });

  it("rejects unknown image keys", () => {
    const issues = issuesOf(() => parseSentryOptions({ images: { sentri: "x" } }));
    expect(issues[0]?.path).toBe("images.sentri");
    expect(issues[0]?.message).toContain("unknown image key");
  });

  it("takes durations in core's grammar only: what passes here also passes the stack", () => {
    for (const interval of ["500000us", "30000000000ns", "1d", "30"]) {
      const issues = issuesOf(() => parseSentryOptions({ healthcheck: { interval } }));
      expect(issues.map((i) => i.path)).toEqual(["healthcheck.interval"]);
    }
    for (const interval of ["500ms", "1m30s", "1.5s"])
      expect(parseSentryOptions({ healthcheck: { interval } }).healthcheck.interval).toBe(interval);
  });

  it("reports every problem at once, each with its path", () => {
    const issues = issuesOf(() =>
      parseSentryOptions({
        httpPort: 70000,
        bindAddress: "localhost",
        profile: "tiny",
        maxSourcemapSize: "1 MB",
        healthcheck: { interval: "soon" },
        redisPassword: "has space",
        admin: { email: "nope", password: "x" },
        configYmlOverrides: { "system.secret-key": "x" },
      }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        "admin.email",
        "bindAddress",
        "configYmlOverrides",
        "healthcheck.interval",
        "httpPort",
        "maxSourcemapSize",
        "profile",
        "redisPassword",
      ].sort(),
    );
  });

  it("refuses sourcemap sizes memcached cannot hold", () => {
    expect(issuesOf(() => parseSentryOptions({ maxSourcemapSize: "64M" }))[0]?.path).toBe("maxSourcemapSize");
    expect(parseSentryOptions({ maxSourcemapSize: "32M" }).maxSourcemapSize).toBe("32M");
  });

  it("wants an https public URL when https is on", () => {
    const issues = issuesOf(() =>
      parseSentryOptions({ https: { enabled: true }, publicUrl: "http://sentry.example.com" }),
    );
    expect(issues).toEqual([{ path: "publicUrl", message: "must be an https:// URL when https is enabled" }]);
  });

  it("keeps TLS files inside the project dir", () => {
    const issues = issuesOf(() =>
      parseSentryOptions({ https: { certFile: "/etc/ssl/a.pem", keyFile: "../k.pem" } }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(["https.certFile", "https.keyFile"]);
  });

  it("parses sizes", () => {
    expect(sizeToBytes("1M")).toBe(1048576);
    expect(sizeToBytes("512k")).toBe(524288);
  });
});

describe("loadSentryOptions", () => {
  it("uses defaults when there is no shctl.yaml", async () => {
    const o = await loadSentryOptions(projectWith(), {});
    expect(o.httpPort).toBe(9006);
  });

  it("reads shctl.yaml and lets the environment override it", async () => {
    const dir = projectWith("httpPort: 8000\nredisPassword: fromfile\nhealthcheck:\n  retries: 3\n");
    const o = await loadSentryOptions(dir, {
      SHCTL_HTTP_PORT: "9100",
      SHCTL_HEALTHCHECK_INTERVAL: "10s",
      SHCTL_IMAGE_SNUBA: "mirror/snuba:23.12.0",
      SHCTL_ADMIN_EMAIL: "a@example.com",
      SHCTL_ADMIN_PASSWORD: "pw",
      SHCTL_PROFILE: "", // empty: ignored
    });
    expect(o.httpPort).toBe(9100);
    expect(o.redisPassword).toBe("fromfile");
    expect(o.healthcheck).toEqual({ interval: "10s", timeout: "1m30s", retries: 3 });
    expect(o.images.snuba).toBe("mirror/snuba:23.12.0");
    expect(o.admin).toEqual({ email: "a@example.com", password: "pw" });
    expect(o.profile).toBe("full");
  });

  it("turns the redis password off with an empty SHCTL_REDIS_PASSWORD", async () => {
    const o = await loadSentryOptions(projectWith("redisPassword: fromfile\n"), { SHCTL_REDIS_PASSWORD: "" });
    expect(o.redisPassword).toBeUndefined();
  });

  it("names the variable a bad value came from", async () => {
    const issues = await asyncIssuesOf(
      loadSentryOptions(projectWith(), { SHCTL_HTTP_PORT: "eighty", SHCTL_HTTPS: "maybe" }),
    );
    expect(issues.find((i) => i.path === "httpPort")?.message).toContain("(from SHCTL_HTTP_PORT)");
    expect(issues.find((i) => i.path === "https.enabled")?.message).toContain("(from SHCTL_HTTPS)");
  });

  it("rejects unknown keys in the file with their path", async () => {
    const issues = await asyncIssuesOf(
      loadSentryOptions(projectWith("https:\n  enabled: true\n  cert: x\n"), {}),
    );
    expect(issues).toContainEqual({ path: "https.cert", message: "unknown field" });
  });

  it("reports YAML syntax errors and non-mapping documents", async () => {
    const bad = await asyncIssuesOf(loadSentryOptions(projectWith("httpPort: [1,\n"), {}));
    expect(bad[0]?.message).toMatch(/not valid YAML/);
    const list = await asyncIssuesOf(loadSentryOptions(projectWith("- 1\n- 2\n"), {}));
    expect(list[0]?.message).toMatch(/mapping/);
  });

  it("checks that the TLS files exist when https is on", async () => {
    const dir = projectWith("https:\n  enabled: true\n");
    const issues = await asyncIssuesOf(loadSentryOptions(dir, {}));
    expect(issues.map((i) => i.path)).toEqual(["https.certFile", "https.keyFile"]);
    mkdirSync(path.join(dir, "tls"));
    writeFileSync(path.join(dir, "tls/fullchain.pem"), "cert");
    writeFileSync(path.join(dir, "tls/privkey.pem"), "key");
    expect((await loadSentryOptions(dir, {})).https.enabled).toBe(true);
  });

  it("has an override variable for every image key", () => {
    for (const k of IMAGE_KEYS)
      expect(ENV_OVERRIDES[`SHCTL_IMAGE_${k.toUpperCase()}`]?.path).toEqual(["images", k]);
  });
});
