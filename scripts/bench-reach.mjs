// Benchmark: what reaching a container port through the engine costs per connection, next to a
// direct connection. Prints figures and asserts nothing.
//
//   npm run build --silent && node scripts/bench-reach.mjs
//   BENCH_REACH_N=30 BENCH_REACH_GAP_MS=250 node scripts/bench-reach.mjs
//
// One stack: a service of the fixture tools image running busybox httpd on 8080. Each row is N
// TCP connects (resolved by service name, like a readiness probe), each timed from the call to
// the connected socket, then closed; GAP_MS apart ("spaced", as probes are) or back to back. The
// stack and its helper containers are removed at the end, also after an error or Ctrl-C.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { apply, connectEngine, createReach, loadStack, teardown } from "@sh/core";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const N = Math.max(5, Number.parseInt(process.env.BENCH_REACH_N ?? "30", 10) || 30);
const GAP_MS = Math.max(0, Number.parseInt(process.env.BENCH_REACH_GAP_MS ?? "250", 10) || 0);
const BASE_IMAGE = process.env.SHCTL_TEST_BASE_IMAGE ?? "shctl-test/base:bookworm";

const engine = connectEngine();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p90: at(0.9), min: s[0], max: s[s.length - 1] };
}

async function measure(reach, gapMs) {
  const times = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const s = await reach.connect("web", 8080);
    times.push(performance.now() - t0);
    s.destroy();
    if (gapMs) await sleep(gapMs);
  }
  return stats(times);
}

const fmt = (x) => `${x.toFixed(1).padStart(7)} ms`;

async function main() {
  const projectDir = await mkdtemp(path.join(tmpdir(), "shctl-bench-reach-"));
  const name = `bench-reach-${process.pid.toString(36)}`;
  const stack = await loadStack(
    {
      name,
      images: {
        tools: {
          ref: "shctl-test/tools:latest",
          build: { context: path.join(REPO, "test/fixtures/tools"), args: { BASE: BASE_IMAGE } },
        },
      },
      services: {
        web: {
          image: "tools",
          command: [
            "sh",
            "-c",
            "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www",
          ],
          stopGracePeriod: "1s",
        },
      },
    },
    { projectDir },
  );
  const reaches = [];
  const done = async () => {
    for (const r of reaches) await r.close().catch(() => undefined);
    await teardown(stack, engine, { lockWaitMs: 30_000 }).catch(() => undefined);
    await rm(projectDir, { recursive: true, force: true });
  };
  process.once("SIGINT", () => done().finally(() => process.exit(130)));
  try {
    await apply(stack, engine, { wait: false });
    const open = (opts) => {
      const r = createReach(engine, stack, opts);
      reaches.push(r);
      return r;
    };
    const auto = open({ env: {} });
    const direct = (await auto.modeFor("web")).mode === "direct" ? open({ setting: "direct" }) : undefined;
    const rows = [];
    const run = async (label, reach, gap) => {
      for (let i = 0; i < 50; i++) {
        // Warm up (and wait for httpd): the helper container and image are made on first use.
        try {
          (await reach.connect("web", 8080)).destroy();
          break;
        } catch {
          await sleep(200);
        }
      }
      await sleep(500);
      rows.push([label, await measure(reach, gap)]);
    };
    if (direct) await run(`direct, ${GAP_MS} ms apart`, direct, GAP_MS);
    await run(`engine, ${GAP_MS} ms apart`, open({ setting: "engine" }), GAP_MS);
    await run("engine, back to back", open({ setting: "engine" }), 0);
    await run(`engine, no warm execs, ${GAP_MS} ms apart`, open({ setting: "engine", warmExecs: 0 }), GAP_MS);
    console.log(`reach: ${N} TCP connects per row, by service name (engine ${engine.where})`);
    console.log(`${"".padEnd(40)}  median       p90       min       max`);
    for (const [label, s] of rows)
      console.log(`${label.padEnd(40)} ${fmt(s.median)} ${fmt(s.p90)} ${fmt(s.min)} ${fmt(s.max)}`);
    if (direct) {
      const base = rows[0][1].median;
      console.log(
        `added per connection through the engine (spaced, median): ${fmt(rows[1][1].median - base)}`,
      );
    } else console.log("direct: not measured (container addresses are not routable from here)");
  } finally {
    await done();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
