import { readFile } from "node:fs/promises";
import { sha256 } from "./hash.js";

/** sha256 of each file's content; null for a file that cannot be read. */
export async function inputDigests(paths: readonly string[]): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  await Promise.all(
    paths.map(async (p) => {
      out[p] = await readFile(p).then(
        (b) => sha256(b),
        () => null,
      );
    }),
  );
  return out;
}
