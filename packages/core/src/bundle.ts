import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import { createGunzip } from "node:zlib";
import type { EngineClient } from "./engine/index.js";
import { normalizeRef } from "./engine/streams.js";
import {
  BundleError,
  ConflictError,
  InterruptedError,
  isShctlError,
  StepFailedError,
  UsageError,
} from "./errors.js";
import type { EventSink } from "./events.js";
import { execute } from "./execute/index.js";
import { ProgressThrottle } from "./execute/transfer.js";
import { tryParseImageRef } from "./image-ref.js";
import type { ResolvedStack } from "./model.js";
import { observe } from "./observe.js";
import { conflictLines } from "./plan/describe.js";
import { plan } from "./plan/index.js";
import { usedImages } from "./plan/order.js";
import type { Plan } from "./plan/types.js";

/*
 * An image bundle: every image a stack (with its profile) runs, pulled or built, in one file, so
 * that a machine without registry access can install the stack (`shctl images save` where the
 * registry is reachable, `shctl images load` on the other machine; `apply` then pulls nothing).
 *
 * The file is a tar of two entries:
 *   images.tar     the engine's own image archive (`docker save` format) of all the images;
 *   manifest.json  what the bundle holds (BundleManifest): each image's reference and ID, and the
 *                  size and SHA-256 of images.tar.
 * It is written in one pass: images.tar's header is reserved, the engine's export streams behind
 * it (hashed, and read as a tar on the way to check it is whole), then manifest.json follows and
 * the header is filled in. It is written under a temporary name and renamed when complete.
 *
 * Loading reads the bundle twice and never keeps a copy: the first pass checks everything (the
 * outer tar, the SHA-256 and size of images.tar, that images.tar is a whole image archive holding
 * each image under its reference with its ID) before the engine sees a byte; the second streams
 * images.tar to the engine and hashes it again, holding its last bytes back until the hash is
 * right. The engine reads the whole archive before it loads anything, so an upload cut short
 * loads nothing. A bundle may be gzipped (`gzip bundle.tar`): loading reads it as it is.
 */

export const BUNDLE_FORMAT = "shctl-image-bundle";
export const BUNDLE_VERSION = 1;
const ARCHIVE = "images.tar";
const MANIFEST = "manifest.json";
const MANIFEST_MAX = 4 << 20;

export interface BundleImage {
  /** The stack's key for the image. */
  key: string;
  /** The reference the stack runs it as (its tag in the engine once loaded). */
  ref: string;
  /** The image ID (config digest): the same on every engine that has this image. */
  id: string;
  /** Whether the stack pulls it or builds it. */
  source: "pull" | "build";
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  stack: string;
  profile: string | null;
  /** The tool that wrote it ("shctl 0.1.0"). */
  createdBy: string;
  createdAt: string;
  /** The engine it was saved from; images run on engines of the same OS and architecture. */
  platform: { os: string; architecture: string };
  images: BundleImage[];
  /** images.tar: its size in bytes and SHA-256 (hex). */
  archive: { name: typeof ARCHIVE; size: number; sha256: string };
}

export interface SaveBundleOptions {
  onEvent?: EventSink;
  /** Aborting stops the save; nothing is left at the bundle's path. */
  signal?: AbortSignal;
  /** Pull or build the images the engine lacks first, as apply would (default true). */
  prepare?: boolean;
  /** Written into the manifest, e.g. "shctl 0.1.0". */
  createdBy?: string;
  /** How many pulls and builds run at once (default 32, as for apply). */
  concurrency?: number;
}

export interface SaveBundleResult {
  file: string;
  manifest: BundleManifest;
  /** The bundle's size in bytes. */
  bytes: number;
  /** The plan's pulls and builds that ran first (action ids); empty when all images were there. */
  prepared: string[];
}

export interface LoadBundleOptions {
  onEvent?: EventSink;
  signal?: AbortSignal;
  /** Only check the bundle; load nothing. */
  checkOnly?: boolean;
}

export interface LoadedImage extends BundleImage {
  /** The ID the engine had for the reference before the load (undefined: it had none). */
  before: string | undefined;
}

export interface LoadBundleResult {
  manifest: BundleManifest;
  /** Each image of the bundle with the ID its reference had before. */
  images: LoadedImage[];
  /** False when only checked, or when the engine had every image already (nothing to load). */
  loaded: boolean;
}

/** The images a stack runs, and those they are built from, in build order (each once). */
export function stackImages(stack: ResolvedStack): { key: string; ref: string; source: "pull" | "build" }[] {
  const order: string[] = [];
  const visit = (key: string) => {
    if (order.includes(key)) return;
    for (const need of stack.images[key]?.needs ?? []) visit(need);
    order.push(key);
  };
  for (const key of [...usedImages(stack)].sort()) visit(key);
  return order.flatMap((key) => {
    const img = stack.images[key];
    return img ? [{ key, ref: img.ref, source: img.build ? ("build" as const) : ("pull" as const) }] : [];
  });
}

/** The plan's pulls and builds of these images, alone (their `after` kept within them). */
function imagePlan(p: Plan, keys: Set<string>): Plan {
  const actions = p.actions.filter(
    (a) => (a.kind === "image.pull" || a.kind === "image.build") && keys.has(a.target),
  );
  const ids = new Set(actions.map((a) => a.id));
  return {
    ...p,
    actions: actions.map((a) => ({ ...a, after: a.after.filter((x) => ids.has(x)) })),
    conflicts: p.conflicts.filter((c) => c.kind === "image-not-pullable" && keys.has(c.resource.name)),
    unchanged: [],
    unready: [],
    waitReady: [],
  };
}

/**
 * Writes every image the stack runs into one bundle file; pulls or builds first what the engine
 * lacks (unless `prepare` is false: then a missing image is an error).
 */
export async function saveBundle(
  stack: ResolvedStack,
  engine: EngineClient,
  file: string,
  opts: SaveBundleOptions = {},
): Promise<SaveBundleResult> {
  const emit = opts.onEvent ?? (() => {});
  if (/\.(gz|tgz|bz2|xz|zst)$/i.test(file)) {
    throw new UsageError(`${file}: images save writes an uncompressed tar`, {
      hint: `save to a .tar file; compress it afterwards if you like (gzip FILE.tar): images load reads .tar.gz as it is`,
    });
  }
  const images = stackImages(stack);
  if (images.length === 0)
    throw new UsageError(`stack ${stack.name} runs no images: there is nothing to save`);
  const pinned = images.filter((i) => tryParseImageRef(i.ref)?.digest !== undefined);
  if (pinned.length > 0) {
    throw new UsageError(
      `a bundle carries images by tag; ${pinned.map((i) => i.ref).join(", ")} name a digest`,
      {
        hint: "the engine knows an image by digest only once it pulled it from a registry: reference these images by tag",
      },
    );
  }
  const keys = new Set(images.map((i) => i.key));
  const prepared: string[] = [];
  if (opts.prepare !== false) {
    const p = imagePlan(plan(stack, await observe(engine, stack)), keys);
    if (p.conflicts.length > 0) {
      throw new ConflictError(`${p.conflicts.length} image(s) are missing and may not be pulled`, {
        conflicts: p.conflicts,
        details: conflictLines(p.conflicts),
        hint: "build or load them first, or allow pulling them (pull: missing)",
      });
    }
    if (p.actions.length > 0) {
      const r = await execute(p, stack, engine, {
        wait: false,
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      });
      prepared.push(...r.done);
    }
  } else {
    const present = await engine.listImages(images.map((i) => i.ref));
    const missing = images.filter((i) => !present[i.ref]);
    if (missing.length > 0) {
      throw new StepFailedError(
        `bundle ${path.basename(file)}`,
        "save",
        `${missing.length} image${missing.length === 1 ? " is" : "s are"} not on the engine: ${missing.map((i) => i.ref).join(", ")}`,
        { hint: "leave out --no-pull to pull or build them first, or run apply" },
      );
    }
  }
  opts.signal?.throwIfAborted();
  const withIds: BundleImage[] = [];
  for (const i of images) {
    const info = await engine.inspectImage(i.ref);
    if (!info) throw new StepFailedError(`image ${i.key}`, "save", `${i.ref} is not on the engine`);
    withIds.push({ ...i, id: info.id });
  }
  const engineInfo = await engine.info();
  const refs = [...new Set(withIds.map((i) => i.ref))];

  const resource = `bundle ${path.basename(file)}`;
  const t0 = Date.now();
  emit({
    type: "phase",
    resource,
    phase: "exporting",
    message: `${refs.length} image${refs.length === 1 ? "" : "s"}`,
  });
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(partial, "w");
    const progress = new ProgressThrottle(emit, resource, "save", t0);
    // images.tar's header, filled in once its size is known.
    await fh.write(Buffer.alloc(512));
    const hash = createHash("sha256");
    const inner = await ArchiveReader.create();
    let size = 0;
    const source = await engine.exportImages(refs);
    const stop = () => source.destroy(opts.signal?.reason ?? new Error("aborted"));
    opts.signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        await fh.write(chunk);
        await inner.write(chunk);
        progress.update({ bytes: { done: size } });
      }
    } finally {
      opts.signal?.removeEventListener("abort", stop);
    }
    progress.end();
    opts.signal?.throwIfAborted();
    const held = await inner.end().catch((err: unknown) => {
      throw new StepFailedError(
        resource,
        "save",
        `the engine's image archive is not whole: ${(err as Error).message}`,
      );
    });
    checkArchive(
      held,
      withIds,
      (m) => new StepFailedError(resource, "save", `the engine's image archive ${m}`),
    );
    await fh.write(Buffer.alloc(pad(size)));
    const manifest: BundleManifest = {
      format: BUNDLE_FORMAT,
      version: BUNDLE_VERSION,
      stack: stack.name,
      profile: stack.profile ?? null,
      createdBy: opts.createdBy ?? "shctl",
      createdAt: new Date().toISOString(),
      platform: { os: engineInfo.osType, architecture: engineInfo.architecture },
      images: withIds,
      archive: { name: ARCHIVE, size, sha256: hash.digest("hex") },
    };
    const json = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    const mtime = Math.floor(Date.now() / 1000);
    await fh.write(tarHeader(MANIFEST, json.length, mtime));
    await fh.write(json);
    await fh.write(Buffer.alloc(pad(json.length) + 1024));
    await fh.write(tarHeader(ARCHIVE, size, mtime), 0, 512, 0);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(partial, file);
    const bytes = (await stat(file)).size;
    emit({
      type: "phase",
      resource,
      phase: "done",
      message: `saved ${refs.length} image${refs.length === 1 ? "" : "s"}`,
      elapsedMs: Date.now() - t0,
    });
    return { file, manifest, bytes, prepared };
  } catch (err) {
    await fh?.close().catch(() => {});
    await rm(partial, { force: true });
    if (opts.signal?.aborted) throw new InterruptedError("interrupted: no bundle was written");
    if (isShctlError(err)) throw err;
    throw new StepFailedError(resource, "save", (err as Error)?.message ?? String(err), { cause: err });
  }
}

/**
 * Checks a bundle completely and loads it into the engine; then checks that every reference has
 * the ID the bundle says. A bundle that fails any check is refused before anything is loaded.
 */
export async function loadBundle(
  engine: EngineClient,
  file: string,
  opts: LoadBundleOptions = {},
): Promise<LoadBundleResult> {
  const emit = opts.onEvent ?? (() => {});
  const resource = `bundle ${path.basename(file)}`;
  const t0 = Date.now();
  const manifest = await verifyBundle(file, opts);
  const refs = [...new Set(manifest.images.map((i) => i.ref))];
  const present = await engine.listImages(refs);
  const images = manifest.images.map((i) => ({ ...i, before: present[i.ref]?.id }));
  if (opts.checkOnly) {
    emit({ type: "phase", resource, phase: "done", message: "checked: whole", elapsedMs: Date.now() - t0 });
    return { manifest, images, loaded: false };
  }
  const info = await engine.info();
  if (info.architecture !== manifest.platform.architecture || info.osType !== manifest.platform.os) {
    emit({
      type: "warning",
      resource,
      message: `it was saved from a ${manifest.platform.os}/${manifest.platform.architecture} engine; this one is ${info.osType}/${info.architecture}: its images may not run here`,
    });
  }
  const needed = images.some((i) => i.before !== i.id);
  if (needed) await sendArchive(engine, file, manifest, resource, opts);
  for (const i of images) {
    const now = await engine.inspectImage(i.ref);
    if (now?.id !== i.id) {
      throw new StepFailedError(
        `image ${i.key}`,
        "load",
        `${i.ref} is ${now ? `image ${now.id}` : "missing"} after the load, not ${i.id}`,
        {
          hint: "the engine did not tag the image as the bundle says; load the bundle again, or check `docker images`",
        },
      );
    }
    emit({
      type: "phase",
      resource: `image ${i.key}`,
      phase: i.before === i.id ? "unchanged" : "done",
      message: i.before === i.id ? `${i.ref} was there` : i.before ? `${i.ref} replaced` : `${i.ref} loaded`,
    });
  }
  emit({
    type: "phase",
    resource,
    phase: "done",
    message: needed ? `loaded ${refs.length} image${refs.length === 1 ? "" : "s"}` : "every image was there",
    elapsedMs: Date.now() - t0,
  });
  return { manifest, images, loaded: needed };
}

/** Reads a bundle through and checks it (see the top of this file); resolves to its manifest. */
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

/** The second pass: images.tar to the engine, hashed again, its last bytes held until the hash is right. */
async function sendArchive(
  engine: EngineClient,
  file: string,
  manifest: BundleManifest,
  resource: string,
  opts: LoadBundleOptions,
): Promise<void> {
  const emit = opts.onEvent ?? (() => {});
  const t0 = Date.now();
  const n = manifest.images.length;
  emit({ type: "phase", resource, phase: "loading", message: `${n} image${n === 1 ? "" : "s"}` });
  const progress = new ProgressThrottle(emit, resource, "load", t0);
  try {
    await readBundle(
      file,
      () => {},
      async (name, entry) => {
        if (name !== ARCHIVE) {
          for await (const _ of entry);
          return;
        }
        const guard = new HeldBackUntilVerified(
          manifest.archive,
          () =>
            new BundleError(
              `${file} changed while it was being loaded: ${ARCHIVE} no longer matches its manifest`,
              {
                hint: "nothing was loaded; do not write to the bundle while it loads",
              },
            ),
        );
        const loading = engine.loadImages(guard, (line) => emit({ type: "output", resource, line }));
        // The engine's answer comes once it has read everything, or at once when it refuses.
        const refused = loading.then(
          () => undefined,
          (err: unknown) => err,
        );
        let sent = 0;
        try {
          for await (const chunk of entry) {
            if (!guard.write(chunk)) {
              const err = await Promise.race([once(guard, "drain").then(() => undefined), refused]);
              if (err) throw err;
            }
            sent += chunk.length;
            progress.update({ bytes: { done: sent, total: manifest.archive.size } });
          }
          guard.end();
        } catch (err) {
          guard.destroy(err as Error);
          await refused;
          throw err;
        }
        progress.end();
        emit({ type: "phase", resource, phase: "loading", message: "the engine is storing the layers" });
        await loading;
      },
      opts.signal,
    );
  } catch (err) {
    progress.end();
    if (opts.signal?.aborted)
      throw new InterruptedError("interrupted while loading: the engine loaded nothing");
    if (err instanceof BundleError || err instanceof InterruptedError) throw err;
    throw new StepFailedError(resource, "load", (err as Error)?.message ?? String(err), { cause: err });
  }
}

/** A bundle's entries, each read to its end by `onEntry` in turn; gzip is read through. */
async function readBundle(
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

/** An image as an image archive (docker save) holds it: its config digest and references. */
interface HeldImage {
  id: string;
  refs: string[];
}

/**
 * Reads an image archive (the engine's save format) as it streams by: that it is a whole tar, and
 * what its manifest.json says (each image's config and references).
 */
class ArchiveReader {
  private readonly done: Promise<HeldImage[]>;

  private constructor(private readonly tar: import("tar-stream").Extract) {
    this.done = (async () => {
      let manifest: string | undefined;
      for await (const entry of tar) {
        if (entry.header.name === "manifest.json")
          manifest = (await readAll(entry as AsyncIterable<Buffer>, MANIFEST_MAX)).toString("utf8");
        else for await (const _ of entry);
      }
      if (manifest === undefined) throw new Error("it has no manifest.json");
      const list = JSON.parse(manifest) as { Config?: unknown; RepoTags?: unknown }[];
      if (!Array.isArray(list)) throw new Error("its manifest.json is not a list");
      return list.map((m) => ({
        id: `sha256:${String(m.Config ?? "").replace(/\.json$/, "")}`,
        refs: Array.isArray(m.RepoTags) ? m.RepoTags.map(String) : [],
      }));
    })();
    // Read by end(); a failure before then must not go unhandled.
    this.done.catch(() => {});
  }

  static async create(): Promise<ArchiveReader> {
    const { extract } = await import("tar-stream");
    return new ArchiveReader(extract());
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.tar.write(chunk)) return;
    await Promise.race([
      once(this.tar as unknown as NodeJS.EventEmitter, "drain"),
      this.done.then(() => {
        throw new Error("the image archive ended before its data");
      }),
    ]);
  }

  async end(): Promise<HeldImage[]> {
    (this.tar as unknown as { end(): void }).end();
    return this.done;
  }
}

/** Every image is in the archive under its reference, with its ID. */
function checkArchive(held: HeldImage[], images: BundleImage[], fail: (m: string) => Error): void {
  for (const i of images) {
    const ref = normalizeRef(i.ref);
    const found = held.find((h) => h.refs.some((r) => normalizeRef(r) === ref));
    if (!found) throw fail(`does not hold ${i.ref}`);
    if (found.id !== i.id) throw fail(`holds ${i.ref} as ${found.id}, not ${i.id}`);
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

async function readAll(entry: AsyncIterable<Buffer>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of entry) {
    n += c.length;
    if (n > max) throw new BundleError(`a manifest larger than ${max} bytes: not a bundle`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * Passes a stream through while hashing it, holding the last chunk back until the end: it goes
 * out only if the size and SHA-256 are the expected ones; otherwise the stream fails without it.
 */
export class HeldBackUntilVerified extends Transform {
  private held: Buffer | undefined;
  private readonly hash = createHash("sha256");
  private size = 0;

  constructor(
    private readonly expected: { size: number; sha256: string },
    private readonly mismatch: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.size > this.expected.size) {
      cb(this.mismatch());
      return;
    }
    const out = this.held;
    this.held = chunk;
    cb(null, out);
  }

  override _flush(cb: TransformCallback): void {
    if (this.size !== this.expected.size || this.hash.digest("hex") !== this.expected.sha256) {
      cb(this.mismatch());
      return;
    }
    if (this.held) this.push(this.held);
    cb();
  }
}

/** Zero bytes that pad `size` to the tar's 512-byte blocks. */
function pad(size: number): number {
  return (512 - (size % 512)) % 512;
}

/**
 * A ustar header for a regular file. Sizes from 8 GiB up are written base-256, as GNU tar does
 * (an image bundle of a large stack can be that big); tar-stream, GNU tar and bsdtar read it.
 */
export function tarHeader(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  else {
    h[124] = 0x80;
    let n = size;
    for (let i = 135; i > 124; i--) {
      h[i] = n % 256;
      n = Math.floor(n / 256);
    }
  }
  h.write(`${mtime.toString(8).padStart(11, "0")}\0`, 136, "ascii");
  h.fill(" ", 148, 156);
  h.write("0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write("root", 265, "ascii");
  h.write("root", 297, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}
