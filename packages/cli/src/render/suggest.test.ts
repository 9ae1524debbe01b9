import { describe, expect, it } from "vitest";
import { closest, distance, unknownNameHint } from "./suggest.js";

describe("did you mean", () => {
  it("counts edits, a swap of neighbours as one", () => {
    expect(distance("web", "web")).toBe(0);
    expect(distance("wbe", "web")).toBe(1);
    expect(distance("postgre", "postgres")).toBe(1);
    expect(distance("kafka", "redis")).toBe(5);
  });

  it("suggests only names that are close, the closest first", () => {
    const names = ["web", "worker", "postgres", "pgbouncer", "redis"];
    expect(closest("wbe", names)).toEqual(["web"]);
    expect(closest("postgress", names)).toEqual(["postgres"]);
    expect(closest("pg", names)).toEqual(["pgbouncer"]);
    expect(closest("kafka", names)).toEqual([]);
  });

  it("lists what exists when nothing is close", () => {
    expect(unknownNameHint("wbe", ["web", "db"], "services and jobs")).toBe("did you mean web?");
    expect(unknownNameHint("kafka", ["web", "db"], "services and jobs")).toBe(
      "the stack's services and jobs: db, web",
    );
    expect(unknownNameHint("x", [], "services and jobs")).toBe("the stack has no services and jobs");
  });
});
