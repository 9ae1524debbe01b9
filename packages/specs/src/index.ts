import type { StackFactory } from "@sh/core";
import { sentryStackFactory } from "./sentry/stack.js";

export { exampleStack } from "./example.js";
export { type KafkaConsumer, SENTRY_CONSUMERS } from "./sentry/consumers.js";
export { DEVIATIONS, type Deviation } from "./sentry/deviations.js";
export { sentryDoctorChecks } from "./sentry/doctor.js";
export { type FirstRunQuestion, firstRunQuestions } from "./sentry/first-run.js";
export { LOCAL_IMAGES, SENTRY_VERSION, UPSTREAM_IMAGES } from "./sentry/images.js";
export { consumerLag, type LagAdmin, sentryStatusExtras } from "./sentry/lag.js";
export {
  ENV_OVERRIDES,
  loadSentryOptions,
  OPTIONS_FILE,
  SentryOptions,
  type SentryOptionsInput,
} from "./sentry/options.js";
export { CONFIG_DIRS, DATA_DIRS, FULL_ONLY, sentryStack, sentryStackFactory } from "./sentry/stack.js";
export { type KafkaTopic, SENTRY_TOPIC_NAMES, SENTRY_TOPICS } from "./sentry/topics.js";
export { HOPS as VERIFY_HOPS, type PipelineName, sentryChecks } from "./sentry/verify/checks.js";

/** The stack `shctl` uses when no `-f FILE` is given: Sentry 23.12.0 self-hosted. */
export const defaultStack: StackFactory = sentryStackFactory;
