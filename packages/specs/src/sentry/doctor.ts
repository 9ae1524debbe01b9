import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import {
  type DoctorCheckResult,
  type DoctorContext,
  diskSpace,
  formatBytes,
  isWsl,
  type StackInput,
} from "@sh/core";
import { kafkaClient } from "./kafka.js";
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
import { type KafkaTopic, SENTRY_TOPICS } from "./topics.js";

/*
 * The Sentry stack's own `shctl doctor` checks, after the built-in ones: the engine's platform,
 * CPUs, memory and the disk against upstream's minimums, SSE 4.2 for ClickHouse, every Kafka
 * topic present, ClickHouse answering. They read and report; the prerequisites job is what
 * refuses to install on a machine that falls short.
 */

type DoctorCheck = NonNullable<StackInput["doctor"]>[number];

const GB = 1024 ** 3;

function desktopOf(os: string): boolean {
  return /docker desktop/i.test(os);
}

export async function platformCheck(ctx: DoctorContext): Promise<DoctorCheckResult> {
  if (ctx.host.env.MSYSTEM || ctx.host.platform === "win32")
    return {
      status: "failure",
      detail: "Git Bash / MSYS2 on Windows is not supported (upstream refuses it too)",
      fix: "run shctl inside WSL2 (e.g. Ubuntu), with the project in the WSL file system",
    };
  const info = await ctx.engineInfo();
  const problems: string[] = [];
  if (!X86_64.test(info.architecture) && !ARM64.test(info.architecture))
    problems.push(
      `the engine runs on ${info.architecture}; Sentry's images exist for x86_64 and aarch64 only`,
    );
  if (compareVersions(info.serverVersion, REQUIREMENTS.dockerVersion) < 0)
    problems.push(`Docker ${info.serverVersion} is older than ${REQUIREMENTS.dockerVersion}`);
  if (problems.length > 0)
    return {
      status: "failure",
      detail: problems.join("; "),
      fix: "run the engine on an x86_64 or aarch64 machine, Docker 19.03.6 or later",
    };
  return { status: "ok", detail: `Docker ${info.serverVersion} on ${info.architecture}` };
}

export async function cpusCheck(ctx: DoctorContext): Promise<DoctorCheckResult> {
  const info = await ctx.engineInfo();
  const hint = resourcesHint(desktopOf(info.os), isWsl(ctx.host)) || "give the engine's machine more CPUs";
  if (info.cpus < REQUIREMENTS.cpusMin)
    return {
      status: "failure",
      detail: `the engine has ${info.cpus} CPU(s); Sentry needs at least ${REQUIREMENTS.cpusMin}`,
      fix: hint,
    };
  if (info.cpus < REQUIREMENTS.cpusRecommended)
    return {
      status: "warning",
      detail: `the engine has ${info.cpus} CPUs; ${REQUIREMENTS.cpusRecommended} are recommended (at least ${REQUIREMENTS.cpusMin})`,
      fix: hint,
    };
  return { status: "ok", detail: `${info.cpus} CPUs (at least ${REQUIREMENTS.cpusMin})` };
}

export async function memoryCheck(ctx: DoctorContext): Promise<DoctorCheckResult> {
  const info = await ctx.engineInfo();
  const mb = Math.round(info.memoryBytes / 1024 / 1024);
  const hint = resourcesHint(desktopOf(info.os), isWsl(ctx.host)) || "give the engine's machine more memory";
  if (mb < REQUIREMENTS.memoryMinMb)
    return {
      status: "failure",
      detail: `the engine has ${mb} MB of memory; Sentry needs at least ${REQUIREMENTS.memoryMinMb} MB`,
      fix: hint,
    };
  if (mb < REQUIREMENTS.memoryRecommendedMb)
    return {
      status: "warning",
      detail: `the engine has ${mb} MB of memory; ${REQUIREMENTS.memoryRecommendedMb} MB are recommended (at least ${REQUIREMENTS.memoryMinMb} MB)`,
      fix: hint,
    };
  return { status: "ok", detail: `${mb} MB (at least ${REQUIREMENTS.memoryMinMb} MB)` };
}

/** Free disk at the data root against upstream's recommendation (takes the place of the built-in check). */
export async function diskCheck(ctx: DoctorContext): Promise<DoctorCheckResult> {
  const d = await diskSpace(ctx.dataRoot);
  const detail = `${formatBytes(d.freeBytes, "binary")} free of ${formatBytes(d.totalBytes, "binary")} at ${d.path}`;
  if (d.freeBytes < REQUIREMENTS.diskRecommendedGb * GB)
    return {
      status: "warning",
      detail: `${detail}; Sentry recommends ${REQUIREMENTS.diskRecommendedGb} GB`,
      fix: "free some space, or put the data root (dataRoot in shctl.yaml) on a larger disk",
    };
  return { status: "ok", detail: `${detail} (${REQUIREMENTS.diskRecommendedGb} GB recommended)` };
}

export async function sse42Check(ctx: DoctorContext): Promise<DoctorCheckResult> {
  const info = await ctx.engineInfo();
  if (ARM64.test(info.architecture)) return { status: "ok", detail: `not needed on ${info.architecture}` };
  const lacks = lacksSse42(info, ctx.host.env);
  if (lacks === true) return { status: "failure", detail: SSE42_MESSAGE, fix: SSE42_FIX };
  if (lacks === false)
    return { status: "ok", detail: `the engine's CPU has it (${info.cpuModel ?? "model unknown"})` };
  const why =
    info.cpuFlags === undefined
      ? "the CPU's flags could not be read through the engine"
      : ctx.host.env.SKIP_SSE42_REQUIREMENTS === "1"
        ? "SKIP_SSE42_REQUIREMENTS=1"
        : /Common KVM processor/i.test(info.cpuModel ?? "")
          ? "a KVM guest's generic CPU model may hide the flag (upstream does not judge it either)"
          : `not judged on ${info.architecture}`;
  return { status: "skipped", detail: why };
}

/** The command that creates a missing topic as upstream's install does, in the kafka container. */
export function createTopicCommand(container: string, t: KafkaTopic): string {
  const configs = Object.entries(t.config).map(([k, v]) => ` --config ${k}=${v}`);
  return `docker exec ${container} kafka-topics --create --topic ${t.name} --bootstrap-server kafka:9092${configs.join("")}`;
}

/** Which of Sentry's topics `listTopics` lacks, as a doctor result. */
export async function topicsResult(
  listTopics: () => Promise<string[]>,
  kafkaContainer: string,
): Promise<DoctorCheckResult> {
  const present = new Set(await listTopics());
  const missing = SENTRY_TOPICS.filter((t) => !present.has(t.name));
  if (missing.length === 0) return { status: "ok", detail: `all ${SENTRY_TOPICS.length} topics present` };
  return {
    status: "failure",
    detail: `${missing.length} of ${SENTRY_TOPICS.length} topics missing: ${missing.map((t) => t.name).join(", ")}`,
    fix: "create them (consumers of a missing topic exit with UNKNOWN_TOPIC_OR_PART), then restart the consumers that exited",
    commands: missing.map((t) => createTopicCommand(kafkaContainer, t)),
  };
}

export async function kafkaTopicsCheck(ctx: DoctorContext): Promise<DoctorCheckResult> {
  const state = await ctx.serviceState("kafka");
  if (state !== "running")
    return {
      status: "skipped",
      detail: `kafka is ${state}: its topics cannot be listed (\`shctl apply\` starts it)`,
    };
  const admin = kafkaClient(ctx, "shctl-doctor").admin();
  try {
    await admin.connect();
    return await topicsResult(() => admin.listTopics(), ctx.containerName("kafka"));
  } catch (err) {
    return {
      status: "failure",
      detail: `kafka runs but does not answer at kafka:9092: ${(err as Error)?.message ?? String(err)}`,
      fix: "see `shctl logs kafka` (and `shctl logs zookeeper`)",
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function clickhouseCheck(ctx: DoctorContext): Promise<DoctorCheckResult> {
  const state = await ctx.serviceState("clickhouse");
  if (state !== "running")
    return { status: "skipped", detail: `clickhouse is ${state} (\`shctl apply\` starts it)` };
  const client = createClient({
    url: "http://clickhouse:8123",
    http_agent: ctx.httpAgent(),
    request_timeout: 5000,
    log: { level: ClickHouseLogLevel.OFF },
  });
  try {
    const ping = await client.ping();
    if (!ping.success) throw ping.error;
    const rows = (await (
      await client.query({ query: "SELECT version() AS v", format: "JSONEachRow" })
    ).json()) as {
      v: string;
    }[];
    return { status: "ok", detail: `answers at clickhouse:8123 (ClickHouse ${rows[0]?.v ?? "?"})` };
  } catch (err) {
    return {
      status: "failure",
      detail: `clickhouse runs but does not answer at clickhouse:8123: ${(err as Error)?.message ?? String(err)}`,
      fix: "see `shctl logs clickhouse`",
    };
  } finally {
    await client.close();
  }
}

/** The checks the Sentry stack adds to `shctl doctor` (its `disk` takes the built-in one's place). */
export function sentryDoctorChecks(): DoctorCheck[] {
  return [
    { id: "disk", title: "free disk", run: diskCheck },
    { id: "sentry-platform", title: "engine platform", run: platformCheck },
    { id: "sentry-cpus", title: "CPUs", run: cpusCheck },
    { id: "sentry-memory", title: "memory", run: memoryCheck },
    { id: "sentry-sse42", title: "SSE 4.2 (ClickHouse needs it)", run: sse42Check },
    { id: "sentry-kafka-topics", title: "Kafka topics", run: kafkaTopicsCheck },
    { id: "sentry-clickhouse", title: "ClickHouse", run: clickhouseCheck },
  ];
}
