import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { StackFactory, StackInput } from "@sh/core";
import { cleanupServices } from "./cleanup.js";
import { sentryDoctorChecks } from "./doctor.js";
import { edgeServices } from "./edge.js";
import { family, type Svc } from "./family.js";
import { LOCAL_IMAGES, SENTRY_VERSION, UPSTREAM_IMAGES } from "./images.js";
import { infraServices } from "./infra.js";
import { initJobs } from "./jobs.js";
import { sentryStatusExtras } from "./lag.js";
import { CONTEXTS } from "./layout.js";
import { loadSentryOptions, type SentryOptions } from "./options.js";
import { sentryServices } from "./sentry-services.js";
import { snubaServices } from "./snuba-services.js";
import { swarmServices, swarmTarget } from "./swarm.js";
import { sentryChecks } from "./verify/checks.js";

export { CONFIG_DIRS, CONTEXTS, DATA_DIRS, type DataDir, FULL_ONLY } from "./layout.js";

/*
 * The Sentry 23.12.0 self-hosted stack as shctl specs. Images, commands, entrypoints, environment,
 * healthchecks, ulimits, restart policies and dependency conditions follow upstream's compose file
 * for 23.12.0; every deviation is listed in docs/sentry.md with its reason.
 */

/**
 * The ClickHouse base image for an engine architecture, as upstream's install picks it from
 * `docker info`'s Architecture (install/detect-platform.sh): the arm build on aarch64, the stable
 * x86_64 build otherwise. Node's names ("arm64", "x64") are accepted too.
 */
export function clickhouseBaseFor(architecture: string): string {
  return /^(aarch64|arm64)$/i.test(architecture)
    ? UPSTREAM_IMAGES.clickhouseBaseArm64
    : UPSTREAM_IMAGES.clickhouseBase;
}

/**
 * Builds the stack for a set of options; `profile` picks full (default) or core. `engineArch` is
 * the architecture of the engine the stack runs on (its `docker info` Architecture); without it,
 * this process's own architecture stands in for it, which is right only when the engine runs on
 * the same machine (a remote engine, or Docker Desktop on another CPU type, can differ).
 */
export function sentryStack(
  opts: SentryOptions,
  projectDir: string,
  profileArg?: string,
  engineArch?: string,
): StackInput {
  const profile = profileArg ?? opts.profile;
  // The generated configs follow the profile actually run (the command line may override the file).
  opts = { ...opts, profile: profile === "core" ? "core" : "full" };
  const f = family(opts, profile);
  const { img, full, sentryEnv, sentryMounts, snubaEnv } = f;
  const allServices: Record<string, Svc> = {
    ...infraServices(f),
    ...snubaServices(f),
    ...sentryServices(f),
    ...edgeServices(f),
    ...cleanupServices(f),
  };
  // On a swarm: the stores pinned to their nodes, the rest spread (docs/scale.md).
  const services = opts.swarm ? swarmServices(allServices, opts.swarm) : allServices;

  const enhance = readOptional(projectDir, opts.enhanceImageScript);
  const requirements = readOptional(projectDir, opts.requirementsFile);
  const clickhouseBase = clickhouseBaseFor(engineArch ?? process.arch);

  return {
    name: opts.stackName,
    ...(opts.swarm ? swarmTarget(opts.swarm) : {}),
    version: SENTRY_VERSION,
    dataRoot: opts.dataRoot,
    bindAddress: opts.bindAddress,
    ...(opts.registryMirror ? { registryMirror: opts.registryMirror } : {}),
    defaultProfile: opts.profile,
    notes: [
      `Sentry: ${opts.publicUrl ?? `${opts.https.enabled ? "https" : "http"}://localhost:${opts.https.enabled ? opts.https.port : opts.httpPort}`}/`,
      opts.admin
        ? `Sign in as ${opts.admin.email}.`
        : "Create the first user: set admin.email and admin.password in shctl.yaml and run `shctl apply`, or run `docker exec -it " +
          `${opts.stackName}-web sentry createuser --superuser\``,
      "Everyday start: `shctl apply` (see the plan first with `shctl diff`); state: `shctl status`; logs: `shctl logs web`.",
    ],
    profiles: ["full", "core"],
    networks: { default: {} },
    images: {
      sentry: {
        ref: LOCAL_IMAGES.sentry,
        build: {
          context: path.join(CONTEXTS, "sentry"),
          args: {
            SENTRY_IMAGE: img("sentry", UPSTREAM_IMAGES.sentry),
            ENHANCE_SCRIPT_B64: enhance ? Buffer.from(enhance).toString("base64") : "",
            REQUIREMENTS_B64: requirements ? Buffer.from(requirements).toString("base64") : "",
          },
        },
        needs: ["sentry-upstream"],
      },
      "sentry-upstream": { ref: img("sentry", UPSTREAM_IMAGES.sentry) },
      clickhouse: {
        ref: LOCAL_IMAGES.clickhouse,
        build: {
          context: path.join(CONTEXTS, "clickhouse"),
          args: { BASE_IMAGE: img("clickhouse", clickhouseBase) },
        },
        needs: ["clickhouse-upstream"],
      },
      "clickhouse-upstream": { ref: img("clickhouse", clickhouseBase) },
      "sentry-cleanup": {
        ref: LOCAL_IMAGES.sentryCleanup,
        build: { context: path.join(CONTEXTS, "cron"), args: { BASE_IMAGE: LOCAL_IMAGES.sentry } },
        needs: ["sentry"],
      },
      "symbolicator-cleanup": {
        ref: LOCAL_IMAGES.symbolicatorCleanup,
        build: {
          context: path.join(CONTEXTS, "cron"),
          args: { BASE_IMAGE: img("symbolicator", UPSTREAM_IMAGES.symbolicator) },
        },
        needs: ["symbolicator"],
      },
      "vroom-cleanup": {
        ref: LOCAL_IMAGES.vroomCleanup,
        build: {
          context: path.join(CONTEXTS, "cron"),
          args: { BASE_IMAGE: img("vroom", UPSTREAM_IMAGES.vroom) },
        },
        needs: ["vroom"],
      },
      snuba: { ref: img("snuba", UPSTREAM_IMAGES.snuba) },
      relay: { ref: img("relay", UPSTREAM_IMAGES.relay) },
      symbolicator: { ref: img("symbolicator", UPSTREAM_IMAGES.symbolicator) },
      vroom: { ref: img("vroom", UPSTREAM_IMAGES.vroom) },
      postgres: { ref: img("postgres", UPSTREAM_IMAGES.postgres) },
      redis: { ref: img("redis", UPSTREAM_IMAGES.redis) },
      memcached: { ref: img("memcached", UPSTREAM_IMAGES.memcached) },
      nginx: { ref: img("nginx", UPSTREAM_IMAGES.nginx) },
      zookeeper: { ref: img("zookeeper", UPSTREAM_IMAGES.zookeeper) },
      kafka: { ref: img("kafka", UPSTREAM_IMAGES.kafka) },
      smtp: { ref: img("smtp", UPSTREAM_IMAGES.smtp) },
      geoipupdate: { ref: img("geoipupdate", UPSTREAM_IMAGES.geoipupdate) },
    },
    services,
    jobs: initJobs(opts, projectDir, { sentryEnv, sentryMounts, snubaEnv, full }),
    // `shctl verify`: an error, a transaction and a replay followed from the public URL to the API.
    checks: sentryChecks(opts),
    // `shctl doctor`: upstream's minimums, SSE 4.2, the Kafka topics, ClickHouse.
    doctor: sentryDoctorChecks(),
    // `shctl status`: each Kafka consumer's lag.
    statusExtras: (ctx) => sentryStatusExtras(ctx),
  };
}

function readOptional(projectDir: string, file: string | undefined): string | undefined {
  if (!file) return undefined;
  const p = path.resolve(projectDir, file);
  if (!existsSync(p)) return undefined;
  const text = readFileSync(p, "utf8");
  return text.trim() === "" ? undefined : text;
}

/** The stack factory the CLI uses: options from shctl.yaml and the environment. */
export const sentryStackFactory: StackFactory = async ({ projectDir, env, profile, engineInfo }) => {
  const opts = await loadSentryOptions(projectDir, env);
  // The engine is asked only when its architecture decides something: the ClickHouse base image,
  // unless the options name one. Without engine info (tests, tooling that loads the stack without
  // an engine), sentryStack falls back to this process's architecture.
  const engineArch =
    engineInfo && opts.images.clickhouse === undefined ? (await engineInfo()).architecture : undefined;
  return sentryStack(opts, projectDir, profile, engineArch);
};
