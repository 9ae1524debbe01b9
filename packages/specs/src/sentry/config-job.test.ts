import { mkdtempSync } from "node:fs";
import { appendFile, chown, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { JobContext } from "@sh/core";
import { describe, expect, it } from "vitest";
import { WRITTEN_RECORD, writeConfig } from "./jobs.js";
import { parseSentryOptions } from "./options.js";

/** Runs the config job's function on a fresh or given data root; returns its log lines. */
async function run(dataRoot: string, options: Record<string, unknown> = {}): Promise<string[]> {
  const lines: string[] = [];
  const ctx = {
    dataRoot,
    log: (l: string) => lines.push(l),
    // As root on the host: reads and chowns directly (the engine-side fallbacks are tested for real).
    readFile: (f: string) => readFile(f).catch(() => undefined),
    chown: (f: string, uid: number, gid: number) => chown(f, uid, gid),
  } as unknown as JobContext;
  await writeConfig(ctx, parseSentryOptions(options, "shctl.yaml"), path.dirname(dataRoot));
  return lines;
}

const read = (root: string, p: string) => readFile(path.join(root, p), "utf8");
const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

describe("the config job's files", () => {
  it("writes every file once, then leaves them alone while the options stay the same", async () => {
    const root = path.join(mkdtempSync(path.join(tmpdir(), "shctl-conf-")), "sentrydata");
    const first = await run(root);
    expect(first).toContain("wrote config/sentry/sentry.conf.py");
    const record = JSON.parse(await read(root, WRITTEN_RECORD)) as Record<string, string>;
    expect(Object.keys(record)).toContain("config/nginx/nginx.conf");
    expect(await run(root)).toEqual([]);
  });

  it("replaces a file it wrote when the options change, keeping the secret key", async () => {
    const root = path.join(mkdtempSync(path.join(tmpdir(), "shctl-conf-")), "sentrydata");
    await run(root);
    const key = (await read(root, "config/sentry/config.yml")).match(/secret-key: (.*)/)?.[1];
    const log = await run(root, { redisPassword: "s3cret-pw" });
    expect(log).toContain(
      "updated config/sentry/sentry.conf.py (the options changed; you had not edited it)",
    );
    expect(log).toContain("wrote config/redis/redis.conf");
    expect(await read(root, "config/sentry/sentry.conf.py")).toContain("s3cret-pw");
    expect(await read(root, "config/relay/config.yml")).toContain("s3cret-pw");
    expect((await read(root, "config/sentry/config.yml")).match(/secret-key: (.*)/)?.[1]).toBe(key);
    expect(await exists(path.join(root, "config/sentry/sentry.conf.py.shctl-new"))).toBe(false);
    // Mode follows the new content: relay's config now holds a secret.
    expect((await stat(path.join(root, "config/relay/config.yml"))).mode & 0o777).toBe(0o600);
  });

  it("keeps a file you edited and writes the new version beside it", async () => {
    const root = path.join(mkdtempSync(path.join(tmpdir(), "shctl-conf-")), "sentrydata");
    await run(root);
    await appendFile(path.join(root, "config/sentry/sentry.conf.py"), "\n# mine\n");
    const log = await run(root, { redisPassword: "s3cret-pw" });
    expect(log).toContain(
      "kept your config/sentry/sentry.conf.py; what shctl would generate now is in config/sentry/sentry.conf.py.shctl-new",
    );
    expect(await read(root, "config/sentry/sentry.conf.py")).toContain("# mine");
    expect(await read(root, "config/sentry/sentry.conf.py.shctl-new")).toContain("s3cret-pw");
    // Files you did not touch follow the options.
    expect(await read(root, "config/relay/config.yml")).toContain("s3cret-pw");
    // Take the new version: the leftover goes, and the file is shctl's again for later changes.
    const conf = path.join(root, "config/sentry/sentry.conf.py");
    await rename(`${conf}.shctl-new`, conf);
    expect(await run(root, { redisPassword: "s3cret-pw" })).toEqual([]);
    expect(await exists(`${conf}.shctl-new`)).toBe(false);
    expect(await run(root, { redisPassword: "other-pw" })).toContain(
      "updated config/sentry/sentry.conf.py (the options changed; you had not edited it)",
    );
  });

  it("treats a file it has no record of as yours", async () => {
    const root = path.join(mkdtempSync(path.join(tmpdir(), "shctl-conf-")), "sentrydata");
    await run(root);
    await rm(path.join(root, WRITTEN_RECORD));
    const log = await run(root, { redisPassword: "s3cret-pw" });
    expect(log).toContain(
      "kept your config/sentry/sentry.conf.py; what shctl would generate now is in config/sentry/sentry.conf.py.shctl-new",
    );
  });
});
