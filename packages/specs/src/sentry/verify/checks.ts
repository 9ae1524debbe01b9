import type { CheckContext, StackInput } from "@sh/core";
import type { SentryOptions } from "../options.js";
import { type Clients, type Offsets, stackClients } from "./clients.js";
import { type Envelope, errorEnvelope, newEventId, replayEnvelope, transactionEnvelope } from "./envelope.js";
import {
  apiReturns,
  consumersAssigned,
  groupCaughtUp,
  offsetMoved,
  type Pipeline,
  relayAccepted,
  rowThere,
  servicesRunning,
  setUp,
} from "./hops.js";
import { publicTarget } from "./http.js";
import { QUERIES } from "./queries.js";
import { dsnOf, type VerifySetup } from "./setup.js";
import { ERRORS, REPLAYS, STORES, type TopicLeg, type Topology, TRANSACTIONS } from "./topology.js";

/*
 * The Sentry stack's checks, one per pipeline the deployment plan asks for: errors, transactions
 * and replays. Each sends what an SDK sends to the public URL and follows it hop by hop with its
 * own id to Sentry's web API (see docs/sentry.md, "Verify").
 */

export type CheckInput = NonNullable<StackInput["checks"]>[number];

/** What verify's requests call themselves (`sentry_client`, User-Agent) and the SDK version items carry. */
export const VERIFY_CLIENT_VERSION = "1";
const CLIENT = `shctl-verify/${VERIFY_CLIENT_VERSION}`;

const logs = (service: string) => `\`shctl logs ${service}\``;

/** The hops of each check, in order (the names the checks report). */
export const HOPS = {
  errors: [
    "services running",
    "set-up",
    "consumers assigned",
    "relay accepted",
    `${ERRORS.legs.ingest.topic}: offset moved`,
    `${ERRORS.legs.ingest.group} caught up on ${ERRORS.legs.ingest.topic}`,
    "worker saved the event",
    `${ERRORS.legs.processed.topic}: offset moved`,
    `${ERRORS.legs.processed.group} caught up on ${ERRORS.legs.processed.topic}`,
    `clickhouse ${ERRORS.table} row`,
    "issue in postgres",
    "web API: event",
  ],
  transactions: [
    "services running",
    "set-up",
    "consumers assigned",
    "relay accepted",
    `${TRANSACTIONS.legs.ingest.topic}: offset moved`,
    `${TRANSACTIONS.legs.ingest.group} caught up on ${TRANSACTIONS.legs.ingest.topic}`,
    "worker saved the transaction",
    `${TRANSACTIONS.legs.processed.topic}: offset moved`,
    `${TRANSACTIONS.legs.processed.group} caught up on ${TRANSACTIONS.legs.processed.topic}`,
    `clickhouse ${TRANSACTIONS.table} row`,
    "web API: transaction",
  ],
  replays: [
    "services running",
    "set-up",
    "consumers assigned",
    "relay accepted",
    `${REPLAYS.legs.events.topic}: offset moved`,
    `${REPLAYS.legs.recordings.topic}: offset moved`,
    `${REPLAYS.legs.events.group} caught up on ${REPLAYS.legs.events.topic}`,
    `clickhouse ${REPLAYS.table} row`,
    `${REPLAYS.legs.recordings.group} caught up on ${REPLAYS.legs.recordings.topic}`,
    "recording segment in postgres",
    "web API: replay",
    "web API: recording segment",
  ],
} as const;

export type PipelineName = keyof typeof HOPS;

const needed = (t: Topology) => [...new Set([...t.services, ...STORES])];

const savedFix = `the ingest consumer handed it to Celery, but the worker did not save it: ${logs("worker")} (and redis, Celery's broker)`;

/** What the hops after relay follow: the set-up, the item's id, the topics' end offsets before sending. */
interface Sent {
  setup: VerifySetup;
  id: string;
  before: Record<string, Offsets>;
}

/**
 * The hops every pipeline starts with: its services run, the set-up, the consumers of `legs` hold
 * their partitions, and relay accepts the envelope made for a new id.
 */
async function sendItem(
  p: Pipeline,
  t: Topology,
  legs: TopicLeg[],
  envelopeFor: (id: string, setup: VerifySetup) => Envelope,
): Promise<Sent> {
  await servicesRunning(p, needed(t));
  const setup = await setUp(p);
  await consumersAssigned(p, legs);
  const id = newEventId();
  const envelope = envelopeFor(id, setup);
  const before = await relayAccepted(
    p,
    setup,
    envelope,
    id,
    legs.map((l) => l.topic),
  );
  return { setup, id, before };
}

/**
 * Errors' and transactions' way from relay to snuba: the ingest topic moves and its consumer
 * catches up, the worker saves the item in nodestore (hop `saved`), the processed topic moves and
 * snuba's consumer catches up.
 */
async function ingestedAndProcessed(
  p: Pipeline,
  t: Topology<"ingest" | "processed">,
  saved: string,
  { setup, id, before }: Sent,
): Promise<void> {
  const { ingest, processed } = t.legs;
  const ingestEnd = await offsetMoved(p, ingest, before[ingest.topic] ?? {}, {
    projectId: setup.projectId,
    id,
  });
  await groupCaughtUp(p, ingest, ingestEnd);
  await rowThere(
    p,
    saved,
    "postgres",
    QUERIES.nodestore(setup.projectId, id),
    "worker",
    savedFix,
    () => "nodestore_node has its body",
  );
  const processedEnd = await offsetMoved(p, processed, before[processed.topic] ?? {});
  await groupCaughtUp(p, processed, processedEnd);
}

const noRowFix = (consumer: string) =>
  `${consumer} read it but wrote no row: ${logs(consumer)}, ${logs("clickhouse")}`;

/** Sentry's web API returns the event `id` (errors and transactions alike). */
function eventReturned(
  p: Pipeline,
  hop: string,
  { setup, id }: Sent,
  describe: (body: unknown) => string,
): Promise<unknown> {
  // sentry 23.12.0 src/sentry/api/urls.py: projects/{org}/{project}/events/{event_id}/ (32 hex).
  return apiReturns(
    p,
    hop,
    setup,
    `/api/0/projects/${setup.org}/${setup.project}/events/${id}/`,
    (b) => ((b as { eventID?: unknown }).eventID === id ? undefined : "another event"),
    describe,
  );
}

export async function runErrors(p: Pipeline): Promise<void> {
  const { ingest, processed } = ERRORS.legs;
  const sent = await sendItem(p, ERRORS, [ingest, processed], (id, setup) =>
    errorEnvelope({ eventId: id, dsn: dsnOf(p.origin, setup), sdkVersion: VERIFY_CLIENT_VERSION }),
  );
  const { setup, id } = sent;
  await ingestedAndProcessed(p, ERRORS, "worker saved the event", sent);
  // errors_local's columns: snuba 23.12.0 snuba/datasets/configuration/events/storages/errors.yaml.
  const row = await rowThere(
    p,
    `clickhouse ${ERRORS.table} row`,
    "clickhouse",
    QUERIES.errorRow(setup.projectId, id),
    processed.consumer,
    noRowFix(processed.consumer),
    (r) => `event ${String(r.id)}, group ${String(r.group_id)}`,
  );
  // The issue: model Group, table sentry_groupedmessage (sentry 23.12.0 src/sentry/models/group.py).
  const groupId = Number(row.group_id);
  await rowThere(
    p,
    "issue in postgres",
    "postgres",
    QUERIES.issue(setup.projectId, Number.isSafeInteger(groupId) ? groupId : -1),
    "worker",
    `the event names group ${String(row.group_id)}, which postgres does not have: ${logs("worker")}`,
    (r) => `sentry_groupedmessage ${String(r.id)} (seen ${String(r.times_seen)} times)`,
  );
  await eventReturned(
    p,
    "web API: event",
    sent,
    (b) => `event ${id}, issue ${String((b as { groupID?: unknown }).groupID)}`,
  );
}

export async function runTransactions(p: Pipeline): Promise<void> {
  const { ingest, processed } = TRANSACTIONS.legs;
  const sent = await sendItem(p, TRANSACTIONS, [ingest, processed], (id, setup) =>
    transactionEnvelope({
      eventId: id,
      traceId: newEventId(),
      publicKey: setup.publicKey,
      dsn: dsnOf(p.origin, setup),
      sdkVersion: VERIFY_CLIENT_VERSION,
    }),
  );
  const { setup, id } = sent;
  await ingestedAndProcessed(p, TRANSACTIONS, "worker saved the transaction", sent);
  // transactions_local's columns: snuba 23.12.0 snuba/datasets/configuration/transactions/storages/transactions.yaml.
  // The child span shows in `spans.op` only once Sentry has hashed it (snuba's
  // transactions_processor.py keeps spans with op, hash and exclusive_time): reported, not required.
  await rowThere(
    p,
    `clickhouse ${TRANSACTIONS.table} row`,
    "clickhouse",
    QUERIES.transactionRow(setup.projectId, id),
    processed.consumer,
    noRowFix(processed.consumer),
    (r) =>
      `event ${String(r.id)} "${String(r.transaction_name)}", child span ${Number(r.child) === 1 ? "in spans.op" : "not in spans.op"}`,
  );
  // Answered from nodestore for transactions (sentry 23.12.0 src/sentry/eventstore/snuba/backend.py):
  // it proves web reads what the worker saved; the ClickHouse row is the hop above.
  await eventReturned(
    p,
    "web API: transaction",
    sent,
    (b) => `transaction "${String((b as { title?: unknown }).title ?? "")}"`,
  );
}

export async function runReplays(p: Pipeline): Promise<void> {
  const { events, recordings } = REPLAYS.legs;
  const { setup, id, before } = await sendItem(p, REPLAYS, [events, recordings], (id, setup) =>
    replayEnvelope({ replayId: id, dsn: dsnOf(p.origin, setup), sdkVersion: VERIFY_CLIENT_VERSION }),
  );
  const eventsEnd = await offsetMoved(p, events, before[events.topic] ?? {}, {
    projectId: setup.projectId,
    id,
  });
  const recordingsEnd = await offsetMoved(p, recordings, before[recordings.topic] ?? {});
  await groupCaughtUp(p, events, eventsEnd);
  // replays_local's columns: snuba 23.12.0 snuba/datasets/configuration/replays/storages/replays.yaml.
  await rowThere(
    p,
    `clickhouse ${REPLAYS.table} row`,
    "clickhouse",
    QUERIES.replayRow(setup.projectId, id),
    events.consumer,
    `${events.consumer} read it but wrote no row (a replay event it cannot read goes to snuba-dead-letter-replays): ${logs(events.consumer)}`,
    (r) => `replay ${String(r.id)}, segment ${String(r.segment_id)}`,
  );
  await groupCaughtUp(p, recordings, recordingsEnd);
  // ReplayRecordingSegment (sentry 23.12.0 src/sentry/replays/models.py): replay_id is 32 hex,
  // the segment's field is stored in column sequence_id.
  await rowThere(
    p,
    "recording segment in postgres",
    "postgres",
    QUERIES.recordingSegment(setup.projectId, id),
    recordings.consumer,
    `${recordings.consumer} read it but stored no segment: ${logs(recordings.consumer)} (it writes the filestore under the sentry data dir, and postgres)`,
    (r) => `replays_replayrecordingsegment: file ${String(r.file_id)}, ${String(r.size)} bytes`,
  );
  // sentry 23.12.0 src/sentry/api/urls.py: projects/{org}/{project}/replays/{replay_id}/ and
  // …/recording-segments/; both need organizations:session-replay (on in shctl's sentry.conf.py).
  const strip = (v: unknown) => String(v ?? "").replaceAll("-", "");
  await apiReturns(
    p,
    "web API: replay",
    setup,
    `/api/0/projects/${setup.org}/${setup.project}/replays/${id}/`,
    (b) => (strip((b as { data?: { id?: unknown } }).data?.id) === id ? undefined : "another replay"),
    (b) => `replay ${strip((b as { data?: { id?: unknown } }).data?.id)}`,
  );
  await apiReturns(
    p,
    "web API: recording segment",
    setup,
    `/api/0/projects/${setup.org}/${setup.project}/replays/${id}/recording-segments/`,
    (b) => (Array.isArray(b) && b.length > 0 ? undefined : "no segment yet"),
    (b) => `${(b as unknown[]).length} segment${(b as unknown[]).length === 1 ? "" : "s"}`,
  );
}

/** How the checks reach the stack: the real clients by default; tests give fakes and shorter polls. */
export interface ChecksWiring {
  clients?: (ctx: CheckContext) => Clients;
  intervalMs?: number;
}

/** The Sentry stack's checks for a set of options. */
export function sentryChecks(opts: SentryOptions, wiring: ChecksWiring = {}): CheckInput[] {
  const target = publicTarget(opts);
  const make = wiring.clients ?? ((ctx: CheckContext) => stackClients(ctx, target));
  const check = (
    name: PipelineName,
    description: string,
    run: (p: Pipeline) => Promise<void>,
  ): CheckInput => ({
    name,
    description,
    timeout: "3m",
    hops: [...HOPS[name]],
    run: async (ctx) => {
      const clients = make(ctx);
      try {
        await run({
          ctx,
          clients,
          stack: opts.stackName,
          origin: target.origin,
          client: CLIENT,
          ...(wiring.intervalMs !== undefined ? { intervalMs: wiring.intervalMs } : {}),
        });
      } finally {
        await clients.close();
      }
    },
  });
  return [
    check("errors", "an error event, from the public URL to an issue in Sentry's web API", runErrors),
    check(
      "transactions",
      "a transaction with a span, from the public URL to Sentry's web API",
      runTransactions,
    ),
    check(
      "replays",
      "a replay (event and recording segment), from the public URL to Sentry's web API",
      runReplays,
    ),
  ];
}
