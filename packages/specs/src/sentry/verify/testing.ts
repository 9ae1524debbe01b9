import type { CheckHarness } from "@sh/core/internals";
import { type Clients, type GroupMember, type Offsets, StoreUnreachable } from "./clients.js";
import { dashed, parseEnvelope } from "./envelope.js";
import { ConnectionFailed, type HttpAnswer } from "./http.js";
import { SETUP_MARKER } from "./setup.js";
import { ERRORS, REPLAYS, TRANSACTIONS } from "./topology.js";

/*
 * A simulated Sentry for the checks' unit tests: what relay, the consumers, the worker and web
 * would do with what verify sends, as the hops see it (Kafka offsets and groups, ClickHouse and
 * Postgres rows, HTTP answers). `broken` stops the item at one service; everything after it then
 * never happens. Not a model of Sentry beyond what the hops read.
 */

/** The services an item passes, in order, per kind; `broken` names one of them. */
export type Stage =
  | "relay"
  | "events-consumer"
  | "transactions-consumer"
  | "worker"
  | "snuba-consumer"
  | "snuba-transactions-consumer"
  | "snuba-replays-consumer"
  | "ingest-replay-recordings"
  | "web";

export interface FakeSentryOptions {
  /** The service that does nothing with the item. */
  broken?: Stage;
  /** A service whose consumer never joins its group (consumers assigned fails). */
  unassigned?: string;
  /** Kafka does not answer at all. */
  kafkaDown?: boolean;
  /** Relay drops the item after accepting it, with this outcome code (3 = invalid). */
  dropOutcome?: number;
  /** What the public port answers instead of relay (e.g. 502), or "refused" for no connection. */
  front?: number | "refused";
  /** Relay answers the id in its dashed form. */
  answerDashed?: boolean;
  /** Reads return the old state this many times after a change, so the hops must poll. */
  lagPolls?: number;
}

export const FAKE_SETUP = {
  org: "sentry",
  project: "shctl-verify",
  project_id: 7,
  public_key: "0123456789abcdef0123456789abcdef",
  token: "f".repeat(64),
  created: ["project", "token"],
  user: "admin@example.com",
};

/** The set-up script's output as `sentry exec` prints it (warnings around the answer). */
export function fakeSetupOutput(): string {
  return `some warning\n${SETUP_MARKER}${JSON.stringify(FAKE_SETUP)}\n`;
}

interface Item {
  kind: "error" | "transaction" | "replay";
  id: string;
  done: Set<Stage>;
}

export class FakeSentry {
  readonly ends: Record<string, number> = {};
  readonly commits: Record<string, Record<string, number>> = {};
  readonly items: Item[] = [];
  /** Every request the fake web/relay answered: method, path, headers, body. */
  readonly requests: { method: string; path: string; headers: Record<string, string>; body: Buffer }[] = [];
  private reads = 0;

  constructor(readonly opts: FakeSentryOptions = {}) {
    for (const t of [ERRORS, TRANSACTIONS, REPLAYS])
      for (const leg of Object.values(t.legs)) {
        this.ends[leg.topic] = 40;
        this.commits[leg.group] ??= {};
        (this.commits[leg.group] as Record<string, number>)[leg.topic] = 40;
      }
  }

  private stale(): boolean {
    return (this.opts.lagPolls ?? 0) > 0 && this.reads++ % ((this.opts.lagPolls ?? 0) + 1) !== 0;
  }

  /** Moves an item through every stage up to the broken one (all at once). */
  private flow(item: Item) {
    const path: [Stage, () => void][] =
      item.kind === "replay"
        ? [
            ["relay", () => this.bump("ingest-replay-events", "ingest-replay-recordings")],
            ["snuba-replays-consumer", () => this.commit("snuba-consumers", "ingest-replay-events")],
            [
              "ingest-replay-recordings",
              () => this.commit("ingest-replay-recordings", "ingest-replay-recordings"),
            ],
            ["web", () => {}],
          ]
        : item.kind === "error"
          ? [
              ["relay", () => this.bump("ingest-events")],
              ["events-consumer", () => this.commit("ingest-consumer", "ingest-events")],
              ["worker", () => this.bump("events")],
              ["snuba-consumer", () => this.commit("snuba-consumers", "events")],
              ["web", () => {}],
            ]
          : [
              ["relay", () => this.bump("ingest-transactions")],
              ["transactions-consumer", () => this.commit("ingest-consumer", "ingest-transactions")],
              ["worker", () => this.bump("transactions")],
              ["snuba-transactions-consumer", () => this.commit("transactions_group", "transactions")],
              ["web", () => {}],
            ];
    for (const [stage, act] of path) {
      if (stage === this.opts.broken) return;
      if (stage === "relay" && this.opts.dropOutcome !== undefined) return;
      act();
      item.done.add(stage);
    }
  }

  private bump(...topics: string[]) {
    for (const t of topics) this.ends[t] = (this.ends[t] ?? 0) + 1;
  }

  private commit(group: string, topic: string) {
    (this.commits[group] as Record<string, number>)[topic] = this.ends[topic] ?? 0;
  }

  private item(id: string): Item | undefined {
    return this.items.find((i) => i.id === id || dashed(i.id) === id);
  }

  /** What relay (POST envelope) and web (GET API) answer. */
  handle(method: string, path: string, headers: Record<string, string>, body: Buffer): HttpAnswer {
    this.requests.push({ method, path, headers, body });
    const json = (status: number, v: unknown): HttpAnswer => ({
      status,
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify(v)),
    });
    if (typeof this.opts.front === "number") return json(this.opts.front, { detail: "bad gateway" });
    if (method === "POST" && /^\/api\/\d+\/envelope\/$/.test(path)) {
      const env = parseEnvelope(body);
      const id = String(env.header.event_id);
      const types = env.items.map((i) => String(i.headers.type));
      const kind = types.includes("replay_event")
        ? "replay"
        : types.includes("transaction")
          ? "transaction"
          : "error";
      const item: Item = { kind, id, done: new Set() };
      this.items.push(item);
      this.flow(item);
      return json(200, { id: this.opts.answerDashed ? dashed(id) : id });
    }
    if (headers.authorization !== `Bearer ${FAKE_SETUP.token}`) return json(401, { detail: "bad token" });
    const m =
      /^\/api\/0\/projects\/[^/]+\/[^/]+\/(events|replays)\/([0-9a-f]{32})\/(recording-segments\/)?$/.exec(
        path,
      );
    const item = m ? this.item(m[2] as string) : undefined;
    if (!m || !item?.done.has("web")) return json(404, { detail: "not found" });
    if (m[3]) return json(200, [[{ type: 4 }]]);
    if (m[1] === "replays") return json(200, { data: { id: item.id } });
    return json(200, { eventID: item.id, groupID: "12", title: "shctl-verify" });
  }

  /** The clients the hops read through. */
  clients(http?: Clients["http"]): Clients {
    const down = () => {
      if (this.opts.kafkaDown)
        throw new StoreUnreachable("kafka", "kafka at kafka:9092: connect ECONNREFUSED");
    };
    const sql = async (store: "clickhouse" | "postgres", q: string): Promise<Record<string, unknown>[]> => {
      if (this.stale()) return [];
      const id = /'([0-9a-f-]{32,36})'/.exec(q)?.[1] ?? /md5\('\d+:([0-9a-f]{32})'\)/.exec(q)?.[1];
      if (store === "clickhouse" && q.includes("outcomes_raw_local")) {
        const item = id ? this.item(id) : undefined;
        return item && this.opts.dropOutcome !== undefined
          ? [{ outcome: this.opts.dropOutcome, reason: "invalid_replay" }]
          : [];
      }
      if (store === "postgres" && q.includes("sentry_groupedmessage")) {
        return this.items.some((i) => i.kind === "error" && i.done.has("worker"))
          ? [{ id: 12, status: 0, times_seen: 3 }]
          : [];
      }
      const item = id ? this.item(id) : undefined;
      if (!item) return [];
      const needs: Record<string, Stage> = {
        nodestore_node: "worker",
        errors_local: "snuba-consumer",
        transactions_local: "snuba-transactions-consumer",
        replays_local: "snuba-replays-consumer",
        replays_replayrecordingsegment: "ingest-replay-recordings",
      };
      const table = Object.keys(needs).find((t) => q.includes(t));
      if (!table || !item.done.has(needs[table] as Stage)) return [];
      return [
        {
          id: dashed(item.id),
          group_id: "12",
          segment_id: 0,
          transaction_name: "shctl-verify",
          child: 1,
          file_id: 3,
          size: 90,
        },
      ];
    };
    return {
      kafka: {
        endOffsets: async (topic) => {
          down();
          return { 0: this.ends[topic] ?? 0 } as Offsets;
        },
        committed: async (group, topic): Promise<Offsets> => {
          down();
          if (this.stale()) return { 0: 40 };
          const c = this.commits[group]?.[topic];
          return c === undefined ? {} : { 0: c };
        },
        group: async (group) => {
          down();
          const members: GroupMember[] = [];
          for (const t of [ERRORS, TRANSACTIONS, REPLAYS])
            for (const leg of Object.values(t.legs))
              if (leg.group === group && leg.consumer !== this.opts.unassigned)
                members.push({
                  clientId: leg.consumer,
                  clientHost: "/10.0.0.2",
                  assignment: { [leg.topic]: [0] },
                });
          return { state: members.length > 0 ? "Stable" : "Empty", members };
        },
      },
      clickhouse: { rows: (q) => sql("clickhouse", q) },
      postgres: { rows: (q) => sql("postgres", q) },
      http: http ?? {
        request: async (req) => {
          if (this.opts.front === "refused") throw new ConnectionFailed("nginx:80", "connect ECONNREFUSED");
          return this.handle(req.method, req.path, req.headers ?? {}, req.body ?? Buffer.alloc(0));
        },
      },
      close: async () => {},
    };
  }
}

/** A check harness where every service runs and `sentry exec` prints the fake set-up's answer. */
export function fakeHarness(extra: Partial<CheckHarness> = {}): CheckHarness {
  return {
    stack: "sentry-self-hosted",
    connections: () => ({
      connect: async () => {
        throw new Error("the fake uses no connections");
      },
      socket: () => {
        throw new Error("the fake uses no connections");
      },
      httpAgent: () => {
        throw new Error("the fake uses no connections");
      },
    }),
    exec: async (service, cmd) =>
      service === "web" && cmd[0] === "sentry" && cmd[1] === "exec"
        ? { exitCode: 0, output: fakeSetupOutput() }
        : { exitCode: 1, output: `unexpected exec in ${service}: ${cmd.join(" ")}` },
    diagnose: async (service) => ({
      service,
      state: "running",
      health: undefined,
      restarts: 0,
      exitCode: undefined,
      startedAt: "2026-01-01T00:00:00Z",
      logTail: [`${service} log line`],
    }),
    ...extra,
  };
}
