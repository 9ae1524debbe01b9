import { execFileSync, spawnSync } from "node:child_process";
import { chmod, copyFile, mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, containersOf, REPO, stackName, tempProject } from "./helpers.js";

/*
 * The plan's own entry points at the repository root — start.sh (first install: install, build,
 * apply) and up.sh (everyday start: apply) — the `shctl` bin npm links at install time, and the
 * .gitattributes that keeps scripts LF on a Windows checkout.
 *
 * start.sh's install/build decisions run in a copy of the script inside a fake checkout, with a
 * fake `npm` on PATH that records its calls (and a fake built CLI that prints its arguments), so
 * the test never reinstalls or rebuilds this checkout. up.sh and the bin also run for real.
 */

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await cleanup(undefined, d);
});

function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, CI: "true", NO_COLOR: "1", ...opts.env },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A fake npm: records each call; `ci` leaves npm's hidden lockfile, `run build` a fake CLI.
const FAKE_NPM = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >> "$PWD/npm.log"
if [ "$1" = ci ]; then
  [ -z "\${FAIL_CI:-}" ] || { echo "npm ci failed" >&2; exit 1; }
  mkdir -p node_modules && touch node_modules/.package-lock.json
elif [ "$1" = run ] && [ "$2" = build ]; then
  mkdir -p packages/cli/dist
  echo 'console.log("APPLY " + process.argv.slice(2).join(" ") + " in " + process.cwd())' > packages/cli/dist/main.js
fi
`;

/** A fake checkout holding a copy of `script`, with the files start.sh looks at. */
async function fakeCheckout(script: string) {
  const root = await tempProject("shctl-scripts-");
  dirs.push(root);
  await copyFile(path.join(REPO, script), path.join(root, script));
  await chmod(path.join(root, script), 0o755);
  for (const f of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.base.json"])
    await writeFile(path.join(root, f), "{}\n");
  await mkdir(path.join(root, "packages/core/src"), { recursive: true });
  await writeFile(path.join(root, "packages/core/src/a.ts"), "export const a = 1;\n");
  const bin = path.join(root, "fakebin");
  await mkdir(bin);
  await writeFile(path.join(bin, "npm"), FAKE_NPM);
  await chmod(path.join(bin, "npm"), 0o755);
  const npmCalls = async () =>
    (await readFile(path.join(root, "npm.log"), "utf8").catch(() => "")).split("\n").filter((l) => l !== "");
  // Run from elsewhere: the script works in its own directory.
  const exec = (args: string[], env: Record<string, string> = {}) =>
    run(path.join(root, script), args, {
      cwd: path.dirname(root),
      env: { PATH: `${bin}:${process.env.PATH}`, ...env },
    });
  /** Sets a file's modification time `seconds` from now (so "newer than the last build" is unambiguous). */
  const touch = (file: string, seconds: number) => {
    const t = new Date(Date.now() + seconds * 1000);
    return utimes(path.join(root, file), t, t);
  };
  return { root, npmCalls, exec, touch };
}

describe("start.sh", () => {
  it("installs and builds on a fresh checkout, then runs shctl apply with its arguments, in the checkout", async () => {
    const c = await fakeCheckout("start.sh");
    const r = c.exec(["--dry-run", "--profile", "core"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await c.npmCalls()).toEqual(["ci --no-audit --no-fund", "run build --silent"]);
    expect(r.stdout.trim()).toBe(`APPLY apply --dry-run --profile core in ${c.root}`);
    expect(r.stderr).toContain("installing dependencies (npm ci)");
    expect(r.stderr).toContain("building shctl (npm run build)");
  });

  it("then neither installs nor builds while nothing changed", async () => {
    const c = await fakeCheckout("start.sh");
    c.exec([]);
    const again = c.exec(["--yes"]);
    expect(again.code, again.stderr).toBe(0);
    expect(await c.npmCalls()).toEqual(["ci --no-audit --no-fund", "run build --silent"]);
    expect(again.stdout).toContain("APPLY apply --yes");
    expect(again.stderr).toBe("");
  });

  it("builds again when a source file changed, not for a test file", async () => {
    const c = await fakeCheckout("start.sh");
    c.exec([]);
    await writeFile(path.join(c.root, "packages/core/src/a.test.ts"), "// a test\n");
    await c.touch("packages/core/src/a.test.ts", 10);
    c.exec([]);
    expect((await c.npmCalls()).length).toBe(2);
    await c.touch("packages/core/src/a.ts", 20);
    expect(c.exec([]).code).toBe(0);
    expect(await c.npmCalls()).toEqual([
      "ci --no-audit --no-fund",
      "run build --silent",
      "run build --silent",
    ]);
  });

  it("installs (and builds) again when package-lock.json is newer than the installed dependencies", async () => {
    const c = await fakeCheckout("start.sh");
    c.exec([]);
    await c.touch("package-lock.json", 10);
    expect(c.exec([]).code).toBe(0);
    expect(await c.npmCalls()).toEqual([
      "ci --no-audit --no-fund",
      "run build --silent",
      "ci --no-audit --no-fund",
      "run build --silent",
    ]);
  });

  it("stops, without applying, when the install fails", async () => {
    const c = await fakeCheckout("start.sh");
    const r = c.exec([], { FAIL_CI: "1" });
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain("APPLY");
    expect(await c.npmCalls()).toEqual(["ci --no-audit --no-fund"]);
  });
});

describe("up.sh", () => {
  it("runs shctl apply with its arguments, never installing or building", async () => {
    const c = await fakeCheckout("up.sh");
    await mkdir(path.join(c.root, "packages/cli/dist"), { recursive: true });
    await writeFile(
      path.join(c.root, "packages/cli/dist/main.js"),
      'console.log("APPLY " + process.argv.slice(2).join(" "))\n',
    );
    await c.touch("packages/core/src/a.ts", 10);
    const r = c.exec(["--yes"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("APPLY apply --yes");
    expect(await c.npmCalls()).toEqual([]);
  });

  it("points to start.sh when shctl is not built", async () => {
    const c = await fakeCheckout("up.sh");
    const r = c.exec([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("run ./start.sh for the first install");
    expect(await c.npmCalls()).toEqual([]);
  });

  it("plans a stack for real (--dry-run against the engine), changing nothing", async () => {
    const dir = await tempProject("shctl-up-");
    dirs.push(dir);
    const name = stackName("up");
    const file = path.join(dir, "tiny.yaml");
    await writeFile(
      file,
      `name: ${name}\nservices:\n  a: { image: "shctl-test/tools:latest", command: [sleep, infinity] }\n`,
    );
    const r = run(path.join(REPO, "up.sh"), ["-f", file, "--dry-run"], { cwd: dir });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/\+ service a\s+create/);
    expect(r.stdout).toContain("Dry run: nothing was changed.");
    expect(await containersOf(name)).toEqual({});
  });
});

describe("the repository's entry points and line endings", () => {
  const gitMode = (file: string) =>
    execFileSync("git", ["ls-files", "-s", "--", file], { cwd: REPO, encoding: "utf8" }).split(" ")[0];

  it.each(["start.sh", "up.sh", "packages/cli/bin/shctl.js"])(
    "%s is committed executable, LF, with a shebang",
    async (file) => {
      expect(gitMode(file)).toBe("100755");
      expect(((await stat(path.join(REPO, file))).mode & 0o111) !== 0).toBe(true);
      const text = await readFile(path.join(REPO, file), "utf8");
      expect(text).not.toContain("\r");
      expect(text.startsWith("#!/usr/bin/env ")).toBe(true);
      if (file.endsWith(".sh")) expect(text).toContain("set -euo pipefail");
    },
  );

  it("the shctl bin npm links at install time exists in the checkout and runs the built CLI", async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO, "packages/cli/package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    const bin = path.join(REPO, "packages/cli", pkg.bin.shctl as string);
    expect(gitMode(path.relative(REPO, bin))).toBe("100755");
    const r = run(process.execPath, [bin, "--version"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("the bin says to build when shctl is not built yet", async () => {
    const root = await tempProject("shctl-bin-");
    dirs.push(root);
    await mkdir(path.join(root, "bin"));
    await copyFile(path.join(REPO, "packages/cli/bin/shctl.js"), path.join(root, "bin/shctl.js"));
    const r = run(process.execPath, [path.join(root, "bin/shctl.js"), "--help"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("shctl is not built yet");
    expect(r.stderr).toContain("npm run build");
  });

  it.each([
    "start.sh",
    "up.sh",
    "scripts/test-env.sh",
    "packages/specs/contexts/cron/entrypoint.sh",
    "packages/specs/contexts/cron/Dockerfile",
    "packages/specs/scripts/write-schema.mjs",
    "packages/specs/src/sentry/service-configs.ts",
  ])(".gitattributes keeps %s LF on every checkout", (file) => {
    const out = execFileSync("git", ["check-attr", "eol", "--", file], { cwd: REPO, encoding: "utf8" });
    expect(out.trim()).toBe(`${file}: eol: lf`);
  });

  it("a checkout with core.autocrlf=true (Git for Windows' default) still writes the scripts LF", async () => {
    const repo = await tempProject("shctl-crlf-");
    dirs.push(repo);
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], {
        cwd: repo,
        encoding: "utf8",
      });
    git("init", "-q");
    await copyFile(path.join(REPO, ".gitattributes"), path.join(repo, ".gitattributes"));
    await copyFile(path.join(REPO, "up.sh"), path.join(repo, "up.sh"));
    await writeFile(path.join(repo, "notes.txt"), "one\ntwo\n");
    git("add", ".");
    git("commit", "-q", "-m", "x");
    for (const f of ["up.sh", "notes.txt"]) await writeFile(path.join(repo, f), "");
    git("-c", "core.autocrlf=true", "checkout", "--", "up.sh", "notes.txt");
    expect(await readFile(path.join(repo, "up.sh"), "utf8")).not.toContain("\r");
    expect(await readFile(path.join(repo, "notes.txt"), "utf8")).toBe("one\ntwo\n");
  });
});
