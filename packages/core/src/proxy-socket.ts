import { Duplex } from "node:stream";

/*
 * A Duplex that stands in for a net.Socket whose connection is opened asynchronously by someone
 * else (directly, or through the engine): returned at once, it buffers writes until connected,
 * then emits 'connect' and relays both ways. Enough of net.Socket's surface for http.Agent,
 * client libraries that take a socket factory or an http.Agent: setKeepAlive, setNoDelay, setTimeout ('timeout'
 * after that long idle), ref/unref, end (half-close), destroy, remoteAddress/remotePort.
 */

/** The opened connection: data flows through it once the opener resolves. */
export interface Transport {
  write(chunk: Buffer, cb: (err?: Error | null) => void): unknown;
  /** Half-close: no more data from us. */
  end(): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  setKeepAlive?(enable?: boolean, delay?: number): unknown;
  setNoDelay?(noDelay?: boolean): unknown;
  ref?(): unknown;
  unref?(): unknown;
}

/** How the opener hands received data to the socket (data may come before it resolves). */
export interface TransportSink {
  data(chunk: Buffer): void;
  /** The peer finished sending. */
  end(): void;
  error(err: Error): void;
}

export interface Opened {
  transport: Transport;
  remoteAddress: string;
  remotePort: number;
}

/** Opens the connection; rejects with an Error (errno-like `code`) when it cannot. */
export type Opener = (sink: TransportSink, signal: AbortSignal) => Promise<Opened>;

export class ProxySocket extends Duplex {
  connecting = true;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: string | undefined;
  bytesRead = 0;
  bytesWritten = 0;
  private transport: Transport | undefined;
  private early: (Buffer | null)[] = [];
  private pendingWrite: { chunk: Buffer; cb: (err?: Error | null) => void } | undefined;
  private pendingFinal: ((err?: Error | null) => void) | undefined;
  private readonly aborter = new AbortController();
  private idleMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private refed = true;
  private keepAlive: [boolean | undefined, number | undefined] | undefined;
  private noDelay: boolean | undefined;

  constructor(opener: Opener) {
    super({ allowHalfOpen: false });
    const sink: TransportSink = {
      data: (chunk) => (this.transport ? this.received(chunk) : this.early.push(chunk)),
      end: () => (this.transport ? this.push(null) : this.early.push(null)),
      error: (err) => this.destroy(err),
    };
    opener(sink, this.aborter.signal).then(
      (opened) => this.opened(opened),
      (err: Error) => {
        this.connecting = false;
        this.destroy(err);
      },
    );
  }

  private opened({ transport, remoteAddress, remotePort }: Opened) {
    if (this.destroyed) {
      transport.destroy();
      return;
    }
    this.transport = transport;
    this.connecting = false;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.remoteFamily = remoteAddress.includes(":") ? "IPv6" : "IPv4";
    if (this.keepAlive) transport.setKeepAlive?.(...this.keepAlive);
    if (this.noDelay !== undefined) transport.setNoDelay?.(this.noDelay);
    if (this.refed) transport.ref?.();
    else transport.unref?.();
    this.touch();
    this.emit("connect");
    this.emit("ready");
    for (const chunk of this.early.splice(0)) {
      if (chunk) this.received(chunk);
      else this.push(null);
    }
    const w = this.pendingWrite;
    this.pendingWrite = undefined;
    if (w) this.send(w.chunk, w.cb);
    else this.flushFinal();
  }

  private received(chunk: Buffer) {
    this.bytesRead += chunk.length;
    this.touch();
    if (!this.push(chunk)) this.transport?.pause();
  }

  private flushFinal() {
    const cb = this.pendingFinal;
    if (!cb || !this.transport) return;
    this.pendingFinal = undefined;
    this.transport.end();
    cb();
  }

  override _read(): void {
    this.transport?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.transport) this.send(chunk, cb);
    else this.pendingWrite = { chunk, cb };
  }

  private send(chunk: Buffer, cb: (err?: Error | null) => void) {
    this.bytesWritten += chunk.length;
    this.touch();
    this.transport?.write(chunk, (err) => {
      cb(err);
      if (!err) this.flushFinal();
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.pendingFinal = cb;
    if (!this.pendingWrite) this.flushFinal();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.aborter.abort();
    clearTimeout(this.timer);
    this.transport?.destroy();
    this.pendingWrite = undefined;
    this.pendingFinal = undefined;
    cb(err);
  }

  /** Like net.Socket: emits 'timeout' (and calls `cb`) after `ms` without activity; 0 turns it off. */
  setTimeout(ms: number, cb?: () => void): this {
    this.idleMs = ms;
    if (cb) {
      if (ms === 0) this.removeListener("timeout", cb);
      else this.once("timeout", cb);
    }
    this.touch();
    return this;
  }

  /** The idle timeout set with setTimeout (net.Socket's property). */
  get timeout(): number | undefined {
    return this.idleMs || undefined;
  }

  private touch() {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.idleMs <= 0 || this.destroyed) return;
    this.timer = setTimeout(() => this.emit("timeout"), this.idleMs);
    if (!this.refed) this.timer.unref();
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.keepAlive = [enable, delay];
    this.transport?.setKeepAlive?.(enable, delay);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.noDelay = noDelay;
    this.transport?.setNoDelay?.(noDelay);
    return this;
  }

  ref(): this {
    this.refed = true;
    this.transport?.ref?.();
    this.timer?.ref();
    return this;
  }

  unref(): this {
    this.refed = false;
    this.transport?.unref?.();
    this.timer?.unref();
    return this;
  }

  get pending(): boolean {
    return this.connecting;
  }

  get readyState(): "opening" | "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  address(): Record<string, never> {
    return {};
  }
}
