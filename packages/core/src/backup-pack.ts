import { createWriteStream } from "node:fs";
import { chmod, open, rename, stat } from "node:fs/promises";
import path from "node:path";
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  type BackupHeader,
  type BackupManifest,
  DATA_DIR,
} from "./backup-archive.js";
import { writeArchive } from "./backup-archive-write.js";
import { throttled } from "./copy-progress.js";
import type { EngineClient } from "./engine/index.js";
import type { EventSink } from "./events.js";
import { withUnstartedHelper } from "./helper-container.js";
import type { ResolvedStack } from "./model.js";

/*
 * Packing a backup: the engine's tar of the data root, from a helper container that mounts it and
 * is never started, written as the archive to FILE.partial, synced, and renamed to FILE.
 */

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every file system lets a directory be synced; the rename is done either way.
  }
}

/** Writes the archive to `partial` (mode 0600: it holds the stack's secrets) from the engine's tar of the data root. */
async function pack(
  stack: ResolvedStack,
  engine: EngineClient,
  o: {
    partial: string;
    compressed: boolean;
    tool: string;
    onProgress: (bytes: number, files: number) => void;
    signal?: AbortSignal;
  },
): Promise<BackupManifest> {
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    formatVersion: BACKUP_FORMAT_VERSION,
    stack: { name: stack.name, version: stack.version ?? null },
    tool: o.tool,
    createdAt: new Date().toISOString(),
    createdBy:
      typeof process.getuid === "function" ? { uid: process.getuid(), gid: process.getgid?.() ?? 0 } : null,
    dataRoot: stack.dataRoot,
  };
  const binds = [`${stack.dataRoot}:/${DATA_DIR}:ro`];
  return withUnstartedHelper(engine, { stack: stack.name, name: "backup", binds }, async (id) => {
    const source = await engine.getArchive(id, `/${DATA_DIR}`);
    if (!source) throw new Error(`the engine found no /${DATA_DIR} in the helper container`);
    // The archive holds the stack's secrets: only its owner may read it.
    const out = createWriteStream(o.partial, { mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve());
      out.once("error", reject);
    });
    await chmod(o.partial, 0o600);
    const manifest = await writeArchive({
      header,
      source,
      out,
      compress: o.compressed,
      onProgress: o.onProgress,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const fh = await open(o.partial, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return manifest;
  });
}

/**
 * Packs the archive into `partial` (progress events on `resource`), renames it to `file` once
 * complete and synced, and syncs its directory. Resolves with the manifest and the archive's size.
 */
export async function packArchive(
  stack: ResolvedStack,
  engine: EngineClient,
  o: {
    file: string;
    partial: string;
    compressed: boolean;
    tool: string;
    /** The content bytes to expect, when known. */
    total: number | undefined;
    resource: string;
    emit: EventSink;
    signal?: AbortSignal;
  },
): Promise<{ manifest: BackupManifest; archiveBytes: number }> {
  const progress = throttled(o.emit, o.resource, "backup", o.total);
  const manifest = await pack(stack, engine, {
    partial: o.partial,
    compressed: o.compressed,
    tool: o.tool,
    onProgress: progress.update,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  progress.flush();
  const archiveBytes = (await stat(o.partial)).size;
  await rename(o.partial, o.file);
  await syncDir(path.dirname(o.file));
  return { manifest, archiveBytes };
}
