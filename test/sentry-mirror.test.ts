import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { diff, loadStack, type Plan, type ResolvedStack } from "@sh/core";
import { LOCAL_IMAGES, SentryOptions, sentryStack, UPSTREAM_IMAGES } from "@sh/specs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { engine, stackName, tempProject } from "./helpers.js";
import {
  copyInRegistry,
  manifestDigest,
  pushImage,
  rand,
  registryAnswers,
  splitRef,
  TEST_REGISTRY,
} from "./registry.js";
import { UPSTREAM_MISSING, UPSTREAM_REFERENCE } from "./upstream-reference.js";

/*
 * The Sentry stack with `registryMirror` set to the test registry, where every upstream image
 * name is served by one tiny stand-in image (the official one-component names, like
 * `postgres:14.5`, under `library/` as Docker Hub has them). The plan must pull exactly what
 * upstream's compose file pulls, each from its exact place on the mirror, and build the rest.
 * Diff only: stand-ins cannot run Sentry, and pulling them would put upstream names (postgres:14.5
 * ...) on an engine other tests share and expect without them.
 */

const REG = TEST_REGISTRY;
const registryUp = await registryAnswers(REG);

// Upstream's release files are read at test time, never copied into the project.
const REFERENCE = UPSTREAM_REFERENCE;

const skipWhy = !registryUp
  ? `no registry answers at ${REG} (scripts/test-env.sh starts one)`
  : !REFERENCE
    ? UPSTREAM_MISSING
    : "";
if (skipWhy) console.warn(`Sentry mirror check skipped: ${skipWhy}`);

/** NAME → NAME:latest; a tag or digest stays. */
function withTag(ref: string): string {
  const { repo, tag } = splitRef(ref);
  return ref.includes("@") ? ref : `${repo}:${tag}`;
}

/** Whether a reference names its own registry (then a Docker Hub mirror does not serve it). */
function hasHost(ref: string): boolean {
  const first = ref.split("/")[0] as string;
  return ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
}

/** Where a mirror serves `ref`: Docker Hub's official one-component names live under library/. */
function onMirror(ref: string): string {
  const r = withTag(ref);
  if (hasHost(r)) return r;
  return r.includes("/") ? r : `library/${r}`;
}

function dotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Z0-9_]+)=(.*)$/);
    if (m?.[1]) out[m[1]] = m[2] ?? "";
  }
  return out;
}

function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}|\$([A-Z0-9_]+)/g, (_m, a, def, b) => {
    const v = env[(a ?? b) as string];
    return v !== undefined && v !== "" ? v : ((def as string | undefined) ?? "");
  });
}

interface Upstream {
  /** Every image upstream's compose file pulls (a service's image, or a build's base image). */
  pulled: Set<string>;
  /** Images it builds locally, each with the base image it is built FROM. */
  built: Map<string, string>;
}

/**
 * What upstream pulls and builds, from its compose file and .env: services with `build:` are
 * built (their image name is local), their `*IMAGE` build args are their base images, pulled
 * unless built too; every other service's image is pulled. The ClickHouse base comes from
 * CLICKHOUSE_IMAGE, which install.sh sets per CPU (not in .env): FACTS.md names it.
 */
function readUpstream(dir: string): Upstream {
  const env = dotenv(readFileSync(path.join(dir, "dotenv"), "utf8"));
  const facts = readFileSync(path.join(dir, "FACTS.md"), "utf8");
  const clickhouse = facts.match(/clickhouse base `([^`]+)`/)?.[1];
  if (clickhouse) env.CLICKHOUSE_IMAGE ??= clickhouse;
  const compose = parse(readFileSync(path.join(dir, "docker-compose.yml"), "utf8"), {
    merge: true,
    maxAliasCount: -1,
  }) as {
    services: Record<string, { image?: string; build?: { args?: string[] | Record<string, string> } }>;
  };
  const built = new Map<string, string>();
  const images: string[] = [];
  for (const svc of Object.values(compose.services)) {
    const image = svc.image ? interpolate(svc.image, env) : undefined;
    if (!svc.build) {
      if (image) images.push(image);
      continue;
    }
    const args = svc.build.args ?? {};
    const pairs = Array.isArray(args)
      ? args.map((a) => {
          const [k, v] = a.split("=", 2) as [string, string | undefined];
          return [k, v ?? env[k] ?? ""] as const;
        })
      : Object.entries(args).map(([k, v]) => [k, interpolate(String(v), env)] as const);
    const base = pairs.find(([k]) => /IMAGE$/.test(k))?.[1] ?? "";
    if (image) built.set(image, base);
  }
  const pulled = new Set(images.map(withTag));
  for (const base of built.values()) if (base && !built.has(base)) pulled.add(withTag(base));
  return { pulled, built };
}

const name = stackName("smirror");
const projects: string[] = [];
let upstream: Upstream;

/** The plan of the full Sentry stack with the mirror set, in a fresh project dir. */
async function sentryPlan(opts: { geoipConf: boolean }): Promise<{ plan: Plan; stack: ResolvedStack }> {
  const projectDir = await tempProject("shctl-smirror-");
  projects.push(projectDir);
  if (opts.geoipConf) {
    // With a GeoIP.conf the stack runs geoipupdate (as upstream's install does), so it pulls it.
    const dir = path.join(projectDir, "sentrydata/config/geoip");
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, "GeoIP.conf"),
      "AccountID 0\nLicenseKey 000000000000\nEditionIDs GeoLite2-City\n",
    );
  }
  const options = SentryOptions.parse({ stackName: name, registryMirror: REG });
  const stack = await loadStack(sentryStack(options, projectDir), { projectDir });
  return { plan: await diff(stack, engine), stack };
}

const refsOf = (plan: Plan, stack: ResolvedStack, kind: "image.pull" | "image.build") =>
  plan.actions.filter((a) => a.kind === kind).map((a) => withTag(stack.images[a.target]?.ref ?? a.target));

beforeAll(async () => {
  if (skipWhy) return;
  upstream = readUpstream(REFERENCE as string);
  // One tiny stand-in, pushed once, then tagged inside the registry under every upstream name.
  const standin = `shctl-it/sentry-standin-${rand()}:1`;
  await pushImage(REG, [standin], { layers: [4096] });
  const names = new Set([...Object.values(UPSTREAM_IMAGES), ...upstream.pulled].map(onMirror));
  for (const n of names) await copyInRegistry(REG, standin, n);
}, 120_000);

afterAll(async () => {
  for (const p of projects) await rm(p, { recursive: true, force: true });
});

describe.skipIf(Boolean(skipWhy))(
  `the Sentry stack through registryMirror ${REG}${skipWhy ? ` (skipped: ${skipWhy})` : ""}`,
  () => {
    it("starts from an engine without the upstream images (else it would pull fewer)", async () => {
      expect(Object.keys(await engine.listImages(Object.values(UPSTREAM_IMAGES)))).toEqual([]);
    });

    it("the stand-ins are on the mirror, the official names under library/", async () => {
      expect(await manifestDigest(REG, "library/postgres:14.5")).toMatch(/^sha256:/);
      expect(await manifestDigest(REG, "getsentry/sentry:23.12.0")).toMatch(/^sha256:/);
      expect(await manifestDigest(REG, "tianon/exim4:latest")).toMatch(/^sha256:/);
    });

    it("plans to pull exactly the images upstream's compose file pulls, and to build the ones it builds", async () => {
      const { plan, stack } = await sentryPlan({ geoipConf: true });
      expect(refsOf(plan, stack, "image.pull").sort()).toEqual([...upstream.pulled].sort());
      const built = [...upstream.built.keys()].map(withTag).sort();
      expect(refsOf(plan, stack, "image.build").sort()).toEqual(built);
      // The locally built names are the ones shctl gives its builds.
      expect(built).toEqual(Object.values(LOCAL_IMAGES).map(withTag).sort());
    });

    it("without a GeoIP.conf it leaves out only geoipupdate (upstream runs it only with one)", async () => {
      const { plan, stack } = await sentryPlan({ geoipConf: false });
      const expected = [...upstream.pulled].filter((r) => r !== withTag(UPSTREAM_IMAGES.geoipupdate));
      expect(refsOf(plan, stack, "image.pull").sort()).toEqual(expected.sort());
    });

    it("each pull names its exact source on the mirror, and the mirror has it", async () => {
      const { plan, stack } = await sentryPlan({ geoipConf: true });
      const wrong: string[] = [];
      for (const a of plan.actions.filter((x) => x.kind === "image.pull")) {
        if (a.kind !== "image.pull") continue;
        const ref = stack.images[a.target]?.ref ?? a.target;
        // A reference with its own registry (ghcr.io/…) is pulled from there: a Docker Hub mirror
        // does not serve other registries (docs/sentry.md).
        const expected = hasHost(ref) ? withTag(ref) : `${REG}/${onMirror(ref)}`;
        const named = a.sources[0];
        if (!named || withTag(named) !== expected)
          wrong.push(`${ref}: plan says ${named ?? "(none)"}, want ${expected}`);
        else if (!hasHost(ref))
          expect(await manifestDigest(REG, named.slice(REG.length + 1)), named).toMatch(/^sha256:/);
      }
      expect(wrong).toEqual([]);
    });
  },
);
