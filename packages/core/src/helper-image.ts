import { createHash } from "node:crypto";
import type { EngineClient } from "./engine/index.js";
import { UnsupportedArchitectureError } from "./errors.js";
import { HELPER_BINARIES, type HelperBinary } from "./helper-binaries.js";

/*
 * The helper image: one static binary (packages/core/helper/shctl-helper.c) imported into the
 * engine as an image of a single file. It is created through the Engine API from bytes shctl
 * carries, never pulled, so helper containers work with no registry and on any stack.
 */

export type HelperArch = keyof typeof HELPER_BINARIES;

/** The helper binary's name inside the image, and its entrypoint. */
export const HELPER_PATH = "/shctl-helper";

const REPO = "shctl/helper";

/** Maps the engine's architecture name (Docker reports the kernel's, e.g. "x86_64") to a helper build. */
export function helperArch(architecture: string): HelperArch | undefined {
  const a = architecture.toLowerCase();
  if (a === "x86_64" || a === "amd64" || a === "x86-64") return "x86_64";
  if (a === "aarch64" || a === "arm64" || a === "armv8") return "aarch64";
  return undefined;
}

/** The image reference for a build: the tag is the binary's digest, so a new binary gets a new image. */
export function helperImageRef(binary: HelperBinary, repo = REPO): string {
  return `${repo}:${binary.sha256.slice(0, 12)}`;
}

/** The binary's bytes, checked against the digest recorded with them. */
export function helperBinary(arch: HelperArch): Buffer {
  const b = HELPER_BINARIES[arch];
  const bytes = Buffer.from(b.base64, "base64");
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (digest !== b.sha256) throw new Error(`the ${arch} helper binary does not match its sha256`);
  return bytes;
}

/** A ustar archive holding one file at the root (owner 0:0, mtime 0), so the same bytes give the same layer. */
export function singleFileTar(name: string, data: Buffer, mode = 0o755): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) =>
    header.write(value, offset, length, "ascii");
  const octal = (offset: number, length: number, n: number) =>
    field(offset, length, `${n.toString(8).padStart(length - 1, "0")}\0`);
  field(0, 100, name);
  octal(100, 8, mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, data.length);
  octal(136, 12, 0);
  field(148, 8, "        "); // checksum placeholder: spaces while summing
  field(156, 1, "0");
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}

export interface HelperImageOptions {
  /** Another repository for the image (tests use their own, to create it from scratch). */
  repo?: string;
}

const memo = new WeakMap<EngineClient, Map<string, Promise<string>>>();

/**
 * The helper image for this engine's architecture, imported if the engine lacks it; resolves to
 * its reference. Memoized per engine client (a failed attempt is not remembered).
 */
export function ensureHelperImage(engine: EngineClient, opts: HelperImageOptions = {}): Promise<string> {
  const repo = opts.repo ?? REPO;
  const byRepo = memo.get(engine) ?? new Map<string, Promise<string>>();
  memo.set(engine, byRepo);
  const cached = byRepo.get(repo);
  if (cached) return cached;
  const made = createIfMissing(engine, repo);
  byRepo.set(repo, made);
  made.catch(() => byRepo.delete(repo));
  return made;
}

/** Forgets what ensureHelperImage found for this engine (after the image was removed). */
export function forgetHelperImage(engine: EngineClient): void {
  memo.delete(engine);
}

async function createIfMissing(engine: EngineClient, repo: string): Promise<string> {
  const info = await engine.info();
  const arch = helperArch(info.architecture);
  if (!arch || (info.osType && info.osType !== "linux"))
    throw new UnsupportedArchitectureError(info.architecture, info.osType);
  const ref = helperImageRef(HELPER_BINARIES[arch], repo);
  if (await engine.inspectImage(ref)) return ref;
  const tar = singleFileTar(HELPER_PATH.slice(1), helperBinary(arch));
  await engine.importImage(tar, { ref, changes: [`ENTRYPOINT ["${HELPER_PATH}"]`] });
  return ref;
}
