import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";

/**
 * Writes `text` to `file` through a temp file beside it and a rename, so a reader or a crash never
 * sees half a file; the temp file is removed if the write fails.
 */
export async function writeFileAtomic(file: string, text: string, mode?: number): Promise<void> {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, text, mode === undefined ? {} : { mode });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
