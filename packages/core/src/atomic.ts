import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Writes `text` to `file` through a temp file beside it, flushed to disk before it is renamed into
 * place (and the directory flushed after), so a reader, a crash or a power cut never sees half a
 * file or an empty one; the temp file is removed if the write fails.
 */
export async function writeFileAtomic(file: string, text: string, mode?: number): Promise<void> {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    const handle = await open(tmp, "w", mode);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDir(path.dirname(file));
}

/** Flushes a directory's entries (the rename); not every file system allows it, which is fine. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // EINVAL/EISDIR on some file systems: the rename is as durable as they make it.
  } finally {
    await handle.close();
  }
}
