import type { Action, Plan } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import { groupResources, notDone, stoppedSummary } from "./summary.js";

const plain = createColors(false);

function action(kind: Action["kind"], resource: string): Action {
  const [type, target] = resource.split(" ") as [string, string];
  return {
    id: `${kind}:${target}`,
    kind,
    resource: { type, name: target },
    target,
    after: [],
  } as unknown as Action;
}

const plan: Plan = {
  version: 2,
  stack: "shop",
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
  waitReady: [],
  containers: {},
};

describe("an apply that stopped early", () => {
  it("names each resource of the plan it did not finish, once, in plan order, and waits cut short", () => {
    const outcome = {
      notDone: ["container.remove:web", "container.create:web", "container.create:worker"],
      notReady: [],
    };
    expect(notDone(plan, outcome)).toEqual(["service web", "service worker"]);
    expect(notDone(plan, { notDone: [], notReady: ["db"] })).toEqual(["service db"]);
    expect(notDone(plan, { notDone: [], notReady: [] })).toEqual([]);
  });

  it("says how it ended, how long it ran and what it did not do", () => {
    expect(stoppedSummary("failed", 1800, ["service web", "service worker"], plain)).toBe(
      "Apply failed after 1.8s; not done: service web, service worker.",
    );
    expect(stoppedSummary("interrupted", 9100, [], plain)).toBe("Apply interrupted after 9.1s.");
    expect(stoppedSummary("failed", 10, [], createColors(true))).toContain("\u001b[31m");
  });

  it("counts many resources by kind instead of naming each", () => {
    const many = [
      ...Array.from({ length: 58 }, (_, i) => `service s${i}`),
      ...Array.from({ length: 5 }, (_, i) => `job j${i}`),
    ];
    expect(groupResources(many)).toBe("58 services and 5 jobs (`shctl diff` lists them)");
    expect(groupResources(["service a", "job b"])).toBe("service a, job b");
    expect(groupResources([...many, "image x"])).toBe(
      "58 services, 5 jobs and 1 image (`shctl diff` lists them)",
    );
    // The most numerous kind first, whatever the plan's order.
    expect(groupResources(["job j0", "job j1", ...many.slice(0, 9)])).toBe(
      "9 services and 2 jobs (`shctl diff` lists them)",
    );
  });
});
