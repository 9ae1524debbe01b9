import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { connectEngine } from "./engine/index.js";

const require = createRequire(import.meta.url);
const fromDockerode = createRequire(require.resolve("dockerode"));
const loaded = (file: string) => require.cache[file] !== undefined;

describe("loading dockerode", () => {
  it("leaves the BuildKit session client, tar-fs and the SSH transport unloaded until they are used", () => {
    connectEngine({ socketPath: "/nonexistent.sock" });
    expect(loaded(fromDockerode.resolve("@grpc/grpc-js"))).toBe(false);
    expect(loaded(fromDockerode.resolve("ssh2"))).toBe(false);
    expect(loaded(fromDockerode.resolve("tar-stream"))).toBe(false);
  });

  it("loads dockerode's real tar-fs on the first pack, and it packs", async () => {
    const file = fromDockerode.resolve("tar-fs");
    const standIn = require.cache[file]?.exports as { pack: (dir: string) => NodeJS.ReadableStream };
    const chunks: Buffer[] = [];
    for await (const c of standIn.pack(path.dirname(fileURLToPath(import.meta.url))))
      chunks.push(Buffer.from(c as Buffer));
    // A tar archive: the first header names a file of this directory, with the ustar magic.
    const tar = Buffer.concat(chunks);
    expect(tar.subarray(257, 262).toString()).toBe("ustar");
    expect(require.cache[file]?.exports).not.toBe(standIn);
  });

  it("loads the real SSH transport on its first call, and it works", () => {
    const file = fromDockerode.resolve("docker-modem/lib/ssh.js");
    const standIn = require.cache[file]?.exports as (opts: object) => { createConnection: unknown };
    const agent = standIn({ host: "127.0.0.1", port: 9 });
    expect(typeof agent.createConnection).toBe("function");
    expect(require.cache[file]?.exports).not.toBe(standIn);
    expect(loaded(fromDockerode.resolve("ssh2"))).toBe(true);
  });
});
