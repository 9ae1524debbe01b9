import type { VerifyEvent } from "@sh/core";
import { type CheckHarness, runCheck } from "@sh/core/internals";
import { describe, expect, it } from "vitest";
import { SENTRY_CONSUMERS } from "../consumers.js";
import { SentryOptions } from "../options.js";
import { sentryStack } from "../stack.js";
import { HOPS, type PipelineName, sentryChecks } from "./checks.js";
import { FAKE_SETUP, FakeSentry, type FakeSentryOptions, fakeHarness } from "./testing.js";
import { ERRORS, REPLAYS, TRANSACTIONS } from "./topology.js";

/*
 * The three checks' hop logic against a simulated Sentry (testing.ts): what they send, what
 * they read, the owner and fix of the first broken hop, and the hops skipped after it. The
 * envelopes on the wire are checked in send.test.ts; the SQL against real servers in
 * test/sentry-verify.test.ts.
 */

const opts = SentryOptions.parse({});

async function run(
  name: PipelineName,
  fake: FakeSentry,
  extra: Partial<CheckHarness> = {},
): Promise<{ result: Awaited<ReturnType<typeof runCheck>>; events: VerifyEvent[] }> {
  const check = sentryChecks(opts, { clients: () => fake.clients(), intervalMs: 2 }).find(
    (c) => c.name === name,
  );
  if (!check) throw new Error(`no check ${name}`);
  const events: VerifyEvent[] = [];
  const result = await runCheck(
    { name: check.name, hops: check.hops ?? [], run: check.run },
    fakeHarness({ timeoutMs: 10_000, onEvent: (e) => events.push(e), ...extra }),
  );
  return { result, events };
}

const statuses = (r: Awaited<ReturnType<typeof runCheck>>) => r.hops.map((h) => `${h.hop}: ${h.status}`);

describe("the Sentry stack's checks", () => {
  it("the stack declares errors, transactions and replays, each with its hops in order", () => {
    const stack = sentryStack(opts, "/tmp/p");
    expect(stack.checks?.map((c) => [c.name, c.hops])).toEqual([
      ["errors", [...HOPS.errors]],
      ["transactions", [...HOPS.transactions]],
      ["replays", [...HOPS.replays]],
    ]);
  });

  for (const name of ["errors", "transactions", "replays"] as const) {
    it(`${name}: every hop passes when every service does its part (polling through lag)`, async () => {
      const fake = new FakeSentry({ lagPolls: 2 });
      const { result, events } = await run(name, fake);
      expect(statuses(result)).toEqual(HOPS[name].map((h) => `${h}: ok`));
      expect(result.ok).toBe(true);
      // The hops ran in the declared order, each started before it ended.
      const order = events
        .filter((e) => e.type === "hop" && e.status === "ok")
        .map((e) => (e.type === "hop" ? e.hop : ""));
      expect(order).toEqual([...HOPS[name]]);
      // The token the set-up returned never shows.
      expect(JSON.stringify(events)).not.toContain(FAKE_SETUP.token);
      // One envelope was posted, with the project's key, and the API was asked with the token.
      const posts = fake.requests.filter((r) => r.method === "POST");
      expect(posts).toHaveLength(1);
      expect(posts[0]?.path).toBe(`/api/${FAKE_SETUP.project_id}/envelope/`);
      expect(posts[0]?.headers["x-sentry-auth"]).toContain(`sentry_key=${FAKE_SETUP.public_key}`);
      expect(
        fake.requests.some(
          (r) => r.method === "GET" && r.headers.authorization === `Bearer ${FAKE_SETUP.token}`,
        ),
      ).toBe(true);
    });
  }

  it("errors: hop details say what each hop found", async () => {
    const { result } = await run("errors", new FakeSentry());
    const detail = (hop: string) => result.hops.find((h) => h.hop === hop)?.detail;
    expect(detail("set-up")).toBe(
      "project sentry/shctl-verify (id 7), DSN http://0123456789abcdef0123456789abcdef@localhost:9006/7; made project, token",
    );
    expect(detail("consumers assigned")).toBe(
      "ingest-consumer has ingest-events[0]; snuba-consumers has events[0]",
    );
    expect(detail("relay accepted")).toMatch(/^HTTP 200, id [0-9a-f]{32}$/);
    expect(detail("ingest-events: offset moved")).toBe("ingest-events[0] 40 → 41");
    expect(detail("ingest-consumer caught up on ingest-events")).toBe("ingest-events[0] committed 41 ≥ 41");
    expect(detail("clickhouse errors_local row")).toMatch(/, group 12$/);
    expect(detail("issue in postgres")).toBe("sentry_groupedmessage 12 (seen 3 times)");
    expect(detail("web API: event")).toMatch(
      /^GET \/api\/0\/projects\/sentry\/shctl-verify\/events\/[0-9a-f]{32}\/: 200, event [0-9a-f]{32}, issue 12$/,
    );
  });

  const brokenCases: [PipelineName, FakeSentryOptions, string, string][] = [
    ["errors", { broken: "relay" }, "ingest-events: offset moved", "relay"],
    [
      "errors",
      { broken: "events-consumer" },
      "ingest-consumer caught up on ingest-events",
      "events-consumer",
    ],
    ["errors", { broken: "worker" }, "worker saved the event", "worker"],
    ["errors", { broken: "snuba-consumer" }, "snuba-consumers caught up on events", "snuba-consumer"],
    ["errors", { broken: "web" }, "web API: event", "web"],
    [
      "transactions",
      { broken: "transactions-consumer" },
      "ingest-consumer caught up on ingest-transactions",
      "transactions-consumer",
    ],
    [
      "transactions",
      { broken: "snuba-transactions-consumer" },
      "transactions_group caught up on transactions",
      "snuba-transactions-consumer",
    ],
    [
      "replays",
      { broken: "snuba-replays-consumer" },
      "snuba-consumers caught up on ingest-replay-events",
      "snuba-replays-consumer",
    ],
    [
      "replays",
      { broken: "ingest-replay-recordings" },
      "ingest-replay-recordings caught up on ingest-replay-recordings",
      "ingest-replay-recordings",
    ],
    ["replays", { unassigned: "snuba-replays-consumer" }, "consumers assigned", "snuba-replays-consumer"],
    ["errors", { kafkaDown: true }, "consumers assigned", "kafka"],
    ["errors", { front: 502 }, "relay accepted", "relay"],
    ["errors", { front: "refused" }, "relay accepted", "nginx"],
  ];
  for (const [name, fakeOpts, hop, owner] of brokenCases) {
    it(`${name} with ${JSON.stringify(fakeOpts)}: broken at "${hop}", owned by ${owner}; the rest skipped`, async () => {
      const { result, events } = await run(name, new FakeSentry(fakeOpts), { timeoutMs: 300 });
      expect(result.ok).toBe(false);
      expect(result.broken).toMatchObject({ hop, status: "failed", owner });
      expect(result.broken?.diagnosis?.service).toBe(owner);
      expect(result.broken?.fix).toBeTruthy();
      const i = HOPS[name].indexOf(hop as never);
      expect(statuses(result)).toEqual([
        ...HOPS[name].slice(0, i).map((h) => `${h}: ok`),
        `${hop}: failed`,
        ...HOPS[name].slice(i + 1).map((h) => `${h}: skipped`),
      ]);
      const failed = events.find((e) => e.type === "hop" && e.status === "failed");
      expect(failed).toMatchObject({ owner, fix: result.broken?.fix });
    });
  }

  it("a group that stays behind says how far, and the fix names the consumer's log", async () => {
    const { result } = await run("errors", new FakeSentry({ broken: "snuba-consumer" }), { timeoutMs: 200 });
    expect(result.broken?.detail).toMatch(
      /^snuba-consumers at 40 on events\[0\], the item is before 41 \(lag 1\) \(still so after \d+ms\)$/,
    );
    expect(result.broken?.fix).toContain("`shctl logs snuba-consumer`");
  });

  it("relay's 502 and a refused connection have their own fixes", async () => {
    const bad = await run("errors", new FakeSentry({ front: 502 }));
    expect(bad.result.broken?.detail).toBe("nginx answered 502: relay does not answer behind it");
    expect(bad.result.broken?.fix).toContain("`shctl logs relay`");
    const refused = await run("errors", new FakeSentry({ front: "refused" }));
    expect(refused.result.broken?.detail).toBe(
      `POST /api/${FAKE_SETUP.project_id}/envelope/: nginx:80: connect ECONNREFUSED`,
    );
    expect(refused.result.broken?.fix).toContain("`shctl logs nginx`");
  });

  it("an item relay dropped after accepting it is explained by its outcome at once", async () => {
    const { result } = await run("replays", new FakeSentry({ dropOutcome: 3 }), { timeoutMs: 5000 });
    expect(result.broken).toMatchObject({
      hop: "ingest-replay-events: offset moved",
      owner: "relay",
      detail: "relay dropped it: invalid (invalid_replay)",
    });
    expect(result.ms).toBeLessThan(4000);
  });

  it("a service that is not running breaks the first hop, owned by it", async () => {
    const { result } = await run("errors", new FakeSentry(), {
      diagnose: async (service) => ({
        service,
        state: service === "worker" ? "restarting" : "running",
        health: undefined,
        restarts: service === "worker" ? 9 : 0,
        exitCode: service === "worker" ? 1 : undefined,
        startedAt: undefined,
        logTail: [],
      }),
    });
    expect(result.broken).toMatchObject({
      hop: "services running",
      owner: "worker",
      detail: "worker is restarting",
    });
    expect(result.broken?.diagnosis).toMatchObject({ state: "restarting", restarts: 9 });
  });

  it("relay's answer may name the id dashed", async () => {
    const { result } = await run("errors", new FakeSentry({ answerDashed: true }));
    expect(result.ok).toBe(true);
  });

  it("a stack that is not running at all says so", async () => {
    const { result } = await run("replays", new FakeSentry(), {
      diagnose: async (service) => ({
        service,
        state: "missing",
        health: undefined,
        restarts: 0,
        exitCode: undefined,
        startedAt: undefined,
        logTail: [],
      }),
    });
    expect(result.broken).toMatchObject({
      hop: "services running",
      owner: "nginx",
      detail: "none of its 8 services has a container: the stack is not running",
      fix: "`shctl apply` brings it up",
    });
  });

  it("no superuser: the set-up says how to make one", async () => {
    const { result } = await run("errors", new FakeSentry(), {
      exec: async () => ({
        exitCode: 0,
        output: 'SHCTL-VERIFY-SETUP {"error": "no-superuser", "created": []}\n',
      }),
    });
    expect(result.broken).toMatchObject({ hop: "set-up", owner: "web" });
    expect(result.broken?.fix).toContain("createuser --superuser");
  });

  it("every leg is a consumer of status's consumer table (service, group, topic)", () => {
    for (const t of [ERRORS, TRANSACTIONS, REPLAYS])
      for (const leg of Object.values(t.legs)) {
        const c = SENTRY_CONSUMERS.find((x) => x.service === leg.consumer);
        expect(c, leg.consumer).toBeDefined();
        expect([c?.group, c?.topics.includes(leg.topic)], leg.consumer).toEqual([leg.group, true]);
      }
  });

  it("the topology matches the stack's own consumer services (topic, group)", () => {
    const stack = sentryStack(opts, "/tmp/p");
    const command = (service: string) => {
      const c = stack.services?.[service]?.command;
      return Array.isArray(c) ? c.join(" ") : String(c ?? "");
    };
    for (const t of [ERRORS, TRANSACTIONS, REPLAYS]) {
      for (const s of t.services) expect(stack.services?.[s], s).toBeDefined();
      for (const leg of Object.values(t.legs)) {
        const cmd = command(leg.consumer);
        if (stack.services?.[leg.consumer]?.image === "snuba") {
          // snuba consumers without --consumer-group use the CLI's default, snuba-consumers.
          const group = /--consumer-group[ =](\S+)/.exec(cmd)?.[1] ?? "snuba-consumers";
          expect(group, leg.consumer).toBe(leg.group);
        } else {
          expect(cmd, leg.consumer).toContain(`consumer ${leg.topic} --consumer-group ${leg.group}`);
        }
      }
    }
  });
});
