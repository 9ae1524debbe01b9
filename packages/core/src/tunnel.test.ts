import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  encodeFrame,
  FrameDecoder,
  formatAddress,
  HelperExitedError,
  tunnelFailure,
  tunnelSocket,
  whenConnected,
} from "./tunnel.js";

/** An exec connection as the engine gives it: what we write is stdin, frames we push are its output. */
function fakeExec() {
  const written: Buffer[] = [];
  let ended = false;
  let destroyed = false;
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(Buffer.from(chunk));
      cb();
    },
    final(cb) {
      ended = true;
      cb();
    },
    destroy(err, cb) {
      destroyed = true;
      cb(err);
    },
  });
  return {
    stream,
    stdin: () => Buffer.concat(written).toString(),
    stdinEnded: () => ended,
    destroyed: () => destroyed,
    stdout: (s: string) => stream.push(encodeFrame(1, s)),
    stderr: (s: string) => stream.push(encodeFrame(2, s)),
    exit: () => stream.push(null),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("FrameDecoder", () => {
  it("splits frames across any chunk boundaries and skips empty ones", () => {
    const frames: [number, string][] = [];
    const d = new FrameDecoder((k, p) => frames.push([k, p.toString()]));
    const all = Buffer.concat([encodeFrame(2, "connected\n"), encodeFrame(1, ""), encodeFrame(1, "hello")]);
    for (let i = 0; i < all.length; i += 3) d.push(all.subarray(i, i + 3));
    expect(frames).toEqual([
      [2, "connected\n"],
      [1, "hello"],
    ]);
  });

  it("handles a frame larger than one chunk and several frames in one chunk", () => {
    const frames: string[] = [];
    const d = new FrameDecoder((_k, p) => frames.push(p.toString()));
    const big = "x".repeat(70_000);
    const all = Buffer.concat([encodeFrame(1, big), encodeFrame(1, "a"), encodeFrame(1, "b")]);
    d.push(all.subarray(0, 100));
    d.push(all.subarray(100));
    expect(frames).toEqual([big, "a", "b"]);
  });
});

describe("tunnelFailure", () => {
  it.each([
    ["refused", "ECONNREFUSED", "172.18.0.2:8080 refused"],
    ["unreachable", "EHOSTUNREACH", "172.18.0.2:8080 unreachable"],
    ["timeout", "ETIMEDOUT", "172.18.0.2:8080 timed out (3s)"],
    ["error 97", "EAFNOSUPPORT", "172.18.0.2:8080 failed (EAFNOSUPPORT)"],
    ["usage: x", "EIO", "172.18.0.2:8080 failed: usage: x"],
  ])("maps %s to %s", (line, code, message) => {
    const err = tunnelFailure(line, "172.18.0.2", 8080);
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
  });

  it("brackets IPv6 addresses", () => {
    expect(formatAddress("fd00::2", 80)).toBe("[fd00::2]:80");
    expect(tunnelFailure("refused", "fd00::2", 80).message).toBe("[fd00::2]:80 refused");
  });
});

describe("a tunnel socket over a fake exec", () => {
  it("sends the target first, connects on 'connected', relays both ways, and ends", async () => {
    const ex = fakeExec();
    const sock = tunnelSocket("172.18.0.2", 8080, { exec: async () => ex.stream });
    const events: string[] = [];
    sock.on("connect", () => events.push("connect"));
    sock.on("data", (d: Buffer) => events.push(`data:${d}`));
    sock.on("end", () => events.push("end"));
    sock.on("close", () => events.push("close"));
    sock.write("ping"); // before it connects: held back
    await tick();
    expect(ex.stdin()).toBe("172.18.0.2 8080\n");
    expect(sock.connecting).toBe(true);
    // The engine may deliver stdout before stderr: data still comes after 'connect'.
    ex.stdout("pong");
    ex.stderr("connected\n");
    await whenConnected(sock);
    expect(sock.remoteAddress).toBe("172.18.0.2");
    expect(sock.remotePort).toBe(8080);
    await tick();
    expect(ex.stdin()).toBe("172.18.0.2 8080\nping");
    sock.end("bye");
    await tick();
    expect(ex.stdinEnded()).toBe(true);
    ex.stdout("rest");
    ex.exit();
    await new Promise((r) => sock.once("close", r));
    expect(events).toEqual(["connect", "data:pong", "data:rest", "end", "close"]);
    expect(ex.stdin()).toBe("172.18.0.2 8080\npingbye");
  });

  it("fails with the helper's reason and an errno code", async () => {
    const ex = fakeExec();
    const sock = tunnelSocket("172.18.0.2", 81, { exec: async () => ex.stream });
    ex.stderr("refu");
    ex.stderr("sed\n");
    ex.exit();
    const err = (await whenConnected(sock).catch((e) => e)) as NodeJS.ErrnoException;
    expect(err.message).toBe("172.18.0.2:81 refused");
    expect(err.code).toBe("ECONNREFUSED");
    expect(ex.destroyed()).toBe(true);
  });

  it("reports a helper that exits without a word as HelperExitedError", async () => {
    const ex = fakeExec();
    const sock = tunnelSocket("10.0.0.1", 80, { exec: async () => ex.stream });
    ex.exit();
    const err = await whenConnected(sock).catch((e) => e);
    expect(err).toBeInstanceOf(HelperExitedError);
    expect(err.code).toBe("ECONNABORTED");
  });

  it("reports an exec that ended while it waited as HelperExitedError at once", async () => {
    const ex = fakeExec();
    ex.stream.destroy();
    const err = await whenConnected(tunnelSocket("10.0.0.1", 80, { exec: async () => ex.stream })).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(HelperExitedError);
  });

  it("turns a reset after connecting into an error event", async () => {
    const ex = fakeExec();
    const sock = tunnelSocket("10.0.0.1", 80, { exec: async () => ex.stream });
    ex.stderr("connected\n");
    await whenConnected(sock);
    const err = new Promise<NodeJS.ErrnoException>((r) => sock.once("error", r));
    ex.stderr("reset\n");
    expect((await err).code).toBe("ECONNRESET");
  });

  it("emits 'timeout' after the idle time set with setTimeout, and is ref/unref-able", async () => {
    const ex = fakeExec();
    const sock = tunnelSocket("10.0.0.1", 80, { exec: async () => ex.stream });
    expect(sock.setKeepAlive(true, 1000).setNoDelay(true).unref().ref()).toBe(sock);
    ex.stderr("connected\n");
    await whenConnected(sock);
    const timedOut = new Promise((r) => sock.setTimeout(20, () => r("timeout")));
    expect(sock.timeout).toBe(20);
    expect(await timedOut).toBe("timeout");
    sock.destroy();
    expect(ex.destroyed()).toBe(true);
  });

  it("fails when the exec cannot be started", async () => {
    const sock = tunnelSocket("10.0.0.1", 80, {
      exec: async () => {
        throw Object.assign(new Error("container not running"), { statusCode: 409 });
      },
    });
    await expect(whenConnected(sock)).rejects.toThrow("container not running");
  });
});
