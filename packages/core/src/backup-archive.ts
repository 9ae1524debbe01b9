import type { TarHeader } from "./archive-streams.js";

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
 * Nothing here touches the engine or the data root: both directions work on streams. This module
 * has the format and how an entry maps to the manifest and back; backup-archive-write.ts writes an
 * archive, backup-archive-read.ts reads and checks one (with backup-archive-checks.ts).
 */

export const BACKUP_FORMAT = "shctl-backup";
export const BACKUP_FORMAT_VERSION = 1;
export const HEADER_NAME = "shctl-backup.json";
export const MANIFEST_NAME = "manifest.json";
/** The data root's entries are under this directory in the archive. */
export const DATA_DIR = "data";
/** gzip level: fast, since the stack's services are stopped while the archive is written. */
export const GZIP_LEVEL = 1;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  stack: { name: string; version: string | null };
  /** What wrote it, e.g. "shctl 0.1.0". */
  tool: string;
  createdAt: string;
  /** The user that ran the backup: files it owned go to the user that restores (see restoreOwners in restore-extract.ts). */
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

/** The entry types an archive holds (tar-stream's names). */
export const ENTRY_TYPES = new Set<string>([
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

/** The name in the archive of a data-root path. */
function archiveName(rel: string, type: string): string {
  const base = rel === "." ? DATA_DIR : `${DATA_DIR}/${rel}`;
  return type === "directory" ? `${base}/` : base;
}

/** The manifest's record of a tar entry (without the checksum), `rel` being its data-root path. */
export function describeEntry(h: TarHeader, rel: string, linkRel: string | undefined): ManifestEntry {
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
export function headerFor(
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
