import {
  type Action,
  type ActionKind,
  type ActionOf,
  describeConflict,
  type FieldChange,
  type Plan,
  resourceKey,
} from "@sh/core";
import { type Colors, padEnd } from "./colors.js";
import { columnWidth } from "./format.js";

/*
 * The plan as people read it (like `terraform plan`): one line per action with a symbol, indented
 * field changes under recreated services, a summary line, then conflicts. Pure: plan in, text out.
 */

export interface PlanCounts {
  create: number;
  recreate: number;
  update: number;
  remove: number;
  jobs: number;
  unchanged: number;
}

type Category = "create" | "recreate" | "update" | "remove" | "job";

const CATEGORY: Record<ActionKind, Category> = {
  "network.create": "create",
  "image.pull": "create",
  "image.build": "create",
  "dir.create": "create",
  "container.create": "create",
  "container.recreate": "recreate",
  "container.update": "update",
  "container.start": "update",
  "container.restart": "update",
  "container.remove": "remove",
  "network.remove": "remove",
  "job.run": "job",
  "job.record": "job",
  "image.push": "create",
  "node-dir.create": "create",
  "service.create": "create",
  "service.update": "recreate",
  "service.restart": "update",
  "service.remove": "remove",
  "config.remove": "remove",
};

const VERB: Record<ActionKind, string> = {
  "network.create": "create",
  "network.remove": "remove",
  "image.pull": "pull",
  "image.build": "build",
  "dir.create": "create",
  "job.run": "run",
  "job.record": "record",
  "container.create": "create",
  "container.recreate": "recreate",
  "container.update": "update in place",
  "container.start": "start",
  "container.restart": "restart",
  "container.remove": "remove",
  "image.push": "push",
  "node-dir.create": "create",
  "service.create": "create",
  "service.update": "update",
  "service.restart": "restart",
  "service.remove": "remove",
  "config.remove": "remove",
};

const SYMBOL: Record<Category, string> = {
  create: "+",
  recreate: "-/+",
  update: "~",
  remove: "-",
  job: ">",
};

/** One line of the plan: an action, or a network's remove + create shown as one recreate. */
interface Entry {
  category: Category;
  resource: string;
  verb: string;
  detail: string | undefined;
  changes: FieldChange[];
}

function entries(plan: Plan, profile?: string): Entry[] {
  // A network whose settings changed is planned as remove + create of the same target: one recreate.
  const creates = new Set(plan.actions.filter((a) => a.kind === "network.create").map((a) => a.target));
  const paired = new Set(
    plan.actions.filter((a) => a.kind === "network.remove" && creates.has(a.target)).map((a) => a.target),
  );
  // A service taken down before its network is recreated is planned as remove + recreate: its
  // recreate line says it all.
  const recreated = new Set(
    plan.actions.filter((a) => a.kind === "container.recreate").map((a) => resourceKey(a.resource)),
  );
  const out: Entry[] = [];
  for (const a of plan.actions) {
    if (a.kind === "network.create" && paired.has(a.target)) continue;
    if (a.kind === "container.remove" && recreated.has(resourceKey(a.resource))) continue;
    if (a.kind === "network.remove" && paired.has(a.target)) {
      out.push({
        category: "recreate",
        resource: resourceKey(a.resource),
        verb: "recreate",
        detail: "its settings changed",
        changes: [],
      });
      continue;
    }
    out.push({
      category: CATEGORY[a.kind],
      resource: resourceKey(a.resource),
      verb: VERB[a.kind],
      detail: detailOf(a, profile ?? plan.profile),
      changes:
        a.kind === "container.recreate" || a.kind === "container.update" || a.kind === "service.update"
          ? a.changes
          : [],
    });
  }
  return out;
}

const list = (names: readonly string[]) => names.join(", ");
const verbFor = (names: readonly string[], one: string, many: string) => (names.length > 1 ? many : one);

/** Why an action is planned, in words (undefined where the symbol and verb say it all). */
export function reasonOf(a: Action, profile?: string): string | undefined {
  switch (a.kind) {
    case "network.create":
      return a.cause === "settings-changed" ? "its settings changed" : undefined;
    case "network.remove":
      return a.cause === "not-in-stack" ? "no longer in the stack" : "its settings changed";
    case "image.pull":
      return a.sources[0] !== a.ref ? `from ${a.sources.join(", else ")}` : undefined;
    case "image.build":
      return a.cause === "missing"
        ? "not built yet"
        : a.cause === "context-changed"
          ? "its build context changed"
          : `${list(a.needs)} ${verbFor(a.needs, "is", "are")} built or pulled first`;
    case "dir.create":
      return undefined;
    case "job.run":
      return jobReason(a);
    case "job.record":
      return "it completed in an earlier run that stopped before recording it; not run again";
    case "container.create":
      return undefined;
    case "container.recreate":
      return recreateReason(a);
    case "container.update":
      return "restart policy changed";
    case "container.start":
      return `it is ${a.state}`;
    case "container.restart":
      return restartReason(a.triggers);
    case "container.remove":
      return {
        "not-in-stack": `"${a.resource.name}" is no longer in the stack${profile ? ` (profile ${profile})` : ""}`,
        duplicate: "a duplicate of the service's container",
        "stale-job": "a job container left from an earlier run",
        "stale-helper": "a helper container left from an earlier run",
        "network-recreated": `network ${list(a.networks)} ${verbFor(a.networks, "is", "are")} recreated: the container is created again on it`,
      }[a.cause];
    case "image.push":
      return `to ${a.pushRef}${a.cause === "changed" ? ": the image changed" : ""}`;
    case "node-dir.create":
      return `on node ${a.nodeName} (role ${a.role})${a.cause === "gone" ? ": a task found it missing" : ""}`;
    case "service.create":
      return undefined;
    case "service.update":
      return serviceUpdateReason(a);
    case "service.restart":
      return restartReason(a.triggers);
    case "service.remove":
      return {
        "not-in-stack": `"${a.resource.name}" is no longer in the stack${profile ? ` (profile ${profile})` : ""}`,
        "stale-job": "a job service left from an earlier run",
        "stale-helper": "a helper service left from an earlier run",
        "network-recreated": `network ${list(a.networks)} ${verbFor(a.networks, "is", "are")} recreated: the service is created again on it`,
      }[a.cause];
    case "config.remove":
      return "no service uses it any more";
    default: {
      const never: never = a;
      return String(never);
    }
  }
}

/** Why a container or service restarts: what it depends on is replaced, or runs again. */
function restartReason(triggers: ActionOf<"container.restart" | "service.restart">["triggers"]): string {
  const replaced = triggers.filter((t) => t.change === "replaced").map((t) => t.name);
  const rerun = triggers.filter((t) => t.change === "rerun").map((t) => t.name);
  const parts: string[] = [];
  if (replaced.length > 0) parts.push(`${list(replaced)} ${verbFor(replaced, "is", "are")} replaced`);
  if (rerun.length > 0) parts.push(`${list(rerun)} ${verbFor(rerun, "runs", "run")} again`);
  return parts.join("; ");
}

/** Why a swarm service is updated, and how the swarm rolls it (start-first, or stop-first and why). */
function serviceUpdateReason(a: ActionOf<"service.update">): string {
  const kept = a.onlyIfChanged ? "; kept if it comes out the same" : "";
  const why = {
    spec: `${a.changes.map((c) => c.field).join(", ") || "spec"} changed`,
    drift: "changed outside shctl",
    image: `its image is built or pushed in this apply${kept}`,
    inputs: `job ${list(a.writers)} may rewrite its files${kept}`,
    scale: "replicas changed",
  }[a.cause];
  if (a.cause === "scale") return `${why} (no task is restarted)`;
  if (a.order !== "stop-first") return `${why}; rolling, each new task beside the old one`;
  const first = {
    spec: "as its spec says",
    "host-port": "it publishes a host port the old one holds",
    "own-data": "a data directory only it mounts",
  }[a.orderCause ?? "spec"];
  return `${why}; rolling, each old task stops first (${first})`;
}

function jobReason(a: ActionOf<"job.run">): string {
  switch (a.cause) {
    case "always":
      return "runs on every apply";
    case "never-completed":
      return "never completed";
    case "last-failed":
      return `its last run ${a.lastRun?.outcome ?? "did not complete"}${a.lastRun?.finishedAt ? ` at ${a.lastRun.finishedAt}` : ""}`;
    case "changed":
      return "its spec, image or inputs changed";
    case "image-pending":
      return "its image is built or pulled in this apply; skipped if it comes out the same";
  }
}

function recreateReason(a: ActionOf<"container.recreate">): string {
  const why = recreateCause(a);
  if (a.order !== "stop-first" || !a.containerId) return why;
  const first = {
    spec: "as its spec says",
    "host-port": "it publishes a host port the old one holds",
    "own-data": "a data directory only it mounts",
  }[a.orderCause ?? "spec"];
  return `${why}; the old one stops first (${first})`;
}

function recreateCause(a: ActionOf<"container.recreate">): string {
  const kept = a.onlyIfChanged ? "; kept if it comes out the same" : "";
  switch (a.cause) {
    case "spec":
      return `${a.changes.map((c) => c.field).join(", ") || "spec"} changed`;
    case "drift":
      return "changed outside shctl";
    case "image":
      return `its image is built or pulled in this apply${kept}`;
    case "network":
      return `network ${list(a.networks)} ${verbFor(a.networks, "is", "are")} recreated`;
    case "inputs":
      return `job ${list(a.writers)} may rewrite its inputs${kept}`;
  }
}

function detailOf(a: Action, profile?: string): string | undefined {
  const parts: string[] = [];
  const reason = reasonOf(a, profile);
  if (reason) parts.push(reason);
  if (a.kind === "dir.create" || a.kind === "node-dir.create") {
    if (a.owner) parts.push(`owner ${a.owner.uid}:${a.owner.gid}`);
    if (a.mode !== undefined) parts.push(`mode ${a.mode.toString(8).padStart(4, "0")}`);
  }
  return parts.length > 0 ? parts.join(", ") : undefined;
}

export function countPlan(plan: Plan): PlanCounts {
  const counts: PlanCounts = { create: 0, recreate: 0, update: 0, remove: 0, jobs: 0, unchanged: 0 };
  for (const e of entries(plan)) {
    if (e.category === "job") counts.jobs++;
    else counts[e.category]++;
  }
  counts.unchanged = plan.unchanged.length;
  return counts;
}

/** Shows a printable value: "(none)" when absent, "(sensitive)" for secrets, quoted when it would not read. */
export function formatValue(v: string | undefined, sensitive: boolean): string {
  if (v === undefined) return "(none)";
  if (sensitive) return "(sensitive)";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  if (v === "" || /[\u0000-\u001f\u007f]/.test(v) || v !== v.trim()) return JSON.stringify(v);
  return v;
}

/**
 * "Plan: 90 to create, 7 jobs to run." — the counts that are not zero (all zero reads "nothing to
 * change"), wrapped at `width` columns between counts so a terminal never breaks one in two.
 */
export function summaryLine(counts: PlanCounts, width = 80): string {
  const parts = [
    counts.create && `${counts.create} to create`,
    counts.recreate && `${counts.recreate} to recreate`,
    counts.update && `${counts.update} to update/start`,
    counts.remove && `${counts.remove} to remove`,
    counts.jobs && `${counts.jobs} ${counts.jobs === 1 ? "job" : "jobs"} to run`,
  ].filter((p): p is string => typeof p === "string");
  const words =
    parts.length > 0 ? parts.map((p, i) => (i < parts.length - 1 ? `${p},` : p)) : ["nothing to change"];
  if (counts.unchanged > 0) words[words.length - 1] += `; ${counts.unchanged} unchanged`;
  words[words.length - 1] += ".";
  const lines = ["Plan:"];
  for (const w of words) {
    const last = lines.length - 1;
    if (`${lines[last]} ${w}`.length > width && (lines[last] as string).trim() !== "Plan:")
      lines.push(`      ${w}`);
    else lines[last] = `${lines[last]} ${w}`;
  }
  return lines.join("\n");
}

export const NO_CHANGES = "No changes. The stack matches the spec.";

export function renderPlan(plan: Plan, c: Colors): string {
  const lines: string[] = [];
  const list = entries(plan);
  const unready = (plan.unready ?? []).map((n) => `service ${n}`);
  const waitNote = c.yellow(
    `Not healthy yet: ${unready.join(", ")} (apply waits for ${unready.length === 1 ? "it" : "them"}).`,
  );
  if (list.length === 0 && plan.conflicts.length === 0)
    return unready.length > 0 ? `${NO_CHANGES}\n${waitNote}` : NO_CHANGES;

  const paint: Record<Category, (s: string) => string> = {
    create: c.green,
    recreate: c.magenta,
    update: c.yellow,
    remove: c.red,
    job: c.cyan,
  };
  const width = columnWidth(
    list.map((e) => e.resource),
    48,
  );
  for (const e of list) {
    const symbol = paint[e.category](SYMBOL[e.category].padStart(3));
    const detail = e.detail ? c.dim(` (${e.detail})`) : "";
    lines.push(`${symbol} ${padEnd(c.bold(e.resource), width)}  ${e.verb}${detail}`);
    for (const ch of e.changes) {
      const sensitive = ch.sensitive;
      lines.push(
        `      ${ch.field}: ${c.red(formatValue(ch.before, sensitive))} → ${c.green(formatValue(ch.after, sensitive))}`,
      );
    }
  }
  if (list.length > 0) {
    lines.push("");
    lines.push(c.bold(summaryLine(countPlan(plan))));
    if (unready.length > 0) lines.push(waitNote);
  }
  if (plan.conflicts.length > 0) {
    if (lines.length > 0) lines.push("");
    const n = plan.conflicts.length;
    lines.push(
      c.red(
        c.bold(
          `${n} conflict${n === 1 ? "" : "s"}: apply changes nothing until ${n === 1 ? "it is" : "they are"} resolved`,
        ),
      ),
    );
    for (const k of plan.conflicts) {
      const words = describeConflict(k);
      lines.push(c.red(`  ✗ ${resourceKey(k.resource)}: ${words.message}`));
      lines.push(`    ${c.red("hint:")} ${words.hint}`);
    }
  }
  return lines.join("\n");
}
