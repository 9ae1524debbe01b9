import { describe, expect, it } from "vitest";
import { formatBytes } from "./bytes.js";

describe("formatBytes", () => {
  it("decimal units as the engine writes them", () => {
    expect(formatBytes(950)).toBe("950 B");
    expect(formatBytes(12_345)).toBe("12.3 kB");
    expect(formatBytes(45_100_000)).toBe("45.1 MB");
    expect(formatBytes(1_240_000_000)).toBe("1.24 GB");
  });

  it("binary units for memory and file systems", () => {
    expect(formatBytes(512 * 1024 ** 2, "binary")).toBe("512 MiB");
    expect(formatBytes(15.6 * 1024 ** 3, "binary")).toBe("15.6 GiB");
    expect(formatBytes(2048, "binary")).toBe("2 KiB");
  });

  it("says it does not know rather than print nonsense", () => {
    expect(formatBytes(Number.NaN)).toBe("?");
    expect(formatBytes(-1, "binary")).toBe("?");
  });
});
