import { readFile } from "node:fs/promises";
import { sha256 } from "./hash.js";

/** Reads a file; undefined when it does not exist (a reader may read what this user may not). */
export type FileReader = (file: string) => Promise<Buffer | undefined>;

const plainReader: FileReader = (file) => readFile(file).catch(() => undefined);

/**
 * sha256 of each file's content; null for a file that does not exist. With a reader that reads
 * files this user may not (fileReader), a file a container's user owns hashes as what it holds,
 * not as missing (which would re-run a job or recreate a service for nothing).
 */
export async function inputDigests(
  paths: readonly string[],
  read: FileReader = plainReader,
): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  await Promise.all(
    paths.map(async (p) => {
      const body = await read(p);
      out[p] = body === undefined ? null : sha256(body);
    }),
  );
  return out;
}
