import { createHash } from "node:crypto";
import { pipeline, type Readable, type Writable } from "node:stream";
import { createGunzip } from "node:zlib";
import { breakable, nodeReadable, type TarHeader, tarStream, writeEntry } from "./archive-streams.js";
import {
  type BackupHeader,
  type BackupManifest,
  DATA_DIR,
  describeEntry,
  ENTRY_TYPES,
  HEADER_NAME,
  headerFor,
  MANIFEST_NAME,
  type ManifestEntry,
  type OwnerMap,
} from "./backup-archive.js";
import {
  asArchiveError,
  checkManifest,
  checkSameHeader,
  compareAll,
  damaged,
  entryDiff,
  notABackup,
  parseHeader,
  readAll,
  safeRel,
  sameEntry,
} from "./backup-archive-checks.js";
import { BackupArchiveError } from "./errors.js";

/** The largest header or manifest a reader accepts (a manifest lists every file). */
const MAX_JSON_BYTES = 1 << 30;

/** Whether the bytes start like gzip (1f 8b). */
export function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

export interface ReadArchiveOptions {
  /** For messages: the archive's path as the user gave it. */
  file: string;
  compressed: boolean;
  onProgress?: (bytes: number, files: number) => void;
  signal?: AbortSignal;
}

/** What a read of the whole archive found (verifyArchive's result). */
export interface VerifiedArchive {
  header: BackupHeader;
  manifest: BackupManifest;
}

type Visit = (e: ManifestEntry, h: TarHeader, content: AsyncIterable<Buffer>) => Promise<void>;

/**
 * Reads the archive in order: its header, each data entry (each given to `visit` with a stream of
 * its content, which `visit` must consume), its manifest; checks each entry against the manifest
 * when it is known (`expected`), else against the manifest at the end. Resolves with both.
 */
async function scan(
  input: Readable,
  o: ReadArchiveOptions,
  expected: BackupManifest | undefined,
  visit: Visit | undefined,
): Promise<VerifiedArchive> {
  const { extract } = await tarStream();
  const ex = extract();
  input = nodeReadable(input);
  const feeding = new Promise<void>((resolve, reject) => {
    const chain: (Readable | Writable)[] = o.compressed ? [input, createGunzip(), ex] : [input, ex];
    pipeline(chain as unknown as [Readable, Writable], (err) => (err ? reject(err) : resolve()));
  });
  feeding.catch(() => undefined);
  const onAbort = () => {
    input.destroy();
    ex.destroy(o.signal?.reason ?? new Error("aborted"));
  };
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener("abort", onAbort, { once: true });

  let header: BackupHeader | undefined;
  let manifest: BackupManifest | undefined;
  const seen: ManifestEntry[] = [];
  let bytes = 0;
  let files = 0;
  let stage: "start" | "data" = "start";
  try {
    for await (const entry of ex) {
      const h = entry.header;
      if (header === undefined) {
        if (h.name !== HEADER_NAME || h.type !== "file") throw notABackup(o.file);
        header = parseHeader(o.file, await readAll(entry, 1 << 20, HEADER_NAME));
        stage = "data";
        if (expected) checkSameHeader(o.file, expected, header);
        continue;
      }
      if (manifest !== undefined) throw damaged(o.file, `an entry (${h.name}) follows ${MANIFEST_NAME}`);
      if (h.name === MANIFEST_NAME) {
        manifest = checkManifest(o.file, await readAll(entry, MAX_JSON_BYTES, MANIFEST_NAME), header);
        continue;
      }
      const rel = h.name === `${DATA_DIR}/` || h.name === DATA_DIR ? "." : dataRel(h.name);
      if (rel === undefined || !safeRel(rel))
        throw damaged(o.file, `an entry outside ${DATA_DIR}/: ${h.name}`);
      if (!ENTRY_TYPES.has(h.type ?? "")) throw damaged(o.file, `${h.name} has an unknown type (${h.type})`);
      const linkRel = h.type === "link" ? dataRel(h.linkname ?? "") : undefined;
      if (h.type === "link" && (linkRel === undefined || !safeRel(linkRel)))
        throw damaged(o.file, `${h.name} links outside ${DATA_DIR}/ (${h.linkname})`);
      const e = describeEntry(h, rel, linkRel);
      const index = seen.length;
      const want = expected?.entries[index];
      if (expected && (want === undefined || !sameEntry(want, e)))
        throw damaged(o.file, `${h.name} differs from its manifest entry`, entryDiff(want, e));
      const hash = e.type === "file" ? createHash("sha256") : undefined;
      const counted = counting(entry, (c) => {
        hash?.update(c);
        bytes += c.length;
        o.onProgress?.(bytes, files);
      });
      if (visit) await visit(e, h, counted);
      else
        for await (const _ of counted) {
          // hashed on the way
        }
      if (hash) {
        e.sha256 = hash.digest("hex");
        files++;
        o.onProgress?.(bytes, files);
        if (want && want.sha256 !== e.sha256)
          throw damaged(o.file, `${h.name} does not match its checksum`, [
            `manifest: sha256 ${want.sha256}`,
            `archive:  sha256 ${e.sha256}`,
          ]);
      }
      seen.push(e);
    }
    await feeding;
  } catch (err) {
    ex.destroy();
    input.destroy();
    throw asArchiveError(err, o.file, stage);
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  if (header === undefined) throw notABackup(o.file);
  if (manifest === undefined)
    throw new BackupArchiveError(o.file, `the archive is truncated: it ends before its ${MANIFEST_NAME}`, {
      hint: "the file was cut short (an interrupted copy or a full disk?): use a complete copy",
    });
  compareAll(o.file, manifest, seen);
  return { header, manifest };
}

function dataRel(name: string): string | undefined {
  if (!name.startsWith(`${DATA_DIR}/`)) return undefined;
  const rest = name.slice(DATA_DIR.length + 1).replace(/\/+$/, "");
  return rest === "" ? "." : rest;
}

async function* counting(src: AsyncIterable<Buffer>, onChunk: (c: Buffer) => void): AsyncIterable<Buffer> {
  for await (const c of src) {
    onChunk(c);
    yield c;
  }
}

/**
 * Reads the whole archive and checks it: it is a shctl backup, complete, and every entry is as its
 * manifest lists it, each file's content matching its SHA-256. Throws BackupArchiveError (exit 2)
 * for a damaged, truncated or foreign file.
 */
export function verifyArchive(input: Readable, o: ReadArchiveOptions): Promise<VerifiedArchive> {
  return scan(input, o, undefined, undefined);
}

export interface ExtractionTar {
  /** A tar of the data entries, named data/…, to extract at the root of a container with the target at /data. */
  tar: Readable;
  /** Settles when the archive has been read to its end: rejects on the first difference from the manifest. */
  done: Promise<VerifiedArchive>;
}

/**
 * The archive's data entries as a tar for the engine to extract, read a second time and checked
 * against the manifest (of a verifyArchive before) entry by entry: on the first difference the tar
 * stream fails, so the extraction fails, and `done` rejects with why. `owner` maps owners.
 */
export async function extractionTar(
  input: Readable,
  o: ReadArchiveOptions & { manifest: BackupManifest; owner?: OwnerMap },
): Promise<ExtractionTar> {
  const { pack } = await tarStream();
  const pk = pack();
  const { race, breakWith: rejectBroken } = breakable();
  pk.on("error", (err: unknown) => rejectBroken(err));
  pk.on("close", () => rejectBroken(new Error("the extraction stream was closed")));
  const done = scan(input, o, o.manifest, async (e, h, content) => {
    await writeEntry(pk, headerFor(e, h.mtime, o.owner), content, () => {}, race);
  }).then(
    (r) => {
      pk.finalize();
      return r;
    },
    (err: unknown) => {
      pk.destroy(err as Error);
      throw err;
    },
  );
  done.catch(() => undefined);
  return { tar: pk, done };
}
