import { createHash } from "node:crypto";
import { pipeline, type Readable, type Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { breakable, nodeReadable, tarStream, writeEntry } from "./archive-streams.js";
import {
  type BackupHeader,
  type BackupManifest,
  describeEntry,
  ENTRY_TYPES,
  excludedFromBackup,
  GZIP_LEVEL,
  HEADER_NAME,
  headerFor,
  MANIFEST_NAME,
  type ManifestEntry,
} from "./backup-archive.js";

/** A name without its first component ("data/x/y" → "x/y"; "data/" → "."); undefined if it has none. */
function stripFirst(name: string): string | undefined {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? "." : parts.slice(1).join("/");
}

export interface WriteArchiveOptions {
  header: BackupHeader;
  /**
   * A tar of the data root, every entry under one top directory (the engine's archive of a
   * directory: "data/", "data/postgres/", …); that directory is the data root itself.
   */
  source: Readable;
  out: Writable;
  compress: boolean;
  /** Content bytes and files so far (called for every chunk; throttle in the caller). */
  onProgress?: (bytes: number, files: number) => void;
  signal?: AbortSignal;
}

/**
 * Writes the archive: the header, the source's entries under data/ (the lock left out), then the
 * manifest with every entry's checksum; resolves with the manifest once `out` has finished.
 */
export async function writeArchive(o: WriteArchiveOptions): Promise<BackupManifest> {
  const { extract, pack } = await tarStream();
  const ex = extract();
  const pk = pack();
  const { race, breakWith: rejectBroken } = breakable();
  const source = nodeReadable(o.source);
  let failure: unknown;
  const fail = (err: unknown) => {
    if (failure !== undefined) return;
    failure = err;
    rejectBroken(err);
    o.source.destroy();
    source.destroy();
    ex.destroy(err as Error);
    pk.destroy(err as Error);
  };
  const chain: (Readable | Writable)[] = [
    pk,
    ...(o.compress ? [createGzip({ level: GZIP_LEVEL })] : []),
    o.out,
  ];
  const writing = new Promise<void>((resolve, reject) =>
    pipeline(chain as unknown as [Readable, Writable], (err) => (err ? reject(err) : resolve())),
  );
  writing.catch(fail);
  const reading = new Promise<void>((resolve, reject) =>
    pipeline(source, ex, (err) => (err ? reject(err) : resolve())),
  );
  reading.catch(fail);
  const onAbort = () => fail(o.signal?.reason ?? new Error("aborted"));
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener("abort", onAbort, { once: true });

  const entries: ManifestEntry[] = [];
  let jobs: BackupManifest["jobs"] = {};
  let bytes = 0;
  let files = 0;
  try {
    await writeEntry(pk, jsonHeader(HEADER_NAME, o.header), one(jsonBytes(o.header)), () => {}, race);
    for await (const entry of ex) {
      const h = entry.header;
      const rel = stripFirst(h.name);
      if (rel === undefined || excludedFromBackup(rel)) {
        for await (const _ of entry) {
          // drained: not part of the backup
        }
        continue;
      }
      if (!ENTRY_TYPES.has(h.type ?? "") && h.type !== "contiguous-file")
        throw new Error(`${h.name}: cannot back up an entry of type ${h.type}`);
      const linkRel = h.type === "link" ? stripFirst(h.linkname ?? "") : undefined;
      const e = describeEntry(h, rel, linkRel);
      const hash = e.type === "file" ? createHash("sha256") : undefined;
      const keep = rel === ".shctl/state.json" ? ([] as Buffer[]) : undefined;
      await writeEntry(
        pk,
        headerFor(e, h.mtime),
        entry,
        (c) => {
          hash?.update(c);
          keep?.push(c);
          bytes += c.length;
          o.onProgress?.(bytes, files);
        },
        race,
      );
      if (hash) {
        e.sha256 = hash.digest("hex");
        files++;
        o.onProgress?.(bytes, files);
      }
      if (keep) jobs = jobRecords(Buffer.concat(keep));
      entries.push(e);
    }
    const manifest: BackupManifest = {
      ...o.header,
      jobs,
      totals: { entries: entries.length, files, bytes },
      entries,
    };
    await writeEntry(pk, jsonHeader(MANIFEST_NAME, manifest), one(jsonBytes(manifest)), () => {}, race);
    pk.finalize();
    await race(writing);
    await race(reading);
    return manifest;
  } catch (err) {
    fail(err);
    throw failure;
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 1)}\n`);
}

function jsonHeader(name: string, value: unknown): Record<string, unknown> {
  return { name, type: "file", mode: 0o644, size: jsonBytes(value).length, mtime: new Date() };
}

async function* one(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

/** The job records of a state file's text (none when it is not one). */
function jobRecords(text: Buffer): BackupManifest["jobs"] {
  try {
    const parsed = JSON.parse(text.toString("utf8")) as { jobs?: BackupManifest["jobs"] };
    return parsed.jobs && typeof parsed.jobs === "object" ? parsed.jobs : {};
  } catch {
    return {};
  }
}
