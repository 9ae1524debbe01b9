import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import type { Diagnosis, VerifyEvent } from "./events.js";
import type { ResolvedStack } from "./model.js";
import type { CheckContext } from "./schema.js";
import { type CheckHarness, runCheck, selectChecks } from "./verify.js";

/** A harness without an engine: no connections, commands answer "ok", diagnoses are canned. */
function harness(extra: Partial<CheckHarness> = {}): CheckHarness & { events: VerifyEvent[] } {
  const events: VerifyEvent[] = [];
  return {
    stack: "demo",
    connections: () => ({
      connect: async () => {
        throw new Error("no connections in this test");
      },
      socket: () => {
        throw new Error("no connections in this test");
      },
      httpAgent: () => {
        throw new Error("no connections in this test");
      },
    }),
    exec: async () => ({ exitCode: 0, output: "ok" }),
    diagnose: async (service): Promise<Diagnosis> => ({
      service,
      state: "restarting",
      health: undefined,
      restarts: 4,
      exitCode: 1,
      startedAt: undefined,
      logTail: ["boot", "token=s3cr3t-token failed"],
    }),
    onEvent: (e) => events.push(e),
    events,
    ...extra,
  };
}

const hopEvents = (events: VerifyEvent[]) =>
  events.filter((e) => e.type === "hop").map((e) => (e.type === "hop" ? `${e.hop}:${e.status}` : ""));

describe("runCheck", () => {
  it("reports each hop as it starts and ends, with its time and detail; all ok passes", async () => {
    const h = harness();
    const r = await runCheck(
      {
        name: "pipe",
        hops: ["send", "arrive"],
        run: async (ctx) => {
          await ctx.hop("send", { owner: "front" }, async (hc) => {
            hc.detail("HTTP 200");
          });
          const v = await ctx.hop("arrive", { owner: "store" }, async () => 42);
          expect(v).toBe(42);
        },
      },
      h,
    );
    expect(r.ok).toBe(true);
    expect(r.broken).toBeUndefined();
    expect(r.hops.map((x) => [x.hop, x.status, x.owner, x.detail])).toEqual([
      ["send", "ok", "front", "HTTP 200"],
      ["arrive", "ok", "store", undefined],
    ]);
    expect(r.hops.every((x) => typeof x.ms === "number" && x.ms >= 0)).toBe(true);
    expect(h.events[0]).toMatchObject({
      type: "check",
      name: "pipe",
      phase: "running",
      hops: ["send", "arrive"],
    });
    expect(hopEvents(h.events)).toEqual(["send:running", "send:ok", "arrive:running", "arrive:ok"]);
    expect(h.events.at(-1)).toMatchObject({ type: "check", name: "pipe", phase: "passed" });
  });

  it("ends at the first broken hop: its owner's diagnosis and fix; the declared hops after it are skipped", async () => {
    const h = harness();
    let ranAfter = false;
    const r = await runCheck(
      {
        name: "pipe",
        hops: ["send", "queue", "store"],
        run: async (ctx) => {
          await ctx.hop("send", { owner: "front" }, async () => undefined);
          await ctx.hop("queue", { owner: "worker", fix: "restart the worker" }, async () => {
            throw new Error("lag 3");
          });
          ranAfter = true;
        },
      },
      h,
    );
    expect(ranAfter).toBe(false);
    expect(r.ok).toBe(false);
    expect(r.broken).toMatchObject({
      hop: "queue",
      status: "failed",
      detail: "lag 3",
      owner: "worker",
      fix: "restart the worker",
      diagnosis: { service: "worker", state: "restarting", restarts: 4 },
    });
    expect(r.hops.map((x) => `${x.hop}:${x.status}`)).toEqual(["send:ok", "queue:failed", "store:skipped"]);
    expect(r.hops[2]?.detail).toBe('after "queue" broke');
    expect(h.events.at(-1)).toMatchObject({ type: "check", phase: "failed" });
  });

  it("an error's hint is the fix; h.owner() names the owner found while running; secrets are redacted", async () => {
    const h = harness();
    const r = await runCheck(
      {
        name: "pipe",
        run: async (ctx) => {
          ctx.secret("s3cr3t-token");
          await ctx.hop("running", {}, async (hc) => {
            hc.owner("relay");
            throw Object.assign(new Error("401 with s3cr3t-token"), {
              hint: "re-create the key s3cr3t-token",
            });
          });
        },
      },
      h,
    );
    expect(r.broken?.owner).toBe("relay");
    expect(r.broken?.detail).toBe("401 with (sensitive)");
    expect(r.broken?.fix).toBe("re-create the key (sensitive)");
    expect(r.broken?.diagnosis?.logTail).toEqual(["boot", "token=(sensitive) failed"]);
    expect(JSON.stringify(h.events)).not.toContain("s3cr3t-token");
  });

  it("until() asks again until the answer is ok", async () => {
    let n = 0;
    const r = await runCheck(
      {
        name: "pipe",
        run: async (ctx) => {
          const v = await ctx.hop("poll", {}, () =>
            ctx.until(async () => (++n < 3 ? { ok: false, why: `lag ${3 - n}` } : { ok: true, value: n }), {
              intervalMs: 5,
            }),
          );
          expect(v).toBe(3);
        },
      },
      harness(),
    );
    expect(r.ok).toBe(true);
    expect(n).toBe(3);
  });

  it("a check that runs out of time fails at the hop it waited in, saying what it still waited for", async () => {
    const r = await runCheck(
      {
        name: "pipe",
        hops: ["poll", "after"],
        run: async (ctx) => {
          await ctx.hop("poll", { owner: "consumer" }, () =>
            ctx.until(async () => ({ ok: false, why: "lag 2 (committed 40, end 42)" }), { intervalMs: 10 }),
          );
        },
      },
      harness({ timeoutMs: 80 }),
    );
    expect(r.ok).toBe(false);
    expect(r.broken?.hop).toBe("poll");
    expect(r.broken?.detail).toMatch(/^lag 2 \(committed 40, end 42\) \(still so after \d+ms\)$/);
    expect(r.broken?.diagnosis?.service).toBe("consumer");
    expect(r.hops.find((x) => x.hop === "after")?.status).toBe("skipped");
  });

  it("an operation cut short by the timeout says so", async () => {
    const r = await runCheck(
      {
        name: "pipe",
        run: async (ctx) => {
          await ctx.hop(
            "slow",
            {},
            (hc) =>
              new Promise((_, reject) =>
                hc.signal.addEventListener("abort", () =>
                  reject(Object.assign(new Error("This operation was aborted"), { name: "AbortError" })),
                ),
              ),
          );
        },
      },
      harness({ timeoutMs: 50 }),
    );
    expect(r.broken?.detail).toBe("no answer before the check's timeout (50ms)");
  });

  it("interrupted: the running hop fails as interrupted, without diagnosis or fix", async () => {
    const stop = new AbortController();
    let diagnosed = false;
    const r = await runCheck(
      {
        name: "pipe",
        run: async (ctx) => {
          await ctx.hop("poll", { owner: "x", fix: "y" }, () => {
            setTimeout(() => stop.abort(), 20);
            return ctx.until(async () => ({ ok: false, why: "not yet" }), { intervalMs: 5 });
          });
        },
      },
      harness({
        signal: stop.signal,
        diagnose: async () => {
          diagnosed = true;
          throw new Error("no");
        },
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.broken).toMatchObject({ detail: "interrupted", fix: undefined, diagnosis: undefined });
    expect(diagnosed).toBe(false);
  });

  it("a failure outside any hop is reported as the check's own", async () => {
    const r = await runCheck(
      {
        name: "pipe",
        run: async () => {
          throw new Error("bad input");
        },
      },
      harness(),
    );
    expect(r.broken).toMatchObject({ hop: "(check)", detail: "bad input" });
  });

  it("once() shares work between the checks of a run; a diagnosis that fails says why", async () => {
    const shared = new Map<string, Promise<unknown>>();
    let runs = 0;
    const setUp = (ctx: CheckContext) =>
      ctx.once("set-up", async () => {
        runs++;
        return "project 7";
      });
    const check = (name: string) => ({
      name,
      run: async (ctx: CheckContext) => {
        expect(await ctx.hop("set-up", {}, () => setUp(ctx))).toBe("project 7");
        await ctx.hop("broken", { owner: "web" }, async () => {
          throw new Error("no");
        });
      },
    });
    const h = harness({
      shared,
      diagnose: async () => {
        throw new Error("engine gone");
      },
    });
    const [a, b] = await Promise.all([runCheck(check("a"), h), runCheck(check("b"), h)]);
    expect(runs).toBe(1);
    expect(a?.broken?.diagnosis).toMatchObject({ service: "web", state: "unknown", note: "engine gone" });
    expect(b?.broken?.hop).toBe("broken");
  });
});

describe("selectChecks", () => {
  const stack = (checks: string[]) =>
    ({
      name: "demo",
      checks: checks.map((name) => ({
        name,
        description: undefined,
        timeoutMs: 1000,
        hops: [],
        run: async () => {},
      })),
    }) as unknown as ResolvedStack;

  it("all checks, or the ones named, in the stack's order", () => {
    expect(selectChecks(stack(["a", "b", "c"]), undefined).map((c) => c.name)).toEqual(["a", "b", "c"]);
    expect(selectChecks(stack(["a", "b", "c"]), ["c", "a"]).map((c) => c.name)).toEqual(["a", "c"]);
  });

  it("a stack without checks, or an unknown name, is a usage error naming what there is", () => {
    expect(() => selectChecks(stack([]), undefined)).toThrow(UsageError);
    expect(() => selectChecks(stack(["a", "b"]), ["x"])).toThrow(/no check named "x"/);
    try {
      selectChecks(stack(["a", "b"]), ["x"]);
    } catch (err) {
      expect((err as UsageError).hint).toBe("its checks: a, b");
    }
  });
});

describe("a stack's checks", () => {
  it("resolve with their timeout in ms and hops; a name used twice or a missing run is a spec error", async () => {
    const { loadStack } = await import("./load.js");
    const run = async () => {};
    const stack = await loadStack(
      {
        name: "demo",
        checks: [
          { name: "a", run },
          { name: "b", timeout: "30s", hops: ["x", "y"], run },
        ],
      },
      { projectDir: "/tmp" },
    );
    expect(stack.checks.map((c) => [c.name, c.timeoutMs, c.hops])).toEqual([
      ["a", 180_000, []],
      ["b", 30_000, ["x", "y"]],
    ]);
    await expect(
      loadStack(
        {
          name: "demo",
          checks: [
            { name: "a", run },
            { name: "a", run },
          ],
        },
        { projectDir: "/tmp" },
      ),
    ).rejects.toThrow(/problem/);
    await expect(
      loadStack({ name: "demo", checks: [{ name: "a" }] } as never, { projectDir: "/tmp" }),
    ).rejects.toThrow(/problem/);
    expect((await loadStack({ name: "demo" }, { projectDir: "/tmp" })).checks).toEqual([]);
  });
});
