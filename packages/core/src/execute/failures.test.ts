import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { setShutdownWatch } from "../engine-lost.js";
import { EngineError, JobFailedError, StepFailedError, StepsFailedError } from "../errors.js";
import type { ResolvedStack } from "../model.js";
import { observe } from "../observe.js";
import { plan } from "../plan/index.js";
import type { StackInput } from "../schema.js";
import { FakeEngine } from "../testing/fake-engine.js";
import { validateStack } from "../validate.js";
import { classifyPullError } from "./failures.js";
import { execute } from "./index.js";

/*
 * A run with several failures ends with each cause said once, with the resources it hit; a run
 * with one ends with that one, as before. Pull causes are read from the engine's answers (the
 * texts below are Docker Engine 20.10's, as it sent them).
 */

const LOOKUP =
  'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host';
const REFUSED = 'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused';
const UNKNOWN = "manifest for 127.0.0.1:5555/nope/x:1 not found: manifest unknown: manifest unknown";

let dir: string;
let engine: FakeEngine;

// A failed run watches a moment for an engine shutting down (3 s); a second is enough here.
let restoreWatch = () => {};
beforeAll(() => {
  restoreWatch = setShutdownWatch(1000);
});
afterAll(() => restoreWatch());

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shctl-failures-"));
  engine = new FakeEngine();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function load(input: Partial<StackInput>): ResolvedStack {
  return validateStack(
    { name: "s", dataRoot: "data", ...input },
    { label: "t", projectDir: dir, profile: undefined, env: {} },
  );
}

/** One service per image. */
function services(refs: string[], extra: Partial<StackInput> = {}): ResolvedStack {
  return load({
    services: Object.fromEntries(refs.map((r, i) => [`s${i}`, { image: r }])),
    ...extra,
  });
}

async function fails(stack: ResolvedStack): Promise<unknown> {
  const p = plan(stack, await observe(engine, stack));
  return execute(p, stack, engine, { wait: false }).then(
    () => expect.fail("the run should have failed"),
    (e: unknown) => e,
  );
}

const pullFails = (message: string, status = 500, match?: (ref: string) => boolean) =>
  engine.inject(
    "image.pull",
    { kind: "fail", status, message },
    { times: 99, ...(match ? { match: (a) => match(a[0] as string) } : {}) },
  );

describe("several failures of one run", () => {
  it("say a registry outage once, with every image it hit", async () => {
    const refs = ["postgres:14.5", "redis:6.2", "memcached:1.6", "nginx:1.25"];
    pullFails(LOOKUP);
    const err = await fails(services(refs));
    expect(err).toBeInstanceOf(StepsFailedError);
    const e = err as StepsFailedError;
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe(
      "4 images could not be pulled from docker.io: registry unreachable (name lookup failed)",
    );
    expect(e.groups).toHaveLength(1);
    expect(e.groups[0]?.code).toBe("name-lookup");
    expect([...(e.groups[0]?.resources ?? [])].sort()).toEqual(refs.map((r) => `image ${r}`).sort());
    // The images are listed, and the engine's words said once.
    expect(e.details[0]?.split(", ").sort()).toEqual([...refs].sort());
    expect(e.details.filter((d) => d.includes("no such host"))).toHaveLength(1);
    expect(e.hint).toMatch(/registryMirror/);
    expect(e.hint).toMatch(/shctl images load/);
    // Nothing after the pulls began.
    expect(engine.ops("container.create")).toEqual([]);
  });

  it("group by registry and cause: an outage and a missing tag are two causes", async () => {
    pullFails(REFUSED, 500, (r) => r.startsWith("127.0.0.1:5999/"));
    pullFails(UNKNOWN, 404, (r) => r.startsWith("127.0.0.1:5555/"));
    const err = (await fails(
      services(["127.0.0.1:5999/a:1", "127.0.0.1:5999/b:1", "127.0.0.1:5555/nope/x:1"]),
    )) as StepsFailedError;
    expect(err).toBeInstanceOf(StepsFailedError);
    expect(err.message).toBe("3 steps failed (2 different causes)");
    // In the order they happened; both named with their registry.
    expect(err.groups.map((g) => [g.code, g.headline]).sort()).toEqual([
      [
        "not-found",
        "image 127.0.0.1:5555/nope/x:1 could not be pulled from 127.0.0.1:5555: not found on the registry",
      ],
      [
        "refused",
        "2 images could not be pulled from 127.0.0.1:5999: registry unreachable (connection refused)",
      ],
    ]);
    expect(err.details).toContain(
      "2 images could not be pulled from 127.0.0.1:5999: registry unreachable (connection refused):",
    );
    expect(err.details).toContain("  127.0.0.1:5999/a:1, 127.0.0.1:5999/b:1");
    expect(err.hint).toMatch(/cannot reach 127\.0\.0\.1:5999/);
    expect(err.hint).toMatch(/check the image names and tags/);
  });

  it("say identical job failures once, and keep different ones apart", async () => {
    engine.addImage("app:1");
    engine.onStart = (c) => (c.name.startsWith("s-job-a") || c.name.startsWith("s-job-b") ? 3 : 4);
    const err = (await fails(
      load({
        jobs: {
          a: { image: "app:1", command: ["x"] },
          b: { image: "app:1", command: ["x"] },
          c: { image: "app:1", command: ["x"] },
        },
      }),
    )) as StepsFailedError;
    expect(err).toBeInstanceOf(StepsFailedError);
    expect(err.groups.map((g) => g.headline)).toEqual([
      "2 jobs: run failed: exited with code 3",
      "job c: run failed: exited with code 4",
    ]);
    expect(err.groups[0]?.errors[0]).toBeInstanceOf(JobFailedError);
  });

  it("end with the one failure as it is when there is only one", async () => {
    engine.addImage("ok:1");
    pullFails(LOOKUP, 500, (r) => r === "gone:1");
    const err = await fails(services(["ok:1", "gone:1"]));
    expect(err).toBeInstanceOf(StepFailedError);
    expect(err).not.toBeInstanceOf(StepsFailedError);
    expect((err as StepFailedError).message).toMatch(/^image gone:1: pull failed: .*no such host/);
  });
});

describe("a pull's cause", () => {
  const engineError = (message: string, statusCode?: number) =>
    new StepFailedError("image x", "pull", message, {
      cause: new EngineError(
        "image.pull",
        Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message}`), {
          ...(statusCode ? { statusCode } : {}),
          json: { message },
        }),
      ),
    });

  it.each([
    [LOOKUP, 500, "name-lookup"],
    [
      'Get "https://r.example/v2/": dial tcp: lookup r.example: Temporary failure in name resolution',
      500,
      "name-lookup",
    ],
    [REFUSED, 500, "refused"],
    [UNKNOWN, 404, "not-found"],
    ["pull access denied for x, repository does not exist or may require 'docker login'", 404, "not-found"],
    [
      'Get "https://r.example/v2/": net/http: request canceled (Client.Timeout exceeded while awaiting headers)',
      500,
      "timeout",
    ],
    ['Get "https://r.example/v2/": dial tcp 10.1.2.3:443: i/o timeout', 500, "timeout"],
    ['Get "https://r.example/v2/": dial tcp 10.1.2.3:443: connect: no route to host', 500, "unreachable"],
    ['Get "https://127.0.0.1:5555/v2/": http: server gave HTTP response to HTTPS client', 500, "tls"],
    ['Get "https://r.example/v2/": x509: certificate signed by unknown authority', 500, "tls"],
    ["unauthorized: authentication required", 401, "unauthorized"],
    [
      'Head "https://r.example/v2/x/manifests/1": unauthorized: incorrect username or password',
      500,
      "unauthorized",
    ],
    ["write /var/lib/docker/tmp/GetImageBlob1: no space left on device", 500, "disk-full"],
    ["read tcp 127.0.0.1:40000->127.0.0.1:5555: read: connection reset by peer", undefined, "broken-off"],
    ["unexpected EOF", undefined, "broken-off"],
    ["something else entirely", 500, undefined],
  ])("%s (%s) → %s", (message, status, code) => {
    const c = classifyPullError(engineError(message, status));
    expect(c.code).toBe(code);
    if (code === undefined) expect(c.reason).toBe(message);
  });
});
