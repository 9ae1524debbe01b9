import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import {
  ARCHIVE,
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  type BundleImage,
  type BundleManifest,
  MANIFEST,
  MANIFEST_MAX,
  readAll,
} from "./bundle.js";
import { BundleError, InterruptedError, isShctlError, UsageError } from "./errors.js";
import type { EventSink } from "./events.js";
import { ProgressThrottle } from "./execute/transfer.js";
import { ArchiveReader, checkArchive, type HeldImage } from "./image-archive.js";

/** Reads a bundle through and checks it (see the top of bundle.ts); resolves to its manifest. */
export async function verifyBundle(
  file: string,
  opts: { onEvent?: EventSink; signal?: AbortSignal } = {},
): Promise<BundleManifest> {
  const emit = opts.onEvent ?? (() => {});
  const resource = `bundle ${path.basename(file)}`;
  const damaged = (why: string) =>
    new BundleError(`${file} is not a whole image bundle: ${why}`, {
      hint: "nothing was loaded; copy the bundle again (compare its size), or save a new one with `shctl images save`",
    });
  const total = await stat(file).then(
    (s) => s.size,
    (err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`);
    },
  );
  emit({ type: "phase", resource, phase: "verifying" });
  const t0 = Date.now();
  const progress = new ProgressThrottle(emit, resource, "verify", t0);
  let read = 0;
  let manifest: BundleManifest | undefined;
  let archive: { size: number; sha256: string; held: HeldImage[] } | undefined;
  try {
    await readBundle(
      file,
      (n) => {
        read += n;
        progress.update({ bytes: { done: read, total } });
      },
      async (name, entry) => {
        if (name === MANIFEST) {
          if (manifest) throw damaged(`it has two ${MANIFEST}`);
          manifest = parseManifest(await readAll(entry, MANIFEST_MAX), damaged);
        } else if (name === ARCHIVE) {
          if (archive) throw damaged(`it has two ${ARCHIVE}`);
          const hash = createHash("sha256");
          const inner = await ArchiveReader.create();
          let size = 0;
          for await (const chunk of entry) {
            hash.update(chunk);
            size += chunk.length;
            await inner.write(chunk);
          }
          const held = await inner.end().catch((err: unknown) => {
            throw damaged(`${ARCHIVE} is not a whole image archive (${(err as Error).message})`);
          });
          archive = { size, sha256: hash.digest("hex"), held };
        } else throw damaged(`it holds ${name}, which a bundle does not`);
      },
      opts.signal,
    );
  } catch (err) {
    progress.end();
    if (opts.signal?.aborted)
      throw new InterruptedError("interrupted while checking the bundle: nothing was loaded");
    if (isShctlError(err)) throw err;
    throw damaged(readFailure(err, read, total));
  }
  progress.end();
  if (!manifest) throw damaged(`it has no ${MANIFEST}`);
  if (!archive) throw damaged(`it has no ${ARCHIVE}`);
  if (archive.size !== manifest.archive.size)
    throw damaged(`${ARCHIVE} has ${archive.size} bytes; the manifest says ${manifest.archive.size}`);
  if (archive.sha256 !== manifest.archive.sha256)
    throw damaged(
      `${ARCHIVE} is damaged: its SHA-256 is ${archive.sha256.slice(0, 16)}…, the manifest says ${manifest.archive.sha256.slice(0, 16)}…`,
    );
  checkArchive(archive.held, manifest.images, (m) => damaged(`${ARCHIVE} ${m}`));
  emit({ type: "phase", resource, phase: "verifying", message: "whole", elapsedMs: Date.now() - t0 });
  return manifest;
}

/** Why a bundle could not be read, in words: the tar's and gzip's errors say it their way. */
function readFailure(err: unknown, read: number, total: number): string {
  const message = (err as Error)?.message ?? String(err);
  if (/unexpected end of (data|file)/i.test(message))
    return `it ends too early: it is cut short (${total} bytes), or not a bundle at all`;
  if (/invalid tar header/i.test(message))
    return `it is damaged or not a tar: no valid tar header about ${Math.max(0, read - 65536)}–${read} bytes in`;
  if (/incorrect header check|invalid (block type|distance|stored block)|invalid code/i.test(message))
    return `its gzip data is damaged (${message})`;
  return message;
}

/** A bundle's entries, each read to its end by `onEntry` in turn; gzip is read through. */
export async function readBundle(
  file: string,
  onBytes: (n: number) => void,
  onEntry: (name: string, entry: AsyncIterable<Buffer>) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { extract } = await import("tar-stream");
  const head = Buffer.alloc(2);
  const fh = await open(file, "r");
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(file);
  raw.on("data", (c) => onBytes(c.length));
  const gzipped = head[0] === 0x1f && head[1] === 0x8b;
  const source: Readable = gzipped ? raw.pipe(createGunzip()) : raw;
  const tar = extract();
  const fail = (err: Error) => tar.destroy(err);
  raw.on("error", fail);
  source.on("error", fail);
  const stop = () => fail(signal?.reason ?? new Error("aborted"));
  signal?.addEventListener("abort", stop, { once: true });
  source.pipe(tar as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of tar) {
      const name = entry.header.name;
      await onEntry(name, entry as AsyncIterable<Buffer>);
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    raw.destroy();
  }
}

function parseManifest(buf: Buffer, damaged: (why: string) => Error): BundleManifest {
  let m: BundleManifest;
  try {
    m = JSON.parse(buf.toString("utf8")) as BundleManifest;
  } catch {
    throw damaged(`its ${MANIFEST} is not JSON`);
  }
  if (m?.format !== BUNDLE_FORMAT)
    throw damaged(`it is not an shctl image bundle (${MANIFEST} has no format "${BUNDLE_FORMAT}")`);
  if (m.version !== BUNDLE_VERSION)
    throw new BundleError(
      `the bundle is format version ${m.version}; this shctl reads version ${BUNDLE_VERSION}`,
      {
        hint: "load it with the shctl version that saved it (its manifest names it), or save it again with this one",
      },
    );
  const okImage = (i: BundleImage) =>
    typeof i?.ref === "string" &&
    typeof i.key === "string" &&
    typeof i.id === "string" &&
    /^sha256:[0-9a-f]{64}$/.test(i.id);
  if (!Array.isArray(m.images) || m.images.length === 0 || !m.images.every(okImage))
    throw damaged(`its ${MANIFEST} lists no images, or images without a reference and an ID`);
  if (
    m.archive?.name !== ARCHIVE ||
    !Number.isSafeInteger(m.archive.size) ||
    !/^[0-9a-f]{64}$/.test(String(m.archive.sha256))
  )
    throw damaged(`its ${MANIFEST} does not give ${ARCHIVE}'s size and SHA-256`);
  m.platform ??= { os: "", architecture: "" };
  return m;
}
