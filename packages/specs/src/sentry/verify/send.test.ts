import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { StackConnections } from "@sh/core";
import { runCheck } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SentryOptions } from "../options.js";
import { HOPS, type PipelineName, sentryChecks } from "./checks.js";
import { parseEnvelope } from "./envelope.js";
import { publicTarget, request } from "./http.js";
import { FAKE_SETUP, FakeSentry, fakeHarness } from "./testing.js";

/*
 * What the checks put on the wire, captured by a real HTTP server through a real socket: the
 * request line, headers and body of each envelope (byte for byte as relay parses them), and the
 * web API's requests. The server answers as relay and web would (testing.ts simulates the rest
 * of Sentry), so each check runs to its end. The connection goes where verify's would, to
 * "nginx" on port 80 (443 with HTTPS), which the test's connections send to the server.
 */

interface Captured {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Connections that send every (host, port) to one local server, recording what was asked for. */
function connectionsTo(port: number, asked: string[]): StackConnections {
  const socket = (host: string, p: number, onConnect?: () => void) => {
    asked.push(`${host}:${p}`);
    return net.connect({ host: "127.0.0.1", port }, onConnect);
  };
  return {
    socket,
    connect: (host, p) =>
      new Promise((resolve, reject) => {
        const s = socket(host, p, () => resolve(s));
        s.once("error", reject);
      }),
    httpAgent: () => {
      throw new Error("not used");
    },
  };
}

/** A server that captures each request and lets the simulated Sentry answer it. */
async function startServer(
  make: (handler: http.RequestListener) => http.Server,
): Promise<{ port: number; captured: Captured[]; fake: FakeSentry; close(): Promise<void> }> {
  const captured: Captured[] = [];
  const fake = new FakeSentry();
  const server = make((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      captured.push({
        method: req.method ?? "",
        url: req.url ?? "",
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body,
      });
      const answer = fake.handle(
        req.method ?? "",
        req.url ?? "",
        req.headers as Record<string, string>,
        body,
      );
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    captured,
    fake,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function runThrough(
  name: PipelineName,
  srv: Awaited<ReturnType<typeof startServer>>,
  options: SentryOptions,
  asked: string[],
) {
  const target = publicTarget(options);
  const conn = connectionsTo(srv.port, asked);
  const check = sentryChecks(options, {
    intervalMs: 5,
    clients: () => srv.fake.clients({ request: (req) => request(conn, target, req) }),
  }).find((c) => c.name === name);
  if (!check) throw new Error(name);
  return runCheck({ name, hops: check.hops ?? [], run: check.run }, fakeHarness({ timeoutMs: 10_000 }));
}

/** Checks one captured envelope POST as relay would read it; returns the parsed envelope. */
function expectEnvelopePost(c: Captured, host: string, scheme = "http") {
  expect(c.method).toBe("POST");
  expect(c.url).toBe(`/api/${FAKE_SETUP.project_id}/envelope/`);
  expect(c.headers.host).toBe(host);
  expect(c.headers["content-type"]).toBe("application/x-sentry-envelope");
  expect(Number(c.headers["content-length"])).toBe(c.body.length);
  // Exactly one source of auth (relay refuses two): the header, no query string, no Authorization.
  expect(c.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === "x-sentry-auth")).toHaveLength(1);
  expect(c.headers.authorization).toBeUndefined();
  expect(c.url).not.toContain("?");
  expect(c.headers["x-sentry-auth"]).toBe(
    `Sentry sentry_version=7, sentry_key=${FAKE_SETUP.public_key}, sentry_client=shctl-verify/1`,
  );
  const env = parseEnvelope(c.body);
  // Byte by byte: header line, then each item's header line, exactly `length` bytes, "\n".
  let pos = c.body.indexOf(0x0a) + 1;
  expect(JSON.parse(c.body.subarray(0, pos - 1).toString())).toEqual(env.header);
  for (const item of env.items) {
    const end = c.body.indexOf(0x0a, pos);
    const headers = JSON.parse(c.body.subarray(pos, end).toString()) as { length: number };
    expect(headers.length).toBe(item.payload.length);
    pos = end + 1;
    expect(c.body.subarray(pos, pos + headers.length).equals(item.payload)).toBe(true);
    pos += headers.length;
    expect(c.body[pos]).toBe(0x0a);
    pos++;
  }
  expect(pos).toBe(c.body.length);
  expect(env.header.dsn).toBe(`${scheme}://${FAKE_SETUP.public_key}@${host}/${FAKE_SETUP.project_id}`);
  return env;
}

describe("what the checks send, through a real socket to a real HTTP server", { timeout: 30_000 }, () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  const options = SentryOptions.parse({ httpPort: 9006 });
  beforeAll(async () => {
    srv = await startServer((h) => http.createServer(h));
  });
  afterAll(async () => {
    await srv.close();
  });

  it("errors: one envelope with one event item, then the event API with the token", async () => {
    const asked: string[] = [];
    const r = await runThrough("errors", srv, options, asked);
    expect(r.hops.map((h) => h.status)).toEqual(HOPS.errors.map(() => "ok"));
    expect(new Set(asked)).toEqual(new Set(["nginx:80"]));
    const posts = srv.captured.filter((c) => c.method === "POST");
    expect(posts).toHaveLength(1);
    const env = expectEnvelopePost(posts[0] as Captured, "localhost:9006");
    expect(env.items.map((i) => i.headers.type)).toEqual(["event"]);
    const event = JSON.parse(env.items[0]?.payload.toString() ?? "") as { event_id: string };
    expect(event.event_id).toBe(env.header.event_id);
    const gets = srv.captured.filter((c) => c.method === "GET");
    expect(gets.at(-1)?.url).toBe(`/api/0/projects/sentry/shctl-verify/events/${event.event_id}/`);
    expect(gets.at(-1)?.headers.authorization).toBe(`Bearer ${FAKE_SETUP.token}`);
    expect(gets.at(-1)?.headers.host).toBe("localhost:9006");
  });

  it("transactions: one envelope with one transaction item", async () => {
    srv.captured.length = 0;
    const r = await runThrough("transactions", srv, options, []);
    expect(r.ok).toBe(true);
    const env = expectEnvelopePost(
      srv.captured.find((c) => c.method === "POST") as Captured,
      "localhost:9006",
    );
    expect(env.items.map((i) => i.headers.type)).toEqual(["transaction"]);
  });

  it("replays: one envelope with the replay event and the recording, then the replay and its segments", async () => {
    srv.captured.length = 0;
    const r = await runThrough("replays", srv, options, []);
    expect(r.ok).toBe(true);
    const env = expectEnvelopePost(
      srv.captured.find((c) => c.method === "POST") as Captured,
      "localhost:9006",
    );
    expect(env.items.map((i) => i.headers.type)).toEqual(["replay_event", "replay_recording"]);
    const id = String(env.header.event_id);
    expect(srv.captured.filter((c) => c.method === "GET").map((c) => c.url)).toEqual(
      expect.arrayContaining([
        `/api/0/projects/sentry/shctl-verify/replays/${id}/`,
        `/api/0/projects/sentry/shctl-verify/replays/${id}/recording-segments/`,
      ]),
    );
  });

  it("a public URL names the Host header and the DSN's host; the connection still goes to nginx", async () => {
    srv.captured.length = 0;
    const asked: string[] = [];
    const custom = SentryOptions.parse({ publicUrl: "http://sentry.example.test:8080/" });
    const r = await runThrough("errors", srv, custom, asked);
    expect(r.ok).toBe(true);
    expect(new Set(asked)).toEqual(new Set(["nginx:80"]));
    expectEnvelopePost(srv.captured.find((c) => c.method === "POST") as Captured, "sentry.example.test:8080");
  });
});

const haveOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!haveOpenssl)
  console.warn("send.test.ts: the HTTPS case is skipped: no openssl here to make a certificate");

describe.skipIf(!haveOpenssl)("with HTTPS on (skipped without openssl)", { timeout: 30_000 }, () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "shctl-verify-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=sentry.example.test",
      ].concat(["-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")]),
      { stdio: "ignore" },
    );
    const key = readFileSync(path.join(dir, "key.pem"));
    const cert = readFileSync(path.join(dir, "cert.pem"));
    srv = await startServer((h) => https.createServer({ key, cert }, h));
  });
  afterAll(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("TLS to nginx's 443 with the public host as server name, over the stack connection", async () => {
    const asked: string[] = [];
    const o = SentryOptions.parse({
      publicUrl: "https://sentry.example.test",
      https: { enabled: true },
    });
    const r = await runThrough("errors", srv, o, asked);
    expect(r.ok).toBe(true);
    expect(new Set(asked)).toEqual(new Set(["nginx:443"]));
    expectEnvelopePost(
      srv.captured.find((c) => c.method === "POST") as Captured,
      "sentry.example.test",
      "https",
    );
  });
});
