import path from "node:path";
import { createClient } from "@clickhouse/client";
import {
  apply,
  type CheckContext,
  createReach,
  loadStack,
  type ResolvedStack,
  type StackInput,
  verify,
} from "@sh/core";
import { SentryOptions, sentryStack } from "@sh/specs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clickhouseReader, stackClients } from "../packages/specs/src/sentry/verify/clients.js";
import { dashed } from "../packages/specs/src/sentry/verify/envelope.js";
import { type Pipeline, rowThere, servicesRunning } from "../packages/specs/src/sentry/verify/hops.js";
import { publicTarget } from "../packages/specs/src/sentry/verify/http.js";
import { QUERIES } from "../packages/specs/src/sentry/verify/queries.js";
import { cleanup, containersOf, engine, REPO, stackName, tempProject } from "./helpers.js";

/*
 * The ClickHouse and Postgres hops of `shctl verify` against real servers: the infra tier's
 * stand-ins (test/fixtures/infra: Debian's PostgreSQL and ClickHouse, built and run as the Sentry
 * stack runs its postgres and clickhouse services). Sentry's own tables cannot be made here (no
 * Sentry or snuba image), so the test creates tables with the columns the hops query
 * (errors_local, transactions_local, replays_local, outcomes_raw_local; nodestore_node,
 * sentry_groupedmessage, replays_replayrecordingsegment), inserts a row with the ids, and runs the
 * hops' own code and queries, through core's verify() on the real engine: @clickhouse/client over
 * the stack connections, psql by exec in the postgres container, and the owners' diagnoses from
 * the engine. Only postgres and clickhouse (with the config and prerequisites jobs they need) run.
 */

const FIXTURE = path.join(REPO, "test/fixtures/infra/stack.mjs");
const name = stackName("sverify");
const PROJECT = 7;
const ERROR_ID = "0123456789ab4def8123456789abcdef";
const TRANSACTION_ID = "1123456789ab4def8123456789abcdef";
const REPLAY_ID = "2123456789ab4def8123456789abcdef";
const DROPPED_ID = "3123456789ab4def8123456789abcdef";
const MISSING_ID = "9123456789ab4def8123456789abcdef";

let projectDir: string;
let stack: ResolvedStack | undefined;
let options: SentryOptions;

/** A pipeline over the check's real clients (ClickHouse over the stack connections, psql by exec). */
function pipeline(ctx: CheckContext, clients = stackClients(ctx, publicTarget(options))): Pipeline {
  return { ctx, clients, stack: name, origin: "http://localhost:9006", client: "test", intervalMs: 250 };
}

async function withPipeline(ctx: CheckContext, run: (p: Pipeline) => Promise<void>) {
  const p = pipeline(ctx);
  try {
    await run(p);
  } finally {
    await p.clients.close();
  }
}

/** The test's checks: the real hops and queries. */
const checks: NonNullable<StackInput["checks"]> = [
  {
    name: "clickhouse",
    timeout: "60s",
    run: (ctx) =>
      withPipeline(ctx, async (p) => {
        await rowThere(
          p,
          "error row",
          "clickhouse",
          QUERIES.errorRow(PROJECT, ERROR_ID),
          "snuba-consumer",
          "-",
          (r) => `group ${String(r.group_id)}`,
        );
        await rowThere(
          p,
          "transaction row",
          "clickhouse",
          QUERIES.transactionRow(PROJECT, TRANSACTION_ID),
          "snuba-transactions-consumer",
          "-",
          (r) => `${String(r.id)} ${String(r.transaction_name)} child=${String(r.child)}`,
        );
        await rowThere(
          p,
          "replay row",
          "clickhouse",
          QUERIES.replayRow(PROJECT, REPLAY_ID),
          "snuba-replays-consumer",
          "-",
          (r) => `${String(r.id)} segment ${String(r.segment_id)}`,
        );
        await rowThere(
          p,
          "dropped outcome",
          "clickhouse",
          QUERIES.droppedOutcome(PROJECT, DROPPED_ID),
          "relay",
          "-",
          (r) => `outcome ${String(r.outcome)} ${String(r.reason)}`,
        );
      }),
  },
  {
    name: "postgres",
    timeout: "60s",
    run: (ctx) =>
      withPipeline(ctx, async (p) => {
        await servicesRunning(p, ["postgres", "clickhouse"]);
        await rowThere(
          p,
          "nodestore",
          "postgres",
          QUERIES.nodestore(PROJECT, ERROR_ID),
          "worker",
          "-",
          (r) => `node ${String(r.id)}`,
        );
        await rowThere(
          p,
          "issue",
          "postgres",
          QUERIES.issue(PROJECT, 12),
          "worker",
          "-",
          (r) => `group ${String(r.id)} seen ${String(r.times_seen)}`,
        );
        await rowThere(
          p,
          "segment",
          "postgres",
          QUERIES.recordingSegment(PROJECT, REPLAY_ID),
          "ingest-replay-recordings",
          "-",
          (r) => `file ${String(r.file_id)} ${String(r.size)} bytes`,
        );
      }),
  },
  {
    name: "missing-row",
    timeout: "3s",
    hops: ["row", "after"],
    run: (ctx) =>
      withPipeline(ctx, async (p) => {
        await rowThere(
          p,
          "row",
          "postgres",
          QUERIES.nodestore(PROJECT, MISSING_ID),
          "postgres",
          "the fix",
          () => "",
        );
        await rowThere(p, "after", "postgres", "SELECT 1", "postgres", "-", () => "");
      }),
  },
  {
    name: "not-running",
    timeout: "10s",
    run: (ctx) => withPipeline(ctx, (p) => servicesRunning(p, ["postgres", "kafka", "clickhouse"])),
  },
  {
    name: "unreachable",
    timeout: "30s",
    run: async (ctx) => {
      const real = stackClients(ctx, publicTarget(options));
      const elsewhere = clickhouseReader(ctx, "http://no-such-service:8123");
      const p = pipeline(ctx, { ...real, clickhouse: elsewhere });
      try {
        await rowThere(
          p,
          "row",
          "clickhouse",
          QUERIES.errorRow(PROJECT, ERROR_ID),
          "snuba-consumer",
          "-",
          () => "",
        );
      } finally {
        await elsewhere.close();
        await real.close();
      }
    },
  },
];

async function psql(sql: string): Promise<void> {
  const id = (await containersOf(name)).postgres?.id as string;
  const r = await engine.exec(id, ["psql", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql]);
  if (r.exitCode !== 0) throw new Error(`psql: ${r.output}`);
}

async function clickhouse(queries: string[]): Promise<void> {
  const reach = createReach(engine, stack as ResolvedStack);
  const client = createClient({ url: "http://clickhouse:8123", http_agent: reach.httpAgent() });
  try {
    for (const q of queries) await client.command({ query: q });
  } finally {
    await client.close();
    await reach.close();
  }
}

beforeAll(async () => {
  projectDir = await tempProject("shctl-sverify-");
  options = SentryOptions.parse({
    stackName: name,
    bindAddress: "127.0.0.1",
    healthcheck: { interval: "2s" },
    images: {
      postgres: "shctl-test/sentry-postgres:bookworm",
      clickhouse: "shctl-test/sentry-clickhouse:bookworm",
      redis: "shctl-test/sentry-redis:bookworm",
      memcached: "shctl-test/sentry-memcached:bookworm",
      zookeeper: "shctl-test/sentry-zookeeper:bookworm",
      nginx: "shctl-test/sentry-nginx:bookworm",
      smtp: "shctl-test/sentry-smtp:bookworm",
    },
  });
  const { infraSubset } = (await import(FIXTURE)) as {
    infraSubset: (input: StackInput) => { stack: StackInput };
  };
  const infra = infraSubset(sentryStack(options, projectDir)).stack;
  const keep = ["postgres", "clickhouse"];
  const services = Object.fromEntries(Object.entries(infra.services ?? {}).filter(([n]) => keep.includes(n)));
  const images = Object.fromEntries(
    Object.entries(infra.images ?? {}).filter(([k]) =>
      ["postgres", "clickhouse", "clickhouse-upstream"].includes(k),
    ),
  );
  stack = await loadStack({ ...infra, services, images, checks }, { projectDir });
  await apply(stack, engine);
  // Log tables: the stand-in's ClickHouse (18.16) refuses MergeTree under the stack's config.xml,
  // which sets a MergeTree option of 21.8; the hops only read, by id.
  await clickhouse([
    "CREATE TABLE errors_local (project_id UInt64, timestamp DateTime, event_id UUID, group_id UInt64, primary_hash UUID, deleted UInt8) ENGINE = Log",
    "CREATE TABLE transactions_local (project_id UInt64, event_id UUID, transaction_name String, finish_ts DateTime, spans Nested(op String, group UInt64), deleted UInt8) ENGINE = Log",
    "CREATE TABLE replays_local (replay_id UUID, segment_id Nullable(UInt16), timestamp DateTime, project_id UInt64) ENGINE = Log",
    "CREATE TABLE outcomes_raw_local (project_id UInt64, event_id Nullable(UUID), outcome UInt8, reason Nullable(String), category UInt8, timestamp DateTime) ENGINE = Log",
    `INSERT INTO errors_local VALUES (${PROJECT}, now(), '${dashed(ERROR_ID)}', 12, '${dashed(MISSING_ID)}', 0)`,
    `INSERT INTO errors_local VALUES (${PROJECT}, now(), '${dashed(MISSING_ID)}', 13, '${dashed(MISSING_ID)}', 1)`,
    `INSERT INTO transactions_local VALUES (${PROJECT}, '${dashed(TRANSACTION_ID)}', 'shctl-verify', now(), ['shctl.verify.child', 'db'], [1, 2], 0)`,
    `INSERT INTO replays_local VALUES ('${dashed(REPLAY_ID)}', 0, now(), ${PROJECT})`,
    `INSERT INTO outcomes_raw_local VALUES (${PROJECT}, '${dashed(DROPPED_ID)}', 0, NULL, 7, now()), (${PROJECT}, '${dashed(DROPPED_ID)}', 3, 'invalid_replay', 7, now())`,
  ]);
  await psql(
    [
      "CREATE TABLE nodestore_node (id varchar(40) PRIMARY KEY, data text NOT NULL, timestamp timestamptz NOT NULL)",
      "CREATE TABLE sentry_groupedmessage (id bigserial PRIMARY KEY, project_id bigint, message text, status integer, times_seen integer, first_seen timestamptz, last_seen timestamptz, short_id bigint)",
      "CREATE TABLE replays_replayrecordingsegment (id bigserial PRIMARY KEY, project_id bigint NOT NULL, replay_id varchar(32) NOT NULL, sequence_id integer NOT NULL, file_id bigint NOT NULL, size integer, date_added timestamptz)",
      `INSERT INTO nodestore_node VALUES (md5('${PROJECT}:${ERROR_ID}'), 'x', now())`,
      `INSERT INTO sentry_groupedmessage (id, project_id, message, status, times_seen) VALUES (12, ${PROJECT}, 'shctl verify', 0, 3)`,
      `INSERT INTO replays_replayrecordingsegment (project_id, replay_id, sequence_id, file_id, size) VALUES (${PROJECT}, '${REPLAY_ID}', 0, 44, 90)`,
    ].join("; "),
  );
});

afterAll(async () => {
  await cleanup(stack, projectDir);
});

describe("verify's ClickHouse and Postgres hops against the infra tier's real servers", () => {
  let result: Awaited<ReturnType<typeof verify>>;
  const check = (n: string) => result.checks.find((c) => c.name === n);
  const detail = (c: string, hop: string) => check(c)?.hops.find((h) => h.hop === hop)?.detail;

  beforeAll(async () => {
    result = await verify(stack as ResolvedStack, engine);
  });

  it("ClickHouse: the error, transaction and replay rows by id (deleted rows not), and a dropped item's outcome", () => {
    expect(check("clickhouse")?.broken).toBeUndefined();
    expect(detail("clickhouse", "error row")).toBe("group 12");
    expect(detail("clickhouse", "transaction row")).toBe(`${dashed(TRANSACTION_ID)} shctl-verify child=1`);
    expect(detail("clickhouse", "replay row")).toBe(`${dashed(REPLAY_ID)} segment 0`);
    expect(detail("clickhouse", "dropped outcome")).toBe("outcome 3 invalid_replay");
  });

  it("Postgres: nodestore's row by md5(project:event), the issue, the recording segment; every service running", () => {
    expect(check("postgres")?.broken).toBeUndefined();
    expect(detail("postgres", "services running")).toBe("2 services: postgres, clickhouse");
    expect(detail("postgres", "nodestore")).toMatch(/^node [0-9a-f]{32}$/);
    expect(detail("postgres", "issue")).toBe("group 12 seen 3");
    expect(detail("postgres", "segment")).toBe("file 44 90 bytes");
  });

  it("a row that never comes: the hop fails at the timeout with its owner's real state and log", () => {
    const c = check("missing-row");
    expect(c?.broken).toMatchObject({ hop: "row", owner: "postgres", fix: "the fix" });
    expect(c?.broken?.detail).toMatch(/^no row yet in postgres \(still so after \d/);
    expect(c?.broken?.diagnosis).toMatchObject({ service: "postgres", state: "running", restarts: 0 });
    expect(c?.broken?.diagnosis?.logTail.length).toBeGreaterThan(0);
    expect(c?.hops.find((h) => h.hop === "after")?.status).toBe("skipped");
  });

  it("a service the stack does not run is the owner of 'services running'", () => {
    expect(check("not-running")?.broken).toMatchObject({
      hop: "services running",
      owner: "kafka",
      detail: "kafka is missing",
    });
    expect(check("not-running")?.broken?.diagnosis?.state).toBe("missing");
  });

  it("a ClickHouse that cannot be reached is the hop's owner", () => {
    const b = check("unreachable")?.broken;
    expect(b).toMatchObject({ hop: "row", owner: "clickhouse" });
    expect(b?.detail).toContain("clickhouse at http://no-such-service:8123");
  });
});
