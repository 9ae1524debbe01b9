import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProxySocket } from "./proxy-socket.js";
import { directOpener, startForwarder, withTimeout } from "./reach-transport.js";
import { whenConnected } from "./tunnel.js";

/*
 * ProxySocket must pass for a net.Socket where shctl hands it to libraries: http.request's
 * createConnection and http.Agent (keep-alive reuse included), a socketFactory that returns it at
 * once. Here it runs over direct connections to a server on loopback.
 */

let server: http.Server;
let port = 0;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => res.end(`${req.method} ${req.url} ${body}`));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const open = () => new ProxySocket(directOpener("127.0.0.1", port));

function get(
  opts: http.RequestOptions,
  body = "",
): Promise<{ status: number; text: string; socket: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "web", port: 80, method: body ? "POST" : "GET", ...opts }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, socket: req.socket }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("ProxySocket", () => {
  it("serves http.request's createConnection", async () => {
    const r = await get({ path: "/a", createConnection: () => open() as unknown as net.Socket }, "x=1");
    expect(r).toMatchObject({ status: 200, text: "POST /a x=1" });
  });

  it("serves an http.Agent with keep-alive, reusing the socket", async () => {
    const agent = new (class extends http.Agent {
      override createConnection() {
        return open() as unknown as net.Socket;
      }
    })({ keepAlive: true, timeout: 5000 });
    const a = await get({ path: "/1", agent });
    const b = await get({ path: "/2", agent });
    expect([a.text, b.text]).toEqual(["GET /1 ", "GET /2 "]);
    expect(b.socket).toBe(a.socket);
    agent.destroy();
  });

  it("works as a client library's socketFactory uses it: returned at once, onConnect later, write, end", async () => {
    const echo = net.createServer((c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    const s = new ProxySocket(directOpener("127.0.0.1", (echo.address() as net.AddressInfo).port));
    const connected = new Promise<void>((r) => s.once("connect", r));
    s.setKeepAlive(true, 60_000);
    let got = "";
    s.on("data", (d) => (got += d));
    s.write("early ");
    await connected;
    expect(s.connecting).toBe(false);
    s.end("late");
    await new Promise((r) => s.once("close", r));
    expect(got).toBe("early late");
    echo.close();
  });

  it("reports a refused port as an error with the errno code", async () => {
    const s = new ProxySocket(directOpener("127.0.0.1", 1));
    const err = (await whenConnected(s).catch((e) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe("ECONNREFUSED");
    expect(s.destroyed).toBe(true);
  });

  it("gives up an opener that takes too long, and closes what it opens afterwards", async () => {
    let destroyed = false;
    const late = { write: () => true, end: () => true, pause: () => true, resume: () => true };
    const s = new ProxySocket(
      withTimeout(
        50,
        () =>
          new Promise((resolve) =>
            setTimeout(
              () =>
                resolve({
                  transport: { ...late, destroy: () => (destroyed = true) },
                  remoteAddress: "10.0.0.1",
                  remotePort: 1,
                }),
              100,
            ),
          ),
      ),
    );
    const err = (await whenConnected(s).catch((e) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe("ETIMEDOUT");
    await new Promise((r) => setTimeout(r, 100));
    expect(destroyed).toBe(true);
  });
});

describe("startForwarder", () => {
  it("pipes each loopback connection to a new socket, half-closes included, until closed", async () => {
    const echo = net.createServer({ allowHalfOpen: true }, (c) => {
      let n = 0;
      c.on("data", (d) => (n += d.length));
      c.on("end", () => c.end(`got ${n}`));
    });
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    const target = (echo.address() as net.AddressInfo).port;
    let opened = 0;
    const fwd = await startForwarder(() => {
      opened++;
      return new ProxySocket(directOpener("127.0.0.1", target));
    });
    expect(fwd.address.host).toBe("127.0.0.1");
    const once = () =>
      new Promise<string>((resolve) => {
        const c = net.connect({ ...fwd.address, allowHalfOpen: true });
        let out = "";
        c.on("data", (d) => (out += d));
        c.on("end", () => resolve(out));
        c.end("12345");
      });
    expect(await once()).toBe("got 5");
    expect(await once()).toBe("got 5");
    expect(opened).toBe(2);
    await fwd.close();
    echo.close();
  });
});
