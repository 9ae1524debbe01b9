import { apply, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { cleanup, containersOf, engine, load, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * A stack wider than Node's default listener limit: every service waits for health at once, each
 * listening for the apply's abort. The apply must neither leak listeners nor warn about them, nor
 * look the shared image up once per container.
 */

const N = 14;
let projectDir: string;
let stack: ResolvedStack | undefined;
beforeAll(async () => {
  projectDir = await tempProject();
});
afterAll(async () => {
  await cleanup(stack, projectDir);
});

it(`${N} health-gated services come up in parallel without a listener-leak warning`, async () => {
  const services = Object.fromEntries(
    Array.from({ length: N }, (_, i) => [
      `s${i}`,
      {
        image: "tools",
        command: ["sleep", "infinity"],
        healthcheck: { test: ["CMD", "true"], interval: "1s" },
        stopGracePeriod: "1s",
      },
    ]),
  );
  stack = await load({ name: stackName("wide"), images: { tools: toolsImage() }, services }, projectDir);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  const controller = new AbortController();
  engine.resetCalls();
  try {
    await apply(stack, engine, { signal: controller.signal, concurrency: N });
  } finally {
    process.off("warning", onWarning);
  }
  // Containers created together share one lookup of their image (observe may inspect it once too).
  expect(engine.calls.byOperation["image.inspect"] ?? 0).toBeLessThanOrEqual(2);
  // Warnings are emitted on the next tick.
  await new Promise((r) => setImmediate(r));
  expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  const running = await containersOf(stack.name);
  expect(Object.keys(running)).toHaveLength(N);
  for (const [name, c] of Object.entries(running)) expect(c.state, name).toBe("running");
  // Apply counts a service ready once its healthcheck's command succeeds in the container; the
  // engine says healthy at its own next check (within the 1 s interval).
  await vi.waitFor(
    async () => {
      for (const c of Object.values(running))
        expect((await engine.inspectContainer(c.id))?.health).toBe("healthy");
    },
    { timeout: 10_000, interval: 250 },
  );
});
