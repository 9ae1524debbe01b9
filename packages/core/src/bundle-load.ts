import { createHash } from "node:crypto";
import { once } from "node:events";
import path from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { ARCHIVE, type BundleImage, type BundleManifest } from "./bundle.js";
import { readBundle, verifyBundle } from "./bundle-verify.js";
import type { EngineClient } from "./engine/index.js";
import { BundleError, InterruptedError, StepFailedError } from "./errors.js";
import type { EventSink } from "./events.js";
import { ProgressThrottle } from "./execute/transfer.js";

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
