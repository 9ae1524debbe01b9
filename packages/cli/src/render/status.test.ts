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
