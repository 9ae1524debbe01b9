import { describe, expect, it } from "vitest";
import { INSTALL_TOPICS, SENTRY_TOPIC_NAMES, SENTRY_TOPICS, SNUBA_TOPICS } from "./topics.js";

describe("SENTRY_TOPICS", () => {
  it("lists 55 unique topics: snuba's 47 and the installer's 8", () => {
    expect(SENTRY_TOPICS).toHaveLength(55);
    expect(SNUBA_TOPICS).toHaveLength(47);
    expect(INSTALL_TOPICS).toHaveLength(8);
    expect(new Set(SENTRY_TOPIC_NAMES).size).toBe(55);
  });

  it("has the topics the errors, transactions and replays pipelines run on", () => {
    for (const t of [
      "ingest-events",
      "events",
      "snuba-commit-log",
      "ingest-transactions",
      "transactions",
      "snuba-transactions-commit-log",
      "ingest-replay-recordings",
      "ingest-replay-events",
      "ingest-occurrences",
      "generic-events",
      "snuba-generic-events-commit-log",
      "ingest-attachments",
      "outcomes",
      "event-replacements",
      "ingest-performance-metrics",
      "snuba-generic-metrics",
    ]) {
      expect(SENTRY_TOPIC_NAMES, t).toContain(t);
    }
  });

  it("carries snuba's per-topic configs", () => {
    const byName = new Map(SENTRY_TOPICS.map((t) => [t.name, t.config]));
    expect(byName.get("ingest-replay-events")).toEqual({
      "message.timestamp.type": "LogAppendTime",
      "max.message.bytes": "15000000",
    });
    expect(byName.get("snuba-queries")).toEqual({ "max.message.bytes": "2000000" });
    expect(byName.get("events")).toEqual({ "message.timestamp.type": "LogAppendTime" });
    const commitLogs = SENTRY_TOPICS.filter((t) => t.name.endsWith("commit-log"));
    expect(commitLogs).toHaveLength(8);
    for (const t of commitLogs) {
      expect(t.config, t.name).toEqual({
        "cleanup.policy": "compact,delete",
        "min.compaction.lag.ms": "3600000",
      });
    }
    for (const t of INSTALL_TOPICS) expect(t.config).toEqual({});
  });

  it("uses only valid Kafka topic names", () => {
    for (const n of SENTRY_TOPIC_NAMES) expect(n).toMatch(/^[a-zA-Z0-9._-]{1,249}$/);
  });
});
