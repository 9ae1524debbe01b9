import net from "node:net";
import {
  apply,
  HealthTimeoutError,
  type JobContext,
  type ProbeContext,
  type ResolvedStack,
  StepFailedError,
} from "@sh/core";
import { SENTRY_TOPIC_NAMES, SENTRY_TOPICS } from "@sh/specs";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics } from "../packages/specs/src/sentry/jobs.js";
import { kafkaProbe } from "../packages/specs/src/sentry/probes.js";
import { cleanup, engine, load, recorder, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * The Sentry stack's Kafka pieces: the kafkajs readiness probe and the `kafka-topics` init job
 * (the same functions the stack runs). Without a broker (none can be installed here) they must
 * fail clearly: the probe at once with the address it tried, the job after its retries with a
 * typed error naming the broker. With SHCTL_TEST_KAFKA_BROKERS=host:port[,host:port] they run
 * against that broker: all 55 topics with their per-topic configs, a second run creates nothing,
 * and the probe passes.
 */

const BROKERS = (process.env.SHCTL_TEST_KAFKA_BROKERS ?? "")
  .split(",")
  .map((b) => b.trim())
  .filter(Boolean);

function parseBroker(b: string): { host: string; port: number } {
  const i = b.lastIndexOf(":");
  const port = Number(b.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port))
    throw new Error(`SHCTL_TEST_KAFKA_BROKERS: expected host:port, got "${b}"`);
  return { host: b.slice(0, i).replace(/^\[|\]$/g, ""), port };
}

/** A local TCP port where nothing listens (bound once, then released). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Stack connections that send every host to one address (the broker is not a container here, and
 * it advertises its own name): what the executor gives probes and jobs, pointed at it.
 */
function connectionsTo(address: { host: string; port: number }) {
  const socket = (_host: string, _port: number, onConnect?: () => void) =>
    net.connect({ host: address.host, port: address.port }, onConnect);
  return {
    socket,
    connect: (host: string, port: number) =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = socket(host, port, () => resolve(s));
        s.once("error", reject);
      }),
    httpAgent: () => {
      throw new Error("the kafka pieces use no HTTP");
    },
  };
}

/** The context the executor gives a probe, pointed at one address. */
function probeContext(address: { host: string; port: number }): ProbeContext {
  return {
    service: "kafka",
    containerId: "(external broker)",
    ...connectionsTo(address),
    address: async () => address,
    exec: async () => {
      throw new Error("the kafka probe does not exec");
    },
    signal: new AbortController().signal,
  };
}

const probeCheck = () => kafkaProbe().custom.check;

describe("the Kafka probe and topic job without a broker", () => {
  let projectDir: string;
  const stacks: ResolvedStack[] = [];
  beforeAll(async () => {
    projectDir = await tempProject("shctl-kafka-");
  });
  afterAll(async () => {
    for (const s of stacks) await cleanup(s, undefined);
    await cleanup(undefined, projectDir);
  });

  it("the probe against a closed port fails with the address and the connection error", async () => {
    const port = await closedPort();
    const err = await probeCheck()(probeContext({ host: "127.0.0.1", port })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).toMatch(/ECONNREFUSED|connection/i);
  });

  it("a service whose broker never answers fails the apply with its name, the probe and the broker's address", async () => {
    // A container where nothing listens on 9092: the probe is tried until the service's readyTimeout.
    const stack = await load(
      {
        name: stackName("kprobe"),
        images: { tools: toolsImage() },
        services: {
          kafka: {
            image: "tools",
            command: ["sleep", "infinity"],
            readiness: [kafkaProbe()],
            readyTimeout: "4s",
            stopGracePeriod: "1s",
          },
        },
      },
      projectDir,
    );
    stacks.push(stack);
    const err = await apply(stack, engine).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HealthTimeoutError);
    const e = err as HealthTimeoutError;
    expect(e.message).toContain("service kafka");
    expect(e.message).toContain("not ready");
    const details = e.details.join("\n");
    expect(details).toContain("kafka metadata (kafkajs)");
    expect(details).toMatch(/\d+\.\d+\.\d+\.\d+:9092/);
    expect(e.hint).toContain("readyTimeout");
  });

  it("the topic job retries, then gives up with a typed error naming the job and the broker", async () => {
    // The job's own retries (p-retry, about a minute) give up before its 10-minute timeout.
    const stack = await load(
      {
        name: stackName("ktopics"),
        images: { tools: toolsImage() },
        services: { kafka: { image: "tools", command: ["sleep", "infinity"], stopGracePeriod: "1s" } },
        jobs: {
          "kafka-topics": {
            run: createTopics,
            dependsOn: { kafka: { condition: "started" } },
            timeout: "10m",
          },
        },
      },
      projectDir,
    );
    stacks.push(stack);
    const rec = recorder();
    const err = await apply(stack, engine, { onEvent: rec.onEvent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    const e = err as StepFailedError;
    expect(e.resource).toBe("job kafka-topics");
    expect(e.step).toBe("run");
    const ip = Object.values((await engine.inspectContainer(`${stack.name}-kafka`))?.networks ?? {}).find(
      (n) => n.ip,
    )?.ip;
    expect(ip).toBeTruthy();
    expect(e.message).toContain(`${ip}:9092`);
    expect(e.hint).toBeTruthy();
    // It did retry, and said so under the job's name.
    const waits = rec.events.filter(
      (ev) => ev.type === "output" && ev.resource === "job kafka-topics" && /waiting for kafka/.test(ev.line),
    );
    expect(waits.length).toBeGreaterThan(10);
  }, 180_000);
});

describe.skipIf(BROKERS.length === 0)(
  BROKERS.length === 0
    ? "against a real Kafka broker: skipped because SHCTL_TEST_KAFKA_BROKERS is not set (set it to host:port[,host:port] of a test broker to run these)"
    : `against the Kafka broker at ${BROKERS.join(",")}`,
  () => {
    const first = () => parseBroker(BROKERS[0] as string);
    const verifier = () =>
      new Kafka({ clientId: "shctl-test", brokers: BROKERS, logLevel: logLevel.NOTHING }).admin();

    function jobContext(lines: string[]): JobContext {
      return {
        stack: "sentry-kafka-test",
        dataRoot: "/nonexistent",
        projectDir: "/nonexistent",
        signal: AbortSignal.timeout(170_000),
        log: (l) => lines.push(l),
        address: async (service, port) => {
          expect([service, port]).toEqual(["kafka", 9092]);
          return first();
        },
        engineInfo: () => engine.info(),
        runContainer: async () => {
          throw new Error("the topic job runs no container");
        },
        runHelper: async () => {
          throw new Error("the topic job runs no helper");
        },
        readFile: async () => {
          throw new Error("the topic job reads no file");
        },
        chown: async () => {
          throw new Error("the topic job owns no file");
        },
        ...connectionsTo(first()),
      };
    }

    it("the readiness probe passes", async () => {
      await expect(probeCheck()(probeContext(first()))).resolves.toBeUndefined();
    });

    it("the topic job creates every missing topic of the 55 with its configs, and a second run creates nothing", async () => {
      expect(SENTRY_TOPICS).toHaveLength(55);
      const admin = verifier();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const missing = SENTRY_TOPIC_NAMES.filter((t) => !existing.has(t)).length;

        const first = [] as string[];
        await createTopics(jobContext(first));
        expect(first.at(-1)).toBe(`55 topics present (${missing} created)`);
        const after = new Set(await admin.listTopics());
        for (const t of SENTRY_TOPIC_NAMES) expect(after.has(t), `topic ${t}`).toBe(true);

        const withConfig = SENTRY_TOPICS.filter((t) => Object.keys(t.config).length > 0);
        expect(withConfig.length).toBeGreaterThan(5);
        const described = await admin.describeConfigs({
          includeSynonyms: false,
          resources: withConfig.map((t) => ({
            type: ConfigResourceTypes.TOPIC,
            name: t.name,
            configNames: Object.keys(t.config),
          })),
        });
        for (const t of withConfig) {
          const res = described.resources.find((r) => r.resourceName === t.name);
          expect(res?.errorCode, `describeConfigs ${t.name}`).toBe(0);
          for (const [key, value] of Object.entries(t.config)) {
            expect(
              res?.configEntries.find((c) => c.configName === key)?.configValue,
              `${t.name} ${key}`,
            ).toBe(value);
          }
        }
        const meta = await admin.fetchTopicMetadata({ topics: [...SENTRY_TOPIC_NAMES] });
        for (const t of meta.topics)
          expect(t.partitions.length, `${t.name} partitions`).toBeGreaterThanOrEqual(1);

        const second = [] as string[];
        await createTopics(jobContext(second));
        expect(second.at(-1)).toBe("55 topics present (0 created)");
        expect(new Set(await admin.listTopics())).toEqual(after);
      } finally {
        await admin.disconnect();
      }
    }, 180_000);
  },
);
