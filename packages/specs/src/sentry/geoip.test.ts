import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { emptyGeoipDatabase } from "./geoip.js";

const MARKER = Buffer.concat([Buffer.from([0xab, 0xcd, 0xef]), Buffer.from("MaxMind.com")]);

describe("emptyGeoipDatabase", () => {
  it("is one node pointing nowhere, a separator, then the metadata", () => {
    const db = Buffer.from(emptyGeoipDatabase());
    // node_count = 1 with 24-bit records: both records hold 1, the "no data" value.
    expect([...db.subarray(0, 6)]).toEqual([0, 0, 1, 0, 0, 1]);
    expect([...db.subarray(6, 22)]).toEqual(new Array(16).fill(0));
    expect(db.indexOf(MARKER)).toBe(22);
    for (const key of [
      "node_count",
      "record_size",
      "ip_version",
      "database_type",
      "GeoLite2-City",
      "build_epoch",
    ]) {
      expect(db.includes(Buffer.from(key)), key).toBe(true);
    }
  });

  it("is the same bytes on every call", () => {
    expect(Buffer.from(emptyGeoipDatabase()).equals(Buffer.from(emptyGeoipDatabase()))).toBe(true);
  });

  const hasMmdblookup = spawnSync("sh", ["-c", "command -v mmdblookup"]).status === 0;
  it.skipIf(!hasMmdblookup)("opens with libmaxminddb and misses every address", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "shctl-geoip-")), "GeoLite2-City.mmdb");
    writeFileSync(file, emptyGeoipDatabase());
    for (const ip of ["1.2.3.4", "213.47.147.207", "2001:db8::1"]) {
      const r = spawnSync("mmdblookup", ["--file", file, "--ip", ip], { encoding: "utf8" });
      expect(`${r.stdout}${r.stderr}`, ip).toContain("Could not find an entry");
    }
  });
});
