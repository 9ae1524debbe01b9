import type { Action, Plan } from "@sh/core";
import { hasChanges } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import { countPlan, formatValue, NO_CHANGES, renderPlan, summaryLine } from "./plan.js";

const plain = createColors(false);

type Loose = { kind: Action["kind"]; resource: string; target: string } & Record<string, unknown>;

/** An action of the plan, with the fields its kind always has filled in ("service web" → a resource). */
function action(a: Loose): Action {
  const [type, ...name] = a.resource.split(" ");
  const defaults: Record<string, unknown> = {
    "container.recreate": { cause: "spec", changes: [], networks: [], writers: [], onlyIfChanged: false },
    "container.update": { cause: "restart-policy", changes: [], restartPolicy: "always", containerId: "c" },
    "container.remove": { cause: "not-in-stack", networks: [], containerId: "c" },
    "container.start": { state: "exited", containerId: "c" },
    "container.restart": { triggers: [], containerId: "c" },
    "network.remove": { cause: "not-in-stack", networkId: "n", dockerName: a.target },
    "network.create": { cause: "missing", dockerName: a.target },
    "image.pull": { cause: "missing", ref: a.target, sources: [a.target] },
    "image.build": { cause: "missing", ref: a.target, contextHash: "h", needs: [] },
    "job.run": { cause: "never-completed", jobKey: "k", onlyIfKeyChanged: false },
  };
  return {
    id: `${a.kind}:${a.target}`,
    after: [],
    startAfter: [],
    waitFor: [],
    cause: "missing",
    ...(defaults[a.kind] as object),
    ...a,
    resource: { type, name: name.join(" ") },
  } as unknown as Action;
}

function planOf(actions: Action[], extra: Partial<Plan> = {}): Plan {
  return {
    version: 2,
    stack: "shop",
    dataRoot: "/srv/shop/data",
    actions,
    conflicts: [],
    unchanged: [],
    unready: [],
    waitReady: [],
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
    expect(renderPlan(planOf([], { unchanged: [{ type: "service", name: "web" }] }), plain)).toBe(NO_CHANGES);
    expect(NO_CHANGES).toBe("No changes. The stack matches the spec.");
  });

  it("shows every action kind with its symbol, then the summary", () => {
    const plan = planOf(
      [
        action({
          kind: "container.remove",
          resource: "service old",
          target: "shop-old",
          cause: "not-in-stack",
        }),
        action({ kind: "network.create", resource: "network back", target: "back" }),
        action({ kind: "image.pull", resource: "image cache", target: "cache" }),
        action({
          kind: "image.pull",
          resource: "image pg",
          target: "pg",
          ref: "postgres:16",
          sources: ["hub.local/library/postgres:16", "hub.local/postgres:16"],
        }),
        action({ kind: "image.build", resource: "image app", target: "app", cause: "context-changed" }),
        action({
          kind: "dir.create",
          resource: "dir db",
          target: "/srv/shop/data/db",
          owner: { uid: 999, gid: 999 },
          mode: 0o700,
        }),
        action({ kind: "job.run", resource: "job migrate", target: "migrate", cause: "never-completed" }),
        action({ kind: "container.create", resource: "service web", target: "web" }),
        action({
          kind: "container.recreate",
          resource: "service db",
          target: "db",
          cause: "spec",
          changes: [
            { field: "env.LOG_LEVEL", before: "info", after: "debug", sensitive: false },
            { field: "image", before: "sha256:aaa", after: "sha256:bbb", sensitive: false },
          ],
        }),
        action({
          kind: "container.update",
          resource: "service cache",
          target: "cache",
          changes: [{ field: "restart", before: "no", after: "always", sensitive: false }],
        }),
        action({
          kind: "container.start",
          resource: "service worker",
          target: "worker",
          state: "exited",
        }),
        action({
          kind: "container.restart",
          resource: "service nginx",
          target: "nginx",
          triggers: [{ name: "web", change: "replaced" }],
        }),
        action({
          kind: "network.remove",
          resource: "network legacy",
          target: "shop_legacy",
          cause: "not-in-stack",
        }),
      ],
      {
        unchanged: [
          { type: "service", name: "redis" },
          { type: "job", name: "init" },
        ],
      },
    );
    expect(renderPlan(plan, plain)).toBe(
      [
        '  - service old     remove ("old" is no longer in the stack)',
        "  + network back    create",
        "  + image cache     pull",
        "  + image pg        pull (from hub.local/library/postgres:16, else hub.local/postgres:16)",
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
        "Plan: 6 to create, 1 to recreate, 3 to update/start, 2 to remove,",
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
      action({ kind: "network.remove", resource: "network back", target: "back", cause: "settings-changed" }),
      action({
        kind: "network.create",
        resource: "network back",
        target: "back",
        cause: "settings-changed",
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
        cause: "network-recreated",
        networks: ["back"],
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
        cause: "settings-changed",
      }),
      action({
        kind: "container.recreate",
        resource: "service db",
        target: "db",
        cause: "network",
        networks: ["back"],
        after: ["network.create:back", "container.remove:shop-db"],
      }),
      action({
        kind: "container.remove",
        resource: "service old",
        target: "shop-old",
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
        { kind: "container-name-taken", resource: { type: "service", name: "web" }, name: "shop-web" },
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
        "  ✗ service web: a container named shop-web exists but was not created by shctl (it has no stack labels), so shctl will not touch it",
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
});
