/*
 * @sh/core's public API: what a tool needs to load a stack, see and apply its plan, tear it down,
 * back its data up and restore it, read its status and logs, and handle what can go wrong.
 * Everything else is in "@sh/core/internals" (documented there, with no promise of stability);
 * the schema, validation and the stack's JSON Schema are in "@sh/core/schema".
 *
 * The main entry loads neither zod nor yaml: they load when a stack has to be parsed or validated
 * (a cached stack file needs neither).
 */
export { type ApplyOptions, type ApplyResult, apply, diff, teardown } from "./api.js";
export { type BackupOptions, type BackupResult, backup } from "./backup.js";
export type { BackupHeader, BackupManifest, ManifestEntry } from "./backup-archive.js";
export { BUNDLE_FORMAT, BUNDLE_VERSION, type BundleImage, type BundleManifest } from "./bundle.js";
export {
  type LoadBundleOptions,
  type LoadBundleResult,
  type LoadedImage,
  loadBundle,
} from "./bundle-load.js";
export { type SaveBundleOptions, type SaveBundleResult, saveBundle, stackImages } from "./bundle-save.js";
export { verifyBundle } from "./bundle-verify.js";
export { formatBytes } from "./bytes.js";
export { type DoctorFinding, type DoctorOptions, doctor, summarizeFindings } from "./doctor.js";
export { diskSpace } from "./doctor-data.js";
export { formatDuration, parseDuration } from "./duration.js";
export { connectEngine, type EngineClient } from "./engine/index.js";
export {
  BackupArchiveError,
  BundleError,
  CancelledError,
  ConflictError,
  EngineError,
  EngineUnreachableError,
  type FailureGroup,
  HealthTimeoutError,
  InterruptedError,
  isShctlError,
  JobFailedError,
  LockedError,
  ReachError,
  RefusedError,
  ShctlError,
  SpecError,
  type SpecIssue,
  StepFailedError,
  StepsFailedError,
  UnknownNameError,
  UnsafeDataRootError,
  UnsupportedArchitectureError,
  UsageError,
} from "./errors.js";
export type {
  Diagnosis,
  EventSink,
  HopStatus,
  Phase,
  ProgressEvent,
  TransferProgress,
  VerifyEvent,
  VerifySink,
} from "./events.js";
export { type HostFacts, isWsl, mountOf, readHostFacts, windowsDriveMount } from "./host.js";
export { defineStack, type LoadOptions, loadStack, type StackFactory } from "./load.js";
export { type LogsSource, logs } from "./logs.js";
export type * from "./model.js";
export { describeConflict } from "./plan/describe.js";
export type {
  Action,
  ActionKind,
  ActionOf,
  Conflict,
  FieldChange,
  Plan,
  Resource,
  Wait,
} from "./plan/types.js";
export { hasChanges, isDestructive, resourceKey } from "./plan/util.js";
export { createReach, type Reach, type ReachDescription, type ReachOptions } from "./reach.js";
export type { ModeDecision, ReachMode, ReachSetting } from "./reach-mode.js";
export { type RestoreOptions, type RestoreResult, restore, verifyBackup } from "./restore.js";
export type {
  CheckContext,
  CheckRun,
  DoctorCheckResult,
  DoctorContext,
  DoctorRun,
  EngineInfoSummary,
  HopControl,
  HopOptions,
  JobContext,
  PollResult,
  ProbeContext,
  RunContainerOptions,
  StackConnections,
  StackInput,
  StatusExtra,
  StatusExtras,
  StatusExtrasContext,
} from "./schema.js";
export { completedJobs } from "./state.js";
export { type ServiceStatus, type StatusOptions, status } from "./status.js";
export { checkDataRoot, type TeardownResult } from "./teardown.js";
export {
  type CheckResult,
  type HopRecord,
  type VerifyOptions,
  type VerifyResult,
  verify,
} from "./verify.js";
