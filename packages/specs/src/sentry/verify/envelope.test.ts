import { describe, expect, it } from "vitest";
import {
  authHeader,
  CHILD_SPAN_OP,
  dashed,
  type Envelope,
  errorEnvelope,
  newEventId,
  newSpanId,
  parseEnvelope,
  replayEnvelope,
  serializeEnvelope,
  transactionEnvelope,
  VERIFY_ENVIRONMENT,
} from "./envelope.js";

/*
 * The envelopes verify sends, checked against what relay 23.12 and its consumers require of
 * them (the rules are in envelope.ts's header comment, with where each was read): the wire
 * format relay parses, then each item's fields.
 */

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

/** The envelope as relay reads it off the wire, with its JSON items parsed. */
function wire(env: Envelope) {
  const bytes = serializeEnvelope(env);
  const parsed = parseEnvelope(bytes);
  return {
    bytes,
    header: parsed.header,
    items: parsed.items.map((i) => ({ headers: i.headers, payload: i.payload })),
    json: (n: number) =>
      JSON.parse(parsed.items[n]?.payload.toString("utf8") ?? "null") as Record<string, unknown>,
  };
}

/** What relay checks of every envelope header. */
function expectHeader(h: Record<string, unknown>, id: string) {
  expect(h.event_id).toBe(id);
  expect(h.event_id).toMatch(HEX32);
  expect(new Date(String(h.sent_at)).toISOString()).toBe(h.sent_at);
  expect(h.sdk).toMatchObject({ name: "shctl.verify" });
}

describe("envelope wire format", () => {
  it("header line, then per item a header with the payload's exact byte length, the payload and a newline", () => {
    const payload = Buffer.from('{"segment_id":0}\n[1,2]\u00e9');
    const bytes = serializeEnvelope({
      header: { event_id: "a".repeat(32) },
      items: [{ headers: { type: "x" }, payload }],
    });
    const lines = bytes.toString("utf8").split("\n");
    expect(lines[0]).toBe(`{"event_id":"${"a".repeat(32)}"}`);
    expect(JSON.parse(lines[1] as string)).toEqual({ type: "x", length: payload.length });
    // The payload holds a newline and a 2-byte character: only `length` finds its end.
    expect(payload.length).toBe(Buffer.byteLength('{"segment_id":0}\n[1,2]é'));
    expect(bytes.subarray(bytes.length - payload.length - 1, bytes.length - 1).equals(payload)).toBe(true);
    expect(bytes.at(-1)).toBe(0x0a);
    expect(parseEnvelope(bytes).items[0]?.payload.equals(payload)).toBe(true);
  });

  it("the parser refuses what relay refuses", () => {
    expect(() => parseEnvelope(Buffer.from("not json\n"))).toThrow(/not JSON/);
    expect(() => parseEnvelope(Buffer.from('{}\n{"length":2}\nab\n'))).toThrow(/no type/);
    expect(() => parseEnvelope(Buffer.from('{}\n{"type":"event","length":9}\nab\n'))).toThrow(
      /runs past the end/,
    );
    expect(() => parseEnvelope(Buffer.from('{}\n{"type":"event","length":1}\nab\n'))).toThrow(/no newline/);
    expect(() => parseEnvelope(Buffer.from("[]\n"))).toThrow(/not a JSON object/);
    // Without length, the payload runs to the next newline; a trailing newline is optional.
    expect(parseEnvelope(Buffer.from('{}\n{"type":"event"}\n{"a":1}')).items[0]?.payload.toString()).toBe(
      '{"a":1}',
    );
  });

  it("ids: 32 hex event ids (version 4), 16 hex span ids, the dashed form for ClickHouse", () => {
    const id = newEventId();
    expect(id).toMatch(HEX32);
    expect(id[12]).toBe("4");
    expect(newSpanId()).toMatch(HEX16);
    expect(dashed("0123456789abcdef0123456789abcdef")).toBe("01234567-89ab-cdef-0123-456789abcdef");
    expect(() => dashed("xyz")).toThrow();
  });

  it("auth: one X-Sentry-Auth header, protocol 7, the public key and the client", () => {
    expect(authHeader("k".repeat(32), "shctl-verify/1")).toBe(
      `Sentry sentry_version=7, sentry_key=${"k".repeat(32)}, sentry_client=shctl-verify/1`,
    );
  });
});

describe("an error event", () => {
  it("one event item whose id is the envelope's, with a message, a fixed fingerprint and verify's tags", () => {
    const id = newEventId();
    const w = wire(errorEnvelope({ eventId: id, nowMs: NOW, dsn: "http://k@h:1/7", sdkVersion: "1" }));
    expectHeader(w.header, id);
    expect(w.header.dsn).toBe("http://k@h:1/7");
    expect(w.items).toHaveLength(1);
    expect(w.items[0]?.headers).toMatchObject({ type: "event", content_type: "application/json" });
    const e = w.json(0);
    expect(e).toMatchObject({
      event_id: id,
      timestamp: NOW / 1000,
      platform: "other",
      level: "error",
      fingerprint: ["shctl-verify"],
      environment: VERIFY_ENVIRONMENT,
      tags: { "shctl.verify": "1" },
    });
    expect(String(e.message)).toContain(id);
    // No attachment item: it would send the event to ingest-attachments instead.
    expect(w.items.some((i) => i.headers.type === "attachment")).toBe(false);
  });
});

describe("a transaction", () => {
  it("passes relay's transaction validation: timestamps, trace context and a valid span", () => {
    const id = newEventId();
    const trace = newEventId();
    const w = wire(
      transactionEnvelope({ eventId: id, traceId: trace, publicKey: "k", nowMs: NOW, sdkVersion: "1" }),
    );
    expectHeader(w.header, id);
    expect(w.header.trace).toEqual({ trace_id: trace, public_key: "k" });
    expect(w.items.map((i) => i.headers.type)).toEqual(["transaction"]);
    const t = w.json(0);
    expect(t.type).toBe("transaction");
    expect(t.event_id).toBe(id);
    const start = t.start_timestamp as number;
    const end = t.timestamp as number;
    expect(end).toBe(NOW / 1000);
    expect(start).toBeLessThanOrEqual(end);
    const ctx = (t.contexts as { trace: Record<string, unknown> }).trace;
    expect(ctx.trace_id).toMatch(HEX32);
    expect(ctx.span_id).toMatch(HEX16);
    expect(ctx.op).toBe("shctl.verify");
    const spans = t.spans as Record<string, unknown>[];
    expect(spans).toHaveLength(1);
    for (const s of spans) {
      expect(s.trace_id).toBe(trace);
      expect(s.span_id).toMatch(HEX16);
      expect(s.parent_span_id).toBe(ctx.span_id);
      expect(s.op).toBe(CHILD_SPAN_OP);
      expect(s.start_timestamp as number).toBeGreaterThanOrEqual(start);
      expect(s.timestamp as number).toBeLessThanOrEqual(end);
      expect(s.start_timestamp as number).toBeLessThanOrEqual(s.timestamp as number);
    }
    expect(t.environment).toBe(VERIFY_ENVIRONMENT);
  });
});

describe("a replay", () => {
  it("one envelope keyed by the replay id: a replay event snuba can read and a recording segment 0", () => {
    const id = newEventId();
    const w = wire(replayEnvelope({ replayId: id, nowMs: NOW, sdkVersion: "1" }));
    // relay writes the envelope's event_id as the replay id of both Kafka messages.
    expectHeader(w.header, id);
    expect(w.items.map((i) => i.headers.type)).toEqual(["replay_event", "replay_recording"]);
    const r = w.json(0);
    expect(r.replay_id).toBe(id);
    expect(r.event_id).toBe(id);
    // snuba's replays processor: segment_id fits uint16; platform and replay_type required.
    expect(r.segment_id).toBe(0);
    expect(["buffer", "session", "error"]).toContain(r.replay_type);
    expect(typeof r.platform).toBe("string");
    expect(r.timestamp).toBe(NOW / 1000);
    expect(r.replay_start_timestamp as number).toBeLessThan(r.timestamp as number);
    expect(r.error_ids).toEqual([]);
    expect(r.trace_ids).toEqual([]);
    expect(r.environment).toBe(VERIFY_ENVIRONMENT);

    // The recording: a JSON header line with the segment id, "\n", then the segment (plain JSON,
    // which Sentry's reader returns unchanged because it starts with "[").
    const rec = w.items[1]?.payload as Buffer;
    expect(w.items[1]?.headers.length).toBe(rec.length);
    const nl = rec.indexOf(0x0a);
    expect(nl).toBeGreaterThan(0);
    expect(JSON.parse(rec.subarray(0, nl).toString())).toEqual({ segment_id: 0 });
    const segment = rec.subarray(nl + 1).toString();
    expect(segment.startsWith("[")).toBe(true);
    expect(JSON.parse(segment)).toEqual([
      { type: 4, timestamp: NOW - 2000, data: { href: "http://shctl.verify/", width: 800, height: 600 } },
    ]);
  });
});
