import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, type ResolvedStack, StepsFailedError } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, containersOf, engine, load, runCli, stackName, tempProject } from "./helpers.js";
import { localImageId, OwnedRegistry, rand, registryBinary } from "./registry.js";

/*
 * A registry outage during an apply that pulls several images at once (as a first install does):
 * every pull fails, and the apply reports the cause once, with the images it hit, through the API,
 * the CLI's plain output and --json. The registry is one this test owns, stopped (connection
 * refused), on the real engine.
 */

const canOwn = registryBinary();
if (!canOwn)
  console.warn(
    "grouped pull failure tests skipped: docker-registry is not installed (scripts/test-env.sh installs it)",
  );

const r = rand();
let reg: OwnedRegistry | undefined;
let dir: string;
const stacks: ResolvedStack[] = [];
let refs: string[] = [];

async function stackFile(tag: string): Promise<{ file: string; cwd: string; stack: ResolvedStack }> {
  const input = {
    name: stackName(tag),
    dataRoot: "./data",
    services: Object.fromEntries(refs.map((ref, i) => [`s${i}`, { image: ref, stopGracePeriod: "1s" }])),
  };
  const cwd = path.join(dir, input.name);
  await mkdir(cwd, { recursive: true });
  const file = path.join(cwd, "stack.json");
  await writeFile(file, JSON.stringify(input, null, 2));
  const stack = await load(input as never, cwd);
  stacks.push(stack);
  return { file, cwd, stack };
}

beforeAll(async () => {
  dir = await tempProject("shctl-pullfail-");
  if (!canOwn) return;
  reg = await OwnedRegistry.create();
  refs = ["alpha", "beta", "gamma", "delta"].map((n) => `${reg?.addr}/shctl-it/${n}-${r}:1`);
  await reg.stop();
}, 60_000);

afterAll(async () => {
  for (const s of stacks) await cleanup(s, undefined);
  await reg?.dispose();
  await cleanup(undefined, dir);
});

describe.skipIf(!canOwn)("several pulls failing for one cause", () => {
  it("the API: one StepsFailedError naming the cause once, with every image", async () => {
    const { stack } = await stackFile("pf-api");
    const err = await apply(stack, engine).then(
      () => expect.fail("the apply should have failed"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StepsFailedError);
    const e = err as StepsFailedError;
    expect(e.message).toBe(
      `4 images could not be pulled from ${reg?.addr}: registry unreachable (connection refused)`,
    );
    expect(e.groups).toHaveLength(1);
    expect(e.groups[0]?.code).toBe("refused");
    expect([...(e.groups[0]?.resources ?? [])].sort()).toEqual(refs.map((x) => `image ${x}`).sort());
    for (const ref of refs) expect(await localImageId(ref)).toBeUndefined();
    expect(await containersOf(stack.name)).toEqual({});
  });

  it("the CLI: one error line for the cause, the images listed under it, the engine's words once", async () => {
    const { file, cwd } = await stackFile("pf-cli");
    const out = await runCli(["apply", "-f", file], { cwd });
    expect(out.code).toBe(1);
    const lines = out.stderr.split("\n");
    expect(lines[0]).toBe(
      `error: 4 images could not be pulled from ${reg?.addr}: registry unreachable (connection refused)`,
    );
    const listed = lines
      .filter((l) => l.startsWith("  ") && !l.includes("engine said"))
      .join(" ")
      .split(/,\s*/)
      .map((x) => x.trim())
      .filter(Boolean);
    expect(listed.sort()).toEqual([...refs].sort());
    expect(out.stderr.match(/connection refused/g)).toHaveLength(2); // the headline and the engine's words
    expect(out.stderr).toMatch(/^hint: check that .* runs|^hint: this host cannot reach/m);
    // Each image's own line in the progress shows it failed.
    for (const ref of refs) expect(out.stdout).toContain(`image ${ref}: failed`);
  });

  it("--json: the error carries the groups as data", async () => {
    const { file, cwd } = await stackFile("pf-json");
    const out = await runCli(["apply", "-f", file, "--json"], { cwd });
    expect(out.code).toBe(1);
    const last = JSON.parse(out.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>;
    expect(last).toMatchObject({ type: "error", error: "StepsFailedError", exitCode: 1 });
    const failures = last.failures as { code: string; cause: string; resources: string[] }[];
    expect(failures).toHaveLength(1);
    expect(failures[0]?.code).toBe("refused");
    expect(failures[0]?.cause).toBe("registry unreachable (connection refused)");
    expect([...(failures[0]?.resources ?? [])].sort()).toEqual(refs.map((x) => `image ${x}`).sort());
  });
});
