import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIssuePath, SpecError, type SpecIssue } from "./errors.js";
import { loadStack, type StackFactory } from "./load.js";
import { splitCommand } from "./resolve/index.js";
import type { StackInput } from "./schema.js";
import { validateStack } from "./validate.js";

const PROJECT = "/srv/shop";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "shctl-load-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let fileCount = 0;
/** Writes `text` to a fresh directory under the temp dir and returns the file's path. */
async function stackFile(text: string, name = "stack.yaml"): Promise<string> {
  const dir = path.join(tmp, `case-${++fileCount}`);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

function validate(raw: unknown, opts: { profile?: string; env?: Record<string, string> } = {}) {
  return validateStack(raw, {
    label: "test-stack",
    projectDir: PROJECT,
    profile: opts.profile,
    env: opts.env ?? {},
  });
}

function specError(fn: () => unknown): SpecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).exitCode).toBe(2);
    return err as SpecError;
  }
  throw new Error("expected a SpecError, but the stack was accepted");
}

async function specErrorAsync(p: Promise<unknown>): Promise<SpecError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SpecError);
  expect((err as SpecError).exitCode).toBe(2);
  return err as SpecError;
}

function issuesOf(raw: unknown, opts: { profile?: string; env?: Record<string, string> } = {}): SpecIssue[] {
  return specError(() => validate(raw, opts)).issues;
}

/** A stack with one service, merged with `extra` services. */
function withServices(services: StackInput["services"], extra: Partial<StackInput> = {}): StackInput {
  return { name: "shop", services, ...extra };
}

describe("loadStack: valid YAML", () => {
  const yaml = `
name: shop
dataRoot: ./data
images:
  app:
    ref: shop-app:latest
    build:
      context: ./app
      args: { VERSION: "1.2" }
services:
  db:
    image: postgres:16
    env:
      POSTGRES_PASSWORD: { fromEnv: DB_PASSWORD, secret: true }
      POSTGRES_DB: shop
      MAX_CONN: 100
      FSYNC: false
    mounts:
      - { source: db, target: /var/lib/postgresql/data, owner: "999:999", mode: "0700" }
      - { type: tmpfs, target: /tmp, sizeBytes: 1048576 }
    healthcheck:
      test: pg_isready -U postgres
      interval: 5s
      timeout: 1m30s
      startPeriod: 500ms
  web:
    image: app
    command: gunicorn "shop.wsgi:app" --bind '0.0.0.0:8000'
    entrypoint: [/entrypoint.sh]
    ports: ["8080:8000", "127.0.0.1:9090:9090/udp"]
    env:
      API_KEY: { value: s3cr3t-api-key, secret: true }
      LOG_LEVEL: info
    mounts:
      - { source: config/web.conf, root: project, target: /etc/web.conf, kind: file, readOnly: true }
    inputs:
      - { path: config/web.conf, root: project }
    dependsOn:
      db: { condition: healthy, restart: true }
      migrate: { condition: completed }
    readiness:
      - http: { port: 8000, path: /health }
    readyTimeout: 2m
    stopGracePeriod: 30s
    ulimits: { nofile: 65536, nproc: { soft: 100, hard: 200 } }
jobs:
  migrate:
    image: app
    command: manage.py migrate
    dependsOn: [db]
    timeout: 15m
`;

  it("resolves paths under the project dir, durations to ms, env to strings", async () => {
    const file = await stackFile(yaml);
    const dir = path.dirname(file);
    const stack = await loadStack(file, { env: { DB_PASSWORD: "pg-pass-123" } });

    expect(stack.name).toBe("shop");
    expect(stack.projectDir).toBe(dir);
    expect(stack.dataRoot).toBe(path.join(dir, "data"));
    expect(path.isAbsolute(stack.dataRoot)).toBe(true);
    expect(stack.images.app?.build).toEqual({
      contextDir: path.join(dir, "app"),
      dockerfile: "Dockerfile",
      args: { VERSION: "1.2" },
      target: undefined,
    });
    // An image named only by reference gets an entry of its own.
    expect(stack.images["postgres:16"]).toMatchObject({
      ref: "postgres:16",
      build: undefined,
      pull: "missing",
    });

    const db = stack.services.db;
    expect(db?.containerName).toBe("shop-db");
    expect(db?.env).toEqual([
      { name: "FSYNC", value: "false", secret: false },
      { name: "MAX_CONN", value: "100", secret: false },
      { name: "POSTGRES_DB", value: "shop", secret: false },
      { name: "POSTGRES_PASSWORD", value: "pg-pass-123", secret: true },
    ]);
    expect(db?.mounts).toEqual([
      {
        type: "bind",
        hostPath: path.join(dir, "data", "db"),
        source: "db",
        root: "data",
        target: "/var/lib/postgresql/data",
        readOnly: false,
        kind: "dir",
        owner: { uid: 999, gid: 999 },
        mode: 0o700,
        selinux: undefined,
      },
      { type: "tmpfs", target: "/tmp", sizeBytes: 1048576 },
    ]);
    expect(db?.healthcheck).toEqual({
      test: ["CMD-SHELL", "pg_isready -U postgres"],
      intervalMs: 5_000,
      timeoutMs: 90_000,
      retries: 3,
      startPeriodMs: 500,
    });

    const web = stack.services.web;
    expect(web?.command).toEqual(["gunicorn", "shop.wsgi:app", "--bind", "0.0.0.0:8000"]);
    expect(web?.entrypoint).toEqual(["/entrypoint.sh"]);
    expect(web?.ports).toEqual([
      { hostIp: "0.0.0.0", host: 8080, container: 8000, protocol: "tcp" },
      { hostIp: "127.0.0.1", host: 9090, container: 9090, protocol: "udp" },
    ]);
    expect(web?.mounts[0]).toMatchObject({
      type: "bind",
      hostPath: path.join(dir, "config", "web.conf"),
      root: "project",
      kind: "file",
      readOnly: true,
    });
    expect(web?.inputs).toEqual([path.join(dir, "config", "web.conf")]);
    expect(web?.readiness).toEqual([
      {
        type: "http",
        port: 8000,
        path: "/health",
        expectBody: undefined,
        intervalMs: 500,
        label: "http :8000/health",
      },
    ]);
    expect(web?.readyTimeoutMs).toBe(120_000);
    expect(web?.stopGraceMs).toBe(30_000);
    expect(web?.ulimits).toEqual([
      { name: "nofile", soft: 65536, hard: 65536 },
      { name: "nproc", soft: 100, hard: 200 },
    ]);
    expect(web?.deps).toEqual([
      { name: "db", kind: "service", condition: "healthy", restart: true },
      { name: "migrate", kind: "job", condition: "completed", restart: false },
    ]);

    const migrate = stack.jobs.migrate;
    expect(migrate?.containerName).toBe("shop-job-migrate");
    expect(migrate?.container?.command).toEqual(["manage.py", "migrate"]);
    expect(migrate?.timeoutMs).toBe(900_000);
    expect(migrate?.deps).toEqual([{ name: "db", kind: "service", condition: "started", restart: false }]);
  });

  it("collects secret values (longest first) and never plain values", async () => {
    const stack = await loadStack(await stackFile(yaml), { env: { DB_PASSWORD: "pg-pass-123" } });
    expect(stack.secrets).toEqual(["s3cr3t-api-key", "pg-pass-123"]);
    expect(stack.secrets).not.toContain("info");
  });

  it("creates a default network every container joins, with its name as an alias", async () => {
    const stack = await loadStack(await stackFile(yaml), { env: { DB_PASSWORD: "pw-x" } });
    expect(stack.networks).toEqual({
      default: { name: "default", dockerName: "shop_default", driver: "bridge", internal: false, labels: {} },
    });
    expect(stack.services.web?.networks).toEqual([{ name: "default", aliases: ["web"] }]);
    expect(stack.jobs.migrate?.container?.networks).toEqual([{ name: "default", aliases: ["migrate"] }]);
  });

  it("uses the defaults: data root ./data (or the caller's), bind address 0.0.0.0, restart no", async () => {
    const file = await stackFile("name: tiny\nservices:\n  web:\n    image: nginx\n    ports: ['80:80']\n");
    const stack = await loadStack(file);
    expect(stack.dataRoot).toBe(path.join(path.dirname(file), "data"));
    // Core does not name the product's default: the caller does (a product's CLI: ./productdata).
    expect((await loadStack(file, { defaultDataRoot: "./productdata" })).dataRoot).toBe(
      path.join(path.dirname(file), "productdata"),
    );
    expect(stack.services.web?.ports[0]?.hostIp).toBe("0.0.0.0");
    expect(stack.services.web?.restart).toBe("no");
    expect(stack.services.web?.stopGraceMs).toBe(10_000);
    expect(stack.services.web?.readyTimeoutMs).toBe(300_000);
    expect(stack.profile).toBeUndefined();
  });

  it("takes projectDir from the options over the file's directory", async () => {
    const file = await stackFile("name: tiny\ndataRoot: d\n");
    const stack = await loadStack(file, { projectDir: "/opt/elsewhere" });
    expect(stack.projectDir).toBe("/opt/elsewhere");
    expect(stack.dataRoot).toBe("/opt/elsewhere/d");
  });

  it("loads a JS module exporting `stack` as a factory", async () => {
    const file = await stackFile(
      "export const stack = ({ env, profile }) => ({ name: 'mod', notes: [env.GREETING, String(profile)] });\n",
      "stack.mjs",
    );
    const stack = await loadStack(file, { env: { GREETING: "hi" } });
    expect(stack.name).toBe("mod");
    expect(stack.notes).toEqual(["hi", "undefined"]);
    expect(stack.projectDir).toBe(path.dirname(file));
  });

  it("rejects a JS module without a `stack` export", async () => {
    const file = await stackFile("export const other = 1;\n", "stack.mjs");
    const err = await specErrorAsync(loadStack(file));
    expect(err.issues).toEqual([{ path: [], message: "the module has no named export `stack`" }]);
  });
});

describe("loadStack / validateStack: objects", () => {
  it("resolves an object stack relative to projectDir", async () => {
    const stack = await loadStack(
      {
        name: "obj",
        dataRoot: "var/data",
        networks: { front: {}, back: { internal: true } },
        services: {
          api: {
            image: "api:1",
            networks: { back: { aliases: ["api.internal"] } },
            aliases: ["backend"],
            mounts: [{ source: "api/cache", target: "/cache" }],
            env: { RETRIES: 3, DEBUG: true, TOKEN: { fromEnv: "TOKEN", secret: true } },
          },
          proxy: { image: "nginx:1", command: ["nginx", "-g", "daemon off;"] },
        },
      },
      { projectDir: "/opt/obj", env: { TOKEN: "tok-abcdef" } },
    );
    expect(stack.source).toBe("(stack module)");
    expect(stack.dataRoot).toBe("/opt/obj/var/data");
    expect(stack.services.api?.mounts[0]).toMatchObject({ hostPath: "/opt/obj/var/data/api/cache" });
    expect(stack.services.api?.env).toEqual([
      { name: "DEBUG", value: "true", secret: false },
      { name: "RETRIES", value: "3", secret: false },
      { name: "TOKEN", value: "tok-abcdef", secret: true },
    ]);
    expect(stack.secrets).toEqual(["tok-abcdef"]);
    // Declared networks replace the default one; an explicit list attaches only to those.
    expect(Object.keys(stack.networks)).toEqual(["front", "back"]);
    expect(stack.networks.back).toMatchObject({ dockerName: "obj_back", internal: true });
    expect(stack.services.api?.networks).toEqual([
      { name: "back", aliases: ["api", "api.internal", "backend"] },
    ]);
    expect(stack.services.proxy?.networks).toEqual([
      { name: "front", aliases: ["proxy"] },
      { name: "back", aliases: ["proxy"] },
    ]);
    expect(stack.services.proxy?.command).toEqual(["nginx", "-g", "daemon off;"]);
  });

  it("calls a factory with projectDir, env and profile", async () => {
    const stack = await loadStack(
      ({ projectDir, env, profile }) => ({
        name: "fac",
        notes: [projectDir, env.X ?? "", profile ?? ""],
        profiles: ["p"],
      }),
      { projectDir: "/opt/fac", env: { X: "1" }, profile: "p" },
    );
    expect(stack.notes).toEqual(["/opt/fac", "1", "p"]);
    expect(stack.profile).toBe("p");
  });

  it("hands a factory the engine's info when the caller gives it, and only then", async () => {
    let asked = 0;
    const engineInfo = async () => {
      asked++;
      return {
        serverVersion: "20.10.24",
        cpus: 4,
        memoryBytes: 8e9,
        os: "Docker Desktop",
        architecture: "aarch64",
      };
    };
    const factory: StackFactory = async (ctx) => ({
      name: "fac",
      notes: [ctx.engineInfo ? (await ctx.engineInfo()).architecture : "(no engine)"],
    });
    expect((await loadStack(factory, { projectDir: "/opt/fac", engineInfo })).notes).toEqual(["aarch64"]);
    expect(asked).toBe(1);
    expect((await loadStack(factory, { projectDir: "/opt/fac" })).notes).toEqual(["(no engine)"]);
    // A factory that does not ask costs no engine call.
    await loadStack(() => ({ name: "fac" }), { projectDir: "/opt/fac", engineInfo });
    expect(asked).toBe(1);
  });

  it("hands a stack module's factory the engine's info too", async () => {
    const file = await stackFile(
      "export const stack = async ({ engineInfo }) => ({ name: 'mod', notes: [engineInfo ? (await engineInfo()).architecture : 'none'] });\n",
      "stack.mjs",
    );
    const engineInfo = async () => ({
      serverVersion: "1",
      cpus: 1,
      memoryBytes: 1,
      os: "x",
      architecture: "x86_64",
    });
    expect((await loadStack(file, { engineInfo })).notes).toEqual(["x86_64"]);
  });

  it("uses the default of a `fromEnv` value when the variable is unset", () => {
    const stack = validate(
      withServices({ a: { image: "x", env: { MODE: { fromEnv: "MODE", default: "prod" } } } }),
    );
    expect(stack.services.a?.env).toEqual([{ name: "MODE", value: "prod", secret: false }]);
  });

  it("does not count an empty secret as a secret value", () => {
    const stack = validate(withServices({ a: { image: "x", env: { EMPTY: { value: "", secret: true } } } }));
    expect(stack.secrets).toEqual([]);
  });

  it("turns a list of job dependencies into `completed` conditions", () => {
    const stack = validate({
      name: "shop",
      services: { web: { image: "x", dependsOn: ["seed", "db"] }, db: { image: "x" } },
      jobs: { seed: { image: "x" } },
    });
    expect(stack.services.web?.deps).toEqual([
      { name: "seed", kind: "job", condition: "completed", restart: false },
      { name: "db", kind: "service", condition: "started", restart: false },
    ]);
  });

  it("turns healthcheck and probe commands into engine form", () => {
    const stack = validate(
      withServices({
        a: {
          image: "x",
          healthcheck: { test: ["curl", "-f", "http://localhost/"] },
          readiness: [{ tcp: { port: 5432 }, interval: "1s" }, { exec: "pg_isready -h 'my host'" }],
        },
        b: { image: "x", healthcheck: { test: ["CMD-SHELL", "true"], retries: 0 } },
      }),
    );
    expect(stack.services.a?.healthcheck?.test).toEqual(["CMD", "curl", "-f", "http://localhost/"]);
    expect(stack.services.b?.healthcheck).toMatchObject({ test: ["CMD-SHELL", "true"], retries: 0 });
    expect(stack.services.a?.readiness).toEqual([
      { type: "tcp", port: 5432, intervalMs: 1_000, label: "tcp :5432" },
      {
        type: "exec",
        command: ["pg_isready", "-h", "my host"],
        intervalMs: 500,
        label: "exec pg_isready -h my host",
      },
    ]);
  });

  it("names a registry mirror for pulled images only", () => {
    const stack = validate({
      name: "shop",
      registryMirror: "mirror.local:5000/hub/",
      images: { app: { ref: "app:1", build: { context: "." } } },
      services: { a: { image: "app" }, b: { image: "redis:7" } },
    });
    expect(stack.images.app?.mirrorRef).toBeUndefined();
    expect(stack.images.app?.pullSources).toEqual([]);
    // An official image: under library/ first (a Docker Hub mirror serves it there), then as written.
    expect(stack.images["redis:7"]?.mirrorRef).toBe("mirror.local:5000/hub/library/redis:7");
    expect(stack.images["redis:7"]?.pullSources).toEqual([
      "mirror.local:5000/hub/library/redis:7",
      "mirror.local:5000/hub/redis:7",
    ]);
  });

  it("pulls references of other registries from those registries, not through a Docker Hub mirror", () => {
    const stack = validate({
      name: "shop",
      registryMirror: "hub.example.dev",
      services: {
        a: { image: "ghcr.io/org/app:1" },
        b: { image: "grafana/loki:2.9.2" },
        c: { image: "localhost:5000/app" },
      },
    });
    expect(stack.images["ghcr.io/org/app:1"]).toMatchObject({
      mirrorRef: undefined,
      pullSources: ["ghcr.io/org/app:1"],
    });
    expect(stack.images["localhost:5000/app"]?.pullSources).toEqual(["localhost:5000/app"]);
    expect(stack.images["grafana/loki:2.9.2"]?.pullSources).toEqual(["hub.example.dev/grafana/loki:2.9.2"]);
  });

  it("without a mirror, pulls each image from its own reference", () => {
    const stack = validate({ name: "shop", services: { a: { image: "redis:7" } } });
    expect(stack.images["redis:7"]).toMatchObject({ mirrorRef: undefined, pullSources: ["redis:7"] });
  });

  it("reports an invalid image reference where it is written", () => {
    expect(() =>
      validate({
        name: "shop",
        images: { db: { ref: "Postgres:14" } },
        services: { a: { image: "db" }, b: { image: "redis:" } },
      }),
    ).toThrow(
      expect.objectContaining({
        issues: expect.arrayContaining([
          expect.objectContaining({
            path: ["images", "db", "ref"],
            message: expect.stringMatching(/not a valid image reference/),
          }),
          expect.objectContaining({
            path: ["services", "b", "image"],
            message: expect.stringMatching(/not a valid tag/),
          }),
        ]),
      }),
    );
  });
});

describe("splitCommand", () => {
  it.each([
    ["echo hello world", ["echo", "hello", "world"]],
    ["  spaced   out  ", ["spaced", "out"]],
    [`echo "a b" 'c d' e`, ["echo", "a b", "c d", "e"]],
    [`sh -c 'echo "$HOME" > /tmp/x'`, ["sh", "-c", 'echo "$HOME" > /tmp/x']],
    [`say "she said \\"hi\\""`, ["say", 'she said "hi"']],
    [`printf ""`, ["printf", ""]],
    ["", []],
  ])("%j → %j", (cmd, words) => {
    expect(splitCommand(cmd)).toEqual(words);
  });

  it("passes lists and undefined through untouched", () => {
    const list = ["a b", "c"];
    expect(splitCommand(list)).toBe(list);
    expect(splitCommand(undefined)).toBeUndefined();
  });

  it("keeps a quoted part inside a word together", () => {
    expect(splitCommand(`run --opt="a b"`)).toEqual(["run", "--opt=a b"]);
  });

  // What `sh -c 'printf "[%s]" WORDS'` prints for each of these, word by word.
  it.each([
    [`a'b c'd`, ["ab cd"]],
    [`--x='it''s'`, ["--x=its"]],
    [`a"b"'c'd`, ["abcd"]],
    [`"" ''`, ["", ""]],
    [String.raw`a\ b c`, ["a b", "c"]],
    [String.raw`\"quoted\" \'`, ['"quoted"', "'"]],
    [String.raw`'a\b' 'x\'`, [String.raw`a\b`, "x\\"]],
    [String.raw`"a\b" "\$x" "\\" "\"" "\'"`, [String.raw`a\b`, "$x", "\\", '"', "\\'"]],
    ["one\\\ntwo three", ["onetwo", "three"]],
    ["tab\tand", ["tab", "and"]],
    ["ends-with\\", ["ends-with\\"]],
  ])("%j → %j like a POSIX shell", (cmd, words) => {
    expect(splitCommand(cmd)).toEqual(words);
  });

  it("does not expand anything, and separates words at a newline (a shell would end the command)", () => {
    expect(splitCommand(`"$HOME" '~' * $(id)`)).toEqual(["$HOME", "~", "*", "$(id)"]);
    expect(splitCommand("tab\tand\nnewline")).toEqual(["tab", "and", "newline"]);
  });

  it("throws a SpecError for an unterminated quote", () => {
    for (const [cmd, kind] of [
      [`echo "oops`, "double"],
      [`echo 'oops`, "single"],
      [`echo "it's`, "double"],
    ] as const) {
      const err = specError(() => splitCommand(cmd));
      expect(err.issues[0]?.message).toContain(`unterminated ${kind} quote`);
    }
  });
});

describe("validateStack: invalid stacks", () => {
  it("reports a YAML syntax error with its line number", async () => {
    const file = await stackFile("name: shop\nservices:\n  web:\n    image: nginx\n   ports: ['80:80']\n");
    const err = await specErrorAsync(loadStack(file));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.path).toEqual([]);
    expect(err.issues[0]?.message).toMatch(/^YAML line 5, column \d+: /);
    expect(err.message).toContain("1 problem in the stack");
  });

  // BUG (reported, cosmetic): with `prettyErrors: true` the first line of yaml's message already
  // ends in " at line 5, column 1:", so the position is printed twice and the line ends in ":".
  it("prints the YAML position once", async () => {
    const file = await stackFile("name: shop\nservices:\n  web:\n    image: nginx\n   ports: ['80:80']\n");
    const err = await specErrorAsync(loadStack(file));
    expect(err.issues[0]?.message).not.toMatch(/at line \d+, column \d+:$/);
  });

  // BUG (reported, readability): the "expected a mapping" guard lets an empty document and a
  // sequence through, and zod's generic text is shown instead.
  it("says an empty file or a list is not a stack mapping", async () => {
    for (const text of ["", "- a\n- b\n"]) {
      const err = await specErrorAsync(loadStack(await stackFile(text)));
      expect(err.issues[0]?.message).toBe("expected a mapping with `name`, `services`, …");
    }
  });

  it("reports a duplicate YAML key with its line number", async () => {
    const file = await stackFile("name: shop\nservices:\n  web:\n    image: nginx\n    image: httpd\n");
    const err = await specErrorAsync(loadStack(file));
    expect(err.issues[0]?.message).toMatch(/^YAML line 5, column 5: Map keys must be unique/);
  });

  it("reports a file that cannot be read", async () => {
    const err = await specErrorAsync(loadStack(path.join(tmp, "no-such-stack.yaml")));
    expect(err.issues[0]?.message).toMatch(/^cannot read the file: .*ENOENT/);
  });

  it("rejects a YAML scalar as the whole document", async () => {
    const err = await specErrorAsync(loadStack(await stackFile("just some text\n")));
    expect(err.issues).toEqual([{ path: [], message: "expected a mapping with `name`, `services`, …" }]);
  });

  it("names an unknown field and where it is", () => {
    const issues = issuesOf(withServices({ web: { image: "nginx", imag: "typo" } as never }));
    expect(issues).toEqual([{ path: ["services", "web"], message: 'unknown field "imag"' }]);
  });

  it("explains a service name that is not allowed", () => {
    const issues = issuesOf(withServices({ Web: { image: "x" } }));
    expect(issues).toEqual([
      {
        path: ["services", "Web"],
        message:
          "\"Web\" is not an allowed name: use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
      },
    ]);
  });

  it("explains each name that is not allowed, wherever names are keys", () => {
    const issues = issuesOf({
      name: "shop",
      networks: { "front end": {} },
      images: { _app: { ref: "app:1" } },
      services: { web: { image: "x", dependsOn: { Db: {} } } },
      jobs: { "Migrate!": { image: "x" } },
    });
    expect(issues.map((i) => [i.path.join("."), i.message.split(":")[0]])).toEqual([
      ["networks.front end", '"front end" is not an allowed name'],
      ["images._app", '"_app" is not an allowed name'],
      ["services.web.dependsOn.Db", '"Db" is not an allowed name'],
      ["jobs.Migrate!", '"Migrate!" is not an allowed name'],
    ]);
  });

  it("reports an unterminated quote in a command at its path", () => {
    const issues = issuesOf(
      withServices({
        web: {
          image: "x",
          command: `sh -c "echo hi`,
          readiness: [{ exec: "test -f '/ready" }],
        },
      }),
    );
    expect(issues).toEqual([
      {
        path: ["services", "web", "command"],
        message: expect.stringMatching(
          /^unterminated double quote .*character 7.*write the command as a list/,
        ),
      },
      {
        path: ["services", "web", "readiness", 0, "exec"],
        message: expect.stringMatching(/^unterminated single quote/),
      },
    ]);
  });

  it("names several unknown fields at once", () => {
    const issues = issuesOf({ name: "shop", servces: {}, netwroks: {} });
    expect(issues).toEqual([{ path: [], message: 'unknown fields "servces", "netwroks"' }]);
  });

  it("reports an unknown field inside a union branch (env value) at the variable", () => {
    const issues = issuesOf(
      withServices({ web: { image: "x", env: { PW: { value: "v", secrte: true } as never } } }),
    );
    expect(issues).toEqual([{ path: ["services", "web", "env", "PW"], message: 'unknown field "secrte"' }]);
  });

  it("reports a bad duration at its path", async () => {
    const file = await stackFile(
      "name: shop\nservices:\n  web:\n    image: nginx\n    healthcheck:\n      test: 'true'\n      interval: 30 seconds\n",
    );
    const err = await specErrorAsync(loadStack(file));
    expect(err.issues).toEqual([
      {
        path: ["services", "web", "healthcheck", "interval"],
        message: 'expected a duration like "30s", "500ms" or "1m30s"',
      },
    ]);
    expect(err.details).toEqual([
      'services.web.healthcheck.interval: expected a duration like "30s", "500ms" or "1m30s"',
    ]);
  });

  it("reports a number where a duration belongs", () => {
    const issues = issuesOf(withServices({ web: { image: "x", stopGracePeriod: 10 as never } }));
    expect(issues).toEqual([
      {
        path: ["services", "web", "stopGracePeriod"],
        message: expect.stringMatching(/^expected a duration like "30s"/),
      },
    ]);
  });

  it("reports a bad name, port, owner and mode in readable words", () => {
    const issues = issuesOf({
      name: "Shop",
      services: {
        web: {
          image: "x",
          ports: ["80"],
          mounts: [{ source: "d", target: "/d", owner: "www-data", mode: "rwx" }],
        },
      },
    });
    expect(issues).toEqual([
      { path: ["name"], message: expect.stringContaining("use lowercase letters") },
      { path: ["services", "web", "mounts", 0, "owner"], message: expect.stringContaining('"uid:gid"') },
      { path: ["services", "web", "mounts", 0, "mode"], message: expect.stringContaining("octal mode") },
      { path: ["services", "web", "ports", 0], message: expect.stringContaining('"HOST:CONTAINER"') },
    ]);
  });

  it("requires a job to have exactly one of image and run", () => {
    expect(issuesOf({ name: "shop", jobs: { j: {} } })).toEqual([
      { path: ["jobs", "j"], message: expect.stringContaining("exactly one of `image`") },
    ]);
    expect(issuesOf({ name: "shop", jobs: { j: { image: "x", run: async () => {} } } })).toHaveLength(1);
  });

  it("reports a dependency cycle with its members", () => {
    const issues = issuesOf(
      withServices({
        a: { image: "x", dependsOn: ["b"] },
        b: { image: "x", dependsOn: ["c"] },
        c: { image: "x", dependsOn: ["a"] },
      }),
    );
    expect(issues).toEqual([
      { path: ["services", "a", "dependsOn"], message: "dependency cycle: a → b → c → a" },
    ]);
  });

  it("reports a cycle through a job", () => {
    const issues = issuesOf({
      name: "shop",
      services: { web: { image: "x", dependsOn: ["seed"] } },
      jobs: { seed: { image: "x", dependsOn: ["web"] } },
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toMatch(/^dependency cycle: /);
    expect(issues[0]?.message).toContain("seed");
    expect(issues[0]?.message).toContain("web");
  });

  it("reports a service that depends on itself", () => {
    expect(issuesOf(withServices({ a: { image: "x", dependsOn: ["a"] } }))).toEqual([
      { path: ["services", "a", "dependsOn"], message: "dependency cycle: a → a" },
    ]);
  });

  it("reports a missing dependency", () => {
    expect(issuesOf(withServices({ web: { image: "x", dependsOn: ["db"] } }))).toEqual([
      { path: ["services", "web", "dependsOn", "db"], message: 'no service or job named "db"' },
    ]);
  });

  it("reports `completed` on a service", () => {
    const issues = issuesOf(
      withServices({
        web: { image: "x", dependsOn: { db: { condition: "completed" } } },
        db: { image: "x" },
      }),
    );
    expect(issues).toEqual([
      {
        path: ["services", "web", "dependsOn", "db", "condition"],
        message: '"db" is a service: use "started" or "healthy"',
      },
    ]);
  });

  it("reports `healthy` on a job", () => {
    const issues = issuesOf({
      name: "shop",
      services: { web: { image: "x", dependsOn: { migrate: { condition: "healthy" } } } },
      jobs: { migrate: { image: "x" } },
    });
    expect(issues).toEqual([
      {
        path: ["services", "web", "dependsOn", "migrate", "condition"],
        message: '"migrate" is a job: use "completed" or "started"',
      },
    ]);
  });

  it("reports `healthy` on a service with no healthcheck or probe", () => {
    const issues = issuesOf(
      withServices({ web: { image: "x", dependsOn: { db: { condition: "healthy" } } }, db: { image: "x" } }),
    );
    expect(issues).toEqual([
      {
        path: ["services", "web", "dependsOn", "db", "condition"],
        message: '"db" has no healthcheck or readiness probe, so it can never be healthy',
      },
    ]);
  });

  it("accepts `healthy` on a service with only a readiness probe", () => {
    const stack = validate(
      withServices({
        web: { image: "x", dependsOn: { db: { condition: "healthy" } } },
        db: { image: "x", readiness: [{ tcp: { port: 5432 } }] },
      }),
    );
    expect(stack.services.web?.deps[0]?.condition).toBe("healthy");
  });

  it("reports a network that does not exist", () => {
    expect(issuesOf(withServices({ web: { image: "x", networks: ["back"] } }))).toEqual([
      { path: ["services", "web", "networks", "back"], message: 'no network named "back" in this stack' },
    ]);
  });

  it("reports an image `needs` that does not exist", () => {
    const issues = issuesOf({
      name: "shop",
      images: { app: { ref: "app:1", build: { context: "." }, needs: ["base"] } },
      services: { web: { image: "app" } },
    });
    expect(issues).toEqual([
      { path: ["images", "app", "needs"], message: 'no image named "base" in this stack' },
    ]);
  });

  it("reports a name used by both a service and a job", () => {
    expect(issuesOf({ name: "shop", services: { x: { image: "x" } }, jobs: { x: { image: "x" } } })).toEqual([
      { path: ["jobs", "x"], message: '"x" is both a service and a job' },
    ]);
  });

  describe("port conflicts", () => {
    it("reports the same host port twice", () => {
      expect(
        issuesOf(
          withServices({ a: { image: "x", ports: ["8080:80"] }, b: { image: "x", ports: ["8080:81"] } }),
        ),
      ).toEqual([
        {
          path: ["services", "b", "ports", 0],
          message: 'host port 8080/tcp is already published by service "a"',
        },
      ]);
    });

    it("reports 0.0.0.0 against a specific address, both ways", () => {
      expect(
        issuesOf(
          withServices({
            a: { image: "x", ports: ["8080:80"] },
            b: { image: "x", ports: ["127.0.0.1:8080:80"] },
          }),
        ),
      ).toEqual([
        {
          path: ["services", "b", "ports", 0],
          message: 'host port 8080/tcp is already published by service "a"',
        },
      ]);
      expect(
        issuesOf(
          withServices({
            a: { image: "x", ports: [{ host: 8080, container: 80, hostIp: "10.0.0.5" }] },
            b: { image: "x", ports: ["0.0.0.0:8080:80"] },
          }),
        ),
      ).toHaveLength(1);
    });

    it("reports the bind address against a specific address", () => {
      const issues = issuesOf(
        withServices(
          { a: { image: "x", ports: ["9000:80"] }, b: { image: "x", ports: ["10.0.0.1:9000:80"] } },
          { bindAddress: "10.0.0.1" },
        ),
      );
      expect(issues).toHaveLength(1);
    });

    it("allows the same port on different addresses or protocols", () => {
      const stack = validate(
        withServices({
          a: { image: "x", ports: ["127.0.0.1:8080:80", "53:53/udp"] },
          b: { image: "x", ports: ["127.0.0.2:8080:80", "53:53/tcp"] },
        }),
      );
      expect(stack.services.b?.ports.map((p) => `${p.hostIp}:${p.host}/${p.protocol}`)).toEqual([
        "127.0.0.2:8080/tcp",
        "0.0.0.0:53/tcp",
      ]);
    });

    // BUG (reported): the string form of a port is checked by a regex only, so host ports 0 and
    // above 65535 pass (the object form rejects them with min(1).max(65535)).
    it("rejects a host port out of range in the string form", () => {
      expect(issuesOf(withServices({ a: { image: "x", ports: ["99999:80"] } }))).toHaveLength(1);
    });
  });

  describe("mounts", () => {
    it("reports a mount escaping the data root", () => {
      expect(
        issuesOf(
          withServices({
            a: {
              image: "x",
              mounts: [
                { source: "../etc", target: "/etc-host" },
                { source: "ok/sub", target: "/ok" },
                { source: "a/../../b", target: "/b" },
                { source: "/etc", target: "/abs" },
              ],
            },
          }),
        ),
      ).toEqual([
        {
          path: ["services", "a", "mounts", 0, "source"],
          message: '"../etc" leaves the data root; use a path inside it',
        },
        {
          path: ["services", "a", "mounts", 2, "source"],
          message: '"a/../../b" leaves the data root; use a path inside it',
        },
        {
          path: ["services", "a", "mounts", 3, "source"],
          message: '"/etc" leaves the data root; use a path inside it',
        },
      ]);
    });

    it("reports a project mount escaping the project dir, for jobs too", () => {
      const issues = issuesOf({
        name: "shop",
        jobs: { j: { image: "x", mounts: [{ source: "../../secrets", root: "project", target: "/s" }] } },
      });
      expect(issues).toEqual([
        {
          path: ["jobs", "j", "mounts", 0, "source"],
          message: '"../../secrets" leaves the project dir; use a path inside it',
        },
      ]);
    });

    it("accepts a data root outside the project dir, with mounts inside it", () => {
      const stack = validate(
        withServices(
          { a: { image: "x", mounts: [{ source: "pg", target: "/pg" }] } },
          { dataRoot: "../shop-data" },
        ),
      );
      expect(stack.dataRoot).toBe("/srv/shop-data");
      expect(stack.services.a?.mounts[0]).toMatchObject({ hostPath: "/srv/shop-data/pg" });
    });

    // BUG (reported): `inside()` treats any relative path starting with ".." as escaping, so a
    // directory literally named "..cache" inside the data root is rejected.
    it('accepts a directory whose name starts with ".."', () => {
      const stack = validate(
        withServices({ a: { image: "x", mounts: [{ source: "..cache", target: "/c" }] } }),
      );
      expect(stack.services.a?.mounts[0]).toMatchObject({ hostPath: "/srv/shop/data/..cache" });
    });
  });

  it("reports a `fromEnv` variable that is not set", () => {
    const issues = issuesOf(
      withServices({ web: { image: "x", env: { TOKEN: { fromEnv: "WEB_TOKEN", secret: true } } } }),
      { env: { OTHER: "1" } },
    );
    expect(issues).toEqual([
      {
        path: ["services", "web", "env", "TOKEN"],
        message: "environment variable WEB_TOKEN is not set and has no default",
      },
    ]);
  });

  it("lists every problem at once", () => {
    const err = specError(() =>
      validate(
        withServices({
          a: { image: "x", dependsOn: ["nope"], ports: ["80:80"] },
          b: { image: "x", ports: ["80:80"], env: { T: { fromEnv: "T" } } },
        }),
      ),
    );
    expect(err.issues.map((i) => i.path.join("."))).toEqual([
      "services.a.dependsOn.nope",
      "services.b.env.T",
      "services.b.ports.0",
    ]);
    expect(err.message).toBe("test-stack: 3 problems in the stack");
    expect(err.hint).toBeTruthy();
  });
});

describe("profiles", () => {
  const profiled: StackInput = {
    name: "shop",
    profiles: ["core", "full"],
    services: {
      web: { image: "x" },
      extra: { image: "x", profiles: ["full"] },
      "core-only": { image: "x", profiles: ["core"] },
    },
    jobs: { report: { image: "x", profiles: ["full"] } },
  };

  it("leaves out services and jobs of other profiles", () => {
    const core = validate(profiled, { profile: "core" });
    expect(core.profile).toBe("core");
    expect(Object.keys(core.services).sort()).toEqual(["core-only", "web"]);
    expect(core.jobs).toEqual({});

    const full = validate(profiled, { profile: "full" });
    expect(Object.keys(full.services).sort()).toEqual(["extra", "web"]);
    expect(Object.keys(full.jobs)).toEqual(["report"]);
  });

  it("selects the default profile when none is given", () => {
    const stack = validate({ ...profiled, defaultProfile: "full" });
    expect(stack.profile).toBe("full");
    expect(Object.keys(stack.services).sort()).toEqual(["extra", "web"]);
  });

  it("keeps only services without profiles when no profile is selected", () => {
    const stack = validate(profiled);
    expect(stack.profile).toBeUndefined();
    expect(Object.keys(stack.services)).toEqual(["web"]);
  });

  it("reports an unknown profile and lists the known ones", () => {
    expect(issuesOf(profiled, { profile: "ful" })).toEqual([
      { path: ["profile"], message: 'unknown profile "ful"; this stack has: core, full' },
    ]);
    expect(issuesOf({ name: "shop" }, { profile: "any" })).toEqual([
      { path: ["profile"], message: 'unknown profile "any"' },
    ]);
  });

  it("reports a dependency on a service that the profile leaves out", () => {
    const stack = {
      ...profiled,
      services: { ...profiled.services, web: { image: "x", dependsOn: ["extra"] } },
    };
    expect(issuesOf(stack, { profile: "core" })).toEqual([
      { path: ["services", "web", "dependsOn", "extra"], message: '"extra" is not in profile "core"' },
    ]);
    expect(validate(stack, { profile: "full" }).services.web?.deps.map((d) => d.name)).toEqual(["extra"]);
  });
});

// Was a bug: when a job mounted `db` without `owner` and a service mounted it with one, the plan
// made the directory with whichever mount it met first (root 0755), and the job (running as 999)
// failed with "Permission denied".
describe("directories mounted by several containers", () => {
  const db = (extra: Record<string, string> = {}) => ({ source: "db", target: "/var/lib/db", ...extra });
  it("gives every mount of a directory the owner and mode one of them names", () => {
    const stack = validate({
      ...withServices({ pg: { image: "x", mounts: [db({ owner: "999:999", mode: "0700" })] } }),
      jobs: { init: { image: "x", mounts: [db()] } },
    });
    for (const m of [stack.services.pg?.mounts[0], stack.jobs.init?.container?.mounts[0]])
      expect(m).toMatchObject({ owner: { uid: 999, gid: 999 }, mode: 0o700 });
  });

  it("refuses two different owners (or modes) for one directory, naming both places", () => {
    const issues = issuesOf(
      withServices({
        a: { image: "x", mounts: [db({ owner: "999:999" })] },
        b: { image: "x", mounts: [db({ owner: "70:70", mode: "0700" })] },
      }),
    );
    expect(issues.map((i) => formatIssuePath(i.path))).toEqual([
      "services.a.mounts[0].owner",
      "services.b.mounts[0].owner",
    ]);
    for (const i of issues) expect(i.message).toMatch(/mounted with owner 999:999 and owner 70:70/);
  });
});

// Was a bug: a secret of one or two characters was never redacted (redaction skips texts that
// short, or it would hide every occurrence of those letters in every line).
it("refuses a secret too short to be kept out of output, naming its path", () => {
  const issues = issuesOf(withServices({ a: { image: "x", env: { PIN: { value: "42", secret: true } } } }));
  expect(issues.map((i) => [formatIssuePath(i.path), i.message])).toEqual([
    [
      "services.a.env.PIN",
      "a secret of 2 characters cannot be kept out of shctl's output: use one of at least 3",
    ],
  ]);
});
