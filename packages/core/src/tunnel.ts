import { constants } from "node:os";
import type { Duplex } from "node:stream";
import type { EngineClient } from "./engine/index.js";
import { HELPER_PATH } from "./helper-image.js";
import { type Opener, ProxySocket, type Transport } from "./proxy-socket.js";

/*
 * A byte stream to IP:PORT opened from inside the engine: an exec of `shctl-helper connect IP PORT`
 * in a helper container on the target's network, with the exec's stdin and stdout as the two
 * directions. The hijacked exec connection carries stdout and stderr in frames (8-byte header:
 * stream, 0, 0, 0, length as uint32 BE); stdin goes in raw. The helper reports on stderr:
 * "connected", or one failure line before exiting.
 */

/** Splits the engine's multiplexed stream into (stream, payload) frames, across chunk boundaries. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (stream: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const kind = this.buf[0] ?? 0;
      const payload = this.buf.subarray(8, 8 + size);
      this.buf = this.buf.subarray(8 + size);
      if (size > 0) this.onFrame(kind, payload);
    }
  }
}

/** One frame as the engine writes it (for tests and fakes). */
export function encodeFrame(stream: number, payload: Buffer | string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export function formatAddress(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** An Error like net's for a failure line of the helper ("refused", "timeout", "error 97", …). */
export function tunnelFailure(line: string, host: string, port: number): NodeJS.ErrnoException {
  const where = formatAddress(host, port);
  const known: Record<string, [string, string]> = {
    refused: ["ECONNREFUSED", "refused"],
    unreachable: ["EHOSTUNREACH", "unreachable"],
    timeout: ["ETIMEDOUT", "timed out (3s)"],
    reset: ["ECONNRESET", "reset by peer"],
  };
  const errno = /^error (\d+)$/.exec(line);
  let code: string;
  let what: string;
  if (known[line]) [code, what] = known[line];
  else if (errno) {
    code = ERRNO_NAMES.get(Number(errno[1])) ?? `E${errno[1]}`;
    what = `failed (${code})`;
  } else {
    code = "EIO";
    what = `failed: ${line}`;
  }
  return Object.assign(new Error(`${where} ${what}`), {
    code,
    syscall: "connect",
    address: host,
    port,
  });
}

/** The exec connection as a Transport; frames it decodes go to the sink, stderr lines to `onLine`. */
function execTransport(stream: Duplex): Transport {
  return {
    write: (chunk, cb) => stream.write(chunk, cb),
    end: () => stream.end(),
    destroy: () => stream.destroy(),
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    ref: () => (stream as { ref?: () => unknown }).ref?.(),
    unref: () => (stream as { unref?: () => unknown }).unref?.(),
  };
}

/** The helper process ended without a word: it was stopped, or its container is gone. */
export class HelperExitedError extends Error {
  readonly code = "ECONNABORTED";
  constructor(where: string) {
    super(`${where} failed: the helper exited before connecting (its container may be gone)`);
  }
}

export interface TunnelOptions {
  /**
   * A started exec of `shctl-helper connect` (no arguments: it reads "IP PORT" from stdin) in a
   * helper container on the target's network. It may have been started ahead of time.
   */
  exec: () => Promise<Duplex>;
}

/** Starts an exec of `shctl-helper connect` in the helper container `id` (for TunnelOptions.exec). */
export function connectExec(engine: EngineClient, id: string): Promise<Duplex> {
  return engine.execStream(id, [HELPER_PATH, "connect"]);
}

/** An Opener that reaches host:port (an IP literal) through the helper's exec. */
export function engineOpener(host: string, port: number, o: TunnelOptions): Opener {
  return async (sink, signal) => {
    const stream = await o.exec();
    if (signal.aborted) {
      stream.destroy();
      throw signal.reason;
    }
    // An exec started ahead of time may have ended while it waited (its container removed).
    if (stream.destroyed || stream.readableEnded) throw new HelperExitedError(formatAddress(host, port));
    stream.write(`${host} ${port}\n`);
    return new Promise((resolve, reject) => {
      let connected = false;
      let failed = false;
      let errText = "";
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        if (connected) sink.error(err);
        else {
          stream.destroy();
          reject(err);
        }
      };
      const onStderr = (text: string) => {
        errText += text;
        let nl = errText.indexOf("\n");
        while (nl >= 0) {
          const line = errText.slice(0, nl).trim();
          errText = errText.slice(nl + 1);
          if (!connected && line === "connected") {
            connected = true;
            resolve({ transport: execTransport(stream), remoteAddress: host, remotePort: port });
          } else if (line) fail(tunnelFailure(line, host, port));
          nl = errText.indexOf("\n");
        }
      };
      const decoder = new FrameDecoder((kind, payload) => {
        if (kind === 2) onStderr(payload.toString("utf8"));
        else if (kind === 1) sink.data(payload);
      });
      stream.on("data", (chunk: Buffer) => decoder.push(chunk));
      let ends = 0;
      const ended = () => {
        if (ends++ > 0) return;
        if (connected) sink.end();
        else if (errText.trim()) fail(tunnelFailure(errText.trim(), host, port));
        else fail(new HelperExitedError(formatAddress(host, port)));
      };
      stream.once("end", ended);
      stream.once("close", ended);
      stream.on("error", (err) => fail(err));
      signal.addEventListener("abort", () => fail(signal.reason as Error), { once: true });
    });
  };
}

/** A socket to host:port through the engine, returned at once (writes wait until it connects). */
export function tunnelSocket(host: string, port: number, o: TunnelOptions): ProxySocket {
  return new ProxySocket(engineOpener(host, port, o));
}

/** Resolves once the socket has connected; rejects with its error otherwise. */
export function whenConnected<T extends ProxySocket>(socket: T): Promise<T> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new Error("the socket is closed"));
    if (!socket.connecting) return resolve(socket);
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error("the socket closed before it connected"));
    const done = (err?: Error) => {
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      socket.removeListener("connect", onConnect);
      if (err) reject(err);
      else resolve(socket);
    };
    const onConnect = () => done();
    socket.once("error", onError);
    socket.once("close", onClose);
    socket.once("connect", onConnect);
  });
}
