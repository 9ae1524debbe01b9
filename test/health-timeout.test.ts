import { apply, HealthTimeoutError, type ResolvedStack, StepFailedError, StepsFailedError } from "@sh/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { cleanup, engine, load, stackName, tempProject, toolsImage } from "./helpers.js";

/* A service that never becomes healthy fails the apply with its name and its last check output. */

let projectDir: string;
let stack: ResolvedStack | undefined;
const done: ResolvedStack[] = [];
beforeAll(async () => {
  projectDir = await tempProject();
});
afterAll(async () => {
  for (const s of done) await cleanup(s, undefined);
  await cleanup(undefined, projectDir);
});

it("a health timeout names the service and shows the last health-check output", async () => {
  stack = await load(
    {
      name: stackName("health"),
      images: { tools: toolsImage() },
      services: {
        sick: {
          image: "tools",
          command: ["sleep", "infinity"],
          healthcheck: {
            test: ["CMD", "sh", "-c", "echo not-ready-yet; exit 1"],
            interval: "1s",
            retries: 100,
          },
          readyTimeout: "5s",
          stopGracePeriod: "1s",
        },
      },
    },
    projectDir,
  );
  done.push(stack);
  const err = await apply(stack, engine).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HealthTimeoutError);
  expect((err as HealthTimeoutError).message).toContain("service sick");
  expect((err as HealthTimeoutError).details.join("\n")).toContain("not-ready-yet");

  // The next apply has nothing to change, but does not call an unhealthy service done: it waits
  // for it again, and fails the same way, with the service's phase ending as failed.
  const phases: string[] = [];
  const again = await apply(stack, engine, {
    onEvent: (e) => {
      if (e.type === "plan") expect(e.plan).toMatchObject({ actions: [], unready: ["sick"] });
      if (e.type === "phase" && e.resource === "service sick") phases.push(e.phase);
    },
  }).catch((e: unknown) => e);
  expect(again).toBeInstanceOf(HealthTimeoutError);
  expect(phases.at(-1)).toBe("failed");
});

it("a readiness probe that never passes fails the same way, naming the probe", async () => {
  stack = await load(
    {
      name: stackName("probe"),
      images: { tools: toolsImage() },
      services: {
        deaf: {
          image: "tools",
          command: ["sleep", "infinity"],
          readiness: [{ tcp: { port: 6553 } }],
          readyTimeout: "3s",
          stopGracePeriod: "1s",
        },
      },
    },
    projectDir,
  );
  done.push(stack);
  const err = await apply(stack, engine).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HealthTimeoutError);
  expect((err as HealthTimeoutError).message).toContain("service deaf");
  expect((err as HealthTimeoutError).details.join("\n")).toContain("tcp :6553");
});

it("a container the engine will not start fails with the service, the step and what to change", async () => {
  // No kernel lets a process hold this many open files (fs.nr_open tops out near 2^30): the
  // runtime refuses to start the container on every engine, as it refuses upstream's ClickHouse
  // limit on an engine whose own limit is lower.
  stack = await load(
    {
      name: stackName("rlimit"),
      images: { tools: toolsImage() },
      services: {
        greedy: {
          image: "tools",
          command: ["sleep", "infinity"],
          ulimits: { nofile: { soft: 2147483647, hard: 2147483647 } },
        },
      },
    },
    projectDir,
  );
  done.push(stack);
  const err = await apply(stack, engine).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StepFailedError);
  const e = err as StepFailedError;
  expect(e.exitCode).toBe(1);
  expect(e.message).toContain("service greedy");
  expect(e.message).toMatch(/start/);
  expect(e.message).toMatch(/rlimit/);
  expect(e.hint).toContain("services.greedy.ulimits");
});

it("when several steps in flight fail, each ends as failed in the progress events, none left running", async () => {
  // Three pulls from a registry mirror on a closed local port: all fail, at about the same time.
  stack = await load(
    {
      name: stackName("pulls"),
      registryMirror: "127.0.0.1:9/shctl-test",
      images: {
        a: { ref: "shctl-test/absent-a:1" },
        b: { ref: "shctl-test/absent-b:1" },
        c: { ref: "shctl-test/absent-c:1" },
      },
      services: {
        a: { image: "a" },
        b: { image: "b" },
        c: { image: "c" },
      },
    },
    projectDir,
  );
  done.push(stack);
  const last = new Map<string, string>();
  const err = await apply(stack, engine, {
    onEvent: (e) => {
      if (e.type === "phase") last.set(e.resource, e.phase);
    },
  }).catch((e: unknown) => e);
  const pulls = [...last].filter(([r]) => r.startsWith("image "));
  expect(pulls.length).toBeGreaterThan(1);
  for (const [resource, phase] of pulls) expect(phase, resource).toBe("failed");
  // The failures share one cause: the error says it once, for every image it hit.
  expect(err).toBeInstanceOf(StepsFailedError);
  expect((err as StepsFailedError).message).toMatch(
    new RegExp(
      `^${pulls.length} images could not be pulled from 127\\.0\\.0\\.1:9: registry unreachable \\(connection refused\\)$`,
    ),
  );
});
