import { setTimeout as sleep } from "node:timers/promises";
import type { StatusExtra, StatusExtrasContext } from "@sh/core";
import type { Admin } from "kafkajs";
import { type KafkaConsumer, SENTRY_CONSUMERS } from "./consumers.js";
import { kafkaClient } from "./kafka.js";

/*
 * Consumer lag for `shctl status`: for each consumer service, the messages of its topic(s) its
 * group has not committed yet (the topic's end offset less the group's committed offset, summed
 * over partitions), sampled twice a few seconds apart. A running consumer whose lag grew while
 * its group committed nothing is stuck; one whose lag grew while it committed is falling behind.
 * Sentry's consumers commit about once a second and snuba's batch for 750 ms, so two samples
 * 2.5 s apart see a working consumer commit.
 */

/** What lag needs of a kafkajs admin client (a fake one in unit tests). */
export type LagAdmin = Pick<Admin, "fetchOffsets" | "fetchTopicOffsets">;

export interface TopicLag {
  group: string;
  topic: string;
  partitions: number;
  /** The sum of the committed offsets, or null when no partition has one. */
  committed: number | null;
  /** The sum of the end offsets. */
  end: number;
  /** The sum over committed partitions of end − committed; null when nothing was ever committed. */
  lag: number | null;
  /** Partitions the group has not committed in. */
  uncommitted: number;
  /** Why it could not be measured (e.g. the topic does not exist). */
  error?: string;
}

const key = (group: string, topic: string) => `${group}\u0000${topic}`;

/** One reading of every (group, topic) the consumers name. */
export async function sampleLag(
  admin: LagAdmin,
  consumers: readonly KafkaConsumer[],
): Promise<Map<string, TopicLag>> {
  const groups = new Map<string, Set<string>>();
  for (const c of consumers) {
    const set = groups.get(c.group) ?? new Set<string>();
    for (const t of c.topics) set.add(t);
    groups.set(c.group, set);
  }
  const topics = [...new Set(consumers.flatMap((c) => c.topics))];
  const ends = new Map<string, Map<number, number> | Error>(
    await Promise.all(
      topics.map(async (t): Promise<[string, Map<number, number> | Error]> => {
        try {
          const offsets = await admin.fetchTopicOffsets(t);
          return [t, new Map(offsets.map((o) => [o.partition, Number(o.high)]))];
        } catch (err) {
          return [t, err as Error];
        }
      }),
    ),
  );
  const out = new Map<string, TopicLag>();
  await Promise.all(
    [...groups].map(async ([group, wanted]) => {
      const readable = [...wanted].filter((t) => ends.get(t) instanceof Map);
      const committed =
        readable.length > 0 ? await admin.fetchOffsets({ groupId: group, topics: readable }) : [];
      for (const topic of wanted) {
        const end = ends.get(topic);
        if (!(end instanceof Map)) {
          out.set(key(group, topic), {
            group,
            topic,
            partitions: 0,
            committed: null,
            end: 0,
            lag: null,
            uncommitted: 0,
            error: `${topic}: ${end?.message ?? "no offsets"}`,
          });
          continue;
        }
        const byPartition = new Map(
          (committed.find((x) => x.topic === topic)?.partitions ?? []).map((p) => [
            p.partition,
            Number(p.offset),
          ]),
        );
        let sumCommitted = 0;
        let sumEnd = 0;
        let lag = 0;
        let withCommit = 0;
        for (const [partition, high] of end) {
          sumEnd += high;
          const at = byPartition.get(partition);
          if (at === undefined || at < 0) continue;
          withCommit++;
          sumCommitted += at;
          lag += Math.max(0, high - at);
        }
        out.set(key(group, topic), {
          group,
          topic,
          partitions: end.size,
          committed: withCommit > 0 ? sumCommitted : null,
          end: sumEnd,
          lag: withCommit > 0 ? lag : null,
          uncommitted: end.size - withCommit,
        });
      }
    }),
  );
  return out;
}

/** A consumer's figures in one sample: its topics, their lag and commits summed. */
function consumerFigures(c: KafkaConsumer, sample: Map<string, TopicLag>) {
  const topics = c.topics.map((t) => sample.get(key(c.group, t))).filter((x): x is TopicLag => !!x);
  const measured = topics.filter((t) => t.lag !== null);
  return {
    topics,
    error: topics.find((t) => t.error)?.error,
    lag: measured.length > 0 ? measured.reduce((n, t) => n + (t.lag ?? 0), 0) : null,
    committed: measured.length > 0 ? measured.reduce((n, t) => n + (t.committed ?? 0), 0) : null,
  };
}

export interface LagOptions {
  /** Time between the two samples (default 2500 ms). */
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Each consumer's lag as a `status` figure (column "lag"): two samples `intervalMs` apart, the
 * second one shown. `services` says which run (only a running consumer can be stuck).
 */
export async function consumerLag(
  admin: LagAdmin,
  consumers: readonly KafkaConsumer[],
  services: Record<string, { state: string }>,
  opts: LagOptions = {},
): Promise<Record<string, { lag: StatusExtra }>> {
  const intervalMs = opts.intervalMs ?? 2500;
  const first = await sampleLag(admin, consumers);
  await sleep(intervalMs, undefined, opts.signal ? { signal: opts.signal } : {});
  const second = await sampleLag(admin, consumers);
  const out: Record<string, { lag: StatusExtra }> = {};
  const secs = `${(intervalMs / 1000).toFixed(1)}s`;
  for (const c of consumers) {
    const a = consumerFigures(c, first);
    const b = consumerFigures(c, second);
    const running = services[c.service]?.state === "running";
    const grew = a.lag !== null && b.lag !== null && b.lag > a.lag;
    const committedMoved = a.committed !== b.committed;
    const stuck = running && grew && !committedMoved;
    const data = {
      group: c.group,
      topics: b.topics,
      lag: b.lag,
      previousLag: a.lag,
      intervalMs,
      committedMoved,
      stuck,
    };
    if (b.error) {
      out[c.service] = { lag: { text: "?", state: "failure", detail: b.error, data } };
    } else if (b.lag === null) {
      out[c.service] = { lag: { text: "no commits yet", data } };
    } else if (stuck) {
      out[c.service] = {
        lag: {
          text: `${b.lag} stuck`,
          state: "failure",
          detail: `lag grew from ${a.lag} to ${b.lag} in ${secs} while group ${c.group} committed nothing on ${c.topics.join(", ")}: see \`shctl logs ${c.service}\``,
          data,
        },
      };
    } else if (running && grew) {
      out[c.service] = {
        lag: {
          text: `${b.lag} rising`,
          state: "warning",
          detail: `lag grew from ${a.lag} to ${b.lag} in ${secs}: it consumes, but slower than messages arrive`,
          data,
        },
      };
    } else {
      out[c.service] = {
        lag: { text: String(b.lag), ...(b.lag === 0 ? { state: "ok" as const } : {}), data },
      };
    }
  }
  return out;
}

/**
 * The Sentry stack's `statusExtras`: each consumer service's lag, through the stack connections
 * (kafkajs admin at kafka:9092). Nothing while the broker does not run.
 */
export async function sentryStatusExtras(
  ctx: StatusExtrasContext,
  consumers: readonly KafkaConsumer[] = SENTRY_CONSUMERS,
): Promise<Record<string, Record<string, StatusExtra>>> {
  if (ctx.services.kafka?.state !== "running") return {};
  const mine = consumers.filter((c) => ctx.services[c.service] !== undefined);
  if (mine.length === 0) return {};
  const admin = kafkaClient(ctx, "shctl-status").admin();
  await admin.connect();
  try {
    return await consumerLag(admin, mine, ctx.services, { signal: ctx.signal });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
