import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdir, open, readdir, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { apply, type BundleManifest, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  engine,
  ensureToolsImage,
  load,
  runCli,
  stackName,
  startCli,
  tempProject,
  toolsImage,
} from "./helpers.js";
import {
  localImageId,
  OwnedRegistry,
  type PushedImage,
  pushImage,
  rand,
  registryBinary,
  removeLocal,
} from "./registry.js";

/*
 * The offline bundle on the real engine: `images save` pulls and builds what is missing and writes
 * every image of a small stack (a pulled image from a registry this test owns, the tools image,
 * two tiny images built on the base image, one from the other); the images are removed from the
 * engine (only this test's own references), the registry is stopped, and `images load` brings
 * them back with the same IDs, after which apply pulls and builds nothing. A bundle with one byte
 * changed, and one cut short, are refused (exit 2) with nothing loaded.
 */

const canOwn = registryBinary();
if (!canOwn)
  console.warn("bundle tests skipped: docker-registry is not installed (scripts/test-env.sh installs it)");

const r = rand();
const tinyRef = `shctl-it/bundle-tiny-${r}:1`;
const tiny2Ref = `shctl-it/bundle-tiny2-${r}:1`;
let pulledRef = "";
let reg: OwnedRegistry | undefined;
let pushed: PushedImage | undefined;
let dir: string;
let stack: ResolvedStack | undefined;
let file: string;
let bundle: string;
/** This test's own references: the only ones it ever removes. */
const own = () => [tiny2Ref, tinyRef, pulledRef];

function manifestOf(tarFile: string): BundleManifest {
  return JSON.parse(
    execFileSync("tar", ["-xOf", tarFile, "manifest.json"], { encoding: "utf8" }),
  ) as BundleManifest;
}

/** The bundle's own references are gone from the engine (containers that used them removed first). */
async function removeOwn() {
  if (stack) await cleanup(stack, undefined);
  await removeLocal(own());
  for (const ref of own()) expect(await localImageId(ref), ref).toBeUndefined();
}

beforeAll(async () => {
  dir = await tempProject("shctl-bundle-");
  await ensureToolsImage();
  if (!canOwn) return;
  reg = await OwnedRegistry.create();
  pulledRef = `${reg.addr}/shctl-it/bundle-${r}:1`;
  pushed = await pushImage(reg.addr, [`shctl-it/bundle-${r}:1`], { layers: [512 * 1024] });
  await mkdir(path.join(dir, "tiny"));
  await writeFile(path.join(dir, "tiny", "payload"), `tiny ${r}\n`);
  await writeFile(
    path.join(dir, "tiny", "Dockerfile"),
    `FROM ${process.env.SHCTL_TEST_BASE_IMAGE ?? "shctl-test/base:bookworm"}\nCOPY payload /payload\nCMD ["sleep", "infinity"]\n`,
  );
  await mkdir(path.join(dir, "tiny2"));
  await writeFile(path.join(dir, "tiny2", "more"), `more ${r}\n`);
  // A Dockerfile build argument, not a template.
  const from = ["ARG BASE", "FROM $BASE", "COPY more /more", ""].join("\n");
  await writeFile(path.join(dir, "tiny2", "Dockerfile"), from);
  const input = {
    name: stackName("bundle"),
    dataRoot: "./data",
    images: {
      tools: toolsImage(),
      tiny: { ref: tinyRef, build: { context: "./tiny" } },
      tiny2: { ref: tiny2Ref, build: { context: "./tiny2", args: { BASE: tinyRef } }, needs: ["tiny"] },
    },
    services: {
      app: { image: pulledRef, stopGracePeriod: "1s" },
      small: { image: "tiny2", stopGracePeriod: "1s" },
    },
    jobs: { noop: { image: "tools", command: ["true"] } },
  };
  file = path.join(dir, "stack.json");
  await writeFile(file, JSON.stringify(input, null, 2));
  stack = await load(input as never, dir);
  bundle = path.join(dir, "images.tar");
  // The pulled and built images are missing: save gets them first.
  await removeLocal(own());
}, 240_000);

afterAll(async () => {
  if (stack) await cleanup(stack, undefined);
  await removeLocal(own());
  await reg?.dispose();
  await cleanup(undefined, dir);
});

describe.skipIf(!canOwn)("an image bundle", () => {
  it("save pulls and builds what is missing, then writes every image with its ID and the archive's SHA-256", async () => {
    const out = await runCli(["images", "save", "-f", file, "images.tar"], { cwd: dir });
    expect(out.code, out.stdout + out.stderr).toBe(0);
    expect(out.stdout).toContain(`image ${pulledRef}: pulling`);
    expect(out.stdout).toMatch(new RegExp(`image ${esc(pulledRef)}: done — pulled \\d layers?`));
    expect(out.stdout).toContain("image tiny: building");
    expect(out.stdout).toContain("image tiny2: building");
    expect(out.stdout).toMatch(/bundle images\.tar: done — saved 4 images \([\d.]+ MB/);
    expect(out.stdout).toMatch(/Saved 4 images \([\d.]+ MB\) to \.\/images\.tar in/);
    expect(out.stdout).toContain("shctl images load images.tar");
    const m = manifestOf(bundle);
    expect(m).toMatchObject({ format: "shctl-image-bundle", version: 1, stack: stack?.name, profile: null });
    expect(m.createdBy).toMatch(/^shctl \d+\.\d+\.\d+/);
    expect(m.images.map((i) => [i.key, i.ref, i.source])).toEqual([
      [pulledRef, pulledRef, "pull"],
      ["tiny", tinyRef, "build"],
      ["tiny2", tiny2Ref, "build"],
      ["tools", toolsImage().ref, "build"],
    ]);
    for (const i of m.images) expect(i.id, i.ref).toBe(await localImageId(i.ref));
    expect(m.images[0]?.id).toBe(pushed?.id);
    // The manifest's figures are those of the archive inside, read with tar.
    const inner = execFileSync("tar", ["-xOf", bundle, "images.tar"], { maxBuffer: 1 << 30 });
    expect(inner.length).toBe(m.archive.size);
    expect(createHash("sha256").update(inner).digest("hex")).toBe(m.archive.sha256);
    // Nothing else is left next to it.
    expect((await readdir(dir)).filter((n) => n.includes("partial"))).toEqual([]);
  });

  it("load, on an engine without the images and with the registry stopped: checked, loaded, same IDs; apply pulls and builds nothing", async () => {
    const m = manifestOf(bundle);
    await removeOwn();
    await reg?.stop();
    const out = await runCli(["images", "load", "images.tar", "--json"], { cwd: dir });
    expect(out.code, out.stdout + out.stderr).toBe(0);
    const lines = out.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.type === "progress" && l.what === "verify")).toBe(true);
    expect(lines.some((l) => l.type === "progress" && l.what === "load")).toBe(true);
    const result = lines.at(-1) as {
      type: string;
      loaded: boolean;
      images: { ref: string; id: string; before: string | null }[];
    };
    expect(result).toMatchObject({ type: "result", command: "images load", loaded: true });
    for (const i of m.images) {
      expect(await localImageId(i.ref), i.ref).toBe(i.id);
      expect(result.images.find((x) => x.ref === i.ref)?.before ?? null).toBe(
        i.ref === toolsImage().ref ? i.id : null,
      );
    }
    // The plan pulls and builds nothing; apply runs the stack with the registry down.
    const diff = await runCli(["diff", "-f", file, "--json"], { cwd: dir });
    const plan = (
      JSON.parse(diff.stdout.split("\n")[0] as string) as { plan: { actions: { kind: string }[] } }
    ).plan;
    expect(
      plan.actions.filter((a) => a.kind.startsWith("image.")),
      JSON.stringify(plan.actions, null, 1),
    ).toEqual([]);
    engine.resetCalls();
    await apply(stack as ResolvedStack, engine);
    expect(engine.calls.byOperation["image.pull"] ?? 0).toBe(0);
    expect(engine.calls.byOperation["image.build"] ?? 0).toBe(0);
  });

  it("load again: checked, nothing to load, said so", async () => {
    const out = await runCli(["images", "load", "images.tar"], { cwd: dir });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(
      /The engine had all 4 images already, with the IDs the bundle gives them; nothing to load\./,
    );
  });

  it("Ctrl-C during a save stops it and leaves no file", async () => {
    const running = startCli(["images", "save", "-f", file, "--no-pull", "again.tar"], { cwd: dir });
    await running.waitFor(/bundle again\.tar: exporting/);
    running.kill("SIGINT");
    const out = await running.done;
    expect(out.code, out.stdout + out.stderr).toBe(130);
    expect(out.stderr).toMatch(/interrupted: no bundle was written/);
    expect((await readdir(dir)).filter((n) => n.includes("again"))).toEqual([]);
  });

  it("a bundle with one byte changed is refused before anything is loaded (exit 2)", async () => {
    await removeOwn();
    const damaged = path.join(dir, "damaged.tar");
    await copyFile(bundle, damaged);
    const fh = await open(damaged, "r+");
    try {
      // Inside images.tar, about half-way.
      const at = 512 + Math.floor(manifestOf(bundle).archive.size / 2);
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0] = (b[0] as number) ^ 0xff;
      await fh.write(b, 0, 1, at);
    } finally {
      await fh.close();
    }
    const out = await runCli(["images", "load", "damaged.tar"], { cwd: dir });
    expect(out.code, out.stdout + out.stderr).toBe(2);
    expect(out.stderr).toMatch(/damaged\.tar is not a whole image bundle: /);
    expect(out.stderr).toMatch(/nothing was loaded/);
    for (const ref of own()) expect(await localImageId(ref), ref).toBeUndefined();
  });

  it("a bundle cut short is refused the same way, as JSON too", async () => {
    const cut = path.join(dir, "cut.tar");
    await copyFile(bundle, cut);
    await truncate(cut, Math.floor((await stat(bundle)).size * 0.6));
    const out = await runCli(["images", "load", "cut.tar", "--json"], { cwd: dir });
    expect(out.code).toBe(2);
    const last = JSON.parse(out.stdout.trim().split("\n").at(-1) as string) as Record<string, unknown>;
    expect(last).toMatchObject({ type: "error", error: "BundleError", exitCode: 2 });
    expect(String(last.message)).toMatch(/cut short/);
    for (const ref of own()) expect(await localImageId(ref), ref).toBeUndefined();
  });

  it("a gzipped bundle is read as it is; --check loads nothing and says what the engine lacks", async () => {
    const gz = path.join(dir, "images.tar.gz");
    await pipeline(createReadStream(bundle), createGzip({ level: 1 }), createWriteStream(gz));
    const out = await runCli(["images", "load", "--check", "images.tar.gz"], { cwd: dir });
    expect(out.code, out.stdout + out.stderr).toBe(0);
    expect(out.stdout).toMatch(/images\.tar\.gz is whole: 4 images \(stack /);
    expect(out.stdout).toMatch(/The engine lacks 3 of them/);
    for (const ref of own()) expect(await localImageId(ref), ref).toBeUndefined();
  });

  it("save --no-pull with an image missing fails and names it, and writes nothing", async () => {
    const noPull = await runCli(["images", "save", "-f", file, "--no-pull", "again.tar"], { cwd: dir });
    expect(noPull.code).toBe(1);
    expect(noPull.stderr).toMatch(/3 images are not on the engine: .*bundle-tiny-/);
    expect((await readdir(dir)).filter((n) => n.includes("again"))).toEqual([]);
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
