// The main entry loads neither zod nor yaml: they load when a stack has to be parsed or validated
// (a cached stack file needs neither). The schema itself, `validateStack` and `stackJsonSchema`
// are in "@sh/core/schema".
export {
  type ApplyOptions,
  type ApplyResult,
  apply,
  diff,
  type LogsSource,
  logs,
  type ServiceStatus,
  type StatusOptions,
  status,
  teardown,
} from "./api.js";
export { formatDuration, parseDuration } from "./duration.js";
export {
  type BuildOptions,
  type CallCounts,
  type ContainerDetails,
  type ContainerSummary,
  connectEngine,
  type EngineClient,
  type EngineEvent,
  type EngineInfo,
} from "./engine.js";
export {
  ConflictError,
  EngineError,
  EngineUnreachableError,
  formatIssuePath,
  HealthTimeoutError,
  InterruptedError,
  isShctlError,
  JobFailedError,
  LockedError,
  ShctlError,
  SpecError,
  type SpecIssue,
  StepFailedError,
  UnsafeDataRootError,
  UsageError,
} from "./errors.js";
export type { EventSink, Phase, ProgressEvent } from "./events.js";
export { type ExecuteOptions, type ExecuteResult, execute } from "./execute.js";
export { canonicalJson, HASH_RECIPE } from "./hash.js";
export { LABEL } from "./labels.js";
export { defineStack, type LoadOptions, loadStack, type StackFactory } from "./load.js";
export type * from "./model.js";
export { type ObservedContainer, type ObservedState, observe } from "./observe.js";
export {
  type Action,
  type ActionKind,
  type Conflict,
  diffSnapshots,
  type FieldChange,
  nodesInOrder,
  type Plan,
  plan,
} from "./plan.js";
export { redact } from "./redact.js";
export { type ResolveContext, splitCommand } from "./resolve.js";
export type {
  EngineInfoSummary,
  JobContext,
  JobRun,
  ProbeCheck,
  ProbeContext,
  RunContainerOptions,
  StackInput,
} from "./schema.js";
export { acquireLock, type Lock, readJobLog, readState, type SavedJobLog } from "./state.js";
export { checkDataRoot, type TeardownResult } from "./teardown.js";
