import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { LayerMessage } from "../engine/index.js";
import type { ProgressEvent, TransferProgress } from "../events.js";
import { observe } from "../observe.js";
import { plan } from "../plan/index.js";
import { FakeEngine } from "../testing/fake-engine.js";
import { validateStack } from "../validate.js";
import { execute } from "./index.js";
import { BuildTracker, ProgressThrottle, PullTracker } from "./transfer.js";

/*
 * A pull's and a build's figures: from the engine's messages (as Docker Engine 20.10 sent them
 * for a pull from a local registry) to throttled `progress` events.
 */

const base = "c731902bfa7e";
const big = "183e151c2314";
const small = "3bb003457820";
const m = (id: string, status: string, current?: number, total?: number): LayerMessage => ({
  id,
  status,
  ...(current !== undefined ? { current } : {}),
  ...(total !== undefined ? { total } : {}),
});

describe("a pull's figures", () => {
  it("counts layers done (pulled or present) and bytes downloaded, with the total once every size is known", () => {
    const t = new PullTracker();
    expect(t.seen).toBe(false);
    t.update(m(base, "Already exists"));
    t.update(m(big, "Pulling fs layer"));
    t.update(m(small, "Pulling fs layer"));
    expect(t.figures()).toEqual({ layers: { done: 1, total: 3 } });
    t.update(m(big, "Downloading", 36_412, 3_001_123));
    // The small layer's size is not known yet: no total.
    expect(t.figures()).toEqual({ layers: { done: 1, total: 3 }, bytes: { done: 36_412 } });
    t.update(m(small, "Downloading", 36_412, 1_000_492));
    expect(t.figures().bytes).toEqual({ done: 72_824, total: 4_001_615 });
    t.update(m(small, "Downloading", 1_000_492, 1_000_492));
    t.update(m(small, "Verifying Checksum"));
    t.update(m(small, "Download complete"));
    t.update(m(big, "Download complete"));
    // Extraction counts uncompressed bytes: not what was downloaded.
    t.update(m(big, "Extracting", 32_768, 3_001_123));
    expect(t.figures()).toEqual({
      layers: { done: 1, total: 3 },
      bytes: { done: 4_001_615, total: 4_001_615 },
    });
    t.update(m(big, "Pull complete"));
    t.update(m(small, "Extracting", 1_000_492, 1_000_492));
    t.update(m(small, "Pull complete"));
    expect(t.figures()).toEqual({
      layers: { done: 3, total: 3 },
      bytes: { done: 4_001_615, total: 4_001_615 },
    });
    expect(t.seen).toBe(true);
  });

  it("leaves out a layer downloaded before it reported a size, and gives no bytes when none did", () => {
    const t = new PullTracker();
    t.update(m(big, "Pulling fs layer"));
    t.update(m(small, "Pulling fs layer"));
    t.update(m(small, "Download complete"));
    expect(t.figures()).toEqual({ layers: { done: 0, total: 2 } });
    t.update(m(big, "Downloading", 100, 1000));
    // The small one is downloaded (its size no longer matters): the total is known.
    expect(t.figures().bytes).toEqual({ done: 100, total: 1000 });
    t.update(m(big, "Retrying in 5 seconds"));
    t.update(m(big, "Downloading", 50, 1000));
    expect(t.figures().bytes).toEqual({ done: 50, total: 1000 });
  });
});

describe("a build's figures", () => {
  it("keeps the current step and the last line the step printed, not the builder's own lines", () => {
    const b = new BuildTracker();
    b.update("Step 1/3 : FROM base");
    b.update(" ---> 141a2f625050");
    expect(b.figures()).toEqual({ step: "Step 1/3 : FROM base" });
    b.update("Step 2/3 : RUN make");
    b.update(" ---> Running in 7f3e2a");
    b.update("cc -o app app.c\n");
    b.update("   ");
    b.update("Removing intermediate container 7f3e2a");
    expect(b.figures()).toEqual({ step: "Step 2/3 : RUN make", line: "cc -o app app.c" });
    b.update("Step 3/3 : CMD app");
    expect(b.figures()).toEqual({ step: "Step 3/3 : CMD app" });
  });
});

describe("the throttle", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends the first figures an interval after the start, then at most one per interval, and the last on end", () => {
    vi.useFakeTimers();
    let now = 1000;
    const sent: ProgressEvent[] = [];
    const th = new ProgressThrottle(
      (e) => sent.push(e),
      "image app",
      "pull",
      900,
      250,
      () => now,
    );
    // The layers are named in a burst at first: nothing goes out yet.
    th.update({ layers: { done: 1, total: 1 } });
    now = 1010;
    th.update({ layers: { done: 1, total: 3 } });
    expect(sent).toEqual([]);
    now = 1250;
    vi.advanceTimersByTime(250);
    expect(sent).toEqual([
      {
        type: "progress",
        resource: "image app",
        what: "pull",
        layers: { done: 1, total: 3 },
        elapsedMs: 350,
      },
    ]);
    // An interval later, one goes out at once; those within the next interval wait for it.
    now = 1600;
    th.update({ layers: { done: 2, total: 3 }, bytes: { done: 5 } });
    expect(sent).toHaveLength(2);
    now = 1700;
    th.update({ layers: { done: 2, total: 3 }, bytes: { done: 7 } });
    expect(sent).toHaveLength(2);
    now = 1850;
    vi.advanceTimersByTime(150);
    expect(sent).toHaveLength(3);
    expect(sent[2]).toMatchObject({ bytes: { done: 7 }, elapsedMs: 950 });
    now = 1900;
    th.update({ layers: { done: 3, total: 3 }, bytes: { done: 9 } });
    th.end();
    expect(sent).toHaveLength(4);
    expect(sent[3]).toMatchObject({ layers: { done: 3, total: 3 }, bytes: { done: 9 } });
    th.update({ layers: { done: 9, total: 9 } });
    vi.advanceTimersByTime(1000);
    expect(sent).toHaveLength(4);
  });
});

describe("pull figures during an apply", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("turns layer messages into progress events and keeps the other lines as output", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "shctl-transfer-"));
    const engine = new FakeEngine();
    engine.pullLayers = () => [
      m(base, "Already exists"),
      m(big, "Pulling fs layer"),
      m(big, "Downloading", 10, 100),
      m(big, "Download complete"),
      m(big, "Pull complete"),
    ];
    const stack = validateStack(
      { name: "s", dataRoot: "data", services: { app: { image: "app:1" } } },
      { label: "t", projectDir: dir, profile: undefined, env: {} },
    );
    const events: ProgressEvent[] = [];
    const p = plan(stack, await observe(engine, stack));
    await execute(p, stack, engine, { onEvent: (e) => events.push(e), wait: false });
    const progress = events.filter((e): e is TransferProgress => e.type === "progress");
    // A pull this fast sends its figures once, when it ends: the final ones.
    expect(progress).toHaveLength(1);
    expect(progress[0]).toMatchObject({
      resource: "image app:1",
      what: "pull",
      layers: { done: 2, total: 2 },
      bytes: { done: 100, total: 100 },
    });
    const output = events.filter((e) => e.type === "output").map((e) => (e as { line: string }).line);
    expect(output).toEqual(["Pulling app:1"]);
    // The figures come before the image is done.
    const last = events.indexOf(progress.at(-1) as ProgressEvent);
    const done = events.findIndex(
      (e) => e.type === "phase" && e.resource === "image app:1" && e.phase === "done",
    );
    expect(last).toBeLessThan(done);
  });
});
