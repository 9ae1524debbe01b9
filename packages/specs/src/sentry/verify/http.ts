import http from "node:http";
import type net from "node:net";
import tls from "node:tls";
import type { StackConnections } from "@sh/core";
import type { SentryOptions } from "../options.js";

/*
 * HTTP to Sentry's public URL, as an SDK or a browser would send it, with one difference: the
 * connection goes to the nginx container (through the stack connections, so it works where the
 * published port does not, e.g. from an isolated namespace or a remote engine) rather than to
 * whatever the URL's host resolves to. The request itself is the public one: its Host header is
 * the public URL's host, and with HTTPS it is TLS to nginx's 443 with the URL's host as the
 * server name. The certificate is not checked: verify proves the pipeline, not the certificate.
 */

export interface PublicTarget {
  /** The public URL's origin, e.g. "http://localhost:9006" (what the DSN names). */
  origin: string;
  /** The Host header sent. */
  host: string;
  /** The service and container port the connection goes to. */
  service: string;
  port: number;
  tls: boolean;
  /** The TLS server name (the public URL's host name). */
  servername: string;
}

/** Where Sentry's public URL is served from, for a stack's options. */
export function publicTarget(opts: Pick<SentryOptions, "publicUrl" | "https" | "httpPort">): PublicTarget {
  const tlsOn = opts.https.enabled;
  const origin = opts.publicUrl
    ? new URL(opts.publicUrl).origin
    : tlsOn
      ? `https://localhost${opts.https.port === 443 ? "" : `:${opts.https.port}`}`
      : `http://localhost:${opts.httpPort}`;
  const url = new URL(origin);
  // HTTPS on: nginx's port 80 only redirects, so requests go to 443 whatever the URL says.
  const useTls = tlsOn || url.protocol === "https:";
  return {
    origin,
    host: url.host,
    service: "nginx",
    port: useTls ? 443 : 80,
    tls: useTls,
    servername: url.hostname,
  };
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** The request could not be made or got no answer: the fault is the connection's, not the server's answer. */
export class ConnectionFailed extends Error {
  constructor(
    readonly where: string,
    message: string,
    opts?: { cause?: unknown },
  ) {
    super(`${where}: ${message}`, opts);
  }
}

/** One request to the target; the answer whatever its status; rejects with ConnectionFailed when there is none. */
export function request(
  conn: Pick<StackConnections, "socket">,
  target: PublicTarget,
  req: {
    method: "GET" | "POST";
    path: string;
    headers?: Record<string, string>;
    body?: Buffer;
    signal?: AbortSignal;
    timeoutMs?: number;
  },
): Promise<HttpAnswer> {
  const where = `${target.service}:${target.port}`;
  const signal = AbortSignal.any([
    ...(req.signal ? [req.signal] : []),
    AbortSignal.timeout(req.timeoutMs ?? 15_000),
  ]);
  return new Promise((resolve, reject) => {
    const createConnection = (): net.Socket => {
      const raw = conn.socket(target.service, target.port) as net.Socket;
      if (!target.tls) return raw;
      return tls.connect({ socket: raw, servername: target.servername, rejectUnauthorized: false });
    };
    const r = http.request(
      {
        method: req.method,
        host: target.service,
        port: target.port,
        path: req.path,
        createConnection,
        signal,
        headers: {
          host: target.host,
          connection: "close",
          ...(req.body ? { "content-length": String(req.body.length) } : {}),
          ...req.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", (err) => reject(new ConnectionFailed(where, err.message, { cause: err })));
      },
    );
    r.on("error", (err) => {
      const timedOut = err.name === "AbortError" && !req.signal?.aborted;
      reject(
        new ConnectionFailed(
          where,
          timedOut ? `no answer within ${Math.round((req.timeoutMs ?? 15_000) / 1000)}s` : err.message,
          { cause: err },
        ),
      );
    });
    r.end(req.body);
  });
}
