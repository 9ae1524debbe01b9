import { writeFile } from "node:fs/promises";
import path from "node:path";
import {
  apply,
  type EngineClient,
  type Plan,
  type ProgressEvent,
  type ResolvedStack,
  type ShctlError,
  StepFailedError,
} from "@sh/core";
import type { LayerMessage } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, containersOf, engine, load, runCli, stackName, tempProject } from "./helpers.js";
import {
  localImageId,
  OwnedRegistry,
  type PushedImage,
  pushImage,
  rand,
  registryAnswers,
  registryBinary,
  removeLocal,
  seedLayers,
  TEST_REGISTRY,
} from "./registry.js";

/*
 * shctl's pull path against a real registry (Debian's docker-registry, started by
 * scripts/test-env.sh at SHCTL_TEST_REGISTRY, default 127.0.0.1:5555) and against registries a test
 * owns (started, stopped and SIGKILLed here). Every image is built here with its own payload,
 * pushed, and removed locally before the apply, so each pull really transfers layers.
 */

const REG = TEST_REGISTRY;
const sharedUp = await registryAnswers(REG);
const canOwn = registryBinary();
const skipWhy = !sharedUp
  ? `no registry answers at ${REG} (scripts/test-env.sh starts one; set SHCTL_TEST_REGISTRY for another)`
  : !canOwn
    ? "docker-registry is not installed (scripts/test-env.sh installs it), so no registry can be owned by a test"
    : "";
if (skipWhy) console.warn(`pull tests skipped: ${skipWhy}`);

const r = rand();
const names = {
  x: `shctl-it/x-${r}`,
  lib: `shctl-it-lib-${r}`,
  org: `shctl-it-org-${r}/name`,
  nolib: `shctl-it-nolib-${r}`,
  stop: `shctl-it/stop-${r}`,
  big: `shctl-it-big-${r}/app`,
};

interface TestStack {
  name: string;
  projectDir: string;
  stack?: ResolvedStack;
}
const stacks: TestStack[] = [];
/** Every local name a test may have made: removed at the end (only these, tolerant of absence). */
const localRefs = new Set<string>();
let owned: OwnedRegistry | undefined;
const pushed: Record<string, PushedImage> = {};

async function newStack(tag: string): Promise<TestStack> {
  const s = { name: stackName(tag), projectDir: await tempProject("shctl-pull-") };
  stacks.push(s);
  return s;
}

/** One service running `ref` (the payload images run `sleep infinity`). */
async function loadApp(s: TestStack, ref: string, mirror?: string): Promise<ResolvedStack> {
  s.stack = await load(
    {
      name: s.name,
      dataRoot: "./data",
      ...(mirror ? { registryMirror: mirror } : {}),
      services: { app: { image: ref, stopGracePeriod: "1s" } },
    },
    s.projectDir,
  );
  return s.stack;
}

/** The references the plan pulls. */
function pulls(plan: Plan, stack: ResolvedStack): string[] {
  return plan.actions
    .filter((a) => a.kind === "image.pull")
    .map((a) => stack.images[a.target]?.ref ?? a.target);
}

/** The service runs, on exactly the image that was pushed. */
async function expectRunsImage(s: TestStack, imageId: string) {
  const running = await containersOf(s.name);
  expect(running.app?.state).toBe("running");
  const details = await engine.inspectContainer(running.app?.id as string);
  expect(details?.imageId).toBe(imageId);
}

/** A further apply plans nothing and calls nothing that mutates (no pull above all). */
async function expectNoOp(stack: ResolvedStack) {
  engine.resetCalls();
  const { plan } = await apply(stack, engine);
  expect(plan.actions.map((a) => a.id)).toEqual([]);
  expect(engine.calls.byOperation["image.pull"] ?? 0).toBe(0);
  expect(engine.calls.mutating).toBe(0);
}

/** apply must fail; returns the error as the CLI would print it (message, details, hint). */
async function applyFails(
  stack: ResolvedStack,
  onEvent?: (e: ProgressEvent) => void,
  through: EngineClient = engine,
): Promise<string> {
  const err = await apply(stack, through, onEvent ? { onEvent } : {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "apply should have failed").toBeInstanceOf(StepFailedError);
  const e = err as ShctlError;
  expect(e.exitCode).toBe(1);
  return [e.message, ...e.details, e.hint ?? ""].join("\n");
}

beforeAll(async () => {
  if (skipWhy) return;
  for (const n of Object.values(names)) {
    for (const v of [`${n}:1`, `${n}:2`, `${n}:nope`]) {
      localRefs.add(v);
      localRefs.add(`${REG}/${v}`);
      localRefs.add(`${REG}/library/${v}`);
    }
  }
  const reg = await OwnedRegistry.create();
  owned = reg;
  const [x1, x2, lib, org] = await Promise.all([
    pushImage(REG, [`${names.x}:1`]),
    pushImage(REG, [`${names.x}:2`]),
    pushImage(REG, [`library/${names.lib}:1`]),
    pushImage(REG, [`${names.org}:1`]),
  ]);
  Object.assign(pushed, { x1, x2, lib, org });
  for (const n of Object.values(names)) {
    for (const v of [`${n}:1`, `${n}:nope`]) {
      localRefs.add(`${reg.addr}/${v}`);
      localRefs.add(`${reg.addr}/library/${v}`);
    }
  }
  // The base layer is on the shared registry already: copied over, it need not be pushed again.
  await seedLayers(REG, `${names.x}:1`, reg.addr, [names.nolib, names.stop, names.big]);
  const [nolib, stop, big] = await Promise.all([
    pushImage(reg.addr, [`${names.nolib}:1`]),
    pushImage(reg.addr, [`${names.stop}:1`]),
    // One layer of 64 MiB of random bytes: a kill at the engine's first "Downloading" message lands
    // well before it is complete. (More layers than the engine downloads at once, 3, would double
    // the wait: a waiting layer starts its own retries only after the first ones gave up.)
    pushImage(reg.addr, [`${names.big}:1`], { layers: [64 << 20] }),
  ]);
  Object.assign(pushed, { nolib, stop, big });
}, 240_000);

afterAll(async () => {
  for (const s of stacks) await cleanup(s.stack, s.projectDir);
  await removeLocal([...localRefs]);
  await owned?.dispose();
});

describe.skipIf(Boolean(skipWhy))(`pulling from a real registry (${REG})`, () => {
  let main: TestStack;

  it("pulls a missing image, runs it, and pulls nothing on the next apply", async () => {
    const ref = `${REG}/${names.x}:1`;
    expect(await localImageId(ref)).toBeUndefined();
    main = await newStack("pull");
    const stack = await loadApp(main, ref);
    const { plan } = await apply(stack, engine);
    expect(pulls(plan, stack)).toEqual([ref]);
    expect(await localImageId(ref)).toBe(pushed.x1?.id);
    await expectRunsImage(main, pushed.x1?.id as string);
    await expectNoOp(stack);
  });

  it("pulls another tag of the same repository (the first tag present, the second not)", async () => {
    const ref = `${REG}/${names.x}:2`;
    expect(await localImageId(`${REG}/${names.x}:1`)).toBe(pushed.x1?.id);
    expect(await localImageId(ref)).toBeUndefined();
    const stack = await loadApp(main, ref);
    const { plan } = await apply(stack, engine);
    expect(pulls(plan, stack)).toEqual([ref]);
    expect(plan.actions.map((a) => a.id)).toContain("container.recreate:app");
    expect(await localImageId(ref)).toBe(pushed.x2?.id);
    await expectRunsImage(main, pushed.x2?.id as string);
    await expectNoOp(stack);
  });

  describe("through registryMirror", () => {
    it("a one-component name comes from MIRROR/library/NAME:TAG and is tagged NAME:TAG", async () => {
      // Only `library/NAME:1` exists on the registry, so a success proves where it came from.
      const ref = `${names.lib}:1`;
      const s = await newStack("lib");
      const stack = await loadApp(s, ref, REG);
      const { plan } = await apply(stack, engine);
      expect(pulls(plan, stack)).toEqual([ref]);
      expect(await localImageId(ref)).toBe(pushed.lib?.id);
      await expectRunsImage(s, pushed.lib?.id as string);
      await expectNoOp(stack);
    });

    it("a two-component name comes from MIRROR/ORG/NAME:TAG and is tagged ORG/NAME:TAG", async () => {
      const ref = `${names.org}:1`;
      const s = await newStack("org");
      const stack = await loadApp(s, ref, REG);
      const { plan } = await apply(stack, engine);
      expect(pulls(plan, stack)).toEqual([ref]);
      expect(await localImageId(ref)).toBe(pushed.org?.id);
      await expectRunsImage(s, pushed.org?.id as string);
      await expectNoOp(stack);
    });

    it("a one-component name the mirror has only without library/ is still pulled, after library/ answers not found", async () => {
      const reg = owned as OwnedRegistry;
      const ref = `${names.nolib}:1`;
      const s = await newStack("nolib");
      const stack = await loadApp(s, ref, reg.addr);
      const { plan } = await apply(stack, engine);
      expect(pulls(plan, stack)).toEqual([ref]);
      expect(await localImageId(ref)).toBe(pushed.nolib?.id);
      await expectRunsImage(s, pushed.nolib?.id as string);
      // The registry's access log: library/ asked first and answered 404, then the plain name 200.
      const log = reg.log();
      const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      const libMiss = new RegExp(`"(GET|HEAD) /v2/library/${esc(names.nolib)}/manifests/1 HTTP/[\\d.]+" 404`);
      const plainHit = new RegExp(`"(GET|HEAD) /v2/${esc(names.nolib)}/manifests/1 HTTP/[\\d.]+" 200`);
      const miss = log.search(libMiss);
      const hit = log.search(plainHit);
      expect(miss, `the registry was never asked for library/${ref}`).toBeGreaterThanOrEqual(0);
      expect(hit, `the registry never served ${ref}`).toBeGreaterThanOrEqual(0);
      expect(miss, "library/ is asked for first").toBeLessThan(hit);
      await expectNoOp(stack);
    });
  });

  describe("failures name the image and the cause, tag nothing, and the next apply recovers", () => {
    it("an unknown tag", async () => {
      const ref = `${REG}/${names.x}:nope`;
      const s = await newStack("notag");
      const stack = await loadApp(s, ref);
      const text = await applyFails(stack);
      expect(text).toContain(ref);
      expect(text).toMatch(/manifest unknown|not found/);
      expect(await localImageId(ref)).toBeUndefined();
      expect(await containersOf(s.name)).toEqual({});
      // The tag appears on the registry: the next apply pulls it and converges.
      const img = await pushImage(REG, [`${names.x}:nope`]);
      const { plan } = await apply(stack, engine);
      expect(pulls(plan, stack)).toEqual([ref]);
      await expectRunsImage(s, img.id);
      await expectNoOp(stack);
    });

    it("a stopped registry (connection refused), through the API and the CLI", async () => {
      const reg = owned as OwnedRegistry;
      const ref = `${reg.addr}/${names.stop}:1`;
      const s = await newStack("stopped");
      const stack = await loadApp(s, ref);
      await reg.stop();
      try {
        const text = await applyFails(stack);
        expect(text).toContain(ref);
        expect(text).toMatch(/connection refused/);
        expect(await localImageId(ref)).toBeUndefined();
        // The CLI exits 1 and says the same on stderr.
        await writeFile(
          path.join(s.projectDir, "stack.json"),
          JSON.stringify({ name: s.name, dataRoot: "./data", services: { app: { image: ref } } }),
        );
        const cli = await runCli(["apply", "-f", "stack.json"], { cwd: s.projectDir });
        expect(cli.code, cli.stderr).toBe(1);
        expect(cli.stderr).toContain(ref);
        expect(cli.stderr).toMatch(/connection refused/);
        expect(await localImageId(ref)).toBeUndefined();
      } finally {
        await reg.start();
      }
      const { plan } = await apply(stack, engine);
      expect(pulls(plan, stack)).toEqual([ref]);
      await expectRunsImage(s, pushed.stop?.id as string);
      await expectNoOp(stack);
    });

    it("a registry killed (SIGKILL) while the engine downloads the layers", async () => {
      const reg = owned as OwnedRegistry;
      const ref = `${names.big}:1`;
      const mirrorRef = `${reg.addr}/${names.big}:1`;
      const s = await newStack("killed");
      const stack = await loadApp(s, ref, reg.addr);
      let killedAt: string | undefined;
      const lines: string[] = [];
      // The engine's own messages, as the client reads them (shctl's progress events come a few
      // a second, later than the first "Downloading").
      const watching: EngineClient = Object.assign(Object.create(engine) as EngineClient, {
        pullImage: (source: string, onProgress: (line: string, layer?: LayerMessage) => void) =>
          engine.pullImage(source, (line, layer) => {
            lines.push(line);
            if (!killedAt && layer?.status === "Downloading") {
              killedAt = line;
              reg.killNow();
            }
            onProgress(line, layer);
          }),
      });
      try {
        const text = await applyFails(stack, undefined, watching);
        expect(killedAt, `the pull never reported a download:\n${lines.join("\n")}`).toBeDefined();
        expect(text).toContain(ref);
        expect(text).toMatch(/connection refused|connection reset|unexpected EOF/);
        // Nothing half-tagged: neither the stack's name nor the mirror's.
        expect(await localImageId(ref)).toBeUndefined();
        expect(await localImageId(mirrorRef)).toBeUndefined();
        expect(await containersOf(s.name)).toEqual({});
      } finally {
        await reg.kill();
        await reg.start();
      }
      const { plan } = await apply(stack, engine);
      expect(pulls(plan, stack)).toEqual([ref]);
      expect(await localImageId(ref)).toBe(pushed.big?.id);
      await expectRunsImage(s, pushed.big?.id as string);
      await expectNoOp(stack);
    }, 240_000);
  });
});
