import type { Action, Conflict } from "./types.js";

/** Collects a plan's actions and conflicts as the phases add them. */
export class PlanBuilder {
  readonly actions: Action[] = [];
  readonly conflicts: Conflict[] = [];

  /** Adds an action; its id is `${kind}:${target}`. */
  add<A extends Action>(a: Omit<A, "id">): A {
    const action = { id: `${a.kind}:${a.target}`, ...a } as A;
    this.actions.push(action);
    return action;
  }

  conflict(c: Conflict): void {
    this.conflicts.push(c);
  }
}

/** The ids of actions (or ids), once each, in the order given; undefined entries are skipped. */
export function ids(list: readonly (Action | string | undefined)[]): string[] {
  return [...new Set(list.map((x) => (typeof x === "string" ? x : x?.id)).filter((x): x is string => !!x))];
}
