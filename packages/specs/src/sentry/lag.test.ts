import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KafkaConsumer, SENTRY_CONSUMERS } from "./consumers.js";
import { consumerLag, type LagAdmin, sampleLag } from "./lag.js";
import { sentryStackFactory } from "./stack.js";

/*
 * Consumer lag with a fake kafkajs admin: committed offsets against the topics' end offsets,
 * "no commits yet", stuck (lag grew, nothing committed) against falling behind (lag grew while
 * committing), a missing topic. The real broker hop is in test/sentry-doctor.test.ts.
 */

type Offsets = Record<string, number[]>; // topic → per-partition offsets; -1 = no commit

/** A fake admin whose offsets come from `states`, one per sample (the last repeats). */
function fakeAdmin(
  states: { ends: Offsets; commits: Record<string, Offsets> }[],
): LagAdmin & { calls: number } {
  let sample = 0;
  const current = () => states[Math.min(sample, states.length - 1)] as (typeof states)[number];
  const admin = {
    calls: 0,
    fetchTopicOffsets: async (topic: string) => {
      admin.calls++;
      const ends = current().ends[topic];
      if (!ends) throw new Error("This server does not host this topic-partition");
      return ends.map((high, partition) => ({
        partition,
        offset: String(high),
        high: String(high),
        low: "0",
      }));
    },
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics?: string[] }) => {
      admin.calls++;
      const result = (topics ?? []).map((topic) => ({
        topic,
        partitions: (current().ends[topic] ?? []).map((_, partition) => ({
          partition,
          offset: String(current().commits[groupId]?.[topic]?.[partition] ?? -1),
          metadata: null,
        })),
      }));
      // The next sample starts once every group of this one was read.
      if (groupId === "last-group") sample++;
      return result;
    },
  };
  return admin as unknown as LagAdmin & { calls: number };
}

const consumers: KafkaConsumer[] = [
  { service: "a", group: "g", topics: ["t1"] },
  { service: "b", group: "g", topics: ["t2"] },
  { service: "c", group: "last-group", topics: ["t3"] },
];

describe("sampleLag", () => {
  it("sums end − committed over partitions, per (group, topic); null lag when nothing was committed", async () => {
    const admin = fakeAdmin([
      {
        ends: { t1: [10, 5], t2: [7], t3: [3] },
        commits: { g: { t1: [4, 5], t2: [-1] }, "last-group": { t3: [-1] } },
      },
    ]);
    const s = await sampleLag(admin, consumers);
    expect(s.get("g\u0000t1")).toMatchObject({
      partitions: 2,
      committed: 9,
      end: 15,
      lag: 6,
      uncommitted: 0,
    });
    expect(s.get("g\u0000t2")).toMatchObject({ committed: null, end: 7, lag: null, uncommitted: 1 });
  });

  it("says which topic could not be read", async () => {
    const admin = fakeAdmin([{ ends: { t1: [1], t3: [0] }, commits: {} }]);
    const s = await sampleLag(admin, consumers);
    expect(s.get("g\u0000t2")?.error).toMatch(/^t2: This server does not host/);
  });
});

describe("consumerLag", () => {
  const running = { a: { state: "running" }, b: { state: "running" }, c: { state: "running" } };

  it("shows the lag, 'no commits yet', and marks a running consumer stuck when its lag grew and it committed nothing", async () => {
    const admin = fakeAdmin([
      {
        ends: { t1: [10], t2: [5], t3: [3] },
        commits: { g: { t1: [10], t2: [-1] }, "last-group": { t3: [1] } },
      },
      // a: caught up, still 0. c: 2 more messages, no commit: stuck.
      {
        ends: { t1: [12], t2: [6], t3: [5] },
        commits: { g: { t1: [12], t2: [-1] }, "last-group": { t3: [1] } },
      },
    ]);
    const out = await consumerLag(admin, consumers, running, { intervalMs: 10 });
    expect(out.a?.lag).toMatchObject({ text: "0", state: "ok" });
    expect(out.b?.lag.text).toBe("no commits yet");
    expect(out.b?.lag.state).toBeUndefined();
    expect(out.c?.lag).toMatchObject({
      text: "4 stuck",
      state: "failure",
      detail:
        "lag grew from 2 to 4 in 0.0s while group last-group committed nothing on t3: see `shctl logs c`",
    });
    expect(out.c?.lag.data).toMatchObject({ lag: 4, previousLag: 2, stuck: true, committedMoved: false });
  });

  it("a consumer that commits while its lag grows is falling behind, not stuck; one that is not running is never stuck", async () => {
    const states = [
      {
        ends: { t1: [10], t2: [5], t3: [10] },
        commits: { g: { t1: [8], t2: [5] }, "last-group": { t3: [5] } },
      },
      {
        ends: { t1: [20], t2: [9], t3: [20] },
        commits: { g: { t1: [9], t2: [5] }, "last-group": { t3: [6] } },
      },
    ];
    const out = await consumerLag(
      fakeAdmin(states),
      consumers,
      { ...running, b: { state: "exited" } },
      { intervalMs: 1 },
    );
    expect(out.a?.lag).toMatchObject({ text: "11 rising", state: "warning" });
    // b is not running: its lag grew and nothing was committed, but it is shown as a figure only.
    expect(out.b?.lag.text).toBe("4");
    expect(out.b?.lag.state).toBeUndefined();
    expect(out.c?.lag.text).toBe("14 rising");
  });

  it("a missing topic is a failure that says so", async () => {
    const admin = fakeAdmin([{ ends: { t1: [1], t3: [0] }, commits: {} }]);
    const out = await consumerLag(admin, consumers, running, { intervalMs: 1 });
    expect(out.b?.lag).toMatchObject({ text: "?", state: "failure" });
    expect(out.b?.lag.detail).toMatch(/^t2: /);
  });
});

describe("the consumer table", () => {
  let projectDir: string;
  beforeAll(async () => {
    projectDir = await mkdtemp(path.join(tmpdir(), "shctl-sentry-lag-"));
  });
  afterAll(async () => {
    await rm(projectDir, { recursive: true, force: true });
  });

  it("names every consumer service of the full stack once, with the group its command gives", async () => {
    const stack = await loadStack(sentryStackFactory, { projectDir, env: {}, profile: "full" });
    const names = SENTRY_CONSUMERS.map((c) => c.service);
    expect(new Set(names).size).toBe(names.length);
    for (const c of SENTRY_CONSUMERS) {
      const svc = stack.services[c.service];
      expect(svc, c.service).toBeDefined();
      const cmd = (svc?.command ?? []).join(" ");
      // The group on the command line, where it is given (snuba's defaults are not).
      const given = cmd.match(/--consumer-group[ =](\S+)/)?.[1];
      if (given) expect(given, c.service).toBe(c.group);
      else expect(["snuba-consumers", "snuba-replacers"], c.service).toContain(c.group);
    }
    // Every service that consumes is in the table: sentry `run consumer`, snuba consumer/replacer/scheduler.
    const consuming = Object.values(stack.services)
      .filter((s) =>
        /(^| )(consumer|replacer|subscriptions-scheduler-executor)( |$)/.test((s.command ?? []).join(" ")),
      )
      .map((s) => s.name)
      .sort();
    expect(consuming).toEqual([...names].sort());
  });

  it("reads topics Sentry creates", async () => {
    const { SENTRY_TOPIC_NAMES } = await import("./topics.js");
    for (const c of SENTRY_CONSUMERS)
      for (const t of c.topics) expect(SENTRY_TOPIC_NAMES, c.service).toContain(t);
  });
});
