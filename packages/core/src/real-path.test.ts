import { mkdir, mkdtemp, realpath, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveThroughLinks } from "./real-path.js";

let dir: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), "shctl-realpath-")));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("resolveThroughLinks", () => {
  it("is the real path of a path that exists", async () => {
    await mkdir(path.join(dir, "a/b"), { recursive: true });
    expect(await resolveThroughLinks(path.join(dir, "a/./b"))).toBe(path.join(dir, "a/b"));
  });

  it("follows a link above parts that do not exist yet", async () => {
    await mkdir(path.join(dir, "outside"));
    await mkdir(path.join(dir, "root"));
    await symlink(path.join(dir, "outside"), path.join(dir, "root/up"));
    expect(await resolveThroughLinks(path.join(dir, "root/up/below/deeper"))).toBe(
      path.join(dir, "outside/below/deeper"),
    );
  });

  it("follows a dangling link to its target", async () => {
    await mkdir(path.join(dir, "root"));
    await symlink("../elsewhere/x", path.join(dir, "root/link"));
    expect(await resolveThroughLinks(path.join(dir, "root/link/y"))).toBe(path.join(dir, "elsewhere/x/y"));
  });

  it("gives up on a loop of links", async () => {
    await symlink(path.join(dir, "b"), path.join(dir, "a"));
    await symlink(path.join(dir, "a"), path.join(dir, "b"));
    expect(await resolveThroughLinks(path.join(dir, "a/c"))).toBeUndefined();
  });
});
