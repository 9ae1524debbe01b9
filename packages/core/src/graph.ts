/*
 * Dependency graphs, one way everywhere: the planner's order, resolve's cycle check and teardown's
 * waves all walk names and their dependencies through these helpers. Ties are broken by code-unit
 * order, never by locale, so the same graph always gives the same order.
 */

/** Code-unit order, independent of the locale. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every name after the names it depends on, ties broken by name. `depsOf` may name unknown nodes
 * (skipped) and may contain cycles (each node is listed once; resolve reports cycles).
 */
export function topoOrder(names: Iterable<string>, depsOf: (name: string) => readonly string[]): string[] {
  const known = new Set(names);
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name) || !known.has(name)) return;
    seen.add(name);
    for (const d of [...depsOf(name)].sort(byCodeUnit)) visit(d);
    out.push(name);
  };
  for (const name of [...known].sort(byCodeUnit)) visit(name);
  return out;
}

/** Each dependency cycle once, as the path that closes it (a → b → a), in a stable order. */
export function findCycles(names: Iterable<string>, depsOf: (name: string) => readonly string[]): string[][] {
  const known = new Set(names);
  const state = new Map<string, "visiting" | "done">();
  const found = new Map<string, string[]>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const key = [...new Set(cycle)].sort(byCodeUnit).join(",");
      if (!found.has(key)) found.set(key, cycle);
      return;
    }
    state.set(name, "visiting");
    for (const d of depsOf(name)) if (known.has(d)) visit(d, [...trail, name]);
    state.set(name, "done");
  };
  for (const name of [...known].sort(byCodeUnit)) visit(name, []);
  return [...found.values()];
}

/**
 * Each node's depth: 0 for a node that depends on nothing known, else one more than its deepest
 * dependency (a cycle counts as 0 where it closes). Teardown stops the deepest first.
 */
export function depths(
  names: Iterable<string>,
  depsOf: (name: string) => readonly string[],
): Map<string, number> {
  const depth = new Map<string, number>();
  const of = (name: string, trail: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (trail.has(name)) return 0;
    trail.add(name);
    const d = Math.max(-1, ...depsOf(name).map((x) => of(x, trail))) + 1;
    trail.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const n of names) of(n, new Set());
  return depth;
}
