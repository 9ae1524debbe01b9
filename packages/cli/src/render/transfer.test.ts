import { describe, expect, it } from "vitest";
import { bar, formatBytes, formatRate, RateMeter, transferLine } from "./transfer.js";

describe("transfer rendering", () => {
  it("sizes in decimal units with three significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(12_345)).toBe("12.3 kB");
    expect(formatBytes(3_400_000)).toBe("3.40 MB");
    expect(formatBytes(1_250_000_000)).toBe("1.25 GB");
    expect(formatBytes(456_000_000_000)).toBe("456 GB");
    expect(formatRate(85_000_000)).toBe("85.0 MB/s");
    expect(formatRate(undefined)).toBe("–");
  });

  it("a bar clamps its fraction", () => {
    expect(bar(0, 10)).toBe("[----------]");
    expect(bar(0.5, 10)).toBe("[#####-----]");
    expect(bar(1.7, 4)).toBe("[####]");
    expect(bar(Number.NaN, 4)).toBe("[----]");
  });

  it("the rate covers the last seconds, and starts over with a new transfer", () => {
    const m = new RateMeter(3000);
    m.add(0, 0);
    expect(m.rate()).toBeUndefined();
    m.add(10_000_000, 1000);
    expect(m.rate()).toBe(10_000_000);
    m.add(20_000_000, 2000);
    m.add(80_000_000, 6000); // faster lately: the window forgets the first seconds
    expect(m.rate()).toBe(15_000_000);
    m.add(1000, 6100);
    expect(m.rate()).toBeUndefined();
  });

  it("one line with a bar when the total is known, bytes and files otherwise", () => {
    const t = { bytes: 1_200_000_000, total: 2_700_000_000, files: 10 };
    expect(transferLine(t, 85_000_000)).toBe("[###########-------------]  44%  1.20 GB / 2.70 GB  85.0 MB/s");
    // In the width given: the bar shrinks, then goes.
    expect(transferLine(t, 85_000_000, 47)).toBe("[####------]  44%  1.20 GB / 2.70 GB  85.0 MB/s");
    expect(transferLine(t, 85_000_000, 40)).toBe("44%  1.20 GB / 2.70 GB  85.0 MB/s");
    // More than estimated (the data grew since it was measured): full, never past 100%.
    expect(transferLine({ bytes: 3_000, total: 2_000, files: 1 }, undefined, 39)).toBe(
      "[##########] 100%  3.00 kB / 3.00 kB  –",
    );
    expect(transferLine({ bytes: 5_000_000, total: undefined, files: 1234 }, 1_000_000)).toBe(
      "5.00 MB  1.00 MB/s  1234 files",
    );
  });
});
