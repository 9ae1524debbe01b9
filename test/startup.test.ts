import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASE_IMAGE, type CliResult, cleanup, runCli, stackName, tempProject } from "./helpers.js";

/*
 * Everyday commands on an unchanged stack file take the validated stack from the cache and never
 * load the YAML parser or zod (most of a no-op's start-up time). A module hook in the CLI process
 * makes importing either one fail, so the test sees exactly when they load.
 */

let project: string;
let name: string;
let env: Record<string, string>;
let denied: Record<string, string>;

beforeAll(async () => {
  project = await tempProject("shctl-startup-");
  name = stackName("startup");
  const hooks = path.join(project, "hooks");
  await mkdir(hooks);
  await writeFile(
    path.join(hooks, "deny.mjs"),
    [
      "export async function resolve(specifier, context, next) {",
      '  if (specifier === "zod" || specifier === "yaml") throw new Error("loaded " + specifier);',
      "  return next(specifier, context);",
      "}",
    ].join("\n"),
  );
  await writeFile(
    path.join(hooks, "register.mjs"),
    'import { register } from "node:module";\nregister("./deny.mjs", import.meta.url);\n',
  );
  env = { XDG_CACHE_HOME: path.join(project, "cache") };
  denied = { ...env, NODE_OPTIONS: `--import=${pathToFileURL(path.join(hooks, "register.mjs")).href}` };
  await writeStack(["a"]);
});

afterAll(async () => {
  await cleanup(undefined, project); // diff creates nothing in the engine
});

async function writeStack(services: string[]): Promise<void> {
  const lines = [`name: ${name}`, "services:"];
  for (const s of services) lines.push(`  ${s}:`, `    image: ${BASE_IMAGE}`, "    command: sleep infinity");
  await writeFile(path.join(project, "stack.yaml"), `${lines.join("\n")}\n`);
}

const diff = (e: Record<string, string>) => runCli(["diff", "-f", "stack.yaml"], { cwd: project, env: e });

/** The CLI under the hook failed because it imported yaml or zod. */
function expectParserLoaded(r: CliResult): void {
  expect(r.code).not.toBe(0);
  expect(r.stderr + r.stdout).toMatch(/loaded (yaml|zod)/);
}

describe("start-up of a command on an unchanged stack file", () => {
  it("loads yaml and zod only when the file is new or changed", async () => {
    // The hook works: a first look at the file needs the parser, and the command fails.
    const first = await diff(denied);
    expectParserLoaded(first);

    // Validated once…
    const warm = await diff(env);
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stdout).toMatch(/\+ service a +create/);

    // …the same file plans the same way without either library.
    const cached = await diff(denied);
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stdout).toBe(warm.stdout);

    // A changed file is parsed and validated again.
    await writeStack(["a", "b"]);
    const changed = await diff(denied);
    expectParserLoaded(changed);
    const again = await diff(env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/\+ service b +create/);
  });

  it("validates on every run with SHCTL_NO_CACHE=1", async () => {
    await diff(env);
    const off = await diff({ ...denied, SHCTL_NO_CACHE: "1" });
    expectParserLoaded(off);
  });
});
