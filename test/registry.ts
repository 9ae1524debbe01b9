import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdtemp, open, rm, utimes, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { BASE_IMAGE } from "./helpers.js";

/*
 * A real container registry for the pull tests (Debian's docker-registry, distribution 2.8):
 *  - the shared one scripts/test-env.sh starts at SHCTL_TEST_REGISTRY (default 127.0.0.1:5555);
 *  - registries a test owns (OwnedRegistry): own port, config and storage, started, stopped and
 *    SIGKILLed by the test.
 * Images are built locally from the base image with a payload of chosen size (deterministic bytes
 * from a seed, so a seed per test gives distinct images with real bytes to pull), pushed through
 * the Engine API, and their local tags removed so that a pull is needed. The engine talks plain
 * HTTP to loopback registries without configuration (its default insecure range is 127.0.0.0/8).
 * Nothing here touches an image it did not create: every name carries a per-test random part.
 */

export const TEST_REGISTRY = process.env.SHCTL_TEST_REGISTRY ?? "127.0.0.1:5555";

/** The raw engine for what shctl itself never does (push, tag, remove). */
export const docker = new Docker();

/** A short random suffix for names no other test (or worker) uses. */
export function rand(): string {
  return `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`;
}

/** Whether a registry answers the v2 API at `addr` (host:port). */
export async function registryAnswers(addr: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const r = await fetch(`http://${addr}/v2/`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Whether Debian's docker-registry is on PATH (needed for registries a test owns). */
export function registryBinary(): boolean {
  return spawnSync("docker-registry", ["--version"], { stdio: "ignore" }).status === 0;
}

export interface PayloadImage {
  /** Bytes of each payload layer (one COPY each); default one layer of 256 KiB. */
  layers?: number[];
  /** Seed of the payload bytes; the same seed gives the same layers. Default: random. */
  seed?: string;
}

export interface PushedImage {
  /** The image ID (its config digest): the same after push and pull. */
  id: string;
  /** Every `REGISTRY/NAME:TAG` it was pushed as. */
  refs: string[];
}

/**
 * Builds one image from the base image with the given payload and pushes it to `registry` as
 * each of `names` ("repo/name:tag"); afterwards no local tag of it is left, so the image and its
 * payload layers are gone locally and a pull transfers them.
 */
export async function pushImage(
  registry: string,
  names: string[],
  opts: PayloadImage = {},
): Promise<PushedImage> {
  if (names.length === 0) throw new Error("pushImage: no names");
  const refs = names.map((n) => `${registry}/${withTag(n)}`);
  const id = await buildPayloadImage(refs[0] as string, opts);
  try {
    for (const ref of refs.slice(1)) await tagLocal(refs[0] as string, ref);
    for (const ref of refs) await push(ref);
  } finally {
    await removeLocal(refs);
  }
  return { id, refs };
}

/** Builds the payload image as `ref` and returns its ID. */
export async function buildPayloadImage(ref: string, opts: PayloadImage = {}): Promise<string> {
  const layers = opts.layers ?? [256 * 1024];
  const seed = opts.seed ?? randomBytes(8).toString("hex");
  const dir = await mkdtemp(path.join(tmpdir(), "shctl-it-payload-"));
  try {
    const files: string[] = [];
    for (const [i, size] of layers.entries()) {
      const file = `payload-${i}`;
      await writePayload(path.join(dir, file), size, `${seed}/${i}`);
      files.push(file);
    }
    await writeFile(
      path.join(dir, "Dockerfile"),
      [
        `FROM ${BASE_IMAGE}`,
        ...files.map((f) => `COPY ${f} /shctl-${f}`),
        `LABEL io.shctl.test.payload=${JSON.stringify(seed)}`,
        'CMD ["sleep", "infinity"]',
        "",
      ].join("\n"),
    );
    const stream = await docker.buildImage(
      { context: dir, src: ["Dockerfile", ...files] },
      { t: ref, rm: true, forcerm: true },
    );
    let id = "";
    await follow(stream, `build ${ref}`, (ev) => {
      const aux = ev.aux as { ID?: string } | undefined;
      if (aux?.ID) id = aux.ID;
    });
    return id || ((await localImageId(ref)) as string);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Incompressible, reproducible bytes: AES-256-CTR of zeros under a key derived from the seed. */
async function writePayload(file: string, size: number, seed: string): Promise<void> {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1024 * 1024);
  const fh = await open(file, "w");
  try {
    for (let left = size; left > 0; left -= zeros.length) {
      await fh.write(cipher.update(zeros.subarray(0, Math.min(left, zeros.length))));
    }
  } finally {
    await fh.close();
  }
  // A fixed mtime keeps the layer the same for the same seed.
  const epoch = new Date("2020-01-01T00:00:00Z");
  await utimes(file, epoch, epoch);
}

/** Adds a local tag `ref` to the image `source`. */
export async function tagLocal(source: string, ref: string): Promise<void> {
  const { repo, tag } = splitRef(ref);
  await docker.getImage(source).tag({ repo, tag });
}

/**
 * Pushes `REGISTRY/NAME:TAG` through the Engine API. The engine wants an X-Registry-Auth header
 * even for a registry without auth: an empty object does (dockerode sends it base64-encoded).
 * The push reports failures in the progress stream, so the stream is read to its end.
 */
export async function push(ref: string): Promise<void> {
  const { repo, tag } = splitRef(ref);
  const stream = (await docker.getImage(repo).push({ tag, authconfig: {} })) as NodeJS.ReadableStream;
  await follow(stream, `push ${ref}`);
}

/** Removes local tags (only these names); a missing one is fine. The image goes with its last tag. */
export async function removeLocal(refs: string[]): Promise<void> {
  for (const ref of refs) {
    try {
      await docker.getImage(ref).remove();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }
}

/** The local image ID of `ref`, or undefined when there is no such local image. */
export async function localImageId(ref: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

const MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json";

/** The digest the registry has for NAME:TAG, or undefined when it answers 404. */
export async function manifestDigest(registry: string, name: string): Promise<string | undefined> {
  const { repo, tag } = splitRef(withTag(name));
  const r = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { Accept: MANIFEST_V2 },
    signal: AbortSignal.timeout(10_000),
  });
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`HEAD ${registry}/${name}: ${r.status}`);
  return r.headers.get("docker-content-digest") ?? undefined;
}

/**
 * Tags an image the registry has under another name, inside the registry: its blobs are mounted
 * into the new repository and its manifest put under the new tag. No local tag is involved, so
 * names other tests may use locally (e.g. `postgres:14.5`) are never created on the engine.
 */
export async function copyInRegistry(registry: string, from: string, to: string): Promise<void> {
  const src = splitRef(withTag(from));
  const dst = splitRef(withTag(to));
  const base = `http://${registry}/v2`;
  const got = await fetch(`${base}/${src.repo}/manifests/${src.tag}`, { headers: { Accept: MANIFEST_V2 } });
  if (!got.ok) throw new Error(`GET manifest ${registry}/${from}: ${got.status}`);
  const body = Buffer.from(await got.arrayBuffer());
  const manifest = JSON.parse(body.toString("utf8")) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  for (const digest of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    const m = await fetch(`${base}/${dst.repo}/blobs/uploads/?mount=${digest}&from=${src.repo}`, {
      method: "POST",
    });
    if (m.status !== 201) throw new Error(`mount ${digest} into ${dst.repo}: ${m.status}`);
  }
  const put = await fetch(`${base}/${dst.repo}/manifests/${dst.tag}`, {
    method: "PUT",
    headers: { "Content-Type": got.headers.get("content-type") ?? MANIFEST_V2 },
    body,
  });
  if (put.status !== 201)
    throw new Error(`PUT manifest ${registry}/${to}: ${put.status} ${await put.text()}`);
}

/**
 * Makes the layers of image `from` (NAME:TAG on registry `src`) present in each of `repos` on
 * registry `dst`: streamed once, then mounted across. A later push there of an image on the same
 * base finds them and skips compressing and uploading them again (the base layer takes seconds).
 */
export async function seedLayers(src: string, from: string, dst: string, repos: string[]): Promise<void> {
  const { repo: srcRepo, tag } = splitRef(withTag(from));
  const got = await fetch(`http://${src}/v2/${srcRepo}/manifests/${tag}`, {
    headers: { Accept: MANIFEST_V2 },
  });
  if (!got.ok) throw new Error(`GET manifest ${src}/${from}: ${got.status}`);
  const { layers } = (await got.json()) as { layers: { digest: string }[] };
  const [first, ...rest] = repos;
  if (!first) return;
  for (const { digest } of layers) {
    const blob = await fetch(`http://${src}/v2/${srcRepo}/blobs/${digest}`);
    if (!blob.ok || !blob.body) throw new Error(`GET blob ${src}/${srcRepo}@${digest}: ${blob.status}`);
    const start = await fetch(`http://${dst}/v2/${first}/blobs/uploads/`, { method: "POST" });
    const location = start.headers.get("location");
    if (start.status !== 202 || !location)
      throw new Error(`start upload to ${dst}/${first}: ${start.status}`);
    const url = new URL(location, `http://${dst}`);
    url.searchParams.set("digest", digest);
    const put = await fetch(url, {
      method: "PUT",
      body: blob.body,
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Length": blob.headers.get("content-length") ?? "",
      },
      duplex: "half",
    } as RequestInit);
    if (put.status !== 201) throw new Error(`upload ${digest} to ${dst}/${first}: ${put.status}`);
    for (const repo of rest) {
      const m = await fetch(`http://${dst}/v2/${repo}/blobs/uploads/?mount=${digest}&from=${first}`, {
        method: "POST",
      });
      if (m.status !== 201) throw new Error(`mount ${digest} into ${dst}/${repo}: ${m.status}`);
    }
  }
}

/** "a/b:t" → { repo: "a/b", tag: "t" }; a digest or a port colon is not a tag. */
export function splitRef(ref: string): { repo: string; tag: string } {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: "latest" };
}

function withTag(name: string): string {
  const { repo, tag } = splitRef(name);
  return `${repo}:${tag}`;
}

/** Reads a build/push progress stream to its end; an `error` in it fails the call. */
function follow(
  stream: NodeJS.ReadableStream,
  what: string,
  onEvent?: (ev: Record<string, unknown>) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (err) reject(new Error(`${what}: ${err.message}`));
        else if (failure) reject(new Error(`${what}: ${failure}`));
        else resolve();
      },
      (ev: Record<string, unknown>) => {
        if (typeof ev.error === "string") failure = ev.error;
        onEvent?.(ev);
      },
    );
  });
}

/** A free loopback TCP port (free when asked: the registry binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A registry process a test owns: its own loopback port, config, storage and log in a temp dir
 * (removed by dispose). It can be stopped (SIGTERM), killed (SIGKILL) and started again on the
 * same port with the same storage.
 */
export class OwnedRegistry {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** host:port, usable as an image reference prefix or a registryMirror. */
  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  get logFile(): string {
    return path.join(this.dir, "registry.log");
  }

  /** Everything the registry logged so far (access lines included). */
  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  static async create(): Promise<OwnedRegistry> {
    const dir = await mkdtemp(path.join(tmpdir(), "shctl-it-registry-"));
    const reg = new OwnedRegistry(await freePort(), dir);
    await writeFile(
      path.join(dir, "config.yml"),
      [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  formatter: text",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${path.join(dir, "data")}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: ${reg.addr}`,
        "",
      ].join("\n"),
    );
    await reg.start();
    return reg;
  }

  /** Starts the process and waits until /v2/ answers (10 s). */
  async start(): Promise<void> {
    if (this.running) return;
    const fd = openSync(this.logFile, "a");
    const child = spawn("docker-registry", ["serve", path.join(this.dir, "config.yml")], {
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const onExit = () => child.kill("SIGKILL");
    process.once("exit", onExit);
    child.once("exit", () => process.removeListener("exit", onExit));
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      if (await registryAnswers(this.addr, 1000)) return;
      if (!this.running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the registry at ${this.addr} did not come up; log:\n${this.log().slice(-2000)}`);
  }

  /** SIGTERM, and waits for the process to end. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child?.kill("SIGTERM");
    await this.exited;
  }

  /** SIGKILL at once (no draining), and waits for the process to end. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill("SIGKILL");
    await this.exited;
  }

  /** Sends SIGKILL without waiting (for use inside a progress callback). */
  killNow(): void {
    if (this.running) this.child?.kill("SIGKILL");
  }

  /** Stops the process and removes its dir (config, storage, log). */
  async dispose(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
