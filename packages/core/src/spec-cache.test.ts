import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpecError } from "./errors.js";
import { loadStack } from "./load.js";
import { defaultCacheDir } from "./spec-cache.js";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "shctl-cache-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let count = 0;
/** A fresh project dir with `stack.yaml`, and a fresh cache dir. */
async function setup(text: string): Promise<{ file: string; cacheDir: string }> {
  const dir = path.join(tmp, `case-${++count}`);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, "stack.yaml");
  await writeFile(file, text);
  return { file, cacheDir: path.join(dir, "cache") };
}

async function entries(cacheDir: string): Promise<string[]> {
  const dir = path.join(cacheDir, "stacks");
  return (await readdir(dir).catch(() => [])).map((n) => path.join(dir, n));
}

const STACK = `
name: shop
services:
  db:
    image: postgres:16
    env:
      POSTGRES_PASSWORD: { fromEnv: DB_PASSWORD, secret: true }
      MODE: "fast"
    mounts:
      - { source: db, target: /var/lib/postgresql/data, owner: "999:999", mode: "0700" }
    healthcheck: { test: pg_isready, interval: 5s }
  web:
    image: shop-web:1
    command: gunicorn "shop.wsgi:app" --bind '0.0.0.0:8000'
    ports: ["8080:8000"]
    dependsOn: { db: { condition: healthy } }
`;

/** A loaded (so cached) STACK whose cache entry was then edited to name `image` for web. */
async function cachedWithImage(image: string): Promise<{ file: string; cacheDir: string }> {
  const made = await setup(STACK);
  await loadStack(made.file, { env: { DB_PASSWORD: "pw-x" }, cacheDir: made.cacheDir });
  const [entry] = await entries(made.cacheDir);
  const text = await readFile(entry as string, "utf8");
  await writeFile(entry as string, text.replace('"shop-web:1"', JSON.stringify(image)));
  return made;
}

describe("cache of validated stack files", () => {
  it("gives the same stack from the cache as from validation, in a private entry", async () => {
    const { file, cacheDir } = await setup(STACK);
    const env = { DB_PASSWORD: "pw-1" };
    const first = await loadStack(file, { env, cacheDir });
    const [entry, ...more] = await entries(cacheDir);
    expect(more).toEqual([]);
    expect(entry).toBeDefined();
    expect((await stat(entry as string)).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(cacheDir, "stacks"))).mode & 0o777).toBe(0o700);
    const second = await loadStack(file, { env, cacheDir });
    expect(second).toEqual(first);
    expect(second.services.web?.command).toEqual(["gunicorn", "shop.wsgi:app", "--bind", "0.0.0.0:8000"]);
    expect(second.services.db?.healthcheck?.intervalMs).toBe(5000);
  });

  it("is used on a hit: what the entry holds is what loads", async () => {
    const { file, cacheDir } = await cachedWithImage("from-the-cache:1");
    const stack = await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir });
    expect(stack.images["from-the-cache:1"]).toBeDefined();
  });

  it("holds env variable names, never their values; values resolve on every load", async () => {
    const { file, cacheDir } = await setup(STACK);
    await loadStack(file, { env: { DB_PASSWORD: "first-secret-value" }, cacheDir });
    const [entry] = await entries(cacheDir);
    const text = await readFile(entry as string, "utf8");
    expect(text).toContain("DB_PASSWORD");
    expect(text).not.toContain("first-secret-value");
    const again = await loadStack(file, { env: { DB_PASSWORD: "second-value" }, cacheDir });
    expect(again.services.db?.env.find((e) => e.name === "POSTGRES_PASSWORD")?.value).toBe("second-value");
    expect(again.secrets).toEqual(["second-value"]);
    // Resolution problems are found on a hit too.
    const err = await loadStack(file, { env: {}, cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).issues[0]?.message).toContain("DB_PASSWORD is not set");
  });

  it("misses when the file changes, and replaces the file's one entry", async () => {
    const { file, cacheDir } = await setup(STACK);
    await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir });
    await writeFile(file, STACK.replace("shop-web:1", "shop-web:2"));
    const stack = await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir });
    expect(stack.images["shop-web:2"]).toBeDefined();
    expect(await entries(cacheDir)).toHaveLength(1);
  });

  it("keeps no invalid stack: an error is found on every load", async () => {
    const { file, cacheDir } = await setup(STACK.replace("interval: 5s", "interval: soon"));
    for (let i = 0; i < 2; i++) {
      const err = await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SpecError);
      expect((err as SpecError).issues[0]?.path).toEqual(["services", "db", "healthcheck", "interval"]);
    }
    expect(await entries(cacheDir)).toEqual([]);
  });

  it("ignores a damaged entry and rewrites it", async () => {
    const { file, cacheDir } = await setup(STACK);
    await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir });
    const [entry] = await entries(cacheDir);
    await writeFile(entry as string, '{"key": "trunc');
    const stack = await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir });
    expect(stack.images["shop-web:1"]).toBeDefined();
    expect(JSON.parse(await readFile(entry as string, "utf8")).spec.name).toBe("shop");
  });

  it("writes nothing with cacheDir: false, and loads fine from an unwritable place", async () => {
    const { file, cacheDir } = await setup(STACK);
    await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir: false });
    expect(await entries(cacheDir)).toEqual([]);
    await writeFile(cacheDir, "a file where the cache dir would be");
    const stack = await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir });
    expect(stack.name).toBe("shop");
  });

  it("removes entries not rewritten for 30 days when it writes one", async () => {
    const a = await setup(STACK);
    await loadStack(a.file, { env: { DB_PASSWORD: "pw-x" }, cacheDir: a.cacheDir });
    const [old] = await entries(a.cacheDir);
    const longAgo = new Date(Date.now() - 31 * 24 * 3600_000);
    await utimes(old as string, longAgo, longAgo);
    const other = path.join(path.dirname(a.file), "other.yaml");
    await writeFile(other, STACK.replace("name: shop", "name: other"));
    await loadStack(other, { env: { DB_PASSWORD: "pw-x" }, cacheDir: a.cacheDir });
    const left = await entries(a.cacheDir);
    expect(left).toHaveLength(1);
    expect(left).not.toContain(old);
  });

  it("uses no cache dir that others may write to", async () => {
    const { file, cacheDir } = await cachedWithImage("planted:1");
    await chmod(path.join(cacheDir, "stacks"), 0o777);
    const stack = await loadStack(file, { env: { DB_PASSWORD: "pw-x" }, cacheDir });
    expect(stack.images["planted:1"]).toBeUndefined();
    expect(stack.images["shop-web:1"]).toBeDefined();
  });

  it("lives under XDG_CACHE_HOME or ~/.cache, and SHCTL_NO_CACHE turns it off", () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/x/cache" })).toBe("/x/cache/shctl");
    expect(defaultCacheDir({})).toBe(path.join(os.homedir(), ".cache", "shctl"));
    // The XDG spec: a relative path is ignored.
    expect(defaultCacheDir({ XDG_CACHE_HOME: "relative/dir" })).toBe(
      path.join(os.homedir(), ".cache", "shctl"),
    );
    expect(defaultCacheDir({ SHCTL_NO_CACHE: "1" })).toBe(undefined);
    expect(defaultCacheDir({ SHCTL_NO_CACHE: "0", XDG_CACHE_HOME: "/x" })).toBe("/x/shctl");
  });
});
