import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, engine, runCli, tempProject } from "./helpers.js";

/*
 * Invalid stacks exit 2 with each problem's path, before any engine call; an unreachable engine is
 * one clear error, also when a stack factory asks for the engine's info.
 */

let dir: string;
beforeAll(async () => {
  dir = await tempProject("shctl-invalid-");
});
afterAll(async () => {
  await cleanup(undefined, dir);
});

const cases: [string, string, string[]][] = [
  ["yaml-syntax", "name: x\nservices:\n  web:\n    image: a\n   bad: [\n", ["line"]],
  ["unknown-field", "name: x\nservices:\n  web:\n    imagee: a\n", ["services.web", "imagee"]],
  [
    "bad-duration",
    "name: x\nservices:\n  web:\n    image: a\n    healthcheck: { test: [CMD, 'true'], interval: soon }\n",
    ["services.web.healthcheck.interval", 'expected a duration like "30s"'],
  ],
  [
    "cycle",
    "name: x\nservices:\n  a: { image: i, dependsOn: [b] }\n  b: { image: i, dependsOn: [a] }\n",
    ["dependency cycle", "a → b → a"],
  ],
  [
    "missing-dep",
    "name: x\nservices:\n  a: { image: i, dependsOn: [db] }\n",
    ["services.a.dependsOn.db", 'no service or job named "db"'],
  ],
  [
    "port-conflict",
    "name: x\nservices:\n  a: { image: i, ports: ['8080:80'] }\n  b: { image: i, ports: ['8080:81'] }\n",
    ["services.b.ports[0]", "8080"],
  ],
  [
    "mount-escape",
    "name: x\nservices:\n  a: { image: i, mounts: [{ source: ../../etc, target: /etc/x }] }\n",
    ["services.a.mounts[0].source", "leaves the data root"],
  ],
  [
    "missing-context",
    "name: x\nimages:\n  app: { ref: app:1, build: { context: ./nowhere } }\nservices:\n  a: { image: app }\n",
    ["images.app.build.context", "no such directory"],
  ],
  [
    "bad-image-ref",
    "name: x\nservices:\n  a: { image: 'Redis:7' }\n",
    ["services.a.image", "not a valid image reference"],
  ],
];

describe("invalid stacks", () => {
  it.each(cases)("%s exits 2 naming the problem", async (file, body, expected) => {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${file}.yaml`), body);
    // An unreachable engine proves no engine call is made before validation.
    const r = await runCli(["diff", "-f", `${file}.yaml`], {
      cwd: dir,
      env: { DOCKER_HOST: "tcp://127.0.0.1:9" },
    });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.code, out).toBe(2);
    for (const e of expected) expect(out).toContain(e);
  });

  it("an unreachable engine is one clear error, exit 1", async () => {
    await writeFile(path.join(dir, "ok.yaml"), "name: x\nservices:\n  a: { image: i }\n");
    const r = await runCli(["diff", "-f", "ok.yaml"], {
      cwd: dir,
      env: { DOCKER_HOST: "tcp://127.0.0.1:9" },
    });
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toContain("cannot reach the Docker Engine at");
  });

  it("a stack factory that asks for the engine's info gets the same clear error, exit 1", async () => {
    await writeFile(path.join(dir, "asks.mjs"), ASKS_ENGINE);
    const r = await runCli(["diff", "-f", "asks.mjs"], {
      cwd: dir,
      env: { DOCKER_HOST: "tcp://127.0.0.1:9" },
    });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toMatch(/cannot reach the Docker Engine at \S*127\.0\.0\.1:9/);
    expect(`${r.stdout}${r.stderr}`).not.toContain("the stack module failed");
  });

  it("the Sentry stack with an unreachable engine: the same clear error, exit 1", async () => {
    const project = await tempProject("shctl-sentry-unreachable-");
    try {
      const r = await runCli(["diff"], { cwd: project, env: { DOCKER_HOST: "tcp://127.0.0.1:9" } });
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
      expect(`${r.stdout}${r.stderr}`).toMatch(/cannot reach the Docker Engine at \S*127\.0\.0\.1:9/);
    } finally {
      await cleanup(undefined, project);
    }
  });
});

// A stack module whose factory names the stack after the engine's architecture.
const ASKS_ENGINE = `export const stack = async ({ engineInfo }) => {
  const arch = engineInfo ? (await engineInfo()).architecture : "none";
  return { name: "arch-" + arch.toLowerCase().replace(/[^a-z0-9]/g, "-"), services: { a: { image: "i" } } };
};
`;

describe("stack factories", () => {
  it("get the connected engine's info from the CLI", async () => {
    await writeFile(path.join(dir, "asks.mjs"), ASKS_ENGINE);
    const r = await runCli(["diff", "-f", "asks.mjs", "--json"], { cwd: dir });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    const result = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; stack?: string })
      .find((e) => e.type === "result");
    const { architecture } = await engine.info();
    expect(result?.stack).toBe(`arch-${architecture.toLowerCase().replace(/[^a-z0-9]/g, "-")}`);
  });
});

// The default data root of a stack file that names none became ./data (core does not name the
// product's ./sentrydata any more): a project whose data is still under ./sentrydata is told, and
// is never given a new, empty data root by mistake.
it("a stack file without dataRoot whose data is under the old ./sentrydata is told how to keep it", async () => {
  const dir = await tempProject("shctl-olddefault-");
  try {
    await writeFile(path.join(dir, "stack.yaml"), "name: olddefault\nservices: {}\n");
    await mkdir(path.join(dir, "sentrydata/.shctl"), { recursive: true });
    const r = await runCli(["diff", "-f", "stack.yaml"], { cwd: dir });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain("this stack's data is under ./sentrydata");
    expect(r.stderr).toContain("add `dataRoot: ./sentrydata` to stack.yaml");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// Was a bug: DOCKER_HOST=bogus://x was taken as the HTTP address "x:".
it("a DOCKER_HOST shctl cannot use is a usage error (exit 2), not an address to try", async () => {
  const dir = await tempProject("shctl-dockerhost-");
  try {
    await writeFile(path.join(dir, "stack.yaml"), "name: dockerhost\nservices: {}\n");
    const r = await runCli(["diff", "-f", "stack.yaml"], { cwd: dir, env: { DOCKER_HOST: "bogus://x" } });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain("DOCKER_HOST=bogus://x is not an engine address shctl can use");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
