import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, statfs, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  type HostFacts,
  isWsl,
  type JobContext,
  readHostFacts,
  type StackInput,
  windowsDriveMount,
} from "@sh/core";
import pRetry from "p-retry";
import { renderConfigFiles } from "./files.js";
import { kafkaClient } from "./kafka.js";
import type { SentryOptions } from "./options.js";
import {
  ARM64,
  compareVersions,
  lacksSse42,
  REQUIREMENTS,
  resourcesHint,
  SSE42_FIX,
  SSE42_MESSAGE,
  X86_64,
} from "./requirements.js";
import { generateSecretKey } from "./sentry-config.js";
import { SENTRY_TOPICS } from "./topics.js";

type Job = NonNullable<StackInput["jobs"]>[string];

export { REQUIREMENTS } from "./requirements.js";

export interface SharedSpecs {
  sentryEnv: Record<string, string>;
  sentryMounts: { source: string; target: string; readOnly?: boolean }[];
  snubaEnv: Record<string, unknown>;
  full: boolean;
}

/**
 * First-run init, in upstream's order, as jobs: each runs once and again only when its inputs
 * change, so an everyday `shctl apply` runs none of them.
 */
export function initJobs(opts: SentryOptions, projectDir: string, shared: SharedSpecs): Record<string, Job> {
  const geoipConf = path.resolve(projectDir, opts.dataRoot, "config/geoip/GeoIP.conf");
  const sentryContainer = {
    image: "sentry",
    entrypoint: "/etc/sentry/entrypoint.sh",
    env: shared.sentryEnv,
    mounts: shared.sentryMounts,
  };
  // What the config job would write now (the secret key aside): its version and its outputs.
  const preview = renderConfigFiles(opts, "(secret key)", projectDir);
  const jobs: Record<string, Job> = {
    prerequisites: {
      version: "1",
      run: (ctx) => checkPrerequisites(ctx),
      timeout: "1m",
    },
    config: {
      // The job key follows what would be generated (the secret key aside): `diff` shows the job
      // when an option change would write different files. Files you edited are never overwritten.
      version: digest(JSON.stringify(preview)),
      run: (ctx) => writeConfig(ctx, opts, projectDir),
      // Services that read a rewritten file are recreated after this job, in the same apply.
      outputs: preview.map((f) => ({ path: f.path })),
      dependsOn: { prerequisites: { condition: "completed" } },
      timeout: "1m",
    },
    "relay-credentials": {
      version: "1",
      uses: ["relay"],
      run: (ctx) => relayCredentials(ctx),
      dependsOn: { config: { condition: "completed" } },
      timeout: "5m",
    },
    "snuba-bootstrap": {
      image: "snuba",
      command: ["bootstrap", "--no-migrate", "--force"],
      env: shared.snubaEnv as Record<string, string>,
      dependsOn: {
        clickhouse: { condition: "healthy" },
        kafka: { condition: "healthy" },
        redis: { condition: "healthy" },
        config: { condition: "completed" },
      },
      timeout: "15m",
    },
    "snuba-migrate": {
      image: "snuba",
      command: ["migrations", "migrate", "--force"],
      env: shared.snubaEnv as Record<string, string>,
      dependsOn: {
        "snuba-bootstrap": { condition: "completed" },
        clickhouse: { condition: "healthy" },
        kafka: { condition: "healthy" },
        redis: { condition: "healthy" },
      },
      timeout: "30m",
    },
    "kafka-topics": {
      // The partition count is part of the key: raising it runs the job again (it adds partitions).
      version: digest(JSON.stringify([SENTRY_TOPICS, opts.swarm?.topicPartitions ?? 1])),
      run: (ctx) => createTopics(ctx, opts.swarm?.topicPartitions ?? 1),
      dependsOn: { kafka: { condition: "healthy" }, "snuba-bootstrap": { condition: "completed" } },
      timeout: "10m",
    },
    "sentry-upgrade": {
      ...sentryContainer,
      command: ["upgrade", "--noinput"],
      // Upstream runs this as `run web upgrade`, which starts web's dependencies first: the
      // stores, and snuba-api (started, as web's depends_on has it).
      dependsOn: {
        postgres: { condition: "healthy" },
        redis: { condition: "healthy" },
        kafka: { condition: "healthy" },
        memcached: { condition: "started" },
        "snuba-api": { condition: "started" },
        config: { condition: "completed" },
        "kafka-topics": { condition: "completed" },
        "snuba-migrate": { condition: "completed" },
      },
      inputs: [{ path: "config/sentry/sentry.conf.py" }, { path: "config/sentry/config.yml" }],
      timeout: "60m",
    },
  };
  if (opts.admin) {
    jobs["admin-user"] = {
      ...sentryContainer,
      // The password travels in the environment, never on a command line or in a label.
      entrypoint: [
        "/bin/sh",
        "-c",
        'exec /etc/sentry/entrypoint.sh createuser --force-update --superuser --no-input --email "$SHCTL_ADMIN_EMAIL" --password "$SHCTL_ADMIN_PASSWORD"',
      ],
      env: {
        ...shared.sentryEnv,
        SHCTL_ADMIN_EMAIL: opts.admin.email,
        SHCTL_ADMIN_PASSWORD: { value: opts.admin.password, secret: true },
      },
      dependsOn: { "sentry-upgrade": { condition: "completed" }, postgres: { condition: "healthy" } },
      timeout: "10m",
    };
  }
  if (shared.full && existsSync(geoipConf)) {
    jobs.geoipupdate = {
      image: "geoipupdate",
      entrypoint: ["/usr/bin/geoipupdate", "-d", "/sentry", "-f", "/sentry/GeoIP.conf"],
      mounts: [{ source: "config/geoip", target: "/sentry" }],
      inputs: [{ path: "config/geoip/GeoIP.conf" }],
      dependsOn: { config: { condition: "completed" } },
      profiles: ["full"],
      timeout: "10m",
    };
  }
  return jobs;
}

function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

// Facts about the machine shctl runs on are core's (doctor checks read them too).
export { type HostFacts, isWsl, readHostFacts, windowsDriveMount } from "@sh/core";

/**
 * install.sh's checks: no MSYS/Git Bash, the engine's architecture, version, CPUs and memory given
 * to Docker, SSE 4.2 for ClickHouse, disk. It also says which engine setup it found (Docker
 * Desktop, WSL2) and warns about a data root on a Windows drive.
 */
export async function checkPrerequisites(ctx: JobContext, hostFacts?: HostFacts): Promise<void> {
  const host = hostFacts ?? (await readHostFacts());
  if (host.env.MSYSTEM || host.platform === "win32") {
    throw new Error(
      "Git Bash / MSYS2 on Windows is not supported (upstream refuses it too): run shctl inside WSL2 (e.g. Ubuntu), with the project dir on the WSL file system",
    );
  }
  const info = await ctx.engineInfo();
  const problems: string[] = [];
  const desktop = /docker desktop/i.test(info.os);
  const wsl = isWsl(host);

  // Where the engine runs, and how shctl reaches the containers. Docker Desktop is supported.
  const where = desktop
    ? `Docker Desktop (the engine runs in Docker Desktop's own VM${wsl ? ", reached from WSL2 through its WSL integration" : ""})`
    : `${info.os}${wsl ? " (inside WSL2)" : ""}`;
  ctx.log(`engine: ${where}, ${info.architecture}`);
  if (ctx.reachMode) ctx.log(`reach mode: ${ctx.reachMode}`);
  // Where the engine's CPUs and memory come from, for the messages below.
  const resources = resourcesHint(desktop, wsl);
  const withHint = (text: string) => (resources ? `${text} (${resources})` : text);

  if (!X86_64.test(info.architecture) && !ARM64.test(info.architecture)) {
    problems.push(
      `the engine runs on ${info.architecture}; Sentry's images exist for x86_64 and aarch64 only (upstream refuses others too)`,
    );
  }
  if (compareVersions(info.serverVersion, REQUIREMENTS.dockerVersion) < 0) {
    problems.push(
      `Docker ${info.serverVersion} is older than ${REQUIREMENTS.dockerVersion}: upgrade the engine`,
    );
  }
  if (info.cpus < REQUIREMENTS.cpusMin) {
    problems.push(withHint(`Docker has ${info.cpus} CPU(s); Sentry needs at least ${REQUIREMENTS.cpusMin}`));
  } else if (info.cpus < REQUIREMENTS.cpusRecommended) {
    ctx.log(
      withHint(`warning: Docker has ${info.cpus} CPUs; ${REQUIREMENTS.cpusRecommended} are recommended`),
    );
  }
  const mb = Math.round(info.memoryBytes / 1024 / 1024);
  if (mb < REQUIREMENTS.memoryMinMb) {
    problems.push(
      withHint(`Docker has ${mb} MB of memory; Sentry needs at least ${REQUIREMENTS.memoryMinMb} MB`),
    );
  } else if (mb < REQUIREMENTS.memoryRecommendedMb) {
    ctx.log(
      withHint(
        `warning: Docker has ${mb} MB of memory; ${REQUIREMENTS.memoryRecommendedMb} MB are recommended`,
      ),
    );
  }
  // ClickHouse needs SSE 4.2 on x86_64 (judged only where it can be: see lacksSse42).
  if (lacksSse42(info, host.env)) problems.push(`${SSE42_MESSAGE}. ${SSE42_FIX}`);

  const onWindowsDrive = wsl ? windowsDriveMount(ctx.dataRoot, host.mounts) : undefined;
  if (onWindowsDrive) {
    ctx.log(
      `warning: the data root ${ctx.dataRoot} is on ${onWindowsDrive}: slow, and file ownership does not stick there, which breaks Postgres and ClickHouse. Put the project in the WSL file system instead (e.g. ~/sentry), see docs/sentry.md#windows-wsl2`,
    );
  }
  await mkdir(ctx.dataRoot, { recursive: true });
  const fs = await statfs(ctx.dataRoot);
  const freeGb = (fs.bavail * fs.bsize) / 1024 ** 3;
  if (freeGb < REQUIREMENTS.diskRecommendedGb) {
    ctx.log(
      `warning: ${freeGb.toFixed(1)} GB free at ${ctx.dataRoot}; ${REQUIREMENTS.diskRecommendedGb} GB are recommended`,
    );
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
  ctx.log(`Docker ${info.serverVersion}, ${info.cpus} CPUs, ${mb} MB, ${freeGb.toFixed(0)} GB free: ok`);
}

/** What shctl last wrote to each generated file (sha256 by path), so it can tell your edits apart. */
export const WRITTEN_RECORD = "config/.shctl-written.json";

const sha = (content: string | Uint8Array) => createHash("sha256").update(content).digest("hex");

/**
 * Writes each generated file, the way Debian treats configuration files: a missing file is
 * written; a file still as shctl last wrote it is replaced when the options now generate something
 * else; a file you edited (or that shctl has no record of) is kept, and the new version is written
 * beside it (`NAME.shctl-new`) with a line in the log.
 */
export async function writeConfig(ctx: JobContext, opts: SentryOptions, projectDir: string): Promise<void> {
  // Read as it is, whoever owns it: Sentry's entrypoint gives config.yml (mode 0600) to its user, and
  // a file this user may not read must never pass for a missing one (a new secret key would follow).
  const existingKey = await readSecretKey(ctx, path.join(ctx.dataRoot, "config/sentry/config.yml"));
  const files = renderConfigFiles(opts, existingKey ?? generateSecretKey(), projectDir);
  const recordFile = path.join(ctx.dataRoot, WRITTEN_RECORD);
  const written = await readFile(recordFile, "utf8")
    .then((t) => JSON.parse(t) as Record<string, string>)
    .catch(() => ({}) as Record<string, string>);
  for (const f of files) {
    const target = path.join(ctx.dataRoot, f.path);
    await mkdir(path.dirname(target), { recursive: true });
    const current = await ctx.readFile(target);
    const next = sha(f.content);
    if (current === undefined) {
      await replaceFile(target, f.content, f.mode);
      ctx.log(`wrote ${f.path}`);
    } else if (f.userOwned) {
      continue;
    } else if (sha(current) === next) {
      written[f.path] = next;
      await rm(`${target}.shctl-new`, { force: true });
      continue;
    } else if (written[f.path] === sha(current)) {
      await replaceFile(target, f.content, f.mode);
      await rm(`${target}.shctl-new`, { force: true });
      ctx.log(`updated ${f.path} (the options changed; you had not edited it)`);
    } else {
      await replaceFile(`${target}.shctl-new`, f.content, f.mode);
      ctx.log(`kept your ${f.path}; what shctl would generate now is in ${f.path}.shctl-new`);
      continue;
    }
    written[f.path] = next;
    if (f.owner) await ctx.chown(target, f.owner.uid, f.owner.gid);
  }
  await replaceFile(recordFile, `${JSON.stringify(written, null, 2)}\n`, 0o644);
  for (const dir of ["config/certificates", "config/geoip"])
    await mkdir(path.join(ctx.dataRoot, dir), { recursive: true });
}

/**
 * Puts a file in place through a new file renamed over the old one: the directory is ours, so this
 * works even where the old file is another user's (a container's) and this user may not write it.
 */
async function replaceFile(target: string, content: string | Uint8Array, mode: number): Promise<void> {
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode); // the umask may have taken bits away
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function readSecretKey(ctx: JobContext, file: string): Promise<string | undefined> {
  const text = (await ctx.readFile(file))?.toString("utf8");
  const m = text?.match(/^system\.secret-key:\s*['"]?([^'"\n]+)['"]?\s*$/m);
  return m?.[1] && m[1] !== "!!changeme!!" ? m[1] : undefined;
}

/** Generates relay's credentials with the relay image when missing, then checks them with `credentials show`. */
export async function relayCredentials(ctx: JobContext): Promise<void> {
  const dir = path.join(ctx.dataRoot, "config/relay");
  const file = path.join(dir, "credentials.json");
  const existing = await ctx.readFile(file);
  if (existing === undefined) {
    const gen = await ctx.runContainer({
      image: "relay",
      command: ["credentials", "generate", "--stdout"],
      network: false,
    });
    if (gen.exitCode !== 0 || !gen.stdout.trim().startsWith("{")) {
      throw new Error(
        `relay credentials generate exited ${gen.exitCode}: ${(gen.stderr || gen.stdout).trim().slice(-500)}`,
      );
    }
    await replaceFile(file, `${gen.stdout.trim()}\n`, 0o600);
    await ctx.chown(file, 10001, 10001);
    ctx.log("wrote config/relay/credentials.json");
  }
  const show = await ctx.runContainer({
    image: "relay",
    command: ["--config", "/work/.relay", "credentials", "show"],
    mounts: [{ source: "config/relay", target: "/work/.relay", readOnly: true }],
    network: false,
  });
  if (show.exitCode !== 0 || !`${show.stdout}\n${show.stderr}`.includes("Credentials")) {
    throw new Error(
      `relay does not accept config/relay/credentials.json (credentials show exited ${show.exitCode}); delete the file to generate new ones`,
    );
  }
}

/**
 * Creates every topic 23.12.0 needs that the broker lacks (kafkajs), waiting for the broker first,
 * with `partitions` partitions; a topic with fewer gets more (Kafka never takes partitions away).
 */
export async function createTopics(ctx: JobContext, partitions = 1): Promise<void> {
  const admin = kafkaClient(ctx, "shctl-topics").admin();
  await pRetry(() => admin.connect(), {
    retries: 30,
    minTimeout: 1000,
    maxTimeout: 2000,
    signal: ctx.signal,
    onFailedAttempt: (e) => ctx.log(`waiting for kafka (attempt ${e.attemptNumber}): ${e.error.message}`),
  });
  try {
    const existing = new Set(await admin.listTopics());
    const missing = SENTRY_TOPICS.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({
            name,
            value: String(value),
          })),
        })),
      });
    }
    const now = new Set(await admin.listTopics());
    const still = SENTRY_TOPICS.filter((t) => !now.has(t.name)).map((t) => t.name);
    if (still.length > 0) throw new Error(`topics still missing after creation: ${still.join(", ")}`);
    let grown = 0;
    if (partitions > 1) {
      const meta = await admin.fetchTopicMetadata({ topics: SENTRY_TOPICS.map((t) => t.name) });
      const few = meta.topics.filter((t) => t.partitions.length < partitions);
      if (few.length > 0)
        await admin.createPartitions({
          validateOnly: false,
          topicPartitions: few.map((t) => ({ topic: t.name, count: partitions })),
        });
      grown = few.length;
    }
    ctx.log(
      `${SENTRY_TOPICS.length} topics present (${missing.length} created${grown > 0 ? `, ${grown} raised to ${partitions} partitions` : ""})`,
    );
  } finally {
    await admin.disconnect();
  }
}
