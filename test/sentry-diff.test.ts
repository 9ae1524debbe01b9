import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Action, diff, loadStack, type Plan, type ResolvedStack, resourceKey } from "@sh/core";
import { execute, LABEL } from "@sh/core/internals";
import { PlanSchema } from "@sh/core/schema";
import { CONFIG_DIRS, DATA_DIRS, defaultStack, FULL_ONLY, LOCAL_IMAGES, UPSTREAM_IMAGES } from "@sh/specs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CliResult,
  cleanup,
  engine,
  ensureToolsImage,
  REPO,
  runCli,
  stackName,
  tempProject,
  toolsImage,
} from "./helpers.js";

/*
 * The Sentry stack's plan against the real (empty) engine, through the real CLI: `shctl diff`
 * without -f, in a temporary project dir, so the data root is <project>/sentrydata. Nothing of
 * Sentry can run here (its images cannot be pulled), but the whole plan can be computed: every
 * image, directory, init job and container, in dependency order, with secrets kept out of the
 * output, and without changing the engine or writing under the data root.
 */

// Every service of upstream's 23.12.0 compose file (geoipupdate is a job here, not a service).
const UPSTREAM_SERVICES = [
  "attachments-consumer",
  "billing-metrics-consumer",
  "clickhouse",
  "cron",
  "events-consumer",
  "generic-metrics-consumer",
  "ingest-occurrences",
  "ingest-profiles",
  "ingest-replay-recordings",
  "kafka",
  "memcached",
  "metrics-consumer",
  "nginx",
  "post-process-forwarder-errors",
  "post-process-forwarder-issue-platform",
  "post-process-forwarder-transactions",
  "postgres",
  "redis",
  "relay",
  "sentry-cleanup",
  "smtp",
  "snuba-api",
  "snuba-consumer",
  "snuba-generic-metrics-counters-consumer",
  "snuba-generic-metrics-distributions-consumer",
  "snuba-generic-metrics-sets-consumer",
  "snuba-issue-occurrence-consumer",
  "snuba-metrics-consumer",
  "snuba-outcomes-consumer",
  "snuba-profiling-functions-consumer",
  "snuba-profiling-profiles-consumer",
  "snuba-replacer",
  "snuba-replays-consumer",
  "snuba-subscription-consumer-events",
  "snuba-subscription-consumer-metrics",
  "snuba-subscription-consumer-transactions",
  "snuba-transactions-consumer",
  "subscription-consumer-events",
  "subscription-consumer-generic-metrics",
  "subscription-consumer-metrics",
  "subscription-consumer-transactions",
  "symbolicator",
  "symbolicator-cleanup",
  "transactions-consumer",
  "vroom",
  "vroom-cleanup",
  "web",
  "worker",
  "zookeeper",
];

// Init jobs (docs/sentry.md, "First-run init"); admin-user only when an admin is configured.
const INIT_JOBS = [
  "prerequisites",
  "config",
  "relay-credentials",
  "snuba-bootstrap",
  "snuba-migrate",
  "kafka-topics",
  "sentry-upgrade",
];

// Images pulled as they are, and images built locally (images.ts); the image keys of the stack.
const PULLED = [
  "sentry-upstream",
  "clickhouse-upstream",
  "snuba",
  "relay",
  "symbolicator",
  "vroom",
  "postgres",
  "redis",
  "memcached",
  "nginx",
  "zookeeper",
  "kafka",
  "smtp",
];
const BUILT = ["sentry", "clickhouse", "sentry-cleanup", "symbolicator-cleanup", "vroom-cleanup"];

// Upstream's named volumes (23.12.0 compose file), each a directory under the data root here.
const UPSTREAM_VOLUMES = [
  "sentry-data",
  "sentry-postgres",
  "sentry-redis",
  "sentry-zookeeper",
  "sentry-zookeeper-log",
  "sentry-kafka",
  "sentry-kafka-log",
  "sentry-clickhouse",
  "sentry-clickhouse-log",
  "sentry-symbolicator",
  "sentry-vroom",
  "sentry-nginx-cache",
  "sentry-secrets",
  "sentry-smtp",
  "sentry-smtp-log",
];

// Config dirs mounted as directories (config/clickhouse is a single-file mount; config/redis only with a password).
const CONFIG_DIR_MOUNTS = [
  "config/sentry",
  "config/relay",
  "config/nginx",
  "config/symbolicator",
  "config/postgres",
  "config/geoip",
  "config/certificates",
];

/** Services the docs list as full-only ("It leaves out `a`, `b` … and the `geoipupdate` job"). */
async function documentedFullOnly(): Promise<{ services: string[]; jobs: string[] }> {
  const text = (await readFile(path.join(REPO, "docs/sentry.md"), "utf8")).replace(/\s+/g, " ");
  const m = text.match(/It leaves out (.*?) job\./);
  if (!m?.[1]) throw new Error("docs/sentry.md no longer says what the core profile leaves out");
  const names = [...m[1].matchAll(/`([^`]+)`/g)].map((x) => x[1] as string);
  const last = names.pop() as string; // "... and the `geoipupdate` job."
  return { services: names, jobs: [last] };
}

/** The `result` line `diff --json` ends with. */
interface DiffResultLine {
  type: "result";
  command: "diff";
  stack: string;
  profile: string | null;
  changes: boolean;
  summary: {
    create: number;
    recreate: number;
    update: number;
    remove: number;
    jobs: number;
    unchanged: number;
  };
  conflicts: number;
}

/** Checks a parsed `plan` line against the plan's published schema (no unknown field passes); returns it typed. */
function checkPlan(value: unknown): Plan {
  const parsed = PlanSchema.safeParse(value);
  expect(parsed.error?.issues ?? []).toEqual([]);
  expect(parsed.data).toEqual(value);
  return value as Plan;
}

/** `diff --json`: exactly a plan line and a result line, each a JSON object. */
function parseJsonOutput(stdout: string): { plan: Plan; result: DiffResultLine } {
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  const objs = lines.map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>);
  expect(objs.map((o) => o.type)).toEqual(["plan", "result"]);
  const plan = checkPlan(objs[0]?.plan);
  const result = objs[1] as unknown as DiffResultLine;
  expect(result.command).toBe("diff");
  return { plan, result };
}

/** Plain output: one line per action ("  + service web  create"), in plan order. */
function plainLines(stdout: string): { symbol: string; resource: string; verb: string }[] {
  const out: { symbol: string; resource: string; verb: string }[] = [];
  for (const line of stdout.split("\n")) {
    const m = line.match(/^\s*(-\/\+|\+|~|-|>)\s+(\S+ \S+)\s+(\S+)/);
    if (m) out.push({ symbol: m[1] as string, resource: m[2] as string, verb: m[3] as string });
  }
  return out;
}

function expectCleanExit(r: CliResult, code: number) {
  expect(r.code, `exit code; stderr: ${r.stderr}`).toBe(code);
  expect(r.stderr).toBe("");
}

/** Everything under a directory, as sorted relative paths. */
async function tree(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true });
  return entries.map((e) => String(e)).sort();
}

interface Scenario {
  profile: "full" | "core";
  projectDir: string;
  env: Record<string, string>;
  stack: ResolvedStack;
  plain: CliResult;
  json: CliResult;
  exitCode: CliResult;
  plan: Plan;
  result: DiffResultLine;
}

const name = stackName("sdiff");
const redisFromEnv = `RedisEnvPw-${Math.random().toString(36).slice(2, 10)}`;
const redisFromYaml = `RedisYamlPw-${Math.random().toString(36).slice(2, 10)}`;
const adminPassword = `AdminPw-${Math.random().toString(36).slice(2, 10)}`;
const projects: string[] = [];
const scenarios: Partial<Record<"full" | "core", Scenario>> = {};

async function project(yaml: string): Promise<string> {
  const dir = await tempProject("shctl-sdiff-");
  projects.push(dir);
  await writeFile(path.join(dir, "shctl.yaml"), yaml);
  return dir;
}

/**
 * What the engine has of the stack: containers and networks by label, the upstream images (none
 * can be pulled here), and the locally built images that carry this stack as their builder
 * (another test may build one of those names for its own stack; that is not ours).
 */
async function engineFootprint(stack = name) {
  const local = await engine.listImages(Object.values(LOCAL_IMAGES));
  return {
    containers: await engine.listContainers([`${LABEL.stack}=${stack}`]),
    networks: await engine.listNetworks([`${LABEL.stack}=${stack}`]),
    upstreamImages: Object.keys(await engine.listImages(Object.values(UPSTREAM_IMAGES))),
    builtByStack: Object.entries(local)
      .filter(([, img]) => img.labels[LABEL.builtBy] === stack)
      .map(([ref]) => ref),
  };
}

/**
 * Runs diff, diff --json and diff --exit-code in the scenario's project dir: `full` gets the
 * Redis password from SHCTL_REDIS_PASSWORD and the profile by default; `core` gets the password
 * from shctl.yaml and the profile from --profile.
 */
async function runScenario(profile: "full" | "core"): Promise<Scenario> {
  const cached = scenarios[profile];
  if (cached) return cached;
  const projectDir = await project(
    profile === "full"
      ? `stackName: ${name}\nadmin:\n  email: admin@example.com\n  password: ${adminPassword}\n`
      : `stackName: ${name}\nredisPassword: ${redisFromYaml}\n`,
  );
  const env: Record<string, string> =
    profile === "full"
      ? { SHCTL_REDIS_PASSWORD: redisFromEnv }
      : { SHCTL_ADMIN_EMAIL: "a@example.com", SHCTL_ADMIN_PASSWORD: adminPassword };
  const args = profile === "full" ? ["diff"] : ["diff", "--profile", "core"];
  const plain = await runCli(args, { cwd: projectDir, env });
  const json = await runCli([...args, "--json"], { cwd: projectDir, env });
  const exitCode = await runCli([...args, "--exit-code"], { cwd: projectDir, env });
  const { plan, result } = parseJsonOutput(json.stdout);
  const stack = await loadStack(defaultStack, {
    projectDir,
    env,
    ...(profile === "core" ? { profile: "core" } : {}),
  });
  const s: Scenario = { profile, projectDir, env, stack, plain, json, exitCode, plan, result };
  scenarios[profile] = s;
  return s;
}

const idOf = (plan: Plan) => new Map(plan.actions.map((a, i) => [a.id, i] as const));
const indexOf = (plan: Plan, id: string): number => {
  const i = plan.actions.findIndex((a) => a.id === id);
  expect(i, `${id} is in the plan`).toBeGreaterThanOrEqual(0);
  return i;
};
const servicesIn = (plan: Plan) =>
  plan.actions.filter((a) => a.kind === "container.create").map((a) => a.target);
const jobsIn = (plan: Plan) => plan.actions.filter((a) => a.kind === "job.run").map((a) => a.target);

let before: Awaited<ReturnType<typeof engineFootprint>>;
beforeAll(async () => {
  before = await engineFootprint();
});
afterAll(async () => {
  const { rm } = await import("node:fs/promises");
  for (const p of projects) await rm(p, { recursive: true, force: true });
});

describe("shctl diff on the Sentry stack against the real engine", () => {
  it("starts from an engine without the stack or its upstream images (else the plan would differ)", () => {
    expect(before.containers).toEqual([]);
    expect(before.networks).toEqual([]);
    expect(before.upstreamImages).toEqual([]);
    expect(before.builtByStack).toEqual([]);
  });

  for (const profile of ["full", "core"] as const) {
    describe(`profile ${profile}`, () => {
      it("exits 0, and 3 with --exit-code (everything is to be created); --json exits 0", async () => {
        const s = await runScenario(profile);
        expectCleanExit(s.plain, 0);
        expectCleanExit(s.json, 0);
        expectCleanExit(s.exitCode, 3);
        // --exit-code changes the status, not the output.
        expect(s.exitCode.stdout).toBe(s.plain.stdout);
        expect(s.result.changes).toBe(true);
        expect(s.result.conflicts).toBe(0);
        expect(s.result.stack).toBe(name);
        expect(s.result.profile).toBe(profile);
        expect(s.plan.profile).toBe(profile);
        expect(s.plan.stack).toBe(name);
        expect(s.plan.dataRoot).toBe(path.join(s.projectDir, "sentrydata"));
        expect(s.plan.conflicts).toEqual([]);
        expect(s.plan.unchanged).toEqual([]);
        expect(s.plan.containers).toEqual({});
      });

      it("creates every container of the profile and runs every init job", async () => {
        const s = await runScenario(profile);
        const { services: fullOnly } = await documentedFullOnly();
        const expected = UPSTREAM_SERVICES.filter((n) => profile === "full" || !fullOnly.includes(n));
        expect([...servicesIn(s.plan)].sort()).toEqual(expected);
        const jobs = [...INIT_JOBS, "admin-user"];
        expect([...jobsIn(s.plan)].sort()).toEqual([...jobs].sort());
        // Only creates, pulls, builds and jobs: nothing exists yet.
        const kinds = new Set(s.plan.actions.map((a) => a.kind));
        expect([...kinds].sort()).toEqual(
          ["container.create", "dir.create", "image.build", "image.pull", "job.run", "network.create"].sort(),
        );
        expect(s.plan.actions.filter((a) => a.kind === "network.create").map((a) => a.target)).toEqual([
          "default",
        ]);
        expect(s.result.summary).toEqual({
          create: s.plan.actions.filter((a) => a.kind !== "job.run").length,
          recreate: 0,
          update: 0,
          remove: 0,
          jobs: jobs.length,
          unchanged: 0,
        });
      });

      it("pulls every upstream image and builds the local ones", async () => {
        const s = await runScenario(profile);
        const drop = profile === "core" ? ["vroom", "vroom-cleanup"] : [];
        const pulls = s.plan.actions.filter((a) => a.kind === "image.pull").map((a) => a.target);
        const builds = s.plan.actions.filter((a) => a.kind === "image.build").map((a) => a.target);
        expect([...pulls].sort()).toEqual(PULLED.filter((k) => !drop.includes(k)).sort());
        expect([...builds].sort()).toEqual(BUILT.filter((k) => !drop.includes(k)).sort());
        // The built images carry the names images.ts gives them, pulled ones upstream's references.
        const localRefs = Object.values(LOCAL_IMAGES) as string[];
        for (const k of builds) expect(localRefs).toContain(s.stack.images[k]?.ref);
        const upstreamRefs = Object.values(UPSTREAM_IMAGES) as string[];
        for (const k of pulls) expect(upstreamRefs).toContain(s.stack.images[k]?.ref);
        // A built image comes after the image it is built from.
        const ids = idOf(s.plan);
        for (const k of builds) {
          for (const need of s.stack.images[k]?.needs ?? []) {
            const needId = ids.has(`image.pull:${need}`) ? `image.pull:${need}` : `image.build:${need}`;
            expect(indexOf(s.plan, needId)).toBeLessThan(indexOf(s.plan, `image.build:${k}`));
            expect(s.plan.actions[indexOf(s.plan, `image.build:${k}`)]?.after).toContain(needId);
          }
        }
      });

      it("creates every upstream volume as a directory under the data root, with its owner and mode, and the config dirs", async () => {
        const s = await runScenario(profile);
        const root = path.join(s.projectDir, "sentrydata");
        const dirs = s.plan.actions.filter((a) => a.kind === "dir.create") as Extract<
          Action,
          { kind: "dir.create" }
        >[];
        const byTarget = new Map(dirs.map((a) => [a.target, a] as const));
        const dataDirs = Object.keys(DATA_DIRS).filter((d) => profile === "full" || d !== "vroom");
        expect(
          Object.values(DATA_DIRS)
            .map((d) => d.volume)
            .sort(),
        ).toEqual([...UPSTREAM_VOLUMES].sort());
        for (const d of dataDirs) {
          const a = byTarget.get(path.join(root, d));
          expect(a, `dir ${d}`).toBeDefined();
          const spec = DATA_DIRS[d as keyof typeof DATA_DIRS];
          const [uid, gid] = spec.owner.split(":").map(Number);
          expect(a?.owner).toEqual({ uid, gid });
          expect(a?.mode).toBe(Number.parseInt(spec.mode, 8));
          expect(a?.resource).toEqual({ type: "dir", name: d });
        }
        // Both profiles here have a Redis password, so redis.conf's directory is mounted too.
        const configDirs = [...CONFIG_DIR_MOUNTS, CONFIG_DIRS.redis];
        for (const d of configDirs) expect(byTarget.has(path.join(root, d)), `dir ${d}`).toBe(true);
        expect(dirs).toHaveLength(dataDirs.length + configDirs.length);
        for (const a of dirs) expect(a.target.startsWith(`${root}${path.sep}`)).toBe(true);
      });

      it("orders every action after what it depends on", async () => {
        const s = await runScenario(profile);
        const ids = idOf(s.plan);
        expect(ids.size).toBe(s.plan.actions.length);
        // The plan's own edges: each exists and comes first.
        const edges = (a: Action) => [...a.after, ...("startAfter" in a ? a.startAfter : [])];
        s.plan.actions.forEach((a, i) => {
          for (const dep of edges(a)) {
            expect(ids.has(dep), `${a.id} depends on ${dep}, which is in the plan`).toBe(true);
            expect(ids.get(dep), `${dep} before ${a.id}`).toBeLessThan(i);
          }
        });
        // The stack's edges: every dependency, image and directory of a node is acted on first,
        // and the plan says so: materials in `after` (before the container is made), dependencies
        // in `after` or `startAfter` (before it starts).
        const nodeId = (n: string) => (s.stack.jobs[n] ? `job.run:${n}` : `container.create:${n}`);
        for (const node of [...Object.values(s.stack.services), ...Object.values(s.stack.jobs)]) {
          const id = nodeId(node.name);
          const action = s.plan.actions[indexOf(s.plan, id)] as Action;
          const spec = node.kind === "service" ? node : node.container;
          const prereqs = [
            ...(spec ? [`image.${s.stack.images[spec.image]?.build ? "build" : "pull"}:${spec.image}`] : []),
            ...(node.kind === "job" ? node.uses.map((u) => `image.pull:${u}`) : []),
            ...(spec?.mounts ?? []).flatMap((m) =>
              m.type === "bind" && m.kind === "dir" ? [`dir.create:${m.hostPath}`] : [],
            ),
          ];
          for (const p of prereqs) {
            expect(action.after, `${id} waits for ${p}`).toContain(p);
            expect(indexOf(s.plan, p), `${p} before ${id}`).toBeLessThan(indexOf(s.plan, id));
          }
          for (const p of node.deps.map((d) => nodeId(d.name))) {
            expect(edges(action), `${id} starts after ${p}`).toContain(p);
            expect(indexOf(s.plan, p), `${p} before ${id}`).toBeLessThan(indexOf(s.plan, id));
          }
        }
      });

      it("puts the init chain in upstream's order: database before `sentry upgrade` before web; topics and snuba's migrations before any consumer", async () => {
        const s = await runScenario(profile);
        const at = (id: string) => indexOf(s.plan, id);
        expect(at("job.run:prerequisites")).toBeLessThan(at("job.run:config"));
        expect(at("job.run:config")).toBeLessThan(at("container.create:postgres"));
        expect(at("container.create:postgres")).toBeLessThan(at("job.run:sentry-upgrade"));
        expect(at("job.run:sentry-upgrade")).toBeLessThan(at("container.create:web"));
        expect(at("job.run:sentry-upgrade")).toBeLessThan(at("job.run:admin-user"));
        expect(at("container.create:zookeeper")).toBeLessThan(at("container.create:kafka"));
        expect(at("container.create:kafka")).toBeLessThan(at("job.run:kafka-topics"));
        expect(at("container.create:clickhouse")).toBeLessThan(at("job.run:snuba-bootstrap"));
        expect(at("job.run:snuba-bootstrap")).toBeLessThan(at("job.run:snuba-migrate"));
        expect(at("job.run:snuba-bootstrap")).toBeLessThan(at("job.run:kafka-topics"));
        expect(at("job.run:kafka-topics")).toBeLessThan(at("job.run:sentry-upgrade"));
        expect(at("job.run:snuba-migrate")).toBeLessThan(at("job.run:sentry-upgrade"));
        expect(at("job.run:relay-credentials")).toBeLessThan(at("container.create:relay"));
        expect(at("container.create:web")).toBeLessThan(at("container.create:relay"));
        expect(at("container.create:relay")).toBeLessThan(at("container.create:nginx"));
        const consumers = servicesIn(s.plan).filter(
          (n) => n.startsWith("snuba-") || n.includes("consumer") || n.startsWith("ingest-"),
        );
        expect(consumers.length).toBeGreaterThan(20);
        for (const c of consumers) {
          expect(at("job.run:kafka-topics"), `topics before ${c}`).toBeLessThan(at(`container.create:${c}`));
          if (c.startsWith("snuba-")) {
            expect(at("job.run:snuba-migrate"), `snuba migrations before ${c}`).toBeLessThan(
              at(`container.create:${c}`),
            );
          } else {
            expect(at("job.run:sentry-upgrade"), `sentry upgrade before ${c}`).toBeLessThan(
              at(`container.create:${c}`),
            );
          }
        }
      });

      it("prints the same actions, in the same order, as the JSON plan, with the documented symbols", async () => {
        const s = await runScenario(profile);
        const lines = plainLines(s.plain.stdout);
        expect(lines.map((l) => l.resource)).toEqual(s.plan.actions.map((a) => resourceKey(a.resource)));
        const verb: Partial<Record<Action["kind"], [string, string]>> = {
          "network.create": ["+", "create"],
          "image.pull": ["+", "pull"],
          "image.build": ["+", "build"],
          "dir.create": ["+", "create"],
          "container.create": ["+", "create"],
          "job.run": [">", "run"],
        };
        s.plan.actions.forEach((a, i) => {
          expect([lines[i]?.symbol, lines[i]?.verb]).toEqual(verb[a.kind]);
        });
        const jobs = jobsIn(s.plan).length;
        const creates = s.plan.actions.length - jobs;
        expect(s.plain.stdout).toContain(`Plan: ${creates} to create, ${jobs} jobs to run.`);
      });

      it("keeps the Redis and admin passwords out of every output", async () => {
        const s = await runScenario(profile);
        // They did reach the stack (so their absence from the output means something).
        expect(s.stack.secrets).toEqual(expect.arrayContaining([adminPassword]));
        expect(s.stack.secrets).toEqual(
          expect.arrayContaining([profile === "full" ? redisFromEnv : redisFromYaml]),
        );
        expect(s.stack.services.redis?.env.find((e) => e.name === "REDISCLI_AUTH")?.secret).toBe(true);
        for (const r of [s.plain, s.json, s.exitCode]) {
          for (const secret of [redisFromEnv, redisFromYaml, adminPassword]) {
            expect(r.stdout).not.toContain(secret);
            expect(r.stderr).not.toContain(secret);
          }
        }
        // Any field change a plan shows for a secret is "(sensitive)" (an all-create plan has none).
        for (const a of s.plan.actions) {
          const changes = a.kind === "container.recreate" || a.kind === "container.update" ? a.changes : [];
          for (const ch of changes.filter((c) => c.sensitive))
            for (const v of [ch.before, ch.after]) expect([undefined, "(sensitive)"]).toContain(v);
        }
      });

      it("changes nothing: no data root, no files, no containers, networks or images", async () => {
        const s = await runScenario(profile);
        expect(existsSync(path.join(s.projectDir, "sentrydata"))).toBe(false);
        expect(await tree(s.projectDir)).toEqual(["shctl.yaml"]);
        const after = await engineFootprint();
        expect(after.containers).toEqual([]);
        expect(after.networks).toEqual([]);
        expect(after.upstreamImages).toEqual([]);
        expect(after.builtByStack).toEqual([]);
      });
    });
  }

  it("the core profile drops exactly the documented full-only services, and nothing else", async () => {
    const full = await runScenario("full");
    const core = await runScenario("core");
    const documented = await documentedFullOnly();
    expect([...documented.services].sort()).toEqual([...FULL_ONLY].sort());
    const dropped = servicesIn(full.plan).filter((n) => !servicesIn(core.plan).includes(n));
    expect(dropped.sort()).toEqual([...documented.services].sort());
    expect(servicesIn(core.plan).filter((n) => !servicesIn(full.plan).includes(n))).toEqual([]);
    // Beyond the services: only what they alone use (vroom's images and its data directory).
    const other = (p: Plan) =>
      p.actions
        .filter((a) => a.kind !== "container.create" && a.kind !== "job.run")
        .map((a) => resourceKey(a.resource))
        .sort();
    const extra = other(full.plan).filter((r) => !other(core.plan).includes(r));
    expect(extra.sort()).toEqual(["dir vroom", "image vroom", "image vroom-cleanup"]);
    expect(other(core.plan).filter((r) => !other(full.plan).includes(r))).toEqual([]);
    // Nothing in core waits for a service core does not run.
    for (const a of core.plan.actions)
      for (const dep of [...a.after, ...("startAfter" in a ? a.startAfter : [])])
        expect(documented.services.map((n) => `container.create:${n}`)).not.toContain(dep);
  });

  it("with config/geoip/GeoIP.conf, the full profile runs the geoipupdate job after config; core does not", async () => {
    const projectDir = await project(`stackName: ${name}\n`);
    const conf = path.join(projectDir, "sentrydata/config/geoip/GeoIP.conf");
    await mkdir(path.dirname(conf), { recursive: true });
    await writeFile(conf, "AccountID 0\nLicenseKey none\nEditionIDs GeoLite2-City\n");
    const treeBefore = await tree(projectDir);
    const full = await runCli(["diff", "--json"], { cwd: projectDir });
    const core = await runCli(["diff", "--json", "--profile", "core"], { cwd: projectDir });
    expectCleanExit(full, 0);
    expectCleanExit(core, 0);
    const fp = parseJsonOutput(full.stdout).plan;
    const cp = parseJsonOutput(core.stdout).plan;
    const documented = await documentedFullOnly();
    expect(documented.jobs).toEqual(["geoipupdate"]);
    expect(jobsIn(fp)).toContain("geoipupdate");
    expect(indexOf(fp, "job.run:config")).toBeLessThan(indexOf(fp, "job.run:geoipupdate"));
    expect(indexOf(fp, "image.pull:geoipupdate")).toBeLessThan(indexOf(fp, "job.run:geoipupdate"));
    expect(jobsIn(cp)).not.toContain("geoipupdate");
    expect(cp.actions.map((a) => a.id)).not.toContain("image.pull:geoipupdate");
    // The directory that exists is not planned; nothing was written beside the file.
    expect(fp.actions.map((a) => a.resource)).not.toContain("dir config/geoip");
    expect(await tree(projectDir)).toEqual(treeBefore);
  });

  it("profile: core in shctl.yaml, or SHCTL_PROFILE=core, plans the same as --profile core", async () => {
    const viaFlag = (await runScenario("core")).plan;
    const projectDir = await project(`stackName: ${name}\nredisPassword: ${redisFromYaml}\nprofile: core\n`);
    const env = { SHCTL_ADMIN_EMAIL: "a@example.com", SHCTL_ADMIN_PASSWORD: adminPassword };
    const viaYaml = await runCli(["diff", "--json"], { cwd: projectDir, env });
    const viaEnv = await runCli(["diff", "--json"], {
      cwd: projectDir,
      env: { ...env, SHCTL_PROFILE: "core" },
    });
    for (const r of [viaYaml, viaEnv]) {
      expectCleanExit(r, 0);
      const { plan, result } = parseJsonOutput(r.stdout);
      expect(result.profile).toBe("core");
      expect(plan.actions.map((a) => a.resource)).toEqual(viaFlag.actions.map((a) => a.resource));
    }
  });
});

describe("shctl diff on the Sentry stack when a container exists", () => {
  // Sentry's redis image cannot be pulled here; the fixture image stands in for it (image
  // override), and only redis (its network and data directory) is created, without a password.
  const recName = stackName("sdiffrec");
  const password = `RedisNewPw-${Math.random().toString(36).slice(2, 10)}`;
  let projectDir: string;
  let stack: ResolvedStack | undefined;
  const env = { SHCTL_IMAGE_REDIS: toolsImage().ref };

  beforeAll(async () => {
    // Was a flake on a fresh engine: the subset below has no image action, so the image must exist.
    await ensureToolsImage();
    projectDir = await tempProject("shctl-sdiffrec-");
    await writeFile(path.join(projectDir, "shctl.yaml"), `stackName: ${recName}\nprofile: full\n`);
    stack = await loadStack(defaultStack, { projectDir, env });
    const plan = await diff(stack, engine);
    const root = path.join(projectDir, "sentrydata");
    const only = new Set([
      "network.create:default",
      `dir.create:${path.join(root, "redis")}`,
      "container.create:redis",
    ]);
    const subset: Plan = { ...plan, actions: plan.actions.filter((a) => only.has(a.id)) };
    expect(subset.actions).toHaveLength(3);
    await execute(subset, stack, engine, { wait: false });
  });
  afterAll(async () => {
    await cleanup(stack, projectDir);
  });

  it("a new Redis password recreates redis and shows the secret as (sensitive), never its value", async () => {
    expect(Object.keys(await engine.listContainers([`${LABEL.stack}=${recName}`]))).toHaveLength(1);
    const withPassword = { ...env, SHCTL_REDIS_PASSWORD: password };
    const plain = await runCli(["diff", "--exit-code"], { cwd: projectDir, env: withPassword });
    const json = await runCli(["diff", "--json"], { cwd: projectDir, env: withPassword });
    expectCleanExit(plain, 3);
    expectCleanExit(json, 0);
    for (const r of [plain, json]) expect(`${r.stdout}${r.stderr}`).not.toContain(password);
    expect(plain.stdout).toMatch(/-\/\+ service redis\s+recreate/);
    expect(plain.stdout).toMatch(/^\s+env\.REDISCLI_AUTH: \(none\) → \(sensitive\)$/m);
    const { plan } = parseJsonOutput(json.stdout);
    const redis = plan.actions.find((a) => a.id === "container.recreate:redis") as
      | Extract<Action, { kind: "container.recreate" }>
      | undefined;
    expect(redis?.containerId).toBeTypeOf("string");
    expect(redis?.changes).toContainEqual({
      field: "env.REDISCLI_AUTH",
      before: undefined,
      after: "(sensitive)",
      sensitive: true,
    });
    // The recreate waits for the config job that writes redis.conf, which holds the password.
    expect(redis?.after).toContain("job.run:config");
    expect(plan.containers).toHaveProperty("redis");
    // Without the password, the same container is left alone.
    const same = await runCli(["diff", "--json"], { cwd: projectDir, env });
    expect(parseJsonOutput(same.stdout).plan.actions.map((a) => a.id)).not.toContain(
      "container.recreate:redis",
    );
  });
});
