/** Whether a host IP means every address: 0.0.0.0, :: (or empty, as the engine may report it). */
export function anyAddress(ip: string): boolean {
  return ip === "0.0.0.0" || ip === "::" || ip === "";
}

/** Whether two host IPs name the same binding: equal, or both every address (0.0.0.0 and :: alike). */
export function sameAddress(a: string, b: string): boolean {
  return a === b || (anyAddress(a) && anyAddress(b));
}

/** Whether two host IPs can clash on one port: the same address, or either is every address. */
export function addressesOverlap(a: string, b: string): boolean {
  return a === b || anyAddress(a) || anyAddress(b);
}
