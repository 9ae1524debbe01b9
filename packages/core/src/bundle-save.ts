import { createHash } from "node:crypto";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  ARCHIVE,
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  type BundleImage,
  type BundleManifest,
  MANIFEST,
  pad,
  tarHeader,
} from "./bundle.js";
import type { EngineClient } from "./engine/index.js";
import { ConflictError, InterruptedError, isShctlError, StepFailedError, UsageError } from "./errors.js";
import type { EventSink } from "./events.js";
import { execute } from "./execute/index.js";
import { ProgressThrottle } from "./execute/transfer.js";
import { ArchiveReader, checkArchive } from "./image-archive.js";
import { tryParseImageRef } from "./image-ref.js";
import type { ResolvedStack } from "./model.js";
import { observe } from "./observe.js";
import { conflictLines } from "./plan/describe.js";
import { plan } from "./plan/index.js";
import { stackImages } from "./plan/order.js";
import type { Plan } from "./plan/types.js";

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
  const images = savableImages(stack, file);
  const prepared = await prepareImages(stack, engine, file, images, opts);
  opts.signal?.throwIfAborted();
  const withIds: BundleImage[] = [];
  for (const i of images) {
    const info = await engine.inspectImage(i.ref);
    if (!info) throw new StepFailedError(`image ${i.key}`, "save", `${i.ref} is not on the engine`);
    withIds.push({ ...i, id: info.id });
  }
  const { manifest, bytes } = await writeBundle(stack, engine, file, withIds, opts);
  return { file, manifest, bytes, prepared };
}

/** The stack's images, when a bundle can carry them to `file` (else UsageError). */
function savableImages(stack: ResolvedStack, file: string): ReturnType<typeof stackImages> {
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
  return images;
}

/**
 * Pulls or builds the images the engine lacks, as apply would, and resolves with the actions that
 * ran; with `prepare` false, only checks that every image is there.
 */
async function prepareImages(
  stack: ResolvedStack,
  engine: EngineClient,
  file: string,
  images: ReturnType<typeof stackImages>,
  opts: SaveBundleOptions,
): Promise<string[]> {
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
  return prepared;
}

/**
 * Writes the bundle in one pass (see bundle.ts) under a temporary name beside `file`, and renames
 * it to `file` once complete and synced; nothing is left behind when it fails.
 */
async function writeBundle(
  stack: ResolvedStack,
  engine: EngineClient,
  file: string,
  withIds: BundleImage[],
  opts: SaveBundleOptions,
): Promise<{ manifest: BundleManifest; bytes: number }> {
  const emit = opts.onEvent ?? (() => {});
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
    return { manifest, bytes };
  } catch (err) {
    await fh?.close().catch(() => {});
    await rm(partial, { force: true });
    if (opts.signal?.aborted) throw new InterruptedError("interrupted: no bundle was written");
    if (isShctlError(err)) throw err;
    throw new StepFailedError(resource, "save", (err as Error)?.message ?? String(err), { cause: err });
  }
}
