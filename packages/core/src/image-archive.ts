import { once } from "node:events";
import { type BundleImage, MANIFEST_MAX, readAll } from "./bundle.js";
import { normalizeRef } from "./engine/streams.js";

/* The engine's image archive (docker save format) inside a bundle: read as it streams by, and checked. */

/** An image as an image archive (docker save) holds it: its config digest and references. */
export interface HeldImage {
  id: string;
  refs: string[];
}

/**
 * Reads an image archive (the engine's save format) as it streams by: that it is a whole tar, and
 * what its manifest.json says (each image's config and references).
 */
export class ArchiveReader {
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
export function checkArchive(held: HeldImage[], images: BundleImage[], fail: (m: string) => Error): void {
  for (const i of images) {
    const ref = normalizeRef(i.ref);
    const found = held.find((h) => h.refs.some((r) => normalizeRef(r) === ref));
    if (!found) throw fail(`does not hold ${i.ref}`);
    if (found.id !== i.id) throw fail(`holds ${i.ref} as ${found.id}, not ${i.id}`);
  }
}
