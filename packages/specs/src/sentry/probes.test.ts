import http from "node:http";
import { connect, createServer } from "node:net";
import type { ProbeContext } from "@sh/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clickhouseProbe, kafkaProbe } from "./probes.js";

/** A local port on which nothing listens: a server is bound, its port noted, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A probe context whose connections all go to 127.0.0.1:port, whatever host they name. */
function ctxAt(port: number): ProbeContext {
  const socket = (_host: string, _port: number, onConnect?: () => void) =>
    connect({ host: "127.0.0.1", port }, onConnect);
  const agent = new (class extends http.Agent {
    override createConnection() {
      return socket("", 0);
    }
  })();
  return {
    service: "kafka",
    socket,
    httpAgent: () => agent,
    address: async () => ({ host: "127.0.0.1", port }),
  } as unknown as ProbeContext;
}

/** Everything written to the console and the process streams while `fn` runs. */
async function printedDuring(fn: () => Promise<unknown>): Promise<string> {
  const out: string[] = [];
  const spies = [
    ...(["log", "info", "warn", "error", "debug", "trace"] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
        out.push(args.map(String).join(" "));
      }),
    ),
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
      out.push(String(chunk));
      return true;
    }),
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => {
      out.push(String(chunk));
      return true;
    }),
  ];
  try {
    await fn().catch(() => undefined);
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return out.join("\n");
}

afterEach(() => vi.restoreAllMocks());

describe("readiness probes against a port where nothing listens", () => {
  it("clickhouse: fails, and the client library prints nothing of its own", async () => {
    const port = await closedPort();
    const check = clickhouseProbe().custom.check;
    await expect(check(ctxAt(port))).rejects.toThrow();
    expect(await printedDuring(() => check(ctxAt(port)))).toBe("");
  });

  it("kafka: fails with the broker's address, printing nothing", async () => {
    const port = await closedPort();
    const check = kafkaProbe().custom.check;
    // The broker as the stack network names it, and why it did not answer.
    await expect(check(ctxAt(port))).rejects.toThrow(
      /kafka:9092.*ECONNREFUSED|ECONNREFUSED.*kafka:9092|kafka at kafka:9092/,
    );
    expect(await printedDuring(() => check(ctxAt(port)))).toBe("");
  });
});
