import type { CheckContext, HopControl, PollResult } from "@sh/core";
import { type Clients, type Offsets, StoreUnreachable } from "./clients.js";
import { authHeader, type Envelope, serializeEnvelope } from "./envelope.js";
import { ConnectionFailed } from "./http.js";
import { QUERIES } from "./queries.js";
import { dsnOf, parseSetupOutput, setupCommand, type VerifySetup } from "./setup.js";
import type { TopicLeg } from "./topology.js";

/*
 * The hops verify's checks are made of, one function each: what it asks, how long it waits,
 * which service owns it and what to do when it breaks. Each polls through ctx.until (so it waits
 * at most until the check's timeout) and names the owner it finds: the consumer whose group is
 * behind, a store that does not answer, nginx when nothing answers on the public port.
 */

export interface Pipeline {
  ctx: CheckContext;
  clients: Clients;
  /** The stack's name (container names in fixes). */
  stack: string;
  /** The public URL's origin (the DSN's host). */
  origin: string;
  /** What the envelopes' sender calls itself (`sentry_client`). */
  client: string;
  /** Milliseconds between polls (tests lower it). */
  intervalMs?: number;
}

/** A hop failure with the fix for this case (the hop's own fix is the general one). */
export class HopFailure extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const logs = (service: string) => `\`shctl logs ${service}\``;

/**
 * Polls `probe` until it answers ok. The probe may name the service its answer points at (a
 * consumer whose group is behind); a store that does not answer is the owner while it does not
 * (three times in a row fails the hop at once: no point waiting the whole timeout). An answer the
 * check's timeout cut short changes nothing: `until` reports the last one.
 */
async function poll<T>(
  p: Pipeline,
  h: HopControl,
  owner: string,
  probe: (name: (service: string) => void) => Promise<PollResult<T>>,
): Promise<T> {
  let unreachable = 0;
  return p.ctx.until(
    async () => {
      let named = owner;
      try {
        const r = await probe((service) => {
          named = service;
        });
        if (p.ctx.signal.aborted && !r.ok) return r;
        unreachable = 0;
        h.owner(named);
        return r;
      } catch (err) {
        if (p.ctx.signal.aborted || !(err instanceof StoreUnreachable)) throw err;
        h.owner(err.service);
        if (++unreachable >= 3) throw err;
        return { ok: false, why: err.message };
      }
    },
    { intervalMs: p.intervalMs ?? 1000 },
  );
}

const partitions = (o: Offsets) =>
  Object.keys(o)
    .map(Number)
    .sort((a, b) => a - b);
const describeOffsets = (topic: string, o: Offsets) =>
  partitions(o)
    .map((n) => `${topic}[${n}] ${o[n]}`)
    .join(", ") || `${topic}: no partitions`;

/** Every service the pipeline needs is running (not restarting, not unhealthy). */
export function servicesRunning(p: Pipeline, services: string[]): Promise<void> {
  return p.ctx.hop(
    "services running",
    { fix: "`shctl apply` starts what is missing or stopped; `shctl status` shows every service" },
    async (h) => {
      const found = await Promise.all(services.map((s) => p.ctx.diagnose(s)));
      if (found.every((d) => d.state === "missing")) {
        h.owner(services[0] as string);
        throw new HopFailure(
          `none of its ${services.length} services has a container: the stack is not running`,
          "`shctl apply` brings it up",
        );
      }
      const bad = found.find((d) => d.state !== "running" || d.health === "unhealthy");
      if (bad) {
        h.owner(bad.service);
        const how = bad.state === "running" ? "unhealthy" : bad.state;
        throw new HopFailure(
          `${bad.service} is ${how}`,
          bad.state === "missing"
            ? "`shctl apply` creates it"
            : `${logs(bad.service)} shows why; \`shctl apply\` starts a stopped service`,
        );
      }
      h.detail(`${services.length} services: ${services.join(", ")}`);
    },
  );
}

/** The verification project, its DSN and an API token, made or found through Sentry (shared by the checks). */
export function setUp(p: Pipeline): Promise<VerifySetup> {
  return p.ctx.hop(
    "set-up",
    { owner: "web", fix: `the set-up runs \`sentry exec\` in web: ${logs("web")}` },
    async (h) => {
      const s = await p.ctx.once("sentry-verify-setup", async () => {
        const r = await p.ctx.exec("web", setupCommand());
        return parseSetupOutput(r.exitCode, r.output, p.stack);
      });
      p.ctx.secret(s.token);
      const made = s.created.length > 0 ? `; made ${s.created.join(", ")}` : "; all there";
      h.detail(`project ${s.org}/${s.project} (id ${s.projectId}), DSN ${dsnOf(p.origin, s)}${made}`);
      return s;
    },
  );
}

/** Each consumer has joined its group and been given its topic, so it reads what comes next. */
export function consumersAssigned(p: Pipeline, legs: TopicLeg[]): Promise<void> {
  const first = legs[0] as TopicLeg;
  return p.ctx.hop(
    "consumers assigned",
    {
      owner: first.consumer,
      fix: "a consumer that never joins its group crashes or waits on Kafka: see its log; the consumers read only what arrives after they join",
    },
    async (h) => {
      const seen = await poll(p, h, first.consumer, async (name) => {
        const parts: string[] = [];
        for (const leg of legs) {
          const g = await p.clients.kafka.group(leg.group);
          const assigned = g.members.flatMap((m) => m.assignment[leg.topic] ?? []);
          if (assigned.length === 0) {
            name(leg.consumer);
            return {
              ok: false,
              why: `no member of group ${leg.group} has ${leg.topic} (group ${g.state}, ${g.members.length} member${g.members.length === 1 ? "" : "s"}); ${leg.consumer} reads it`,
            };
          }
          parts.push(`${leg.group} has ${leg.topic}[${[...new Set(assigned)].sort().join(",")}]`);
        }
        return { ok: true, value: parts };
      });
      h.detail(seen.join("; "));
    },
  );
}

/** Each topic's end offsets now (taken just before sending). */
export async function endOffsets(p: Pipeline, topics: string[]): Promise<Record<string, Offsets>> {
  const out: Record<string, Offsets> = {};
  for (const t of topics) out[t] = await p.clients.kafka.endOffsets(t);
  return out;
}

/**
 * Sends the envelope to the public URL (nginx → relay) and expects relay's 200 with the id.
 * The topics' end offsets are read first, so the next hops can tell that something arrived.
 */
export function relayAccepted(
  p: Pipeline,
  setup: VerifySetup,
  envelope: Envelope,
  id: string,
  topics: string[],
): Promise<Record<string, Offsets>> {
  return p.ctx.hop("relay accepted", { owner: "relay" }, async (h) => {
    let before: Record<string, Offsets>;
    try {
      before = await endOffsets(p, topics);
    } catch (err) {
      if (err instanceof StoreUnreachable) h.owner(err.service);
      throw err;
    }
    const path = `/api/${setup.projectId}/envelope/`;
    let res: Awaited<ReturnType<Clients["http"]["request"]>>;
    try {
      res = await p.clients.http.request({
        method: "POST",
        path,
        headers: {
          "content-type": "application/x-sentry-envelope",
          "x-sentry-auth": authHeader(setup.publicKey, p.client),
          "user-agent": p.client,
        },
        body: serializeEnvelope(envelope),
      });
    } catch (err) {
      if (!(err instanceof ConnectionFailed)) throw err;
      h.owner("nginx");
      throw new HopFailure(
        `POST ${path}: ${err.message}`,
        `nothing answers on nginx's port: ${logs("nginx")}; \`shctl status\``,
      );
    }
    const text = res.body.toString("utf8").trim().slice(0, 300);
    if (res.status === 200) {
      let answered: unknown;
      try {
        answered = (JSON.parse(text) as { id?: unknown }).id;
      } catch {
        throw new HopFailure(
          `HTTP 200 but not relay's answer: ${text}`,
          "something other than relay answers /api/<project>/envelope/: nginx's routing",
        );
      }
      // Relay writes event ids as 32 hex digits; a dashed form would be the same id.
      if (String(answered).replaceAll("-", "").toLowerCase() !== id)
        throw new HopFailure(
          `HTTP 200 with id ${String(answered)}, not ${id}`,
          "relay answered for another event: report this",
        );
      h.detail(`HTTP 200, id ${id}`);
      return before;
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      throw new HopFailure(
        `nginx answered ${res.status}: relay does not answer behind it`,
        `relay is down or restarting: ${logs("relay")}`,
      );
    }
    if (res.status === 429) {
      throw new HopFailure(
        `HTTP 429: rate limited (${String(res.headers["x-sentry-rate-limits"] ?? res.headers["retry-after"] ?? "no limits given")})`,
        "the verification project or the organization is rate limited: see its settings in Sentry",
      );
    }
    if (res.status === 401 || res.status === 403) {
      throw new HopFailure(
        `HTTP ${res.status}: ${text}`,
        `relay refused the project's key: it may not have the project config from web yet (relay's registration with web: ${logs("relay")}), or the key is disabled`,
      );
    }
    throw new HopFailure(`HTTP ${res.status}: ${text}`, `relay refused the envelope: ${logs("relay")}`);
  });
}

/** What relay decided about an item it dropped after accepting it (its outcome, in ClickHouse), if it did. */
async function droppedOutcome(p: Pipeline, projectId: number, id: string): Promise<string | undefined> {
  // Outcome codes: sentry 23.12.0 src/sentry/utils/outcomes.py (0 accepted … 5 client_discard);
  // table and columns: snuba 23.12.0 snuba/datasets/configuration/outcomes_raw/storages/raw.yaml.
  const names = ["accepted", "filtered", "rate limited", "invalid", "abuse", "client discard"];
  try {
    const rows = await p.clients.clickhouse.rows(QUERIES.droppedOutcome(projectId, id));
    const r = rows[0];
    if (!r) return undefined;
    return `relay dropped it: ${names[Number(r.outcome)] ?? `outcome ${String(r.outcome)}`}${r.reason ? ` (${String(r.reason)})` : ""}`;
  } catch {
    return undefined; // an explanation only: its absence changes nothing
  }
}

/**
 * The topic's end offset moved past where it was before sending: the producer wrote (something;
 * the next hops follow this very item by id). Returns the new end offsets of the partitions that moved.
 */
export function offsetMoved(
  p: Pipeline,
  leg: TopicLeg,
  before: Offsets,
  explain?: { projectId: number; id: string },
): Promise<Offsets> {
  const fix =
    leg.producer === "relay"
      ? `relay accepted it but wrote nothing to ${leg.topic}: ${logs("relay")} (its Kafka producer, the project config from web)`
      : `${leg.producer} did not write to ${leg.topic}: ${logs(leg.producer)}`;
  return p.ctx.hop(`${leg.topic}: offset moved`, { owner: leg.producer, fix }, async (h) => {
    let polls = 0;
    const moved = await poll(p, h, leg.producer, async () => {
      const now = await p.clients.kafka.endOffsets(leg.topic);
      const grown: Offsets = {};
      for (const n of partitions(now)) if ((now[n] as number) > (before[n] ?? 0)) grown[n] = now[n] as number;
      if (partitions(grown).length > 0) return { ok: true, value: grown };
      if (explain && ++polls % 5 === 0) {
        const why = await droppedOutcome(p, explain.projectId, explain.id);
        if (why)
          throw new HopFailure(
            why,
            "the project or its key does not accept this item: relay's log and the project's settings say why",
          );
      }
      return { ok: false, why: `end offset unchanged (${describeOffsets(leg.topic, now)})` };
    });
    h.detail(
      partitions(moved)
        .map((n) => `${leg.topic}[${n}] ${before[n] ?? 0} → ${moved[n]}`)
        .join(", "),
    );
    return moved;
  });
}

/** The consumer group's committed offsets reached `target` on every partition that moved. */
export function groupCaughtUp(p: Pipeline, leg: TopicLeg, target: Offsets): Promise<void> {
  return p.ctx.hop(
    `${leg.group} caught up on ${leg.topic}`,
    {
      owner: leg.consumer,
      fix: `${leg.consumer} does not get through ${leg.topic}: ${logs(leg.consumer)} (a crash loop, OFFSET_OUT_OF_RANGE, or a store it writes to)`,
    },
    async (h) => {
      const at = await poll(p, h, leg.consumer, async () => {
        const committed = await p.clients.kafka.committed(leg.group, leg.topic);
        for (const n of partitions(target)) {
          const c = committed[n];
          const want = target[n] as number;
          if (c === undefined)
            return { ok: false, why: `${leg.group} has no commit on ${leg.topic}[${n}] yet` };
          if (c < want)
            return {
              ok: false,
              why: `${leg.group} at ${c} on ${leg.topic}[${n}], the item is before ${want} (lag ${want - c})`,
            };
        }
        return { ok: true, value: committed };
      });
      h.detail(
        partitions(target)
          .map((n) => `${leg.topic}[${n}] committed ${at[n]} ≥ ${target[n]}`)
          .join(", "),
      );
    },
  );
}

/** A row that `sql` finds, in ClickHouse or Postgres, once it is there. */
export function rowThere(
  p: Pipeline,
  hop: string,
  store: "clickhouse" | "postgres",
  sql: string,
  owner: string,
  fix: string,
  describe: (row: Record<string, unknown>) => string,
): Promise<Record<string, unknown>> {
  return p.ctx.hop(hop, { owner, fix }, async (h) => {
    const row = await poll(p, h, owner, async () => {
      const rows = await p.clients[store].rows(sql);
      const r = rows[0];
      return r ? { ok: true, value: r } : { ok: false, why: `no row yet in ${store}` };
    });
    h.detail(describe(row));
    return row;
  });
}

/** A GET of Sentry's web API (with the verification token) that answers 200 and what `check` accepts. */
export function apiReturns(
  p: Pipeline,
  hop: string,
  setup: VerifySetup,
  path: string,
  check: (body: unknown) => string | undefined,
  describe: (body: unknown) => string,
): Promise<unknown> {
  return p.ctx.hop(
    hop,
    { owner: "web", fix: `web does not return it: ${logs("web")} (it asks snuba-api and postgres)` },
    async (h) => {
      const body = await poll(p, h, "web", async () => {
        let res: Awaited<ReturnType<Clients["http"]["request"]>>;
        try {
          res = await p.clients.http.request({
            method: "GET",
            path,
            headers: { authorization: `Bearer ${setup.token}`, accept: "application/json" },
          });
        } catch (err) {
          if (!(err instanceof ConnectionFailed)) throw err;
          throw new StoreUnreachable("nginx", err.message, `${logs("nginx")}; \`shctl status\``);
        }
        const text = res.body.toString("utf8");
        if (res.status === 401 || res.status === 403) {
          throw new HopFailure(
            `GET ${path}: HTTP ${res.status}: ${text.slice(0, 200)}`,
            "the verification token is refused: run verify again (the set-up makes a new one when it expired), or check that its user is still a superuser and member",
          );
        }
        if (res.status !== 200)
          return {
            ok: false,
            why: `GET ${path}: HTTP ${res.status}${res.status === 404 ? " (not there yet)" : `: ${text.slice(0, 120)}`}`,
          };
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return { ok: false, why: `GET ${path}: HTTP 200 but not JSON` };
        }
        const wrong = check(json);
        return wrong ? { ok: false, why: `GET ${path}: ${wrong}` } : { ok: true, value: json };
      });
      h.detail(`GET ${path}: 200, ${describe(body)}`);
      return body;
    },
  );
}
