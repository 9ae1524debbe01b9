import { describe, expect, it } from "vitest";
import { ReachError } from "./errors.js";
import { probeAnswer } from "./probe.js";

/* A failed probe's answer in a few words, as the waiting line shows it. */

describe("a probe's answer in a few words", () => {
  it("says a refused or unreachable port in a word, whichever way it was reached", () => {
    const direct = new ReachError("172.29.0.2:9092", "connect ECONNREFUSED 172.29.0.2:9092", {
      mode: "direct",
      code: "ECONNREFUSED",
    });
    expect(probeAnswer("tcp :9092", direct)).toBe("tcp :9092 refused");
    const engine = new ReachError("172.29.0.2:9092", "refused", { mode: "engine", code: "ECONNREFUSED" });
    expect(probeAnswer("tcp :9092", engine)).toBe("tcp :9092 refused");
    expect(probeAnswer("tcp :5432", new ReachError("x:5432", "timed out", { code: "ETIMEDOUT" }))).toBe(
      "tcp :5432 timed out",
    );
  });

  it("gives an HTTP status after an arrow, anything else as it is", () => {
    expect(probeAnswer("http :8080/", new Error("HTTP 404"))).toBe("http :8080/ → 404");
    expect(probeAnswer("http :8080/", new Error('body lacks "ok"'))).toBe('http :8080/: body lacks "ok"');
    expect(probeAnswer("exec pg_isready", new Error("exit 2: no response"))).toBe(
      "exec pg_isready: exit 2: no response",
    );
    // A name no container answers to keeps its explanation.
    const missing = new ReachError("web:80", "no running container of stack s answers to that name", {
      code: "ENOTFOUND",
    });
    expect(probeAnswer("http :80/", missing)).toBe(`http :80/: ${missing.message}`);
  });
});
