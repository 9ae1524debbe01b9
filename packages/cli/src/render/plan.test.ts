import type { Action, Plan } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import {
  countPlan,
  formatValue,
  hasChanges,
  isDestructive,
  NO_CHANGES,
  renderPlan,
  summaryLine,
} from "./plan.js";

const plain = createColors(false);

function action(a: Partial<Action> & Pick<Action, "kind" | "resource" | "target">): Action {
  return { id: `${a.kind}:${a.target}`, reason: "missing", changes: [], after: [], ...a };
}

function planOf(actions: Action[], extra: Partial<Plan> = {}): Plan {
  return {
    version: 1,
    stack: "shop",
    profile: undefined,
    dataRoot: "/srv/shop/data",
    actions,
    conflicts: [],
    unchanged: [],
    unready: [],
    containers: {},
    ...extra,
  };
}

describe("renderPlan", () => {
  it("names the services it will wait for although nothing changes", () => {
    expect(renderPlan(planOf([], { unready: ["db"] }), plain)).toBe(
      `${NO_CHANGES}\nNot healthy yet: service db (apply waits for it).`,
    );
  });

  it("says so when there is nothing to do", () => {
    expect(renderPlan(planOf([], { unchanged: ["service web"] }), plain)).toBe(NO_CHANGES);
    expect(NO_CHANGES).toBe("No changes. The stack matches the spec.");
  });

  it("shows every action kind with its symbol, then the summary", () => {
    const plan = planOf(
      [
        action({
          kind: "container.remove",
          resource: "service old",
          target: "shop-old",
          reason: '"old" is no longer in the stack',
        }),
        action({ kind: "network.create", resource: "network back", target: "back" }),
        action({ kind: "image.pull", resource: "image cache", target: "cache", reason: "missing locally" }),
        action({
          kind: "image.build",
          resource: "image app",
          target: "app",
          reason: "its build context changed",
        }),
        action({
          kind: "dir.create",
          resource: "dir db",
          target: "/srv/shop/data/db",
          owner: { uid: 999, gid: 999 },
          mode: 0o700,
        }),
        action({ kind: "job.run", resource: "job migrate", target: "migrate", reason: "never completed" }),
        action({ kind: "container.create", resource: "service web", target: "web" }),
        action({
          kind: "container.recreate",
          resource: "service db",
          target: "db",
          reason: "env.LOG_LEVEL, image changed",
          changes: [
            { field: "env.LOG_LEVEL", before: "info", after: "debug", sensitive: false },
            { field: "image", before: "sha256:aaa", after: "sha256:bbb", sensitive: false },
          ],
        }),
        action({
          kind: "container.update",
          resource: "service cache",
          target: "cache",
          reason: "restart policy changed (updated in place)",
          changes: [{ field: "restart", before: "no", after: "always", sensitive: false }],
        }),
        action({
          kind: "container.start",
          resource: "service worker",
          target: "worker",
          reason: "it is exited",
        }),
        action({
          kind: "container.restart",
          resource: "service nginx",
          target: "nginx",
          reason: "web is replaced",
        }),
        action({
          kind: "network.remove",
          resource: "network legacy",
          target: "shop_legacy",
          reason: "no longer in the stack",
        }),
      ],
      { unchanged: ["service redis", "job init"] },
    );
    expect(renderPlan(plan, plain)).toBe(
      [
        '  - service old     remove ("old" is no longer in the stack)',
        "  + network back    create",
        "  + image cache     pull (missing locally)",
        "  + image app       build (its build context changed)",
        "  + dir db          create (owner 999:999, mode 0700)",
        "  > job migrate     run (never completed)",
        "  + service web     create",
        "-/+ service db      recreate (env.LOG_LEVEL, image changed)",
        "      env.LOG_LEVEL: info → debug",
        "      image: sha256:aaa → sha256:bbb",
        "  ~ service cache   update in place (restart policy changed)",
        "      restart: no → always",
        "  ~ service worker  start (it is exited)",
        "  ~ service nginx   restart (web is replaced)",
        "  - network legacy  remove (no longer in the stack)",
        "",
        "Plan: 5 to create, 1 to recreate, 3 to update/start, 2 to remove,",
        "      1 job to run; 2 unchanged.",
      ].join("\n"),
    );
  });

  it("never shows the value of a sensitive change", () => {
    const plan = planOf([
      action({
        kind: "container.recreate",
        resource: "service web",
        target: "web",
        reason: "env.API_TOKEN changed",
        changes: [
          { field: "env.API_TOKEN", before: "(sensitive)", after: "(sensitive)", sensitive: true },
          // Even a value that slipped through unredacted is not printed when the change is sensitive.
          { field: "env.DB_PASSWORD", before: undefined, after: "hunter2", sensitive: true },
        ],
      }),
    ]);
    const text = renderPlan(plan, plain);
    expect(text).toContain("      env.API_TOKEN: (sensitive) → (sensitive)");
    expect(text).toContain("      env.DB_PASSWORD: (none) → (sensitive)");
    expect(text).not.toContain("hunter2");
  });

  it("shows a network whose settings changed as one recreate", () => {
    const plan = planOf([
      action({
        kind: "network.remove",
        resource: "network back",
        target: "back",
        reason: "its settings changed (driver, internal or labels): recreated",
      }),
      action({
        kind: "network.create",
        resource: "network back",
        target: "back",
        reason: "its settings changed",
        after: ["network.remove:back"],
      }),
    ]);
    expect(renderPlan(plan, plain)).toBe(
      ["-/+ network back  recreate (its settings changed)", "", "Plan: 1 to recreate."].join("\n"),
    );
    expect(countPlan(plan)).toEqual({ create: 0, recreate: 1, update: 0, remove: 0, jobs: 0, unchanged: 0 });
  });

  it("shows a service taken down for its network's recreate as one recreate line", () => {
    const plan = planOf([
      action({
        kind: "container.remove",
        resource: "service db",
        target: "shop-db",
        containerId: "id-db",
        reason: "network back is recreated: the container is created again on it",
      }),
      action({
        kind: "network.remove",
        resource: "network back",
        target: "back",
        after: ["container.remove:shop-db"],
      }),
      action({
        kind: "network.create",
        resource: "network back",
        target: "back",
        reason: "its settings changed",
      }),
      action({
        kind: "container.recreate",
        resource: "service db",
        target: "db",
        reason: "network back is recreated",
        after: ["network.create:back", "container.remove:shop-db"],
      }),
      action({
        kind: "container.remove",
        resource: "service old",
        target: "shop-old",
        reason: "no longer in the stack",
      }),
    ]);
    const text = renderPlan(plan, plain);
    expect(text.match(/service db/g)).toHaveLength(1);
    expect(text).toContain("-/+ service db");
    expect(text).toMatch(/^ {2}- service old +remove/m);
    expect(countPlan(plan)).toEqual({ create: 0, recreate: 2, update: 0, remove: 1, jobs: 0, unchanged: 0 });
  });

  it("lists conflicts with their hints, in red", () => {
    const plan = planOf([action({ kind: "container.create", resource: "service db", target: "db" })], {
      conflicts: [
        {
          resource: "service web",
          message: "a container named shop-web exists but was not created by shctl",
          hint: "remove or rename it (docker rm -f shop-web), then apply again",
        },
      ],
    });
    const text = renderPlan(plan, plain);
    expect(text).toBe(
      [
        "  + service db  create",
        "",
        "Plan: 1 to create.",
        "",
        "1 conflict: apply changes nothing until it is resolved",
        "  ✗ service web: a container named shop-web exists but was not created by shctl",
        "    hint: remove or rename it (docker rm -f shop-web), then apply again",
      ].join("\n"),
    );
    const red = renderPlan(plan, createColors(true));
    expect(red).toContain("\u001b[31m  ✗ service web: a container named shop-web");
    expect(hasChanges(planOf([], { conflicts: plan.conflicts }))).toBe(true);
  });

  it("keeps the verbs in one column when one name is too long to line up", () => {
    const long = `service ${"x".repeat(60)}`;
    const text = renderPlan(
      planOf([
        action({ kind: "network.create", resource: "network default", target: "default" }),
        action({ kind: "container.create", resource: long, target: "x" }),
        action({ kind: "container.create", resource: "service web", target: "web" }),
      ]),
      plain,
    );
    expect(text.split("\n").slice(0, 3)).toEqual([
      "  + network default  create",
      `  + ${long}  create`,
      "  + service web      create",
    ]);
  });

  it("uses colour only when asked", () => {
    const plan = planOf([action({ kind: "container.create", resource: "service web", target: "web" })]);
    expect(renderPlan(plan, plain)).not.toContain("\u001b[");
    expect(renderPlan(plan, createColors(true))).toContain("\u001b[32m  +\u001b[39m");
  });
});

describe("summaryLine", () => {
  const counts = { create: 0, recreate: 0, update: 0, remove: 0, jobs: 0, unchanged: 0 };
  it("names only the counts that are not zero", () => {
    expect(summaryLine({ ...counts, create: 90, jobs: 7 })).toBe("Plan: 90 to create, 7 jobs to run.");
    expect(summaryLine({ ...counts, jobs: 1, unchanged: 44 })).toBe("Plan: 1 job to run; 44 unchanged.");
    expect(summaryLine({ ...counts, unchanged: 3 })).toBe("Plan: nothing to change; 3 unchanged.");
  });

  it("wraps between counts, never inside one, to stay within the width", () => {
    const all = { create: 120, recreate: 30, update: 12, remove: 4, jobs: 7, unchanged: 250 };
    const text = summaryLine(all);
    for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
    expect(text.replace(/\n +/g, " ")).toBe(
      "Plan: 120 to create, 30 to recreate, 12 to update/start, 4 to remove, 7 jobs to run; 250 unchanged.",
    );
    expect(summaryLine(all, 40).split("\n")).toEqual([
      "Plan: 120 to create, 30 to recreate,",
      "      12 to update/start, 4 to remove,",
      "      7 jobs to run; 250 unchanged.",
    ]);
  });
});

describe("plan helpers", () => {
  it("formats values so that empty, absent and odd ones can be read", () => {
    expect(formatValue(undefined, false)).toBe("(none)");
    expect(formatValue("", false)).toBe('""');
    expect(formatValue("a\nb", false)).toBe('"a\\nb"');
    expect(formatValue(" padded", false)).toBe('" padded"');
    expect(formatValue('["sleep","infinity"]', false)).toBe('["sleep","infinity"]');
    expect(formatValue("secret", true)).toBe("(sensitive)");
  });

  it("calls removals and recreates destructive, creates and starts not", () => {
    const mk = (kind: Action["kind"]) => planOf([action({ kind, resource: "service x", target: "x" })]);
    expect(isDestructive(mk("container.remove"))).toBe(true);
    expect(isDestructive(mk("container.recreate"))).toBe(true);
    expect(isDestructive(mk("network.remove"))).toBe(true);
    expect(isDestructive(mk("container.create"))).toBe(false);
    expect(isDestructive(mk("container.start"))).toBe(false);
    expect(isDestructive(mk("job.run"))).toBe(false);
  });
});
