import type { Action, Plan } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import { notStarted, stoppedSummary } from "./summary.js";

const plain = createColors(false);

function action(kind: Action["kind"], resource: string): Action {
  const target = resource.split(" ")[1] as string;
  return { id: `${kind}:${target}`, kind, resource, target, reason: "missing", changes: [], after: [] };
}

const plan: Plan = {
  version: 1,
  stack: "shop",
  profile: undefined,
  dataRoot: "/srv/shop/data",
  actions: [
    action("network.create", "network default"),
    action("job.run", "job migrate"),
    action("container.remove", "service web"),
    action("container.create", "service web"),
    action("container.create", "service worker"),
  ],
  conflicts: [],
  unchanged: [],
  unready: [],
  containers: {},
};

describe("an apply that stopped early", () => {
  it("names each resource of the plan that never reached a phase, once, in plan order", () => {
    expect(notStarted(plan, new Set(["network default", "job migrate"]))).toEqual([
      "service web",
      "service worker",
    ]);
    expect(
      notStarted(plan, new Set(["network default", "job migrate", "service web", "service worker"])),
    ).toEqual([]);
  });

  it("says how it ended, how long it ran and what it did not start", () => {
    expect(stoppedSummary("failed", 1800, ["service web", "service worker"], plain)).toBe(
      "Apply failed after 1.8s; not started: service web, service worker.",
    );
    expect(stoppedSummary("interrupted", 9100, [], plain)).toBe("Apply interrupted after 9.1s.");
    expect(stoppedSummary("failed", 10, [], createColors(true))).toContain("\u001b[31m");
  });
});
