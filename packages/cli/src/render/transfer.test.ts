import type { TransferProgress } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import { JsonProgress, LiveProgress, PlainProgress } from "./progress.js";
import { formatBytePair, formatEta, RateMeter, transferSummary, transferText } from "./transfer.js";

const plain = createColors(false);

function sink() {
  const chunks: string[] = [];
  return { chunks, write: (s: string) => chunks.push(s), text: () => chunks.join("") };
}

const pull = (
  done: number,
  total: number,
  bytes: { done: number; total?: number } | undefined,
  elapsedMs: number,
): TransferProgress => ({
  type: "progress",
  resource: "image x",
  what: "pull",
  layers: { done, total },
  ...(bytes ? { bytes } : {}),
  elapsedMs,
});

describe("transfer figures as text", () => {
  it("writes a pair of sizes in the total's unit", () => {
    expect(formatBytePair(45_100_000, 120_300_000)).toBe("45.1/120.3 MB");
    expect(formatBytePair(200_000_000, 1_500_000_000)).toBe("0.20/1.50 GB");
    expect(formatBytePair(5, 900)).toBe("5/900 B");
  });

  it("measures the rate over the last seconds, and lets it fall while nothing arrives", () => {
    const m = new RateMeter(5000);
    m.add(0, 0);
    expect(m.rate(500)).toBeUndefined();
    m.add(1000, 10_000_000);
    expect(m.rate(1000)).toBe(10_000_000);
    m.add(2000, 20_000_000);
    expect(m.rate(2000)).toBe(10_000_000);
    // Nothing for two seconds: the same bytes over a longer time.
    expect(m.rate(4000)).toBe(5_000_000);
    // Old samples leave the window: the rate is that of the last seconds.
    for (let t = 3000; t <= 10_000; t += 1000) m.add(t, 20_000_000 + (t - 2000) * 1000);
    expect(m.rate(10_000)).toBe(1_000_000);
    // Fewer bytes: another transfer began; measured afresh.
    m.add(11_000, 0);
    expect(m.rate(11_500)).toBeUndefined();
  });

  it("gives the time left only with a rate and a total", () => {
    expect(formatEta(60_000_000, 10_000_000)).toBe("~6s");
    expect(formatEta(1_250_000_000, 10_000_000)).toBe("~2m05s");
    expect(formatEta(100, undefined)).toBeUndefined();
    expect(formatEta(100, 0)).toBeUndefined();
    expect(formatEta(0, 5)).toBe("~1s");
  });

  it("shows a pull's layers, bytes, rate and time left, as much as is known", () => {
    expect(transferText(pull(3, 7, { done: 45_100_000, total: 120_300_000 }, 4000), 12_300_000)).toBe(
      "3/7 layers  45.1/120.3 MB  12.3 MB/s  ~6s",
    );
    expect(transferText(pull(3, 7, { done: 45_100_000 }, 4000), 12_300_000)).toBe(
      "3/7 layers  45.1 MB  12.3 MB/s",
    );
    expect(transferText(pull(1, 7, { done: 45_100_000, total: 120_300_000 }, 400), undefined)).toBe(
      "1/7 layers  45.1/120.3 MB",
    );
    expect(transferText(pull(0, 3, undefined, 10), undefined)).toBe("0/3 layers");
    // Everything downloaded: the layers are being unpacked; no rate or time left to give.
    expect(transferText(pull(1, 2, { done: 30_000_000, total: 30_000_000 }, 900), 1_000_000)).toBe(
      "1/2 layers  30.0 MB  extracting",
    );
    const load: TransferProgress = {
      type: "progress",
      resource: "bundle b.tar",
      what: "load",
      bytes: { done: 5_000_000, total: 5_000_000 },
      elapsedMs: 900,
    };
    expect(transferText(load, 1_000_000)).toBe("5.0 MB");
    expect(transferText({ ...load, bytes: { done: 1_000_000, total: 5_000_000 } }, 1_000_000)).toBe(
      "1.0/5.0 MB  1.0 MB/s  ~4s",
    );
  });

  it("shows a build's step and last line", () => {
    const b = (step?: string, line?: string): TransferProgress => ({
      type: "progress",
      resource: "image app",
      what: "build",
      ...(step ? { step } : {}),
      ...(line ? { line } : {}),
      elapsedMs: 1,
    });
    expect(transferText(b("Step 2/3 : RUN make", "\u001b[91mcc -o app app.c"), undefined)).toBe(
      "Step 2/3 : RUN make · cc -o app app.c",
    );
    expect(transferText(b("Step 1/3 : FROM base"), undefined)).toBe("Step 1/3 : FROM base");
    expect(transferSummary(b("Step 3/3 : CMD x"))).toBeUndefined();
  });

  it("sums a finished pull up with its average rate", () => {
    expect(transferSummary(pull(7, 7, { done: 120_300_000, total: 120_300_000 }, 4200))).toBe(
      "7 layers, 120.3 MB, 28.6 MB/s",
    );
    expect(transferSummary(pull(1, 1, undefined, 300))).toBe("1 layer");
    expect(transferSummary(pull(2, 2, { done: 2000, total: 2000 }, 300))).toBe("2 layers, 2.0 kB");
  });
});

describe("a pull in the live view", () => {
  it("shows its figures on its line, then sums them up on its done line", () => {
    const out = sink();
    let now = 0;
    const live = new LiveProgress(
      Object.assign(out, { columns: 120, rows: 24 }),
      plain,
      "applying",
      () => now,
    );
    live.event({ type: "phase", resource: "image x", phase: "pulling", message: "reg/x:1" });
    live.event(pull(1, 7, { done: 10_000_000 }, 0));
    now = 1000;
    live.event(pull(2, 7, { done: 22_300_000, total: 120_300_000 }, 1000));
    now = 2000;
    live.event(pull(3, 7, { done: 34_600_000, total: 120_300_000 }, 2000));
    // No events for a second: still measured up to now.
    now = 3000;
    const [line] = live.frameText().split("\n");
    expect(line).toBe(
      "  ⠋ image x  pulling      3.0s  [#####-----------]  28%  3/7 layers  34.6/120.3 MB  8.2 MB/s  ~10s",
    );
    live.event(pull(7, 7, { done: 120_300_000, total: 120_300_000 }, 4200));
    live.event({ type: "phase", resource: "image x", phase: "done", message: "pulled", elapsedMs: 4300 });
    live.stop();
    expect(out.text()).toContain("  ✔ image x  done         4.3s  pulled 7 layers, 120.3 MB, 28.6 MB/s\n");
  });

  it("shows a build's step and its last line", () => {
    const out = sink();
    const live = new LiveProgress(Object.assign(out, { columns: 120, rows: 24 }), plain, "applying", () => 0);
    live.event({ type: "phase", resource: "image app", phase: "building", message: "app:dev" });
    live.event({ type: "output", resource: "image app", line: "cc -o app app.c" });
    live.event({
      type: "progress",
      resource: "image app",
      what: "build",
      step: "Step 2/3 : RUN make",
      line: "cc -o app app.c",
      elapsedMs: 5,
    });
    expect(live.frameText().split("\n")[0]).toBe(
      "  ⠋ image app  building      0ms  Step 2/3 : RUN make · cc -o app app.c",
    );
  });
});

describe("a pull in plain output", () => {
  it("prints its figures every few seconds and at its end, not for every event", () => {
    const out = sink();
    let now = Date.parse("2026-11-24T19:00:00Z");
    const t0 = now;
    const p = new PlainProgress(out, plain, () => new Date(now));
    p.event({ type: "phase", resource: "image x", phase: "pulling", message: "reg/x:1" });
    // Four events a second for twelve seconds, 10 MB/s.
    for (let ms = 0; ms <= 12_000; ms += 250) {
      now = t0 + ms;
      p.event(pull(Math.floor(ms / 2000), 7, { done: ms * 10_000, total: 120_000_000 }, ms));
    }
    p.event({ type: "output", resource: "image x", line: "Digest: sha256:abc" });
    p.event({ type: "phase", resource: "image x", phase: "done", message: "pulled", elapsedMs: 12_100 });
    expect(out.text().trimEnd().split("\n")).toEqual([
      "2026-11-24T19:00:00Z image x: pulling — reg/x:1",
      "2026-11-24T19:00:05Z image x: pulling — 2/7 layers  50.0/120.0 MB  10.0 MB/s  ~7s",
      "2026-11-24T19:00:10Z image x: pulling — 5/7 layers  100.0/120.0 MB  10.0 MB/s  ~2s",
      "2026-11-24T19:00:12Z image x | Digest: sha256:abc",
      "2026-11-24T19:00:12Z image x: done — pulled 7 layers, 120.0 MB, 10.0 MB/s (12.1s)",
    ]);
  });

  it("leaves a build's figures to its output lines", () => {
    const out = sink();
    const p = new PlainProgress(out, plain, () => new Date(0));
    p.event({
      type: "progress",
      resource: "image app",
      what: "build",
      step: "Step 1/1 : FROM x",
      elapsedMs: 9000,
    });
    expect(out.text()).toBe("");
  });
});

describe("progress in JSON", () => {
  it("passes the figures on as they come", () => {
    const out = sink();
    const e = pull(3, 7, { done: 45, total: 120 }, 4000);
    new JsonProgress(out).event(e);
    expect(JSON.parse(out.text())).toEqual(e);
  });
});
