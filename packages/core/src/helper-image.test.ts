import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { EngineClient, EngineInfo } from "./engine/index.js";
import { UnsupportedArchitectureError } from "./errors.js";
import { HELPER_BINARIES } from "./helper-binaries.js";
import {
  ensureHelperImage,
  helperArch,
  helperBinary,
  helperImageRef,
  singleFileTar,
} from "./helper-image.js";

describe("helperArch", () => {
  it.each([
    ["x86_64", "x86_64"],
    ["amd64", "x86_64"],
    ["aarch64", "aarch64"],
    ["arm64", "aarch64"],
    ["armv7l", undefined],
    ["s390x", undefined],
    ["", undefined],
  ])("%s -> %s", (engineArch, want) => {
    expect(helperArch(engineArch)).toBe(want);
  });
});

describe("singleFileTar", () => {
  it("is a tar that holds only the file, mode 0755, owned by root", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "shctl-tar-"));
    try {
      const data = Buffer.from("#!/bin/sh\necho hi\n");
      const tar = singleFileTar("shctl-helper", data);
      expect(tar.length % 512).toBe(0);
      writeFileSync(path.join(dir, "a.tar"), tar);
      const listing = execFileSync("tar", ["-tvf", path.join(dir, "a.tar"), "--numeric-owner"]).toString();
      expect(listing.trim().split("\n")).toHaveLength(1);
      expect(listing).toMatch(/^-rwxr-xr-x 0\/0\s+18 1970-01-01 00:00 shctl-helper$/m);
      execFileSync("tar", ["-xf", path.join(dir, "a.tar"), "-C", dir]);
      expect(readFileSync(path.join(dir, "shctl-helper"))).toEqual(data);
      expect(statSync(path.join(dir, "shctl-helper")).mode & 0o777).toBe(0o755);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function fakeEngine(info: Partial<EngineInfo>, present: string[] = []) {
  const imports: { ref: string; changes: string[]; size: number }[] = [];
  let infoCalls = 0;
  const engine = {
    info: async () => {
      infoCalls++;
      return { architecture: "x86_64", osType: "linux", ...info } as EngineInfo;
    },
    inspectImage: async (ref: string) =>
      present.includes(ref) ? { id: "sha256:x", labels: {}, env: [] } : undefined,
    importImage: async (tar: Buffer, o: { ref: string; changes: string[] }) => {
      imports.push({ ...o, size: tar.length });
      present.push(o.ref);
      return "sha256:new";
    },
  } as unknown as EngineClient;
  return { engine, imports, infoCalls: () => infoCalls };
}

describe("ensureHelperImage", () => {
  it("imports the binary of the engine's architecture when its image is missing, once per client", async () => {
    const { engine, imports, infoCalls } = fakeEngine({ architecture: "aarch64" });
    const ref = await ensureHelperImage(engine);
    expect(ref).toBe(`shctl/helper:${HELPER_BINARIES.aarch64.sha256.slice(0, 12)}`);
    expect(imports).toEqual([
      {
        ref,
        changes: ['ENTRYPOINT ["/shctl-helper"]'],
        size: singleFileTar("shctl-helper", helperBinary("aarch64")).length,
      },
    ]);
    expect(await ensureHelperImage(engine)).toBe(ref);
    expect(infoCalls()).toBe(1);
  });

  it("uses the image the engine has", async () => {
    const ref = helperImageRef(HELPER_BINARIES.x86_64);
    const { engine, imports } = fakeEngine({ architecture: "x86_64" }, [ref]);
    expect(await ensureHelperImage(engine)).toBe(ref);
    expect(imports).toEqual([]);
  });

  it("refuses other architectures and Windows engines with a typed error", async () => {
    await expect(ensureHelperImage(fakeEngine({ architecture: "s390x" }).engine)).rejects.toThrow(
      UnsupportedArchitectureError,
    );
    const err = await ensureHelperImage(
      fakeEngine({ architecture: "x86_64", osType: "windows" }).engine,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedArchitectureError);
    expect(err.message).toContain("supports amd64 and arm64");
  });
});
