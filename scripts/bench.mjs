// Benchmark: shctl against the real Docker Engine, next to the raw Engine API bound and (when
// Debian's docker-compose v1 is on PATH) docker-compose. It prints figures and asserts nothing.
//
//   npm run bench                                   # BENCH_SIZES=10,40 BENCH_RUNS=3
//   BENCH_SIZES=10 BENCH_RUNS=1 node scripts/bench.mjs
//   BENCH_SIZES=none …                              # the health-gated chain only
//   BENCH_HEALTH_INTERVAL_S=30 …                    # N-service healthchecks every 30 s (a quiet steady state)
//   BENCH_PROCESS_SAMPLES=5 …                      # interleaved samples of each process row per run
//   BENCH_CLI=path/to/main.js …                    # another CLI build for the no-op CLI processes
//
//   BENCH_CHAIN=0 …                                 # without the health-gated chain
//   BENCH_CHAIN_COMPOSE=0 …                         # the chain without docker-compose (it takes ~3.5 min)
//
// Each stack: N services of the fixture tools image (`sleep infinity` under tini), one network, a
// bind mount each under a temp data root, a healthcheck each (every 1 s, or BENCH_HEALTH_INTERVAL_S). The chain: 7 services named like
// Sentry's health-gated start (zookeeper → kafka → … → nginx), each ready 2 s after it starts, with
// upstream's healthcheck interval (30 s) and a readiness probe; its floor is 7 × 2 s. Everything it
// creates carries the label io.shctl.bench=<run id> and is removed at the end, also after an error or
// Ctrl-C.

import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { apply, connectEngine, createReach, loadStack, teardown } from "@sh/core";
import { LABEL } from "@sh/core/internals";
import Docker from "dockerode";
import { stringify } from "yaml";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.resolve(process.env.BENCH_CLI ?? path.join(REPO, "packages/cli/dist/main.js"));
const CLI_SHOWN = CLI.startsWith(`${REPO}${path.sep}`) ? path.relative(REPO, CLI) : CLI;
const TOOLS_CONTEXT = path.join(REPO, "test/fixtures/tools");
const BASE_IMAGE = process.env.SHCTL_TEST_BASE_IMAGE ?? "shctl-test/base:bookworm";
const TOOLS_REF = "shctl-test/tools:latest";

const SIZES = (process.env.BENCH_SIZES ?? "10,40")
  .split(",")
  .map((s) => Number.parseInt(s.trim(), 10))
  .filter((n) => Number.isInteger(n) && n > 0);
const RUNS = Math.max(1, Number.parseInt(process.env.BENCH_RUNS ?? "3", 10) || 3);
// Process timings are short and noisy: each run takes this many interleaved samples of each.
const PROCESS_SAMPLES = Math.max(1, Number.parseInt(process.env.BENCH_PROCESS_SAMPLES ?? "5", 10) || 5);
const RUN_ID = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const BENCH_LABEL = "io.shctl.bench";
const HEALTH_TIMEOUT_MS = 120_000;
// The N-service stacks' healthcheck interval in seconds. At 1 s, N checks a second (one `runc exec`
// each) can saturate a small machine while the steady-state rows (no-op, teardown) are timed; a
// longer interval keeps it quiet (the cold rows then include it); s01, the service the one-change
// row recreates, keeps 1 s.
const HEALTH_INTERVAL_S = Math.max(1, Number.parseInt(process.env.BENCH_HEALTH_INTERVAL_S ?? "1", 10) || 1);
/** Service i's interval: the one the one-change row recreates (s01) always checks every 1 s. */
const healthEvery = (i) => (i === 1 ? 1 : HEALTH_INTERVAL_S);
const CHAIN = ["zookeeper", "kafka", "clickhouse", "snuba-api", "web", "relay", "nginx"];
const CHAIN_READY_AFTER_S = 2;
const CHAIN_FLOOR_MS = CHAIN.length * CHAIN_READY_AFTER_S * 1000;
const CHAIN_ON = process.env.BENCH_CHAIN !== "0";
const CHAIN_COMPOSE_ON = process.env.BENCH_CHAIN_COMPOSE !== "0";
const CHAIN_TIMEOUT_MS = 600_000;
const POLL_MS = 100;

const engine = connectEngine();
const docker = new Docker();

// Everything to remove at the end.
const created = { stacks: new Set(), composeProjects: new Set(), dirs: new Set() };

// ---- small helpers -----------------------------------------------------------------------

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const svcName = (i) => `s${String(i).padStart(2, "0")}`;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function fmtMs(ms) {
  if (!Number.isFinite(ms)) return "n/a";
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function fmtRatio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "n/a";
}

function pad(s, n) {
  return String(s).padEnd(n);
}

function padL(s, n) {
  return String(s).padStart(n);
}

/** Runs a process to its end; resolves with its wall time (spawn → close), exit code and output. */
function timeProcess(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, CI: "true", NO_COLOR: "1", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ ms: now() - t0, code, stdout, stderr }));
  });
}

function firstLine(text) {
  return (
    text
      .split("\n")
      .map((l) => l.trim())
      .find(Boolean) ?? ""
  );
}

/** Polls inspect on every container until all report healthy; returns the time that happened. */
async function waitAllHealthy(ids) {
  const deadline = now() + HEALTH_TIMEOUT_MS;
  for (;;) {
    const states = await Promise.all(ids.map((id) => docker.getContainer(id).inspect()));
    if (states.every((s) => s.State.Health?.Status === "healthy")) return now();
    const dead = states.find((s) => s.State.Status === "exited" || s.State.Status === "dead");
    if (dead) throw new Error(`${dead.Name} exited with code ${dead.State.ExitCode}`);
    if (now() > deadline) throw new Error(`not all healthy after ${HEALTH_TIMEOUT_MS / 1000} s`);
    await sleep(POLL_MS);
  }
}

function callsOf(c) {
  return { read: c.read, mutating: c.mutating, byOperation: { ...c.byOperation } };
}

// ---- the stack, as shctl input, YAML and compose file ------------------------------------

function stackInput(name, n, { changed = false } = {}) {
  const services = {};
  for (let i = 1; i <= n; i++) {
    const s = svcName(i);
    services[s] = {
      image: "tools",
      command: ["sleep", "infinity"],
      env: { BENCH_V: changed && i === 1 ? "1" : "0" },
      mounts: [{ source: s, target: "/data" }],
      healthcheck: { test: ["CMD", "true"], interval: `${healthEvery(i)}s` },
      labels: { [BENCH_LABEL]: RUN_ID },
    };
  }
  return {
    name,
    dataRoot: "./data",
    networks: { net: { labels: { [BENCH_LABEL]: RUN_ID } } },
    images: { tools: { ref: TOOLS_REF, build: { context: TOOLS_CONTEXT, args: { BASE: BASE_IMAGE } } } },
    services,
  };
}

function composeFile(n) {
  const services = {};
  for (let i = 1; i <= n; i++) {
    const s = svcName(i);
    services[s] = {
      image: TOOLS_REF,
      command: ["sleep", "infinity"],
      environment: { BENCH_V: "0" },
      volumes: [`./data/${s}:/data`],
      // The same values shctl sends (its defaults: timeout 30s, retries 3).
      healthcheck: { test: ["CMD", "true"], interval: `${healthEvery(i)}s`, timeout: "30s", retries: 3 },
      networks: ["net"],
      labels: { [BENCH_LABEL]: RUN_ID },
    };
  }
  return { version: "2.4", services, networks: { net: { labels: { [BENCH_LABEL]: RUN_ID } } } };
}

async function tempDir(tag) {
  const dir = await mkdtemp(path.join(tmpdir(), `shctl-bench-${tag}-`));
  created.dirs.add(dir);
  return dir;
}

// ---- phases --------------------------------------------------------------------------------

/** Times of the events of one apply/teardown, relative to its start. */
function eventClock(t0) {
  const marks = { plan: Number.NaN, lastRunning: Number.NaN, lastHealthy: Number.NaN, lastDone: 0 };
  const onEvent = (e) => {
    const t = now() - t0;
    if (e.type === "plan") marks.plan = t;
    else if (e.type === "phase" && e.resource.startsWith("service ")) {
      if (e.phase === "running") marks.lastRunning = t;
      else if (e.phase === "healthy") marks.lastHealthy = t;
      else if (e.phase === "done") marks.lastDone = t;
    }
  };
  return { marks, onEvent };
}

async function shctlRun(n, projectDir, stack, changedStack, out) {
  // Cold apply, until all healthy.
  engine.resetCalls();
  let t0 = now();
  let clock = eventClock(t0);
  const cold = await apply(stack, engine, { onEvent: clock.onEvent });
  out.cold.push(now() - t0);
  out.coldCalls = callsOf(engine.calls);
  out.coldActions = cold.plan.actions.length;
  out.coldMarks.push(clock.marks);

  // Whole processes while the N containers run, interleaved so that load changes hit each alike:
  // a bare Node process, the raw one that lists and inspects them (dockerode only), the CLI's
  // no-op apply, the same with SHCTL_NO_CACHE=1 (the stack file parsed and validated again, as
  // after an edit), and a bare process that imports @sh/core and applies the YAML.
  const listScript = [
    'const Docker = require("dockerode");',
    "const d = new Docker();",
    "d.listContainers({ all: true, filters: { label: [process.argv[1]] } })",
    "  .then((l) => Promise.all(l.map((c) => d.getContainer(c.Id).inspect())))",
    "  .then((r) => console.log(r.length));",
  ].join("\n");
  // The no-op's floor: node's start, dockerode's load and one list
  // per kind shctl reads (containers, networks, images), nothing else.
  const floorScript = [
    'const Docker = require("dockerode");',
    "const d = new Docker();",
    "const label = { label: [process.argv[1]] };",
    "Promise.all([d.listContainers({ all: true, filters: label }), d.listNetworks({ filters: label }), d.listImages()])",
    "  .then(([c]) => console.log(c.length));",
  ].join("\n");
  const bareScript = [
    'import { apply, connectEngine, loadStack } from "@sh/core";',
    "const r = await apply(await loadStack(process.argv[1]), connectEngine());",
    "console.log(r.plan.actions.length);",
  ].join("\n");
  const cli = (env) =>
    timeProcess(process.execPath, [CLI, "apply", "-f", "stack.yaml"], { cwd: projectDir, env });
  for (let i = 0; i < PROCESS_SAMPLES; i++) {
    out.nodeEmpty.push((await timeProcess(process.execPath, ["-e", ""])).ms);
    const raw = await timeProcess(process.execPath, ["-e", listScript, `${LABEL.stack}=${stack.name}`]);
    if (raw.code !== 0 || Number(raw.stdout.trim()) !== n)
      throw new Error(
        `list+inspect process: exit ${raw.code}, printed ${firstLine(raw.stdout + raw.stderr)}`,
      );
    out.rawListInspect.push(raw.ms);
    const floor = await timeProcess(process.execPath, ["-e", floorScript, `${LABEL.stack}=${stack.name}`]);
    if (floor.code !== 0 || Number(floor.stdout.trim()) !== n)
      throw new Error(`list process: exit ${floor.code}, printed ${firstLine(floor.stdout + floor.stderr)}`);
    out.rawLists.push(floor.ms);

    if (existsSync(CLI)) {
      const r = await cli({});
      if (r.code === 0) out.noopCli.push(r.ms);
      else out.cliError ??= `exit ${r.code}: ${firstLine(r.stderr) || firstLine(r.stdout)}`;
      const u = await cli({ SHCTL_NO_CACHE: "1" });
      if (u.code === 0) out.noopCliUncached.push(u.ms);
      else out.uncachedError ??= `exit ${u.code}: ${firstLine(u.stderr) || firstLine(u.stdout)}`;
    } else out.cliError ??= `${CLI_SHOWN} is not built`;

    const bare = await timeProcess(process.execPath, [
      "--input-type=module",
      "-e",
      bareScript,
      path.join(projectDir, "stack.yaml"),
    ]);
    if (bare.code !== 0 || bare.stdout.trim() !== "0")
      throw new Error(
        `bare no-op process: exit ${bare.code}, printed ${firstLine(bare.stdout + bare.stderr)}`,
      );
    out.noopBare.push(bare.ms);
  }

  // One no-op CLI process with its peak RSS (a separate sample: the preload is not in the timed ones).
  if (existsSync(CLI)) out.noopRss.push((await cliWithRss(["apply", "-f", "stack.yaml"], projectDir)).rssMiB);

  // No-op apply through the library, to count its calls.
  engine.resetCalls();
  t0 = now();
  const noop = await apply(stack, engine);
  out.noopLib.push(now() - t0);
  out.noopCalls = callsOf(engine.calls);
  out.noopActions = noop.plan.actions.length;

  // One change: one service's env, so one container is recreated (and waited for).
  engine.resetCalls();
  t0 = now();
  const change = await apply(changedStack, engine);
  out.change.push(now() - t0);
  out.changeCalls = callsOf(engine.calls);
  out.changeActions = change.plan.actions.length;

  // Teardown.
  engine.resetCalls();
  t0 = now();
  clock = eventClock(t0);
  await teardown(stack, engine, { onEvent: clock.onEvent });
  out.teardown.push(now() - t0);
  out.teardownCalls = callsOf(engine.calls);
  out.teardownMarks.push(clock.marks);

  await rm(stack.dataRoot, { recursive: true, force: true });
}

async function rawRun(n, dir, tag, out) {
  const netName = `${tag}_net`;
  const labels = { [BENCH_LABEL]: RUN_ID, "io.shctl.bench.raw": tag };
  const t0 = now();
  const net = await docker.createNetwork({
    Name: netName,
    Driver: "bridge",
    CheckDuplicate: true,
    Labels: labels,
  });
  const names = Array.from({ length: n }, (_, i) => svcName(i + 1));
  await Promise.all(names.map((s) => mkdir(path.join(dir, "data", s), { recursive: true })));
  const containers = await Promise.all(
    names.map((s, i) =>
      docker.createContainer({
        name: `${tag}-${s}`,
        Image: TOOLS_REF,
        Cmd: ["sleep", "infinity"],
        Env: ["BENCH_V=0"],
        Labels: labels,
        Healthcheck: {
          Test: ["CMD", "true"],
          Interval: healthEvery(i + 1) * 1e9,
          Timeout: 30e9,
          Retries: 3,
          StartPeriod: 0,
        },
        StopTimeout: 10,
        HostConfig: {
          Binds: [`${path.join(dir, "data", s)}:/data:rw`],
          RestartPolicy: { Name: "no" },
          NetworkMode: netName,
        },
        NetworkingConfig: { EndpointsConfig: { [netName]: { Aliases: [s] } } },
      }),
    ),
  );
  const createdAt = now() - t0;
  await Promise.all(containers.map((c) => c.start()));
  const startedAt = now() - t0;
  const healthyAt = (await waitAllHealthy(containers.map((c) => c.id))) - t0;
  out.rawUp.push(healthyAt);
  out.rawMarks.push({ createdAt, startedAt, healthyAt });

  const t1 = now();
  await Promise.all(containers.map((c) => c.remove({ force: true })));
  const removedAt = now() - t1;
  await net.remove();
  out.rawDown.push(now() - t1);
  out.rawDownMarks.push({ removedAt });
  await rm(path.join(dir, "data"), { recursive: true, force: true });
}

async function composeRun(n, dir, project, out) {
  const args = ["-p", project, "-f", path.join(dir, "docker-compose.yml")];
  const byProject = { all: true, filters: { label: [`com.docker.compose.project=${project}`] } };

  const t0 = now();
  const up = await timeProcess("docker-compose", [...args, "up", "-d"], { cwd: dir });
  if (up.code !== 0) throw new Error(`docker-compose up -d: exit ${up.code}: ${firstLine(up.stderr)}`);
  const upReturned = now() - t0;
  const list = await docker.listContainers(byProject);
  if (list.length !== n) throw new Error(`docker-compose up -d made ${list.length} containers, not ${n}`);
  const healthyAt = (await waitAllHealthy(list.map((c) => c.Id))) - t0;
  out.composeCold.push(healthyAt);
  out.composeMarks.push({ upReturned, healthyAt });

  const noop = await timeProcess("docker-compose", [...args, "up", "-d"], { cwd: dir });
  if (noop.code !== 0) throw new Error(`docker-compose up -d (no-op): exit ${noop.code}`);
  out.composeNoop.push(noop.ms);

  const down = await timeProcess("docker-compose", [...args, "down"], { cwd: dir });
  if (down.code !== 0) throw new Error(`docker-compose down: exit ${down.code}: ${firstLine(down.stderr)}`);
  out.composeDown.push(down.ms);
  await rm(path.join(dir, "data"), { recursive: true, force: true });
}

// ---- the health-gated chain --------------------------------------------------------------------

// Ready CHAIN_READY_AFTER_S after it starts: then an HTTP server answers on 8080.
const CHAIN_CMD = `sleep ${CHAIN_READY_AFTER_S}; mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www`;
const CHAIN_HEALTH = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"];

function chainInput(name) {
  const services = {};
  CHAIN.forEach((s, i) => {
    services[s] = {
      image: "tools",
      command: ["bash", "-c", CHAIN_CMD],
      // Upstream's settings: the engine checks every 30 s; shctl's readiness probe gates dependents.
      healthcheck: { test: CHAIN_HEALTH, interval: "30s", timeout: "5s", retries: 3 },
      readiness: [{ http: { port: 8080, path: "/" } }],
      ...(i > 0 ? { dependsOn: { [CHAIN[i - 1]]: { condition: "healthy" } } } : {}),
      labels: { [BENCH_LABEL]: RUN_ID },
    };
  });
  return {
    name,
    networks: { net: { labels: { [BENCH_LABEL]: RUN_ID } } },
    images: { tools: { ref: TOOLS_REF, build: { context: TOOLS_CONTEXT, args: { BASE: BASE_IMAGE } } } },
    services,
  };
}

function chainComposeFile() {
  const services = {};
  CHAIN.forEach((s, i) => {
    services[s] = {
      image: TOOLS_REF,
      command: ["bash", "-c", CHAIN_CMD.replaceAll("$", "$$")],
      healthcheck: { test: CHAIN_HEALTH, interval: "30s", timeout: "5s", retries: 3 },
      ...(i > 0 ? { depends_on: { [CHAIN[i - 1]]: { condition: "service_healthy" } } } : {}),
      networks: ["net"],
      labels: { [BENCH_LABEL]: RUN_ID },
    };
  });
  return { version: "2.4", services, networks: { net: { labels: { [BENCH_LABEL]: RUN_ID } } } };
}

let rssPreload;
/** A CommonJS preload that writes the process's peak RSS (KiB) to $BENCH_RSS_FILE when it exits. */
async function rssPreloadFile() {
  if (!rssPreload) {
    rssPreload = path.join(await tempDir("rss"), "rss.cjs");
    await writeFile(
      rssPreload,
      'process.on("exit", () => require("node:fs").writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));\n',
    );
  }
  return rssPreload;
}

/** Runs the CLI with the RSS preload; resolves with the process's wall time, exit code and peak RSS (MiB). */
async function cliWithRss(args, cwd) {
  const file = path.join(path.dirname(await rssPreloadFile()), `rss-${Date.now()}-${Math.random()}`);
  const r = await timeProcess(process.execPath, ["--require", await rssPreloadFile(), CLI, ...args], {
    cwd,
    env: { BENCH_RSS_FILE: file },
  });
  const kib = Number((await readFile(file, "utf8").catch(() => "")).trim());
  return { ...r, rssMiB: Number.isFinite(kib) && kib > 0 ? kib / 1024 : Number.NaN };
}

/** The chain through the CLI, whole process: start to return (the last service ready). */
async function chainShctl(out) {
  const name = `bench-chain-${RUN_ID}`;
  created.stacks.add(name);
  const dir = await tempDir("chain");
  await writeFile(path.join(dir, "stack.yaml"), stringify(chainInput(name)));
  const r = await cliWithRss(["apply", "-f", "stack.yaml", "--yes"], dir);
  if (r.code !== 0)
    throw new Error(`chain apply: exit ${r.code}: ${firstLine(r.stderr) || firstLine(r.stdout)}`);
  out.chainShctl.push(r.ms);
  out.chainRss.push(r.rssMiB);
  const down = await timeProcess(process.execPath, [CLI, "teardown", "-f", "stack.yaml", "--yes"], {
    cwd: dir,
  });
  if (down.code !== 0) throw new Error(`chain teardown: exit ${down.code}: ${firstLine(down.stderr)}`);
}

/**
 * The chain's raw bound, what the engine allows: the network and every container created at once
 * through the Engine API, then each started as soon as the one before answers HTTP, polled every
 * 50 ms through the same reach shctl's probes use. Its time less the floor is the engine's own
 * cost per hop (a container start), which no tool avoids.
 */
async function chainRaw(out) {
  const name = `bench-chain-raw-${RUN_ID}`;
  const labels = { [BENCH_LABEL]: RUN_ID };
  const t0 = now();
  await docker.createNetwork({ Name: name, Labels: labels });
  const reach = createReach(engine, { name, networks: { net: { dockerName: name } } });
  try {
    const containers = await Promise.all(
      CHAIN.map((s) =>
        docker.createContainer({
          name: `${name}-${s}`,
          Image: TOOLS_REF,
          Cmd: ["bash", "-c", CHAIN_CMD],
          Labels: labels,
          Healthcheck: { Test: CHAIN_HEALTH, Interval: 30e9, Timeout: 5e9, Retries: 3 },
          HostConfig: { NetworkMode: name },
        }),
      ),
    );
    for (const c of containers) {
      await c.start();
      const ip = (await c.inspect()).NetworkSettings.Networks[name].IPAddress;
      const deadline = now() + CHAIN_TIMEOUT_MS;
      while (!(await answers(reach, ip))) {
        if (now() > deadline) throw new Error(`chain raw: ${ip}:8080 did not answer`);
        await sleep(50);
      }
    }
    out.chainRaw.push(now() - t0);
  } finally {
    await reach.close().catch(() => undefined);
    const list = await docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=${RUN_ID}`] } });
    await Promise.all(
      list
        .filter((c) => c.Names.some((n) => n.startsWith(`/${name}-`)))
        .map((c) => docker.getContainer(c.Id).remove({ force: true })),
    );
    await docker
      .getNetwork(name)
      .remove()
      .catch(() => undefined);
  }
}

/** Whether ip:8080 answers a GET of / with 200, through the reach. */
function answers(reach, ip) {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: ip,
        port: 8080,
        path: "/",
        createConnection: () => reach.socket(ip, 8080),
        timeout: 3000,
        headers: { connection: "close" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode === 200));
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

/** The chain through docker-compose v1: `up -d` until the last service's healthcheck says healthy. */
async function chainCompose(out) {
  const project = `bench-chain-compose-${RUN_ID}`;
  created.composeProjects.add(project);
  const dir = await tempDir("chain-compose");
  await writeFile(path.join(dir, "docker-compose.yml"), stringify(chainComposeFile()));
  const args = ["-p", project, "-f", path.join(dir, "docker-compose.yml")];
  const t0 = now();
  const up = await timeProcess("docker-compose", [...args, "up", "-d"], { cwd: dir });
  if (up.code !== 0) throw new Error(`chain: docker-compose up -d: exit ${up.code}: ${firstLine(up.stderr)}`);
  const list = await docker.listContainers({
    all: true,
    filters: {
      label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${CHAIN.at(-1)}`],
    },
  });
  if (list.length !== 1)
    throw new Error(`chain: docker-compose made ${list.length} ${CHAIN.at(-1)} containers`);
  const deadline = now() + CHAIN_TIMEOUT_MS;
  for (;;) {
    const st = await docker.getContainer(list[0].Id).inspect();
    if (st.State.Health?.Status === "healthy") break;
    if (now() > deadline)
      throw new Error(`chain: ${CHAIN.at(-1)} not healthy after ${CHAIN_TIMEOUT_MS / 1000} s`);
    await sleep(POLL_MS);
  }
  out.chainCompose.push(now() - t0);
  const down = await timeProcess("docker-compose", [...args, "down"], { cwd: dir });
  if (down.code !== 0) throw new Error(`chain: docker-compose down: exit ${down.code}`);
}

async function benchChain(withCompose) {
  const out = { chainShctl: [], chainRss: [], chainCompose: [], chainRaw: [] };
  for (let r = 1; r <= RUNS; r++) {
    process.stderr.write(`  chain run ${r}/${RUNS}: raw Engine API, then shctl\n`);
    await chainRaw(out);
    await chainShctl(out);
  }
  if (withCompose) {
    process.stderr.write("  chain: docker-compose (once; ~3.5 min)\n");
    await chainCompose(out);
  }
  const lines = ["", `Health-gated chain: ${CHAIN.join(" → ")}`];
  lines.push(
    `  each ready ${CHAIN_READY_AFTER_S} s after it starts, healthcheck interval 30 s, a readiness probe · floor ${fmtMs(CHAIN_FLOOR_MS)}`,
  );
  lines.push(row(`raw Engine API bound (${RUNS} run(s))`, out.chainRaw));
  lines.push(
    `  ${pad("  beyond the floor, per hop", 46)}${padL(`${fmtMs((median(out.chainRaw) - CHAIN_FLOOR_MS) / CHAIN.length)}`, 9)} per hop`,
  );
  lines.push(row(`shctl apply, CLI process, start to return (${RUNS} run(s))`, out.chainShctl));
  lines.push(`  ${pad("shctl apply, CLI peak RSS", 46)}${padL(`${median(out.chainRss).toFixed(0)} MiB`, 9)}`);
  if (withCompose) lines.push(row("docker-compose up -d, until the last is healthy", out.chainCompose));
  lines.push(
    `  shctl / floor ${fmtRatio(median(out.chainShctl), CHAIN_FLOOR_MS)} · shctl / raw bound ${fmtRatio(median(out.chainShctl), median(out.chainRaw))}` +
      (withCompose ? ` · compose / shctl ${fmtRatio(median(out.chainCompose), median(out.chainShctl))}` : ""),
  );
  console.log(lines.join("\n"));
  return out;
}

// ---- one size ------------------------------------------------------------------------------

async function benchSize(n, withCompose) {
  const out = {
    n,
    cold: [],
    coldMarks: [],
    noopCli: [],
    noopBare: [],
    noopCliUncached: [],
    noopRss: [],
    noopLib: [],
    change: [],
    teardown: [],
    teardownMarks: [],
    rawUp: [],
    rawDown: [],
    rawDownMarks: [],
    rawMarks: [],
    rawListInspect: [],
    rawLists: [],
    nodeEmpty: [],
    composeCold: [],
    composeNoop: [],
    composeDown: [],
    composeMarks: [],
    cliError: undefined,
    uncachedError: undefined,
  };

  const name = `bench-n${n}-${RUN_ID}`;
  created.stacks.add(name);
  const projectDir = await tempDir(`n${n}`);
  const input = stackInput(name, n);
  // The CLI reads the YAML; the library loads the same file, so both apply the same content.
  await writeFile(path.join(projectDir, "stack.yaml"), stringify(input));
  const stack = await loadStack(path.join(projectDir, "stack.yaml"));
  const changedStack = await loadStack(stackInput(name, n, { changed: true }), { projectDir });

  const rawTag = `bench-raw-n${n}-${RUN_ID}`;
  const rawDir = await tempDir(`raw-n${n}`);

  const project = `bench-compose-n${n}-${RUN_ID}`;
  const composeDir = await tempDir(`compose-n${n}`);
  if (withCompose) {
    created.composeProjects.add(project);
    await writeFile(path.join(composeDir, "docker-compose.yml"), stringify(composeFile(n)));
  }

  for (let r = 1; r <= RUNS; r++) {
    process.stderr.write(`  N=${n} run ${r}/${RUNS}: shctl`);
    await shctlRun(n, projectDir, stack, changedStack, out);
    process.stderr.write(", raw");
    await rawRun(n, rawDir, rawTag, out);
    if (withCompose) {
      process.stderr.write(", compose");
      await composeRun(n, composeDir, project, out);
    }
    process.stderr.write("\n");
  }
  return out;
}

// ---- report --------------------------------------------------------------------------------

function row(label, xs, calls) {
  const m = median(xs);
  const range = xs.length > 1 ? `${fmtMs(Math.min(...xs))}–${fmtMs(Math.max(...xs))}` : "";
  const c = calls ? `${calls.read} / ${calls.mutating}` : "";
  return `  ${pad(label, 46)}${padL(fmtMs(m), 9)}  ${pad(range, 20)}${c}`;
}

function ops(calls) {
  return Object.entries(calls.byOperation)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}

function medianMark(marks, key) {
  return median(marks.map((m) => m[key]).filter(Number.isFinite));
}

function report(o, withCompose) {
  const lines = [];
  lines.push("");
  lines.push(
    `N = ${o.n} services · ${RUNS} run(s), ${PROCESS_SAMPLES} samples per run for process rows · median, min–max`,
  );
  lines.push(`  ${pad("phase", 46)}${padL("median", 9)}  ${pad("min–max", 20)}API calls read / mutating`);
  lines.push(`  ${"-".repeat(104)}`);
  lines.push(row(`shctl cold apply, until healthy (${o.coldActions} actions)`, o.cold, o.coldCalls));
  lines.push(
    o.noopCli.length > 0
      ? row("shctl no-op apply, CLI process", o.noopCli)
      : `  ${pad("shctl no-op apply, CLI process", 46)}${padL("n/a", 9)}  (${o.cliError})`,
  );
  lines.push(
    o.noopCliUncached.length > 0 || !o.uncachedError
      ? row("shctl no-op apply, CLI, stack file not cached", o.noopCliUncached)
      : `  ${pad("shctl no-op apply, CLI, stack file not cached", 46)}${padL("n/a", 9)}  (${o.uncachedError})`,
  );
  lines.push(
    `  ${pad("shctl no-op apply, CLI peak RSS", 46)}${padL(`${median(o.noopRss).toFixed(0)} MiB`, 9)}`,
  );
  lines.push(row("shctl no-op apply, bare process (node + core)", o.noopBare));
  lines.push(row(`shctl no-op apply, library (${o.noopActions} actions)`, o.noopLib, o.noopCalls));
  lines.push(row(`shctl one-change apply, library (${o.changeActions} actions)`, o.change, o.changeCalls));
  lines.push(row("shctl teardown, library", o.teardown, o.teardownCalls));
  lines.push(row("raw API: create+start all in parallel, healthy", o.rawUp));
  lines.push(row("raw API: remove all in parallel (force)", o.rawDown));
  lines.push(row("raw process: node -e list+inspect by label", o.rawListInspect));
  lines.push(row("raw process: node + dockerode + 3 lists (floor)", o.rawLists));
  lines.push(row("node process: node -e '' (startup only)", o.nodeEmpty));
  if (withCompose) {
    lines.push(row("docker-compose up -d cold, until healthy", o.composeCold));
    lines.push(row("docker-compose up -d no-op", o.composeNoop));
    lines.push(row("docker-compose down", o.composeDown));
  }
  lines.push("");
  lines.push("  where the time goes (medians, from the start of each phase):");
  lines.push(
    `    shctl cold apply: planned ${fmtMs(medianMark(o.coldMarks, "plan"))}, ` +
      `last service running ${fmtMs(medianMark(o.coldMarks, "lastRunning"))}, ` +
      `last healthy ${fmtMs(medianMark(o.coldMarks, "lastHealthy"))}`,
  );
  lines.push(
    `    raw API up:       all created ${fmtMs(medianMark(o.rawMarks, "createdAt"))}, ` +
      `all started ${fmtMs(medianMark(o.rawMarks, "startedAt"))}, ` +
      `all healthy ${fmtMs(medianMark(o.rawMarks, "healthyAt"))}`,
  );
  lines.push(
    `    shctl teardown:   last container removed ${fmtMs(medianMark(o.teardownMarks, "lastDone"))}, ` +
      `network removed ${fmtMs(median(o.teardown))}`,
  );
  lines.push(
    `    raw API down:     all containers removed ${fmtMs(medianMark(o.rawDownMarks, "removedAt"))}, ` +
      `network removed ${fmtMs(median(o.rawDown))}`,
  );
  if (withCompose)
    lines.push(
      `    compose up -d:    process returned ${fmtMs(medianMark(o.composeMarks, "upReturned"))}, ` +
        `all healthy ${fmtMs(medianMark(o.composeMarks, "healthyAt"))}`,
    );
  lines.push("");
  lines.push("  Engine API calls by operation (last run):");
  lines.push(`    cold apply:       ${ops(o.coldCalls)}`);
  lines.push(`    no-op apply:      ${ops(o.noopCalls)}`);
  lines.push(`    one-change apply: ${ops(o.changeCalls)}`);
  lines.push(`    teardown:         ${ops(o.teardownCalls)}`);
  if (withCompose) {
    lines.push("");
    lines.push(
      `  shctl / compose: cold ${fmtRatio(median(o.cold), median(o.composeCold))}, ` +
        `no-op ${fmtRatio(median(o.noopCli), median(o.composeNoop))} (CLI process vs process), ` +
        `teardown ${fmtRatio(median(o.teardown), median(o.composeDown))}`,
    );
  }
  console.log(lines.join("\n"));
}

function targets(results, chain) {
  const lines = ["", "Targets (printed only; the design's figures for this machine)"];
  const mark = (ok) => (ok === undefined ? "?" : ok ? "✓" : "✗");
  if (chain) {
    const c = median(chain.chainShctl);
    lines.push(
      `  ${mark(c <= 1.1 * CHAIN_FLOOR_MS)} chain: last service ready within 1.1× its floor: ` +
        `${fmtMs(c)} vs ${fmtMs(CHAIN_FLOOR_MS)} (${fmtRatio(c, CHAIN_FLOOR_MS)})`,
    );
    const raw = median(chain.chainRaw);
    lines.push(
      `  ${mark(c <= 1.1 * raw)} chain: within 1.1× of the raw Engine API bound (the floor plus the engine's starts): ` +
        `${fmtMs(c)} vs ${fmtMs(raw)} (${fmtRatio(c, raw)})`,
    );
  }
  for (const o of results) {
    const noop = median(o.noopCli);
    lines.push(
      `  ${mark(Number.isFinite(noop) ? noop <= 180 : undefined)} N=${o.n}: no-op apply, whole CLI process ≤ 180 ms: ` +
        `${fmtMs(noop)} (node alone ${fmtMs(median(o.nodeEmpty))}, floor: node + dockerode + 3 lists ${fmtMs(median(o.rawLists))})`,
    );
    const b = o.noopCalls.byOperation;
    const kinds = ["container.list", "network.list", "image.list"];
    const oneEach = kinds.every((k) => b[k] === 1);
    const inspects = b["container.inspect"] ?? 0;
    lines.push(
      `  ${mark(oneEach && inspects === 0 && o.noopCalls.mutating === 0)} N=${o.n}: no-op makes one list call per kind and no inspect ` +
        `(${kinds.map((k) => `${k} ${b[k] ?? 0}`).join(", ")}, container.inspect ${inspects}; mutating ${o.noopCalls.mutating})`,
    );
    const change = median(o.change);
    lines.push(`  ${mark(change <= 1200)} N=${o.n}: one recreate ≤ 1.2 s: ${fmtMs(change)}`);
    const cold = median(o.cold);
    const rawUp = median(o.rawUp);
    lines.push(
      `  ${mark(cold <= 1.3 * rawUp)} N=${o.n}: cold apply ≤ 1.3× raw parallel bound: ` +
        `${fmtMs(cold)} vs ${fmtMs(rawUp)} (${fmtRatio(cold, rawUp)})`,
    );
    const down = median(o.teardown);
    const rawDown = median(o.rawDown);
    lines.push(
      `  ${mark(down <= rawDown)} N=${o.n}: teardown ≤ raw parallel remove: ` +
        `${fmtMs(down)} vs ${fmtMs(rawDown)} (${fmtRatio(down, rawDown)})`,
    );
    const rss = Math.max(...o.noopRss, ...(chain?.chainRss ?? []));
    lines.push(
      `  ${mark(Number.isFinite(rss) ? rss <= 120 : undefined)} N=${o.n}: CLI peak RSS ≤ 120 MiB: ${rss.toFixed(0)} MiB`,
    );
  }
  console.log(lines.join("\n"));
}

// ---- setup, cleanup, main --------------------------------------------------------------------

function composeAvailable() {
  const r = spawnSync("docker-compose", ["version", "--short"], { encoding: "utf8", timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Builds the tools image through shctl if it is missing or stale, so no timed phase builds it. */
async function warmUp() {
  const name = `bench-warm-${RUN_ID}`;
  created.stacks.add(name);
  const dir = await tempDir("warm");
  const stack = await loadStack(stackInput(name, 1), { projectDir: dir });
  const t0 = now();
  const res = await apply(stack, engine);
  const built = res.plan.actions.some((a) => a.kind === "image.build");
  await teardown(stack, engine);
  return { ms: now() - t0, built };
}

let cleaning;
let interrupted = false;
function cleanupAll() {
  cleaning ??= (async () => {
    const problems = [];
    const containerFilters = [
      `${BENCH_LABEL}=${RUN_ID}`,
      ...[...created.stacks].map((s) => `${LABEL.stack}=${s}`),
      ...[...created.composeProjects].map((p) => `com.docker.compose.project=${p}`),
    ];
    for (const f of containerFilters) {
      try {
        const list = await docker.listContainers({ all: true, filters: { label: [f] } });
        await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true })));
      } catch (err) {
        problems.push(`containers ${f}: ${err.message}`);
      }
    }
    const networkFilters = [
      `${BENCH_LABEL}=${RUN_ID}`,
      ...[...created.stacks].map((s) => `${LABEL.stack}=${s}`),
    ];
    for (const f of networkFilters) {
      try {
        const list = await docker.listNetworks({ filters: { label: [f] } });
        for (const n of list) await docker.getNetwork(n.Id).remove();
      } catch (err) {
        problems.push(`networks ${f}: ${err.message}`);
      }
    }
    for (const d of created.dirs) await rm(d, { recursive: true, force: true }).catch(() => undefined);
    if (problems.length > 0) console.error(`cleanup: ${problems.join("; ")}`);
  })();
  return cleaning;
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: removing what the benchmark created…`);
    cleanupAll().finally(() => process.exit(130));
  });
}

async function main() {
  if (SIZES.length === 0 && process.env.BENCH_SIZES !== "none")
    throw new Error("BENCH_SIZES names no size (e.g. BENCH_SIZES=10,40; none: the chain only)");
  const v = await engine.version();
  const compose = composeAvailable();
  console.log(`shctl benchmark · run ${RUN_ID}`);
  console.log(
    `  engine ${v.version} (API ${v.apiVersion}) at ${process.env.DOCKER_HOST ?? "/var/run/docker.sock"} · node ${process.version} · ` +
      `sizes ${SIZES.join(", ")} · ${RUNS} run(s) each · their healthchecks every ${HEALTH_INTERVAL_S} s`,
  );
  console.log(
    `  docker-compose: ${compose ? `${compose} (compared)` : "not on PATH (skipped; Debian: apt-get install docker-compose)"}`,
  );
  console.log(`  CLI: ${existsSync(CLI) ? CLI_SHOWN : `${CLI_SHOWN} not built (no-op CLI phase skipped)`}`);
  const warm = await warmUp();
  console.log(`  warm-up (1 service${warm.built ? ", image built" : ""}): ${fmtMs(warm.ms)}`);

  const chain = CHAIN_ON && existsSync(CLI) ? await benchChain(!!compose && CHAIN_COMPOSE_ON) : undefined;
  const results = [];
  for (const n of SIZES) {
    const o = await benchSize(n, !!compose);
    report(o, !!compose);
    results.push(o);
  }
  targets(results, chain);
}

try {
  await main();
} catch (err) {
  if (!interrupted) console.error(`bench failed: ${err?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
