import net from "node:net";
import type { Opener, ProxySocket } from "./proxy-socket.js";
import { formatAddress } from "./tunnel.js";

/** An Opener that connects from this process (net.connect), failing after `timeoutMs`. */
export function directOpener(host: string, port: number, timeoutMs = 3000): Opener {
  return (sink, signal) =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      const fail = (err: Error) => {
        clearTimeout(timer);
        s.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(
            Object.assign(new Error(`${formatAddress(host, port)} timed out (${timeoutMs / 1000}s)`), {
              code: "ETIMEDOUT",
            }),
          ),
        timeoutMs,
      );
      const abort = () => fail(signal.reason as Error);
      if (signal.aborted) return abort();
      signal.addEventListener("abort", abort, { once: true });
      s.once("error", fail);
      s.once("connect", () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
        s.removeListener("error", fail);
        s.on("data", sink.data);
        s.on("end", sink.end);
        s.on("error", sink.error);
        resolve({ transport: s, remoteAddress: host, remotePort: port });
      });
    });
}

/** The opener, aborted with ETIMEDOUT if it has not opened within `ms`. */
export function withTimeout(ms: number, open: Opener): Opener {
  return (sink, signal) => {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () =>
        ctl.abort(
          Object.assign(new Error(`no connection within ${Math.round(ms / 1000)}s`), { code: "ETIMEDOUT" }),
        ),
      ms,
    );
    const opening = open(sink, ctl.signal);
    // Opened after all, too late: nobody will use it.
    opening.then(
      (o) => ctl.signal.aborted && o.transport.destroy(),
      () => undefined,
    );
    const timedOut = new Promise<never>((_, reject) =>
      ctl.signal.addEventListener("abort", () => reject(ctl.signal.reason), { once: true }),
    );
    return Promise.race([opening, timedOut]).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    });
  };
}

export interface Forwarder {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** A server on 127.0.0.1 (a free port) that pipes each connection it accepts to a new socket. */
export function startForwarder(open: () => ProxySocket): Promise<Forwarder> {
  const live = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    live.add(client);
    client.once("close", () => live.delete(client));
    let upstream: ProxySocket;
    try {
      upstream = open();
    } catch {
      client.destroy();
      return;
    }
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    // Closed without the container side ending (destroyed): the client must not wait.
    upstream.once("close", () => upstream.readableEnded || client.destroy());
    client.once("close", () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.unref();
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        address: { host: "127.0.0.1", port },
        close: () =>
          new Promise<void>((done) => {
            for (const c of live) c.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
