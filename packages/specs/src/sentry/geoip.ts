/*
 * An empty GeoLite2-City database. relay is configured with geoip_path and refuses to start when
 * the file cannot be opened, so a valid database with no networks stands in until geoipupdate
 * downloads the real one (only when config/geoip/GeoIP.conf exists). Every lookup misses.
 *
 * Format: MaxMind DB 2.0 (https://maxmind.github.io/MaxMind-DB/): a binary search tree, 16 zero
 * bytes, an (empty) data section, then the metadata marker and a metadata map.
 */

// Data-section type numbers.
const T_UTF8 = 2;
const T_UINT16 = 5;
const T_UINT32 = 6;
const T_MAP = 7;
const T_UINT64 = 9;
const T_ARRAY = 11;

const METADATA_MARKER = [0xab, 0xcd, 0xef, ...Buffer.from("MaxMind.com", "ascii")];

function control(type: number, size: number): number[] {
  const out: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 29 + 256) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 285 + 65536) {
    sizeBits = 30;
    extra.push(((size - 285) >> 8) & 0xff, (size - 285) & 0xff);
  } else throw new Error("field too large");
  // Types above 7 are "extended": type bits 0, and the type minus 7 in the next byte.
  if (type <= 7) out.push((type << 5) | sizeBits);
  else out.push(sizeBits, type - 7);
  return [...out, ...extra];
}

function str(s: string): number[] {
  const bytes = [...Buffer.from(s, "utf8")];
  return [...control(T_UTF8, bytes.length), ...bytes];
}

function uint(type: number, value: number | bigint): number[] {
  const bytes: number[] = [];
  let v = BigInt(value);
  while (v > 0n) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return [...control(type, bytes.length), ...bytes];
}

function map(entries: [string, number[]][]): number[] {
  return [...control(T_MAP, entries.length), ...entries.flatMap(([k, v]) => [...str(k), ...v])];
}

/**
 * The database bytes. `buildEpoch` (seconds) is fixed by default so the file is the same on
 * every render and never shows up as a change; readers reject 0.
 */
export function emptyGeoipDatabase(buildEpoch = 1_702_339_200): Uint8Array {
  // One node whose two records both equal node_count, the "no data here" value: the tree
  // answers every address, IPv4 or IPv6, with a miss.
  const nodeCount = 1;
  const recordSize = 24;
  const record = [(nodeCount >> 16) & 0xff, (nodeCount >> 8) & 0xff, nodeCount & 0xff];
  const tree = [...record, ...record];
  const separator = new Array<number>(16).fill(0);
  const metadata = map([
    ["binary_format_major_version", uint(T_UINT16, 2)],
    ["binary_format_minor_version", uint(T_UINT16, 0)],
    ["build_epoch", uint(T_UINT64, buildEpoch)],
    ["database_type", str("GeoLite2-City")],
    ["description", map([["en", str("Empty placeholder written by shctl")]])],
    ["ip_version", uint(T_UINT16, 6)],
    ["languages", [...control(T_ARRAY, 1), ...str("en")]],
    ["node_count", uint(T_UINT32, nodeCount)],
    ["record_size", uint(T_UINT16, recordSize)],
  ]);
  return Uint8Array.from([...tree, ...separator, ...METADATA_MARKER, ...metadata]);
}
