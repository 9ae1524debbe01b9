import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SpecError, UsageError } from "@sh/core";
import { describe, expect, it } from "vitest";
import { displayPath, nearbyFile, profileAsUsage } from "./common.js";

describe("an unknown --profile", () => {
  it("is a usage error about the flag, not a problem in the stack file", () => {
    const err = profileAsUsage(
      new SpecError("stack.yaml", [
        { path: ["profile"], message: 'unknown profile "ful"; this stack has: core, full' },
      ]),
      "ful",
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(
      '--profile ful: unknown profile "ful"; this stack has: core, full',
    );
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).hint).toContain("leave --profile out");
  });

  it("says so when the stack has no profiles at all", () => {
    const err = profileAsUsage(
      new SpecError("stack.yaml", [{ path: ["profile"], message: 'unknown profile "x"' }]),
      "x",
    ) as UsageError;
    expect(err.hint).toBe("this stack has no profiles: leave --profile out");
  });

  it("leaves every other error alone", () => {
    const other = new SpecError("stack.yaml", [{ path: ["services", "web"], message: "bad" }]);
    expect(profileAsUsage(other, "full")).toBe(other);
    const two = new SpecError("stack.yaml", [
      { path: ["profile"], message: 'unknown profile "x"' },
      { path: ["services", "web"], message: "bad" },
    ]);
    expect(profileAsUsage(two, "x")).toBe(two);
    const noFlag = new SpecError("stack.yaml", [{ path: ["profile"], message: 'unknown profile "x"' }]);
    expect(profileAsUsage(noFlag, undefined)).toBe(noFlag);
  });
});

describe("displayPath", () => {
  it("shows paths under the current directory as ./…, others absolute", () => {
    expect(displayPath("/srv/app/data", "/srv/app")).toBe("./data");
    expect(displayPath("/srv/app", "/srv/app")).toBe(".");
    expect(displayPath("/var/lib/x", "/srv/app")).toBe("/var/lib/x");
  });
});

describe("a stack file that does not exist", () => {
  it("points at a file next to it with a close name", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "shctl-near-"));
    try {
      await writeFile(path.join(dir, "stack.yaml"), "name: x\n");
      await writeFile(path.join(dir, "notes.txt"), "");
      expect(nearbyFile(path.join(dir, "stack.yml"))).toBe(path.join(dir, "stack.yaml"));
      expect(nearbyFile(path.join(dir, "stak.yaml"))).toBe(path.join(dir, "stack.yaml"));
      expect(nearbyFile(path.join(dir, "other.yaml"))).toBeUndefined();
      expect(nearbyFile(path.join(dir, "note.txt"))).toBeUndefined();
      expect(nearbyFile(path.join(dir, "missing-dir", "stack.yml"))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
