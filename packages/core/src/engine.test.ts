import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { connectEngine } from "./engine.js";

const require = createRequire(import.meta.url);
const fromDockerode = createRequire(require.resolve("dockerode"));
const loaded = (file: string) => require.cache[file] !== undefined;

describe("loading dockerode", () => {
  it("leaves the BuildKit session client and the SSH transport unloaded until they are used", () => {
    connectEngine({ socketPath: "/nonexistent.sock" });
    expect(loaded(fromDockerode.resolve("@grpc/grpc-js"))).toBe(false);
    expect(loaded(fromDockerode.resolve("ssh2"))).toBe(false);
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
