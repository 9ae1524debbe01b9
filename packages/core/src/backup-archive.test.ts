import { createHash } from "node:crypto";
import { PassThrough, Readable, Writable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import { extract, pack } from "tar-stream";
import { describe, expect, it } from "vitest";
import type { BackupHeader, BackupManifest } from "./backup-archive.js";
import { extractionTar, isGzip, verifyArchive } from "./backup-archive-read.js";
import { writeArchive } from "./backup-archive-write.js";
import { BackupArchiveError } from "./errors.js";

/*
 * The archive format on its own: what the engine's tar of a data root becomes (names, owners,
 * links, the manifest), and what a reader refuses (a flipped byte, a cut, a foreign tar, an entry
 * that is not in the manifest) before anything would be written.
 */

const header: BackupHeader = {
  format: "shctl-backup",
  formatVersion: 1,
  stack: { name: "demo", version: "1.2.3" },
  tool: "shctl test",
  createdAt: "2026-01-01T00:00:00.000Z",
  createdBy: { uid: 1000, gid: 1000 },
  dataRoot: "/srv/demo/data",
};

const mtime = new Date("2025-06-01T12:00:00Z");
const PG = Buffer.from("15\n");
const BIG = Buffer.alloc(300_000, "x");
const STATE = Buffer.from(
  JSON.stringify({ jobs: { migrate: { key: "k1", completedAt: "then" } }, containers: {} }),
);

type Entry = { h: Record<string, unknown>; body?: Buffer };

/** A tar like the engine's archive of a directory mounted at /data. */
function engineTar(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) p.entry({ mtime, ...e.h } as never, e.body ?? Buffer.alloc(0));
  p.finalize();
  return collect(p as unknown as Readable);
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const dataRootTar = () =>
  engineTar([
    { h: { name: "data/", type: "directory", mode: 0o40755, uid: 1000, gid: 1000 } },
    { h: { name: "data/.shctl/", type: "directory", mode: 0o40755, uid: 1000, gid: 1000 } },
    {
      h: { name: "data/.shctl/lock", type: "file", mode: 0o100644, uid: 1000, gid: 1000 },
      body: Buffer.from("{}"),
    },
    { h: { name: "data/.shctl/lock.123.456", type: "file", mode: 0o100644 }, body: Buffer.from("{}") },
    {
      h: { name: "data/.shctl/state.json", type: "file", mode: 0o100644, uid: 1000, gid: 1000 },
      body: STATE,
    },
    { h: { name: "data/postgres/", type: "directory", mode: 0o40700, uid: 999, gid: 999 } },
    { h: { name: "data/postgres/PG_VERSION", type: "file", mode: 0o100600, uid: 999, gid: 999 }, body: PG },
    { h: { name: "data/postgres/big", type: "file", mode: 0o100600, uid: 999, gid: 999 }, body: BIG },
    {
      h: {
        name: "data/postgres/again",
        type: "link",
        mode: 0o100600,
        uid: 999,
        gid: 999,
        linkname: "data/postgres/PG_VERSION",
      },
    },
    { h: { name: "data/columns/", type: "directory", mode: 0o40755, uid: 101, gid: 101 } },
    {
      h: {
        name: "data/columns/current",
        type: "symlink",
        mode: 0o120777,
        uid: 101,
        gid: 101,
        linkname: "../postgres",
      },
    },
    { h: { name: "data/symbolicator/", type: "directory", mode: 0o42750, uid: 10021, gid: 10021 } },
    { h: { name: "data/symbolicator/fifo", type: "fifo", mode: 0o10600, uid: 10021, gid: 10021 } },
  ]);

async function backupOf(
  source: Buffer,
  compress: boolean,
): Promise<{ bytes: Buffer; manifest: BackupManifest }> {
  const out = new PassThrough();
  const bytes = collect(out);
  const manifest = await writeArchive({ header, source: Readable.from([source]), out, compress });
  return { bytes: await bytes, manifest };
}

const verify = (b: Buffer, file = "b.tar") =>
  verifyArchive(Readable.from([b]), { file, compressed: isGzip(b) });

/** The archive's entries as (name, type, uid, gid, mode, linkname). */
async function listing(b: Buffer): Promise<string[]> {
  const ex = extract();
  Readable.from([isGzip(b) ? gunzipSync(b) : b]).pipe(ex);
  const out: string[] = [];
  for await (const e of ex) {
    const h = e.header;
    out.push(
      `${h.name} ${h.type} ${h.uid}:${h.gid} ${(h.mode ?? 0).toString(8)}${h.linkname ? ` -> ${h.linkname}` : ""}`,
    );
    e.resume();
  }
  return out;
}

describe("writing a backup archive", () => {
  it("stores the header first, the data under data/ without the lock, the manifest last", async () => {
    const { bytes, manifest } = await backupOf(await dataRootTar(), false);
    expect(await listing(bytes)).toEqual([
      "shctl-backup.json file 0:0 644",
      "data/ directory 1000:1000 755",
      "data/.shctl/ directory 1000:1000 755",
      "data/.shctl/state.json file 1000:1000 644",
      "data/postgres/ directory 999:999 700",
      "data/postgres/PG_VERSION file 999:999 600",
      "data/postgres/big file 999:999 600",
      "data/postgres/again link 999:999 600 -> data/postgres/PG_VERSION",
      "data/columns/ directory 101:101 755",
      "data/columns/current symlink 101:101 777 -> ../postgres",
      "data/symbolicator/ directory 10021:10021 2750",
      "data/symbolicator/fifo fifo 10021:10021 600",
      "manifest.json file 0:0 644",
    ]);
    expect(manifest.stack).toEqual({ name: "demo", version: "1.2.3" });
    expect(manifest.jobs).toEqual({ migrate: { key: "k1", completedAt: "then" } });
    expect(manifest.totals).toEqual({ entries: 11, files: 3, bytes: STATE.length + PG.length + BIG.length });
    const pg = manifest.entries.find((e) => e.path === "postgres/PG_VERSION");
    expect(pg).toEqual({
      path: "postgres/PG_VERSION",
      type: "file",
      mode: "0600",
      uid: 999,
      gid: 999,
      size: 3,
      sha256: createHash("sha256").update(PG).digest("hex"),
    });
    expect(manifest.entries[0]).toMatchObject({ path: ".", type: "directory", mode: "0755" });
    expect(manifest.entries.find((e) => e.path === "postgres/again")).toMatchObject({
      type: "link",
      target: "postgres/PG_VERSION",
    });
    expect(manifest.entries.find((e) => e.path === "columns/current")).toMatchObject({
      type: "symlink",
      target: "../postgres",
    });
  });

  it("compresses with gzip when asked; the reader finds the same manifest", async () => {
    const source = await dataRootTar();
    const plain = await backupOf(source, false);
    const gz = await backupOf(source, true);
    expect(isGzip(gz.bytes)).toBe(true);
    expect(isGzip(plain.bytes)).toBe(false);
    expect(gz.bytes.length).toBeLessThan(plain.bytes.length);
    const v = await verify(gz.bytes, "b.tar.gz");
    expect(v.manifest.entries).toEqual(gz.manifest.entries);
    expect(v.header.stack.name).toBe("demo");
  });

  it("reports progress in content bytes and files", async () => {
    const seen: [number, number][] = [];
    const out = new PassThrough();
    const done = collect(out);
    await writeArchive({
      header,
      source: Readable.from([await dataRootTar()]),
      out,
      compress: false,
      onProgress: (b, f) => seen.push([b, f]),
    });
    await done;
    expect(seen.at(-1)).toEqual([STATE.length + PG.length + BIG.length, 3]);
  });

  it("fails (and stops reading) when the output fails", async () => {
    const out = new Writable({
      write(_c, _e, cb) {
        cb(Object.assign(new Error("no space left on device"), { code: "ENOSPC" }));
      },
    });
    await expect(
      writeArchive({ header, source: Readable.from([await dataRootTar()]), out, compress: false }),
    ).rejects.toThrow(/no space left/);
  });

  // Was a bug: an abort while an entry waited for the output to drain left a rejected promise
  // nobody listened to, and the process died before it could clean up.
  it("stops when the signal aborts while the output is full", async () => {
    const ac = new AbortController();
    const out = new Writable({
      highWaterMark: 1024,
      write(_c, _e, _cb) {
        // never done: the output stays full
      },
    });
    const p = writeArchive({
      header,
      source: Readable.from([await dataRootTar()]),
      out,
      compress: false,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error("interrupted")), 50);
    await expect(p).rejects.toThrow(/interrupted/);
    await new Promise((r) => setTimeout(r, 50));
  });

  // Was a bug: an entry's sink destroyed by the abort emitted an 'error' nobody listened to, which
  // ended the process before the services were started again.
  it("stops cleanly whenever the abort comes, in the middle of an entry too", async () => {
    const source = await engineTar([
      { h: { name: "data/", type: "directory", mode: 0o40755 } },
      { h: { name: "data/big", type: "file", mode: 0o100644 }, body: Buffer.alloc(4 << 20, "b") },
    ]);
    for (let i = 0; i < 15; i++) {
      const ac = new AbortController();
      const out = new Writable({
        highWaterMark: 4096,
        write(_c, _e, cb) {
          setImmediate(cb);
        },
      });
      const chunks = Array.from({ length: Math.ceil(source.length / 65536) }, (_, k) =>
        source.subarray(k * 65536, (k + 1) * 65536),
      );
      async function* slowly() {
        for (const c of chunks) {
          await new Promise((r) => setTimeout(r, 1));
          yield c;
        }
      }
      const p = writeArchive({
        header,
        source: Readable.from(slowly()),
        out,
        compress: i % 2 === 0,
        signal: ac.signal,
      });
      setTimeout(() => ac.abort(new Error("interrupted")), 2 + i * 4);
      await expect(p).rejects.toThrow(/interrupted/);
    }
    await new Promise((r) => setTimeout(r, 50));
  });

  it("stops when the signal aborts", async () => {
    const ac = new AbortController();
    const source = new PassThrough();
    const out = new PassThrough();
    out.resume();
    const p = writeArchive({ header, source, out, compress: true, signal: ac.signal });
    source.write((await dataRootTar()).subarray(0, 2048));
    setTimeout(() => ac.abort(new Error("interrupted")), 20);
    await expect(p).rejects.toThrow(/interrupted/);
  });
});

describe("verifying a backup archive", () => {
  it("accepts an intact archive, plain or compressed", async () => {
    const source = await dataRootTar();
    for (const compress of [false, true]) {
      const { bytes, manifest } = await backupOf(source, compress);
      const v = await verify(bytes);
      expect(v.manifest).toEqual(manifest);
    }
  });

  it("refuses a flipped byte in a file's content (plain tar): the checksum does not match", async () => {
    const { bytes } = await backupOf(await dataRootTar(), false);
    const at = bytes.indexOf(Buffer.alloc(64, "x"));
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.from(bytes);
    bad[at + 1000] = "y".charCodeAt(0);
    const err = await verify(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupArchiveError);
    expect((err as BackupArchiveError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/damaged: data\/postgres\/big does not match its checksum/);
  });

  it("refuses a flipped byte anywhere in a compressed archive, unless the data came out the same", async () => {
    const { bytes } = await backupOf(await dataRootTar(), true);
    const intact = gunzipSync(bytes);
    let refused = 0;
    for (let at = 10; at < bytes.length; at += 37) {
      const bad = Buffer.from(bytes);
      bad[at] = (bad[at] as number) ^ 0x40;
      const err = await verify(bad, "b.tar.gz").catch((e: unknown) => e);
      if (err instanceof BackupArchiveError) {
        expect((err as Error).message).toMatch(/damaged|truncated|not a shctl backup/);
        refused++;
        continue;
      }
      // Accepted: only if the flip hit a bit deflate does not use (the content is the same).
      expect(err, `flipped at ${at}`).not.toBeInstanceOf(Error);
      expect(gunzipSync(bad).equals(intact), `flipped at ${at}`).toBe(true);
    }
    expect(refused).toBeGreaterThan(0);
  });

  it("refuses a flipped byte in a tar header", async () => {
    const { bytes } = await backupOf(await dataRootTar(), false);
    const at = bytes.indexOf(Buffer.from("data/postgres/PG_VERSION"));
    const bad = Buffer.from(bytes);
    bad[at + 5] = "q".charCodeAt(0);
    await expect(verify(bad)).rejects.toThrow(/damaged/);
  });

  it("refuses a truncated archive, wherever it was cut", async () => {
    for (const compress of [false, true]) {
      const { bytes } = await backupOf(await dataRootTar(), compress);
      for (const keep of [600, Math.floor(bytes.length / 2), bytes.length - 1100, bytes.length - 10]) {
        const err = await verify(bytes.subarray(0, keep)).catch((e: unknown) => e);
        expect(err, `${compress ? "gz" : "tar"} cut at ${keep}`).toBeInstanceOf(BackupArchiveError);
        expect((err as Error).message).toMatch(/truncated|damaged/);
      }
    }
  });

  it("refuses what is not a shctl backup: an ordinary tar, a gzip of one, random bytes, an empty file", async () => {
    const tar = await engineTar([
      { h: { name: "hello.txt", type: "file", mode: 0o644 }, body: Buffer.from("hi") },
    ]);
    for (const b of [
      tar,
      gzipSync(tar),
      Buffer.from("just some text that is not a tar at all\n".repeat(30)),
      Buffer.alloc(0),
    ]) {
      const err = await verify(b).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupArchiveError);
      expect((err as Error).message).toMatch(/not a shctl backup/);
    }
  });

  it("refuses an archive whose entries differ from its manifest (one added, one left out)", async () => {
    const { manifest } = await backupOf(await dataRootTar(), false);
    const forged = async (entries: Entry[]) =>
      engineTar([
        {
          h: { name: "shctl-backup.json", type: "file", mode: 0o644 },
          body: Buffer.from(JSON.stringify(header)),
        },
        ...entries,
        {
          h: { name: "manifest.json", type: "file", mode: 0o644 },
          body: Buffer.from(JSON.stringify(manifest)),
        },
      ]);
    const one: Entry[] = [{ h: { name: "data/", type: "directory", mode: 0o40755, uid: 1000, gid: 1000 } }];
    await expect(verify(await forged(one))).rejects.toThrow(/missing/);
    const escaping: Entry[] = [
      { h: { name: "data/../etc/passwd", type: "file", mode: 0o644 }, body: Buffer.from("x") },
    ];
    await expect(verify(await forged(escaping))).rejects.toThrow(/outside data\//);
  });

  it("refuses a newer format with the version it needs", async () => {
    const newer = { ...header, formatVersion: 2 };
    const b = await engineTar([
      {
        h: { name: "shctl-backup.json", type: "file", mode: 0o644 },
        body: Buffer.from(JSON.stringify(newer)),
      },
    ]);
    await expect(verify(b)).rejects.toThrow(/format 2; this shctl reads format 1/);
  });
});

describe("the tar that restore hands to the engine", () => {
  it("holds the data entries under data/ with their owners (mapped when asked), checked as it goes", async () => {
    const { bytes, manifest } = await backupOf(await dataRootTar(), true);
    const { tar, done } = await extractionTar(Readable.from([bytes]), {
      file: "b.tar.gz",
      compressed: true,
      manifest,
      owner: (uid, gid) => [uid === 1000 ? 0 : uid, gid === 1000 ? 0 : gid],
    });
    const [list] = await Promise.all([listing(await collect(tar)), done]);
    expect(list).toEqual([
      "data/ directory 0:0 755",
      "data/.shctl/ directory 0:0 755",
      "data/.shctl/state.json file 0:0 644",
      "data/postgres/ directory 999:999 700",
      "data/postgres/PG_VERSION file 999:999 600",
      "data/postgres/big file 999:999 600",
      "data/postgres/again link 999:999 600 -> data/postgres/PG_VERSION",
      "data/columns/ directory 101:101 755",
      "data/columns/current symlink 101:101 777 -> ../postgres",
      "data/symbolicator/ directory 10021:10021 2750",
      "data/symbolicator/fifo fifo 10021:10021 600",
    ]);
  });

  it("fails the stream when the archive changed since it was verified", async () => {
    const { bytes, manifest } = await backupOf(await dataRootTar(), false);
    const bad = Buffer.from(bytes);
    bad[bytes.indexOf(Buffer.alloc(64, "x")) + 10] = "z".charCodeAt(0);
    const { tar, done } = await extractionTar(Readable.from([bad]), {
      file: "b.tar",
      compressed: false,
      manifest,
    });
    const reading = collect(tar).catch((e: unknown) => e);
    await expect(done).rejects.toThrow(/does not match its checksum/);
    expect(await reading).toBeInstanceOf(Error);
  });
});
