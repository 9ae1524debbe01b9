import { randomBytes } from "node:crypto";

/*
 * What an SDK sends: Sentry envelopes (develop.sentry.dev, "Envelopes"), built here as bytes.
 * An envelope is a header line (JSON), then per item a header line (JSON, with `type` and the
 * payload's byte `length`) and the payload, each followed by "\n". Relay 23.12 takes them at
 * `POST /api/<project id>/envelope/` (self-hosted 23.12.0 `_integration-test/run.sh`, and the
 * nginx routing of `/api/<n>/` to relay in its `nginx/nginx.conf`).
 *
 * The items follow what relay near 23.12 requires of them: an error event needs an id and a message; a transaction needs
 * `start_timestamp` ≤ `timestamp`, a `contexts.trace` with `trace_id` (32 hex) and `span_id`
 * (16 hex), and spans that each carry those ids and both timestamps
 * (relay-event-normalization, transactions/processor.rs, validate_transaction); a replay is two
 * items in one envelope whose header `event_id` is the replay id (relay-server
 * services/store.rs writes it into both Kafka messages), a `replay_event` with `replay_id`,
 * `segment_id`, `platform` and `replay_type` (snuba 23.12.0
 * snuba/datasets/processors/replays_processor.py reads each of them) and a `replay_recording`
 * whose payload is a JSON header line, "\n", then the segment (sentry 23.12.0
 * src/sentry/replays/usecases/ingest/__init__.py splits it at the first "\n").
 *
 * Every item is tagged so verify's data can be told apart: environment `shctl-verify` and the
 * tag `shctl.verify` = "1" (besides living in its own project).
 */

export const VERIFY_ENVIRONMENT = "shctl-verify";
export const VERIFY_TAGS: Readonly<Record<string, string>> = { "shctl.verify": "1" };
/** The SDK name verify's items carry. */
export const VERIFY_SDK = "shctl.verify";
/** The op of the transaction's child span (looked for in ClickHouse `spans.op`). */
export const CHILD_SPAN_OP = "shctl.verify.child";

export interface EnvelopeItem {
  /** The item header, `length` aside (set from the payload). */
  headers: Record<string, unknown>;
  payload: Buffer;
}

export interface Envelope {
  header: Record<string, unknown>;
  items: EnvelopeItem[];
}

/** The envelope's bytes: every item header carries its payload's exact byte length. */
export function serializeEnvelope(envelope: Envelope): Buffer {
  const parts: Buffer[] = [Buffer.from(`${JSON.stringify(envelope.header)}\n`)];
  for (const item of envelope.items) {
    const headers = { ...item.headers, length: item.payload.length };
    parts.push(Buffer.from(`${JSON.stringify(headers)}\n`), item.payload, Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}

/**
 * Parses envelope bytes the way relay does: the header line must be a JSON object; each item
 * header a JSON object with a string `type`; with `length` the payload is exactly that many
 * bytes followed by "\n" or the end, without it the payload runs to the next "\n". Throws on
 * anything relay would refuse.
 */
export function parseEnvelope(bytes: Buffer): Envelope {
  let pos = 0;
  const line = (what: string): Buffer => {
    const end = bytes.indexOf(0x0a, pos);
    const out = bytes.subarray(pos, end === -1 ? bytes.length : end);
    if (out.length === 0) throw new Error(`${what} at byte ${pos} is empty`);
    pos = end === -1 ? bytes.length : end + 1;
    return out;
  };
  const json = (b: Buffer, what: string): Record<string, unknown> => {
    let v: unknown;
    try {
      v = JSON.parse(b.toString("utf8"));
    } catch (err) {
      throw new Error(`${what} is not JSON: ${(err as Error).message}`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw new Error(`${what} is not a JSON object`);
    return v as Record<string, unknown>;
  };
  const header = json(line("the envelope header"), "the envelope header");
  const items: EnvelopeItem[] = [];
  while (pos < bytes.length) {
    const at = pos;
    const headers = json(line(`item header ${items.length}`), `item header ${items.length}`);
    if (typeof headers.type !== "string") throw new Error(`item header ${items.length} has no type`);
    let payload: Buffer;
    if (headers.length !== undefined) {
      const n = headers.length;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0)
        throw new Error(`item ${items.length}: length ${String(n)} is not a byte count`);
      if (pos + n > bytes.length)
        throw new Error(`item ${items.length} (at byte ${at}): length ${n} runs past the end`);
      payload = bytes.subarray(pos, pos + n);
      pos += n;
      if (pos < bytes.length) {
        if (bytes[pos] !== 0x0a)
          throw new Error(`item ${items.length}: no newline after its ${n}-byte payload`);
        pos++;
      }
    } else {
      const end = bytes.indexOf(0x0a, pos);
      payload = bytes.subarray(pos, end === -1 ? bytes.length : end);
      pos = end === -1 ? bytes.length : end + 1;
    }
    items.push({ headers, payload });
  }
  return { header, items };
}

/** A new event id: a random (version 4) UUID as 32 lowercase hex digits, as SDKs send it. */
export function newEventId(): string {
  const b = randomBytes(16);
  b[6] = ((b[6] as number) & 0x0f) | 0x40;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  return b.toString("hex");
}

/** A span id: 16 hex digits. */
export function newSpanId(): string {
  return randomBytes(8).toString("hex");
}

const HEX32 = /^[0-9a-f]{32}$/;

/** Whether a text is an event id as verify uses them (32 lowercase hex digits). */
export function isEventId(id: string): boolean {
  return HEX32.test(id);
}

/** The 8-4-4-4-12 form of a 32-hex id (ClickHouse's UUID literal). */
export function dashed(id: string): string {
  if (!isEventId(id)) throw new Error(`not a 32-hex id: ${id}`);
  return `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
}

/** The `X-Sentry-Auth` header an SDK sends (only this one: relay refuses two kinds of auth at once). */
export function authHeader(publicKey: string, client: string): string {
  return `Sentry sentry_version=7, sentry_key=${publicKey}, sentry_client=${client}`;
}

/** Seconds since the epoch, as Sentry's JSON timestamps are (a float). */
const seconds = (ms: number) => Math.round(ms) / 1000;

const jsonPayload = (v: unknown) => Buffer.from(JSON.stringify(v));

interface Common {
  /** When it happens (ms since the epoch); default now. */
  nowMs?: number;
  /** The DSN, put in the envelope header as SDKs do. */
  dsn?: string;
  /** The SDK version (shctl's). */
  sdkVersion: string;
}

function envelopeHeader(eventId: string, nowMs: number, dsn: string | undefined, sdkVersion: string) {
  return {
    event_id: eventId,
    sent_at: new Date(nowMs).toISOString(),
    ...(dsn ? { dsn } : {}),
    sdk: { name: VERIFY_SDK, version: sdkVersion },
  };
}

/** An error event: a message, a fixed fingerprint (every run lands in one issue), tagged. */
export function errorEnvelope(o: Common & { eventId: string; runId?: string }): Envelope {
  const nowMs = o.nowMs ?? Date.now();
  const event = {
    event_id: o.eventId,
    timestamp: seconds(nowMs),
    platform: "other",
    level: "error",
    logger: "shctl.verify",
    message: `shctl verify: test error ${o.eventId}`,
    fingerprint: ["shctl-verify"],
    environment: VERIFY_ENVIRONMENT,
    tags: { ...VERIFY_TAGS, ...(o.runId ? { "shctl.run": o.runId } : {}) },
    sdk: { name: VERIFY_SDK, version: o.sdkVersion },
  };
  return {
    header: envelopeHeader(o.eventId, nowMs, o.dsn, o.sdkVersion),
    items: [{ headers: { type: "event", content_type: "application/json" }, payload: jsonPayload(event) }],
  };
}

/** A transaction of 200 ms with one child span, tagged. */
export function transactionEnvelope(
  o: Common & {
    eventId: string;
    traceId: string;
    rootSpanId?: string;
    childSpanId?: string;
    publicKey?: string;
  },
): Envelope {
  const nowMs = o.nowMs ?? Date.now();
  const start = nowMs - 200;
  const root = o.rootSpanId ?? newSpanId();
  const child = o.childSpanId ?? newSpanId();
  const event = {
    event_id: o.eventId,
    type: "transaction",
    platform: "other",
    transaction: "shctl-verify",
    transaction_info: { source: "custom" },
    start_timestamp: seconds(start),
    timestamp: seconds(nowMs),
    environment: VERIFY_ENVIRONMENT,
    tags: VERIFY_TAGS,
    sdk: { name: VERIFY_SDK, version: o.sdkVersion },
    contexts: { trace: { trace_id: o.traceId, span_id: root, op: "shctl.verify", status: "ok" } },
    spans: [
      {
        trace_id: o.traceId,
        span_id: child,
        parent_span_id: root,
        op: CHILD_SPAN_OP,
        description: "shctl verify child span",
        start_timestamp: seconds(start + 20),
        timestamp: seconds(nowMs - 20),
        status: "ok",
      },
    ],
  };
  return {
    header: {
      ...envelopeHeader(o.eventId, nowMs, o.dsn, o.sdkVersion),
      trace: { trace_id: o.traceId, ...(o.publicKey ? { public_key: o.publicKey } : {}) },
    },
    items: [
      { headers: { type: "transaction", content_type: "application/json" }, payload: jsonPayload(event) },
    ],
  };
}

/** A replay's first segment: its replay event and its recording, in one envelope keyed by the replay id. */
export function replayEnvelope(o: Common & { replayId: string }): Envelope {
  const nowMs = o.nowMs ?? Date.now();
  const url = "http://shctl.verify/";
  const replayEvent = {
    type: "replay_event",
    replay_id: o.replayId,
    event_id: o.replayId,
    segment_id: 0,
    replay_type: "session",
    timestamp: seconds(nowMs),
    replay_start_timestamp: seconds(nowMs - 2000),
    urls: [url],
    error_ids: [],
    trace_ids: [],
    platform: "javascript",
    environment: VERIFY_ENVIRONMENT,
    tags: VERIFY_TAGS,
    sdk: { name: VERIFY_SDK, version: o.sdkVersion },
    contexts: { replay: { session_sample_rate: 1.0, error_sample_rate: 1.0 } },
  };
  // rrweb's "meta" event (type 4) is the smallest meaningful segment.
  const segment = [
    { type: 4, timestamp: Math.round(nowMs - 2000), data: { href: url, width: 800, height: 600 } },
  ];
  const recording = Buffer.concat([
    Buffer.from(`${JSON.stringify({ segment_id: 0 })}\n`),
    Buffer.from(JSON.stringify(segment)),
  ]);
  return {
    header: envelopeHeader(o.replayId, nowMs, o.dsn, o.sdkVersion),
    items: [
      {
        headers: { type: "replay_event", content_type: "application/json" },
        payload: jsonPayload(replayEvent),
      },
      { headers: { type: "replay_recording" }, payload: recording },
    ],
  };
}
