import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { WarmExecs } from "./exec-pool.js";

describe("WarmExecs", () => {
  it("hands out execs started ahead of time and starts a replacement for each", async () => {
    const started: PassThrough[] = [];
    const pool = new WarmExecs(async () => {
      const s = new PassThrough();
      started.push(s);
      return s;
    }, 2);
    pool.fill();
    expect(started.length).toBe(2);
    const first = await pool.take();
    expect(first).toBe(started[0]);
    expect(started.length).toBe(3);
    expect(pool.waiting).toBe(2);
    expect(await pool.fresh()).toBe(started[3]);
    pool.close();
    await new Promise((r) => setImmediate(r));
    expect(started[1]?.destroyed).toBe(true);
    expect(started[2]?.destroyed).toBe(true);
    expect(first.destroyed).toBe(false);
    await expect(pool.take()).rejects.toThrow("closed");
  });

  it("drops execs that failed to start, so take() starts its own and reports its error", async () => {
    let n = 0;
    const pool = new WarmExecs(async () => {
      n++;
      throw new Error(`no such container (${n})`);
    }, 1);
    pool.fill();
    await new Promise((r) => setImmediate(r));
    expect(pool.waiting).toBe(0);
    await expect(pool.take()).rejects.toThrow("no such container (2)");
    pool.close();
  });

  it("replaces a waiting exec that ended while it waited", async () => {
    const started: PassThrough[] = [];
    const pool = new WarmExecs(async () => {
      const s = new PassThrough();
      started.push(s);
      return s;
    }, 1);
    pool.fill();
    await new Promise((r) => setImmediate(r));
    started[0]?.destroy();
    const got = await pool.take();
    expect(got).not.toBe(started[0]);
    expect(got.destroyed).toBe(false);
    pool.close();
  });

  it("with size 0 starts one per take", async () => {
    let n = 0;
    const pool = new WarmExecs(async () => {
      n++;
      return new PassThrough();
    }, 0);
    pool.fill();
    expect(n).toBe(0);
    await pool.take();
    expect(n).toBe(1);
  });
});
