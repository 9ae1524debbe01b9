import { once } from "node:events";
import { Readable, type Writable } from "node:stream";

/* tar-stream as the backup archive uses it: its streams, typed, and writes that cannot hang. */

/** A tar header as tar-stream reads and writes it. */
export interface TarHeader {
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

export type TarEntry = AsyncIterable<Buffer> & { header: TarHeader; resume(): unknown };
export type Extract = Writable & AsyncIterable<TarEntry>;
export type Pack = Readable & {
  entry(header: Record<string, unknown>, callback: (err?: Error | null) => void): Writable;
  entry(header: Record<string, unknown>, content: Buffer, callback: (err?: Error | null) => void): Writable;
  finalize(): void;
};

export async function tarStream(): Promise<{ extract: () => Extract; pack: () => Pack }> {
  const m = await import("tar-stream");
  return { extract: () => m.extract() as unknown as Extract, pack: () => m.pack() as unknown as Pack };
}

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

/** A guard (see above) and `breakWith`, which rejects its `broken` promise: every race ends. */
export function breakable(): { race: <T>(p: Promise<T>) => Promise<T>; breakWith: (err: unknown) => void } {
  let breakWith: (err: unknown) => void = () => {};
  const broken = new Promise<never>((_, reject) => {
    breakWith = reject;
  });
  broken.catch(() => undefined);
  return { race: guard(broken), breakWith };
}

/** Writes one tar entry with its content, calling `onChunk` for each piece on the way. */
export async function writeEntry(
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

/**
 * Node's pipeline does not see the end of a stream of another implementation (tar-stream's are
 * streamx streams): such a source is read through a Node stream.
 */
export function nodeReadable(r: Readable): Readable {
  return r instanceof Readable ? r : Readable.from(r);
}
