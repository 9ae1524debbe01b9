import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import type { EngineClient } from "./engine/index.js";
import { ensureHelperImage } from "./helper-image.js";
import { LABEL } from "./labels.js";

/*
 * Files this user may not read (a container's user owns them, mode 0600: a product's config file once
 * its entrypoint ran), read anyway: the engine copies them out of a helper container that has
 * their directory mounted and is never started. A docker-group member can do this, as it can
 * everything the engine does; root on the host is not needed.
 */

/** Whether an error means "not allowed", not "not there". */
export function isAccessError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "EACCES" || code === "EPERM";
}

/** A file's bytes through the engine, or undefined when it does not exist. */
export async function readThroughEngine(
  engine: EngineClient,
  stack: string,
  file: string,
): Promise<Buffer | undefined> {
  const image = await ensureHelperImage(engine);
  const id = await engine.createContainer({
    Image: image,
    Cmd: ["sleep"],
    Labels: { [LABEL.stack]: stack, [LABEL.kind]: "helper", [LABEL.name]: "read", [LABEL.helper]: "true" },
    HostConfig: { Binds: [`${path.dirname(file)}:/target:ro`], NetworkMode: "none" },
  });
  try {
    const tar = await engine.getArchive(id, `/target/${path.basename(file)}`);
    return tar ? await firstFileOf(tar) : undefined;
  } finally {
    await engine.removeContainer(id);
  }
}

/** The content of the first regular file in a tar stream. */
async function firstFileOf(tar: Readable): Promise<Buffer | undefined> {
  const { extract } = await import("tar-stream");
  const ex = extract();
  let found: Buffer | undefined;
  await new Promise<void>((resolve, reject) => {
    ex.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => {
        if (found === undefined && header.type === "file") chunks.push(c as Buffer);
      });
      stream.on("end", () => {
        if (found === undefined && header.type === "file") found = Buffer.concat(chunks);
        next();
      });
      stream.resume();
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
    tar.on("error", reject);
    tar.pipe(ex);
  });
  return found;
}

/**
 * A reader that reads a file itself and, where this user may not, through the engine; undefined
 * for a file that does not exist.
 */
export function fileReader(
  engine: EngineClient,
  stack: string,
): (file: string) => Promise<Buffer | undefined> {
  return async (file) => {
    try {
      return await readFile(file);
    } catch (err) {
      if (isAccessError(err)) return readThroughEngine(engine, stack, file);
      if (
        (err as NodeJS.ErrnoException).code === "ENOENT" ||
        (err as NodeJS.ErrnoException).code === "ENOTDIR"
      )
        return undefined;
      throw err;
    }
  };
}
