import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  type BackupHeader,
  type BackupManifest,
  DATA_DIR,
  HEADER_NAME,
  MANIFEST_NAME,
  type ManifestEntry,
} from "./backup-archive.js";
import { BackupArchiveError } from "./errors.js";

/* The checks a backup archive's reader makes, and the errors that say what is wrong with one. */

/** A relative path that stays inside its root: no "..", no absolute path, no empty component. */
export function safeRel(rel: string): boolean {
  if (rel === ".") return true;
  if (rel.startsWith("/") || rel.includes("\0")) return false;
  return rel.split("/").every((p) => p !== "" && p !== "." && p !== "..");
}

/** A reading error as what it means for the archive: damaged, truncated, or not a backup. */
export function asArchiveError(err: unknown, file: string, stage: "start" | "data"): unknown {
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

export function notABackup(file: string, cause?: unknown): BackupArchiveError {
  return new BackupArchiveError(file, `not a shctl backup (it does not start with ${HEADER_NAME})`, {
    hint: "give a file written by `shctl backup`",
    ...(cause ? { cause } : {}),
  });
}

export function damaged(file: string, message: string, details: string[] = []): BackupArchiveError {
  return new BackupArchiveError(file, `the archive is damaged: ${message}`, {
    details,
    hint: "the file's bytes changed since it was written: use another copy of the backup",
  });
}

export async function readAll(entry: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of entry) {
    n += c.length;
    if (n > limit) throw new Error(`${what} is larger than ${limit} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export function parseHeader(file: string, text: Buffer): BackupHeader {
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
export function checkManifest(file: string, text: Buffer, header: BackupHeader): BackupManifest {
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

export function sameEntry(want: ManifestEntry, got: ManifestEntry): boolean {
  const { sha256: _w, ...w } = want;
  const { sha256: _g, ...g } = got;
  return JSON.stringify(canonical(w)) === JSON.stringify(canonical(g));
}

function canonical(e: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(e).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function entryDiff(want: ManifestEntry | undefined, got: ManifestEntry): string[] {
  return [
    `manifest: ${want ? JSON.stringify(canonical({ ...want, sha256: undefined })) : "(no entry)"}`,
    `archive:  ${JSON.stringify(canonical(got as unknown as Record<string, unknown>))}`,
  ];
}

export function checkSameHeader(file: string, expected: BackupManifest, header: BackupHeader): void {
  for (const k of HEADER_FIELDS) {
    if (JSON.stringify(expected[k]) !== JSON.stringify(header[k]))
      throw damaged(file, `${HEADER_NAME} changed since the archive was checked`);
  }
}

/** The entries read are exactly the manifest's, in order, checksums included. */
export function compareAll(file: string, manifest: BackupManifest, seen: ManifestEntry[]): void {
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
