import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { extract, pack } from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BUNDLE_FORMAT, type BundleManifest, tarHeader } from "./bundle.js";
import { HeldBackUntilVerified } from "./bundle-load.js";
import { verifyBundle } from "./bundle-verify.js";
import { BundleError } from "./errors.js";

/*
 * The bundle format without an engine: the tar headers shctl writes, the checks a bundle passes
 * before anything is loaded, and the guard that holds an archive's last bytes back until its hash
 * is right. (Saving and loading with the real engine: test/bundle.test.ts.)
 */

const ID = `sha256:${"a".repeat(64)}`;
const REF = "shctl-it/app:1";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shctl-bundle-unit-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An image archive as the engine's save writes it: a layer, a config, manifest.json. */
async function imageArchive(
  images: { id: string; tags: string[] }[] = [{ id: ID, tags: [REF] }],
): Promise<Buffer> {
  const p = pack();
  p.entry({ name: "layer0/layer.tar" }, Buffer.alloc(3000, 7));
  for (const i of images) p.entry({ name: `${i.id.slice(7)}.json` }, "{}");
  p.entry(
    { name: "manifest.json" },
    JSON.stringify(
      images.map((i) => ({
        Config: `${i.id.slice(7)}.json`,
        RepoTags: i.tags,
        Layers: ["layer0/layer.tar"],
      })),
    ),
  );
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function manifestFor(archive: Buffer, extra: Partial<BundleManifest> = {}): BundleManifest {
  return {
    format: BUNDLE_FORMAT,
    version: 1,
    stack: "s",
    profile: null,
    createdBy: "shctl test",
    createdAt: "2026-11-30T00:00:00.000Z",
    platform: { os: "linux", architecture: "x86_64" },
    images: [{ key: "app", ref: REF, id: ID, source: "pull" }],
    archive: {
      name: "images.tar",
      size: archive.length,
      sha256: createHash("sha256").update(archive).digest("hex"),
    },
    ...extra,
  };
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

/** A bundle laid out as saveBundle writes it: images.tar, then manifest.json. */
function bundleBytes(archive: Buffer, manifest: unknown, entries?: [string, Buffer][]): Buffer {
  const json = Buffer.from(JSON.stringify(manifest));
  const list = entries ?? [
    ["images.tar", archive],
    ["manifest.json", json],
  ];
  const parts: Buffer[] = [];
  for (const [name, data] of list)
    parts.push(tarHeader(name, data.length, 1_700_000_000), data, pad(data.length));
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function write(name: string, data: Buffer): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, data);
  return f;
}

async function refused(file: string): Promise<BundleError> {
  const err = await verifyBundle(file).then(
    () => expect.fail("the bundle should have been refused"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BundleError);
  expect((err as BundleError).exitCode).toBe(2);
  return err as BundleError;
}

describe("the tar headers shctl writes", () => {
  it("are read back by a tar reader, name, size and all", async () => {
    const data = Buffer.from("hello bundle");
    const bytes = bundleBytes(Buffer.alloc(0), {}, [["manifest.json", data]]);
    const x = extract();
    const seen: { name: string; size: number | undefined; body: string }[] = [];
    const done = (async () => {
      for await (const e of x) {
        const chunks: Buffer[] = [];
        for await (const c of e as AsyncIterable<Buffer>) chunks.push(c);
        seen.push({ name: e.header.name, size: e.header.size, body: Buffer.concat(chunks).toString() });
      }
    })();
    Readable.from([bytes]).pipe(x as unknown as NodeJS.WritableStream);
    await done;
    expect(seen).toEqual([{ name: "manifest.json", size: data.length, body: "hello bundle" }]);
  });

  it("write sizes from 8 GiB up in base-256, as GNU tar does", async () => {
    const size = 9 * 2 ** 30 + 5;
    const h = tarHeader("images.tar", size, 0);
    expect(h[124]).toBe(0x80);
    const x = extract();
    let header: { size?: number } | undefined;
    const done = (async () => {
      for await (const e of x) {
        header = e.header;
        for await (const _ of e);
      }
    })().catch(() => undefined); // the data is not there: the reader says so after the header
    Readable.from([h, Buffer.alloc(512)]).pipe(x as unknown as NodeJS.WritableStream);
    await done;
    expect(header?.size).toBe(size);
    expect(
      tarHeader("images.tar", 8 ** 11 - 1, 0)
        .subarray(124, 136)
        .toString(),
    ).toBe("77777777777\0");
  });
});

describe("a bundle is checked completely before anything is loaded", () => {
  it("a whole one gives its manifest, gzipped or not", async () => {
    const archive = await imageArchive();
    const manifest = manifestFor(archive);
    const bytes = bundleBytes(archive, manifest);
    expect(await verifyBundle(await write("b.tar", bytes))).toEqual(manifest);
    expect(await verifyBundle(await write("b.tar.gz", gzipSync(bytes)))).toEqual(manifest);
  });

  it("one byte changed in the archive: its SHA-256 differs", async () => {
    const archive = await imageArchive();
    const bytes = bundleBytes(archive, manifestFor(archive));
    // In the layer's data, inside images.tar (past its header and the layer's header).
    bytes[512 + 512 + 100] = (bytes[512 + 512 + 100] as number) ^ 1;
    expect((await refused(await write("b.tar", bytes))).message).toMatch(
      /images\.tar is damaged: its SHA-256 is/,
    );
  });

  it("cut short anywhere, gzipped or not", async () => {
    const archive = await imageArchive();
    const bytes = bundleBytes(archive, manifestFor(archive));
    for (const at of [10, 600, Math.floor(bytes.length / 2), bytes.length - 1100]) {
      const err = await refused(await write("cut.tar", bytes.subarray(0, at)));
      expect(err.message, `cut at ${at}`).toMatch(/cut short|has no manifest\.json/);
    }
    const gz = gzipSync(bytes);
    expect((await refused(await write("cut.tar.gz", gz.subarray(0, gz.length - 20)))).message).toMatch(
      /cut short/,
    );
  });

  it("a damaged tar header", async () => {
    const archive = await imageArchive();
    const bytes = bundleBytes(archive, manifestFor(archive));
    bytes[0] = (bytes[0] as number) ^ 0x20; // the first entry's name: its checksum no longer adds up
    expect((await refused(await write("b.tar", bytes))).message).toMatch(/damaged or not a tar/);
  });

  it("a manifest that does not match: size, format, version, what the archive holds", async () => {
    const archive = await imageArchive();
    const m = manifestFor(archive);
    const check = async (manifest: unknown, a: Buffer = archive) =>
      refused(await write("b.tar", bundleBytes(a, manifest)));
    expect((await check({ ...m, archive: { ...m.archive, size: m.archive.size + 1 } })).message).toMatch(
      /images\.tar has \d+ bytes; the manifest says \d+/,
    );
    expect((await check({ ...m, format: "something-else" })).message).toMatch(/not an shctl image bundle/);
    expect((await check({ ...m, version: 2 })).message).toMatch(
      /format version 2; this shctl reads version 1/,
    );
    const other = await imageArchive([{ id: ID, tags: ["shctl-it/other:1"] }]);
    expect((await check(manifestFor(other), other)).message).toMatch(
      /images\.tar does not hold shctl-it\/app:1/,
    );
    const otherId = await imageArchive([{ id: `sha256:${"b".repeat(64)}`, tags: [REF] }]);
    expect((await check(manifestFor(otherId), otherId)).message).toMatch(
      /holds shctl-it\/app:1 as sha256:b+, not sha256:a+/,
    );
  });

  it("entries that are not a bundle's, or missing", async () => {
    const archive = await imageArchive();
    const json = Buffer.from(JSON.stringify(manifestFor(archive)));
    const entries = (list: [string, Buffer][]) => write("b.tar", bundleBytes(archive, {}, list));
    expect((await refused(await entries([["manifest.json", json]]))).message).toMatch(/has no images\.tar/);
    expect(
      (
        await refused(
          await entries([
            ["images.tar", archive],
            ["manifest.json", json],
            ["extra", Buffer.from("x")],
          ]),
        )
      ).message,
    ).toMatch(/it holds extra/);
    expect(
      (
        await refused(
          await entries([
            ["images.tar", Buffer.from("not a tar at all")],
            ["manifest.json", json],
          ]),
        )
      ).message,
    ).toMatch(/images\.tar is not a whole image archive/);
  });
});

describe("the archive's last bytes are held back until its hash is right", () => {
  const chunks = [Buffer.from("aaaa"), Buffer.from("bbbb"), Buffer.from("cc")];
  const all = Buffer.concat(chunks);
  const expected = { size: all.length, sha256: createHash("sha256").update(all).digest("hex") };

  async function through(input: Buffer[], exp = expected): Promise<{ out: Buffer; err: unknown }> {
    const guard = new HeldBackUntilVerified(exp, () => new BundleError("changed"));
    const out: Buffer[] = [];
    guard.on("data", (c: Buffer) => out.push(c));
    const ended = new Promise<unknown>((resolve) => {
      guard.on("end", () => resolve(undefined));
      guard.on("error", resolve);
    });
    for (const c of input) guard.write(c);
    guard.end();
    return { out: Buffer.concat(out), err: await ended };
  }

  it("passes every byte when size and hash are right", async () => {
    const { out, err } = await through(chunks);
    expect(err).toBeUndefined();
    expect(out.equals(all)).toBe(true);
  });

  it("fails without the last chunk when they are not", async () => {
    const { out, err } = await through([Buffer.from("aaaa"), Buffer.from("bxbb"), Buffer.from("cc")]);
    expect(err).toBeInstanceOf(BundleError);
    expect(out.toString()).toBe("aaaabxbb");
    const longer = await through([...chunks, Buffer.from("d")]);
    expect(longer.err).toBeInstanceOf(BundleError);
    expect(longer.out.length).toBeLessThan(all.length + 1);
  });
});
