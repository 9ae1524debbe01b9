import { BundleError } from "./errors.js";

/*
 * An image bundle: every image a stack (with its profile) runs, pulled or built, in one file, so
 * that a machine without registry access can install the stack (`shctl images save` where the
 * registry is reachable, `shctl images load` on the other machine; `apply` then pulls nothing).
 *
 * The file is a tar of two entries:
 *   images.tar     the engine's own image archive (`docker save` format) of all the images;
 *   manifest.json  what the bundle holds (BundleManifest): each image's reference and ID, and the
 *                  size and SHA-256 of images.tar.
 * It is written in one pass: images.tar's header is reserved, the engine's export streams behind
 * it (hashed, and read as a tar on the way to check it is whole), then manifest.json follows and
 * the header is filled in. It is written under a temporary name and renamed when complete.
 *
 * Loading reads the bundle twice and never keeps a copy: the first pass checks everything (the
 * outer tar, the SHA-256 and size of images.tar, that images.tar is a whole image archive holding
 * each image under its reference with its ID) before the engine sees a byte; the second streams
 * images.tar to the engine and hashes it again, holding its last bytes back until the hash is
 * right. The engine reads the whole archive before it loads anything, so an upload cut short
 * loads nothing. A bundle may be gzipped (`gzip bundle.tar`): loading reads it as it is.
 *
 * This module has the format; bundle-save.ts writes a bundle, bundle-verify.ts checks one (the
 * first pass), bundle-load.ts loads one (the second), and image-archive.ts reads the engine's
 * image archive inside.
 */

export const BUNDLE_FORMAT = "shctl-image-bundle";
export const BUNDLE_VERSION = 1;
export const ARCHIVE = "images.tar";
export const MANIFEST = "manifest.json";
/** The largest manifest.json a reader accepts (the bundle's, or the image archive's). */
export const MANIFEST_MAX = 4 << 20;

export interface BundleImage {
  /** The stack's key for the image. */
  key: string;
  /** The reference the stack runs it as (its tag in the engine once loaded). */
  ref: string;
  /** The image ID (config digest): the same on every engine that has this image. */
  id: string;
  /** Whether the stack pulls it or builds it. */
  source: "pull" | "build";
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  stack: string;
  profile: string | null;
  /** The tool that wrote it ("shctl 0.1.0"). */
  createdBy: string;
  createdAt: string;
  /** The engine it was saved from; images run on engines of the same OS and architecture. */
  platform: { os: string; architecture: string };
  images: BundleImage[];
  /** images.tar: its size in bytes and SHA-256 (hex). */
  archive: { name: typeof ARCHIVE; size: number; sha256: string };
}

export async function readAll(entry: AsyncIterable<Buffer>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of entry) {
    n += c.length;
    if (n > max) throw new BundleError(`a manifest larger than ${max} bytes: not a bundle`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Zero bytes that pad `size` to the tar's 512-byte blocks. */
export function pad(size: number): number {
  return (512 - (size % 512)) % 512;
}

/**
 * A ustar header for a regular file. Sizes from 8 GiB up are written base-256, as GNU tar does
 * (an image bundle of a large stack can be that big); tar-stream, GNU tar and bsdtar read it.
 */
export function tarHeader(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  else {
    h[124] = 0x80;
    let n = size;
    for (let i = 135; i > 124; i--) {
      h[i] = n % 256;
      n = Math.floor(n / 256);
    }
  }
  h.write(`${mtime.toString(8).padStart(11, "0")}\0`, 136, "ascii");
  h.fill(" ", 148, 156);
  h.write("0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write("root", 265, "ascii");
  h.write("root", 297, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}
