import { createHash } from "node:crypto";
import { once } from "node:events";
import { pipeline, Readable, type Writable } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import { BackupArchiveError } from "./errors.js";

/*
 * The backup archive: one tar file, gzip-compressed unless its name ends in plain `.tar`:
 *
 *   shctl-backup.json   what it is: format, stack name and version, the tool, when and by whom
 *   data/               the data root, every entry with its numeric owner, mode and mtime;
 *   data/…              symbolic links and hard links as such (so `tar -xpf --numeric-owner`
 *                       unpacks it too)
 *   manifest.json       the same header, the job records, and every data entry in archive order:
 *                       path, type, owner, mode, size and SHA-256 of a file's content, link target
 *
 * The manifest comes last because the checksums are known only once the data has gone by. A
 * reader checks the whole archive against it (verifyArchive) before it writes anything, then
 * reads it a second time to extract, checking each entry again as it goes (extractionTar).
 *
 * Nothing here touches the engine or the data root: both directions work on streams.
 */

export const BACKUP_FORMAT = "shctl-backup";
export const BACKUP_FORMAT_VERSION = 1;
export const HEADER_NAME = "shctl-backup.json";
export const MANIFEST_NAME = "manifest.json";
/** The data root's entries are under this directory in the archive. */
export const DATA_DIR = "data";
/** gzip level: fast, since the stack's services are stopped while the archive is written. */
export const GZIP_LEVEL = 1;
/** The largest header or manifest a reader accepts (a manifest lists every file). */
const MAX_JSON_BYTES = 1 << 30;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  stack: { name: string; version: string | null };
  /** What wrote it, e.g. "shctl 0.1.0". */
  tool: string;
  createdAt: string;
  /** The user that ran the backup: files it owned go to the user that restores (see restore.ts). */
  createdBy: { uid: number; gid: number } | null;
  /** Where the data root was. */
  dataRoot: string;
}

export type EntryType =
  | "file"
  | "directory"
  | "symlink"
  | "link"
  | "fifo"
  | "character-device"
  | "block-device";

export interface ManifestEntry {
  /** Relative to the data root, "/"-separated; "." is the data root itself. */
  path: string;
  type: EntryType;
  /** Permission bits (with setuid, setgid, sticky), octal: "0700". */
  mode: string;
  uid: number;
  gid: number;
  /** Files: content bytes and their SHA-256 (hex). */
  size?: number;
  sha256?: string;
  /** Symbolic links: the target as stored; hard links: the path (relative to the data root) it links to. */
  target?: string;
  /** Devices: major and minor numbers. */
  device?: [number, number];
}

export interface BackupManifest extends BackupHeader {
  /** The job records of the data root's state file (`.shctl/state.json`) when it was packed. */
  jobs: Record<string, { key: string; completedAt: string }>;
  totals: { entries: number; files: number; bytes: number };
  entries: ManifestEntry[];
}

/** A tar header as tar-stream reads and writes it. */
interface TarHeader {
  name: string;
  type?: string | null;
  mode?: number | null;
  uid?: number | null;
  gid?: number | null;
  size?: number | null;
  mtime?: Date | null;
  linkname?: string | null;
  devmajor?: number | null;
  devminor?: number | null;
}

type TarEntry = AsyncIterable<Buffer> & { header: TarHeader; resume(): unknown };
type Extract = Writable & AsyncIterable<TarEntry>;
type Pack = Readable & {
  entry(header: Record<string, unknown>, callback: (err?: Error | null) => void): Writable;
  entry(header: Record<string, unknown>, content: Buffer, callback: (err?: Error | null) => void): Writable;
  finalize(): void;
};

async function tarStream(): Promise<{ extract: () => Extract; pack: () => Pack }> {
  const m = await import("tar-stream");
  return { extract: () => m.extract() as unknown as Extract, pack: () => m.pack() as unknown as Pack };
}

const TYPES = new Set<string>([
  "file",
  "directory",
  "symlink",
  "link",
  "fifo",
  "character-device",
  "block-device",
]);

/** Files under `.shctl/` that belong to a run, not to the data: the lock and its temporary files. */
export function excludedFromBackup(rel: string): boolean {
  return rel === ".shctl/lock" || rel.startsWith(".shctl/lock.");
}

/** A mode's permission bits as "0755". */
export function octalMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/** A name without its first component ("data/x/y" → "x/y"; "data/" → "."); undefined if it has none. */
function stripFirst(name: string): string | undefined {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? "." : parts.slice(1).join("/");
}

/** A relative path that stays inside its root: no "..", no absolute path, no empty component. */
function safeRel(rel: string): boolean {
  if (rel === ".") return true;
  if (rel.startsWith("/") || rel.includes("\0")) return false;
  return rel.split("/").every((p) => p !== "" && p !== "." && p !== "..");
}

function archiveName(rel: string, type: string): string {
  const base = rel === "." ? DATA_DIR : `${DATA_DIR}/${rel}`;
  return type === "directory" ? `${base}/` : base;
}

/** The manifest's record of a tar entry (without the checksum), `rel` being its data-root path. */
function describe(h: TarHeader, rel: string, linkRel: string | undefined): ManifestEntry {
  const type = (h.type === "contiguous-file" ? "file" : h.type) as EntryType;
  const e: ManifestEntry = {
    path: rel,
    type,
    mode: octalMode(h.mode ?? 0),
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
  };
  if (type === "file") e.size = h.size ?? 0;
  if (type === "symlink") e.target = h.linkname ?? "";
  if (type === "link" && linkRel !== undefined) e.target = linkRel;
  if (type === "character-device" || type === "block-device") e.device = [h.devmajor ?? 0, h.devminor ?? 0];
  return e;
}

/** The tar header that the archive stores for a manifest entry (names under data/). */
function headerFor(
  e: ManifestEntry,
  mtime: Date | null | undefined,
  owner?: OwnerMap,
): Record<string, unknown> {
  const [uid, gid] = owner ? owner(e.uid, e.gid) : [e.uid, e.gid];
  const h: Record<string, unknown> = {
    name: archiveName(e.path, e.type),
    type: e.type,
    mode: Number.parseInt(e.mode, 8),
    uid,
    gid,
    size: e.type === "file" ? (e.size ?? 0) : 0,
    mtime: mtime ?? new Date(0),
  };
  if (e.type === "symlink") h.linkname = e.target ?? "";
  if (e.type === "link") h.linkname = archiveName(e.target ?? "", "file");
  if (e.device) {
    h.devmajor = e.device[0];
    h.devminor = e.device[1];
  }
  return h;
}

/** Maps an entry's owner on the way out (restore gives the backup user's files to its own user). */
export type OwnerMap = (uid: number, gid: number) => [number, number];

/**
 * Ends when any of the promises rejects, or when `p` settles: awaits that cannot hang on a
 * stream that another part of the pipeline has already destroyed.
 */
function guard(broken: Promise<never>) {
  return <T>(p: Promise<T>): Promise<T> => {
    // The loser of the race may still reject (an 'error' after a destroy): that is not news.
    p.catch(() => undefined);
    return Promise.race([p, broken]);
  };
}

/** Writes one tar entry with its content, calling `onChunk` for each piece on the way. */
async function writeEntry(
  pk: Pack,
  header: Record<string, unknown>,
  content: AsyncIterable<Buffer>,
  onChunk: (c: Buffer) => void,
  race: <T>(p: Promise<T>) => Promise<T>,
): Promise<void> {
  let settle: (err?: Error | null) => void = () => {};
  const written = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  written.catch(() => undefined); // awaited below, unless the copy fails first
  const sink = pk.entry(header, (err) => settle(err));
  // A sink destroyed with the pack emits 'error'; the callback above and the race already say it.
  sink.on("error", () => undefined);
  for await (const chunk of content) {
    onChunk(chunk);
    if (!sink.write(chunk)) await race(once(sink, "drain"));
  }
  sink.end();
  await race(written);
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
  let rejectBroken: (err: unknown) => void = () => {};
  const broken = new Promise<never>((_, reject) => {
    rejectBroken = reject;
  });
  broken.catch(() => undefined);
  const race = guard(broken);
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
      if (!TYPES.has(h.type ?? "") && h.type !== "contiguous-file")
        throw new Error(`${h.name}: cannot back up an entry of type ${h.type}`);
      const linkRel = h.type === "link" ? stripFirst(h.linkname ?? "") : undefined;
      const e = describe(h, rel, linkRel);
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

/**
 * Node's pipeline does not see the end of a stream of another implementation (tar-stream's are
 * streamx streams): such a source is read through a Node stream.
 */
function nodeReadable(r: Readable): Readable {
  return r instanceof Readable ? r : Readable.from(r);
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

/* ---------------------------------------------------------------- reading */

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

/** A reading error as what it means for the archive: damaged, truncated, or not a backup. */
function asArchiveError(err: unknown, file: string, stage: "start" | "data"): unknown {
  if (err instanceof BackupArchiveError) return err;
  const e = err as NodeJS.ErrnoException & { errno?: number };
  if (e?.name === "AbortError" || e?.code === "ABORT_ERR") return err;
  const message = String(e?.message ?? err);
  if (e?.code === "ENOENT" || e?.code === "EACCES" || e?.code === "EISDIR") return err;
  if (/unexpected end of (file|data)/i.test(message))
    return new BackupArchiveError(file, "the archive is truncated: it ends in the middle", {
      hint: "the file was cut short (an interrupted copy or a full disk?): use a complete copy",
      cause: err,
    });
  if (stage === "start" && /Invalid tar header|incorrect header check|unknown format/i.test(message))
    return notABackup(file, err);
  if (
    e?.code?.startsWith("Z_") ||
    /Invalid tar header|incorrect|invalid (block|distance|code)/i.test(message)
  )
    return new BackupArchiveError(file, `the archive is damaged: ${message}`, {
      hint: "the file's bytes changed since it was written: use another copy of the backup",
      cause: err,
    });
  return err;
}

function notABackup(file: string, cause?: unknown): BackupArchiveError {
  return new BackupArchiveError(file, `not a shctl backup (it does not start with ${HEADER_NAME})`, {
    hint: "give a file written by `shctl backup`",
    ...(cause ? { cause } : {}),
  });
}

function damaged(file: string, message: string, details: string[] = []): BackupArchiveError {
  return new BackupArchiveError(file, `the archive is damaged: ${message}`, {
    details,
    hint: "the file's bytes changed since it was written: use another copy of the backup",
  });
}

async function readAll(entry: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of entry) {
    n += c.length;
    if (n > limit) throw new Error(`${what} is larger than ${limit} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function parseHeader(file: string, text: Buffer): BackupHeader {
  let h: Partial<BackupHeader>;
  try {
    h = JSON.parse(text.toString("utf8")) as Partial<BackupHeader>;
  } catch {
    throw notABackup(file);
  }
  if (h.format !== BACKUP_FORMAT || typeof h.formatVersion !== "number") throw notABackup(file);
  if (h.formatVersion > BACKUP_FORMAT_VERSION) {
    throw new BackupArchiveError(
      file,
      `the archive has format ${h.formatVersion}; this shctl reads format ${BACKUP_FORMAT_VERSION}`,
      { hint: `restore it with a newer shctl (it was written by ${h.tool ?? "a newer one"})` },
    );
  }
  if (typeof h.stack?.name !== "string") throw notABackup(file);
  return h as BackupHeader;
}

const HEADER_FIELDS = [
  "format",
  "formatVersion",
  "stack",
  "tool",
  "createdAt",
  "createdBy",
  "dataRoot",
] as const;

/** A parsed manifest that is complete and agrees with the header; throws what is wrong. */
function checkManifest(file: string, text: Buffer, header: BackupHeader): BackupManifest {
  let m: BackupManifest;
  try {
    m = JSON.parse(text.toString("utf8")) as BackupManifest;
  } catch {
    throw damaged(file, `${MANIFEST_NAME} is not valid JSON`);
  }
  if (!Array.isArray(m.entries) || typeof m.totals !== "object" || m.totals === null)
    throw damaged(file, `${MANIFEST_NAME} lacks its entries`);
  for (const k of HEADER_FIELDS) {
    if (JSON.stringify(m[k]) !== JSON.stringify(header[k]))
      throw damaged(file, `${MANIFEST_NAME} and ${HEADER_NAME} disagree about ${k}`);
  }
  return m;
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
      if (!TYPES.has(h.type ?? "")) throw damaged(o.file, `${h.name} has an unknown type (${h.type})`);
      const linkRel = h.type === "link" ? dataRel(h.linkname ?? "") : undefined;
      if (h.type === "link" && (linkRel === undefined || !safeRel(linkRel)))
        throw damaged(o.file, `${h.name} links outside ${DATA_DIR}/ (${h.linkname})`);
      const e = describe(h, rel, linkRel);
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

function sameEntry(want: ManifestEntry, got: ManifestEntry): boolean {
  const { sha256: _w, ...w } = want;
  const { sha256: _g, ...g } = got;
  return JSON.stringify(canonical(w)) === JSON.stringify(canonical(g));
}

function canonical(e: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(e).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function entryDiff(want: ManifestEntry | undefined, got: ManifestEntry): string[] {
  return [
    `manifest: ${want ? JSON.stringify(canonical({ ...want, sha256: undefined })) : "(no entry)"}`,
    `archive:  ${JSON.stringify(canonical(got as unknown as Record<string, unknown>))}`,
  ];
}

function checkSameHeader(file: string, expected: BackupManifest, header: BackupHeader): void {
  for (const k of HEADER_FIELDS) {
    if (JSON.stringify(expected[k]) !== JSON.stringify(header[k]))
      throw damaged(file, `${HEADER_NAME} changed since the archive was checked`);
  }
}

/** The entries read are exactly the manifest's, in order, checksums included. */
function compareAll(file: string, manifest: BackupManifest, seen: ManifestEntry[]): void {
  const n = Math.max(manifest.entries.length, seen.length);
  for (let i = 0; i < n; i++) {
    const want = manifest.entries[i];
    const got = seen[i];
    if (!got) throw damaged(file, `entries listed in ${MANIFEST_NAME} are missing (from ${want?.path})`);
    if (!want) throw damaged(file, `entries are missing from ${MANIFEST_NAME} (from ${got.path})`);
    if (!sameEntry(want, got))
      throw damaged(file, `${got.path} differs from its manifest entry`, entryDiff(want, got));
    if (want.sha256 !== got.sha256)
      throw damaged(file, `${DATA_DIR}/${got.path} does not match its checksum`, [
        `manifest: sha256 ${want.sha256}`,
        `archive:  sha256 ${got.sha256}`,
      ]);
  }
  const bytes = seen.reduce((s, e) => s + (e.size ?? 0), 0);
  const files = seen.filter((e) => e.type === "file").length;
  if (
    manifest.totals.entries !== seen.length ||
    manifest.totals.files !== files ||
    manifest.totals.bytes !== bytes
  )
    throw damaged(file, `the totals in ${MANIFEST_NAME} do not match its entries`);
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
  let rejectBroken: (err: unknown) => void = () => {};
  const broken = new Promise<never>((_, reject) => {
    rejectBroken = reject;
  });
  broken.catch(() => undefined);
  const race = guard(broken);
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
