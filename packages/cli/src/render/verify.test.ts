import type { CheckResult, VerifyEvent } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors, stripAnsi } from "./colors.js";
import {
  formatPlainVerifyEvent,
  LiveVerify,
  PlainVerify,
  renderBroken,
  renderCheckTable,
  renderVerifySummary,
} from "./verify.js";

const plain = createColors(false);
const at = new Date("2026-11-24T19:00:00.123Z");

const ok = (hop: string, ms: number, detail?: string, owner?: string) => ({
  hop,
  status: "ok" as const,
  ms,
  detail,
  owner,
  fix: undefined,
  diagnosis: undefined,
});

const broken = {
  hop: "snuba-consumers caught up on events",
  status: "failed" as const,
  ms: 180_000,
  detail: "snuba-consumers at 40 on events[0], the item is before 41 (lag 1) (still so after 2m58s)",
  owner: "snuba-consumer",
  fix: "`shctl logs snuba-consumer`",
  diagnosis: {
    service: "snuba-consumer",
    state: "restarting",
    health: undefined,
    restarts: 7,
    exitCode: 1,
    startedAt: undefined,
    logTail: ["Traceback (most recent call last):", "\u001b[31mKafkaError: OFFSET_OUT_OF_RANGE\u001b[0m"],
  },
};

const errors: CheckResult = {
  name: "errors",
  description: "an error event",
  ok: false,
  ms: 181_000,
  hops: [
    ok("relay accepted", 120, "HTTP 200, id abc", "relay"),
    broken,
    {
      hop: "web API: event",
      status: "skipped",
      ms: undefined,
      detail: 'after "snuba-consumers caught up on events" broke',
      owner: undefined,
      fix: undefined,
      diagnosis: undefined,
    },
  ],
  broken,
};

const replays: CheckResult = {
  name: "replays",
  description: undefined,
  ok: true,
  ms: 9_400,
  hops: [ok("relay accepted", 80, "HTTP 200", "relay"), ok("web API: replay", 2_100, "GET …: 200", "web")],
  broken: undefined,
};

describe("plain verify lines", () => {
  it("a finished hop with its time, detail and (when failed) owner; a started hop prints nothing", () => {
    expect(
      formatPlainVerifyEvent(
        { type: "hop", check: "errors", hop: "relay accepted", status: "ok", ms: 120, detail: "HTTP 200" },
        at,
        plain,
      ),
    ).toBe("2026-11-24T19:00:00Z errors › relay accepted: ok (120ms) — HTTP 200");
    expect(
      formatPlainVerifyEvent(
        {
          type: "hop",
          check: "errors",
          hop: "x",
          status: "failed",
          ms: 3000,
          detail: "lag 1",
          owner: "snuba-consumer",
        },
        at,
        plain,
      ),
    ).toBe("2026-11-24T19:00:00Z errors › x: failed (3.0s) — lag 1 [owner: snuba-consumer]");
    expect(
      formatPlainVerifyEvent({ type: "hop", check: "errors", hop: "x", status: "running" }, at, plain),
    ).toBeUndefined();
    expect(
      formatPlainVerifyEvent({ type: "check", name: "errors", phase: "passed", ms: 9400 }, at, plain),
    ).toBe("2026-11-24T19:00:00Z errors: passed (9.4s)");
  });

  it("PlainVerify writes one line per finished hop and check", () => {
    const lines: string[] = [];
    const v = new PlainVerify({ write: (s: string) => lines.push(s) }, plain, () => at);
    v.event({ type: "check", name: "errors", phase: "running", hops: ["a"] });
    v.event({ type: "hop", check: "errors", hop: "a", status: "running" });
    v.event({ type: "hop", check: "errors", hop: "a", status: "ok", ms: 5 });
    v.event({ type: "check", name: "errors", phase: "passed", ms: 6 });
    expect(lines.join("")).toBe(
      [
        "2026-11-24T19:00:00Z errors: started",
        "2026-11-24T19:00:00Z errors › a: ok (5ms)",
        "2026-11-24T19:00:00Z errors: passed (6ms)",
        "",
      ].join("\n"),
    );
  });
});

describe("the live verify view", () => {
  it("prints each finished hop once above, and redraws one line per running check with the hop it waits in", () => {
    let t = 0;
    const out: string[] = [];
    const v = new LiveVerify({ write: (s: string) => out.push(s), columns: 120, rows: 30 }, plain, () => t);
    const events: VerifyEvent[] = [
      { type: "check", name: "errors", phase: "running", hops: ["relay accepted", "web API: event"] },
      { type: "hop", check: "errors", hop: "relay accepted", status: "running" },
    ];
    for (const e of events) v.event(e);
    t = 1500;
    const first = v.frameText();
    expect(first).toContain("errors 0/2  relay accepted  1.5s");
    v.event({
      type: "hop",
      check: "errors",
      hop: "relay accepted",
      status: "ok",
      ms: 1500,
      detail: "HTTP 200",
    });
    v.event({ type: "hop", check: "errors", hop: "web API: event", status: "running" });
    t = 2000;
    const second = v.frameText();
    // The area is erased and the finished hop printed above it, then the area again.
    expect(second.startsWith("\u001b[2A\r\u001b[J")).toBe(true);
    expect(second).toMatch(/✔ errors › relay accepted\s+1\.5s {2}HTTP 200\n/);
    expect(second).toContain("errors 1/2  web API: event  500ms");
    v.event({ type: "check", name: "errors", phase: "passed", ms: 2100 });
    v.stop();
    expect(out.join("")).toContain("✔ errors passed in 2.1s");
  });
});

describe("the summary", () => {
  it("a table per check: hop, owner, status, time, detail", () => {
    const table = stripAnsi(renderCheckTable(errors, plain)).split("\n");
    expect(table[0]).toBe("errors failed in 3m01s — an error event");
    expect(table[1]).toMatch(/^ {2}HOP\s+OWNER\s+STATUS\s+TIME\s+DETAIL$/);
    expect(table[2]).toMatch(/^ {2}relay accepted\s+relay\s+ok\s+120ms\s+HTTP 200, id abc$/);
    expect(table[3]).toMatch(
      /^ {2}snuba-consumers caught up on events\s+snuba-consumer\s+failed\s+3m00s\s+snuba-consumers at 40/,
    );
    expect(table[4]).toMatch(
      /^ {2}web API: event\s+-\s+skipped\s+-\s+after "snuba-consumers caught up on events" broke$/,
    );
    // Columns line up.
    expect(table[2]?.indexOf("ok")).toBe(table[1]?.indexOf("STATUS"));
  });

  it("the broken hop: owner, its state, restarts and last log lines (without colour codes), and the fix", () => {
    expect(renderBroken("errors", broken, plain)).toBe(
      [
        'errors: broken at "snuba-consumers caught up on events", owned by snuba-consumer',
        "  what: snuba-consumers at 40 on events[0], the item is before 41 (lag 1) (still so after 2m58s)",
        "  snuba-consumer: state restarting, 7 restarts, exit code 1",
        "  last log lines of snuba-consumer:",
        "    | Traceback (most recent call last):",
        "    | KafkaError: OFFSET_OUT_OF_RANGE",
        "  likely fix: `shctl logs snuba-consumer`",
      ].join("\n"),
    );
  });

  it("totals: all passed, some failed, or interrupted", () => {
    expect(renderVerifySummary([replays], plain).split("\n").at(-1)).toBe("All 1 check passed.");
    const both = renderVerifySummary([errors, replays], plain);
    expect(both.split("\n").at(-1)).toBe("1 of 2 checks failed.");
    expect(both).toContain('errors: broken at "snuba-consumers caught up on events"');
    expect(renderVerifySummary([replays], plain, { interrupted: true }).split("\n").at(-1)).toBe(
      "Interrupted: 1 of 1 check passed before it.",
    );
  });
});
