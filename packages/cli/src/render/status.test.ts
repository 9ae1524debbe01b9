import type { ServiceStatus } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import { renderError } from "./error.js";
import { formatUptime, timestamp } from "./format.js";
import { renderStatus } from "./status.js";

const plain = createColors(false);
const now = Date.parse("2026-11-24T19:00:00Z");

function row(s: Partial<ServiceStatus> & Pick<ServiceStatus, "name">): ServiceStatus {
  return {
    kind: "service",
    state: "running",
    health: undefined,
    restarts: 0,
    startedAt: undefined,
    containerId: "abc",
    orphan: false,
    ready: undefined,
    readyDetail: undefined,
    ...s,
  };
}

describe("renderStatus", () => {
  it("adds a column per figure the stack gives (LAG), '-' where a row has none, and explains a stuck one", () => {
    const text = renderStatus(
      "sentry",
      [
        row({ name: "events-consumer", extras: { lag: { text: "0", state: "ok" } } }),
        row({
          name: "snuba-consumer",
          extras: {
            lag: { text: "40 stuck", state: "failure", detail: "lag grew from 12 to 40 in 2.5s" },
          },
        }),
        row({ name: "web" }),
      ],
      now,
      plain,
    );
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^SERVICE +STATE +HEALTH +RESTARTS +UPTIME +LAG$/);
    expect(lines[1]).toMatch(/^events-consumer +running +- +0 +- +0$/);
    expect(lines[2]).toMatch(/^snuba-consumer +running +- +0 +- +40 stuck$/);
    expect(lines[3]).toMatch(/^web +running +- +0 +- +-$/);
    expect(text).toContain("snuba-consumer: lag: lag grew from 12 to 40 in 2.5s");
  });

  it("on a swarm: a REPLICAS column (running of wanted) and the tasks that are not as they should be", () => {
    const text = renderStatus(
      "shop",
      [
        row({
          name: "db",
          replicas: { running: 0, desired: 1 },
          state: "pending",
          tasks: [
            "task 1 on node-2: waiting for a node: no suitable node (1 node not available for new tasks)",
          ],
        }),
        row({ name: "web", replicas: { running: 2, desired: 2 } }),
      ],
      now,
      plain,
    );
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^SERVICE +STATE +REPLICAS +HEALTH +RESTARTS +UPTIME$/);
    expect(lines[1]).toMatch(/^db +pending +0\/1 +- +0 +-$/);
    expect(lines[2]).toMatch(/^web +running +2\/2 +- +0 +-$/);
    expect(text).toContain("db: task 1 on node-2: waiting for a node: no suitable node");
  });

  it("has no extra column when no row has a figure", () => {
    expect(renderStatus("shop", [row({ name: "web" })], now, plain).split("\n")[0]).toMatch(/UPTIME$/);
  });

  it("shows state, health, restarts and uptime, and marks orphans", () => {
    const text = renderStatus(
      "shop",
      [
        row({ name: "db", health: "healthy", startedAt: "2026-11-24T16:55:00Z" }),
        row({ name: "old", orphan: true, startedAt: "2026-11-20T18:00:00Z" }),
        row({ name: "web", state: "exited", restarts: 3 }),
        row({ name: "worker", state: "missing", containerId: undefined }),
      ],
      now,
      plain,
    );
    expect(text).toBe(
      [
        "SERVICE  STATE    HEALTH   RESTARTS  UPTIME",
        "db       running  healthy  0         2h05m",
        "old *    running  -        0         4d01h",
        "web      exited   -        3         -",
        "worker   missing  -        0         -",
        "",
        "* orphan: no longer in the stack; `shctl apply` removes it",
        "worker: in the stack, but the engine has no container for it; `shctl apply` creates it",
      ].join("\n"),
    );
  });

  it("shows what readiness probes answered for services without a Docker healthcheck", () => {
    const text = renderStatus(
      "shop",
      [
        row({ name: "db", health: "healthy", ready: true }),
        row({ name: "relay", ready: false, readyDetail: "http :3000/ready: HTTP 503" }),
        row({ name: "web", ready: true }),
        row({ name: "worker" }),
      ],
      now,
      plain,
    );
    expect(text).toBe(
      [
        "SERVICE  STATE    HEALTH     RESTARTS  UPTIME",
        "db       running  healthy    0         -",
        "relay    running  not ready  0         -",
        "web      running  ready      0         -",
        "worker   running  -          0         -",
        "",
        "relay: not ready: http :3000/ready: HTTP 503",
      ].join("\n"),
    );
  });

  it("says how to start a stack that is not running", () => {
    expect(renderStatus("shop", [row({ name: "web", state: "missing" })], now, plain)).toContain(
      "Stack shop is not running: `shctl apply` starts it.",
    );
  });
});

describe("formats", () => {
  it("formats uptimes and timestamps", () => {
    expect(formatUptime(42_000)).toBe("42s");
    expect(formatUptime(312_000)).toBe("5m12s");
    expect(formatUptime(7_500_000)).toBe("2h05m");
    expect(formatUptime(3 * 86_400_000 + 4 * 3_600_000)).toBe("3d04h");
    expect(timestamp(new Date("2026-11-24T19:00:00.999Z"))).toBe("2026-11-24T19:00:00Z");
  });

  it("renders an error with its details and hint", () => {
    expect(
      renderError(
        {
          name: "SpecError",
          message: "stack.yaml: 2 problems in the stack",
          details: [
            "services.web.image: Required",
            'services.web.dependsOn.db: no service or job named "db"',
          ],
          hint: "fix the fields named above and run the command again",
          exitCode: 2,
        },
        plain,
      ),
    ).toBe(
      [
        "error: stack.yaml: 2 problems in the stack",
        "  services.web.image: Required",
        '  services.web.dependsOn.db: no service or job named "db"',
        "hint: fix the fields named above and run the command again",
      ].join("\n"),
    );
  });
});
