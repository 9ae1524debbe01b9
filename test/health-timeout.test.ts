import { apply, HealthTimeoutError, type ResolvedStack } from "@sh/core";
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
