/** Edit distance (insert, delete, substitute, swap two neighbours), for "did you mean" hints. */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

/**
 * The names close to what was typed, closest first: within a third of its length (at least one
 * edit), or starting with it. Empty when nothing is close.
 */
export function closest(typed: string, names: readonly string[]): string[] {
  const max = Math.max(1, Math.floor(typed.length / 3));
  return names
    .map((n) => ({ n, d: distance(typed.toLowerCase(), n.toLowerCase()) }))
    .filter(({ n, d }) => d <= max || (typed.length >= 2 && n.startsWith(typed)))
    .sort((x, y) => x.d - y.d || x.n.localeCompare(y.n))
    .map(({ n }) => n);
}

/** "did you mean web?" / "the stack has: a, b, c" — the hint for a name that does not exist. */
export function unknownNameHint(typed: string, names: readonly string[], what: string): string {
  const near = closest(typed, names);
  if (near.length > 0) return `did you mean ${near.slice(0, 3).join(" or ")}?`;
  return names.length > 0
    ? `the stack's ${what}: ${[...names].sort().join(", ")}`
    : `the stack has no ${what}`;
}
