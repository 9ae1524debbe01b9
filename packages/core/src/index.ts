/*
 * @sh/core's public API: what a tool needs to load a stack, see and apply its plan, tear it down,
 * back its data up and restore it, read its status and logs, and handle what can go wrong.
 * Everything else is in "@sh/core/internals" (documented there, with no promise of stability);
 * the schema, validation and the stack's JSON Schema are in "@sh/core/schema".
 *
 * The main entry loads neither zod nor yaml: they load when a stack has to be parsed or validated
 * (a cached stack file needs neither). Backup, restore, bundles, doctor, verify, status and logs
 * load their modules when first called (lazy.ts), and apply loads the executor only when its plan
 * has something to do: a no-op apply loads what reads, plans and reports.
 */
export { type ApplyOptions, type ApplyResult, apply, diff, teardown } from "./api.js";
export type { BackupOptions, BackupResult } from "./backup.js";
export type { BackupHeader, BackupManifest, ManifestEntry } from "./backup-archive.js";
export { BUNDLE_FORMAT, BUNDLE_VERSION, type BundleImage, type BundleManifest } from "./bundle.js";
export type { LoadBundleOptions, LoadBundleResult, LoadedImage } from "./bundle-load.js";
export type { SaveBundleOptions, SaveBundleResult } from "./bundle-save.js";
export { formatBytes } from "./bytes.js";
export type { DoctorFinding, DoctorOptions } from "./doctor.js";
export { summarizeFindings } from "./doctor-summary.js";
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
export {
  backup,
  diskSpace,
  doctor,
  loadBundle,
  logs,
  restore,
  saveBundle,
  status,
  verify,
  verifyBackup,
  verifyBundle,
} from "./lazy.js";
export { defineStack, type LoadOptions, loadStack, type StackFactory } from "./load.js";
export type { LogsOptions, LogsSource } from "./logs.js";
export type * from "./model.js";
export { describeConflict } from "./plan/describe.js";
export { stackImages } from "./plan/order.js";
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
export type { RestoreOptions, RestoreResult } from "./restore.js";
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
export type { ServiceStatus, StatusOptions } from "./status.js";
export { checkDataRoot, type TeardownResult } from "./teardown.js";
export type { CheckResult, HopRecord, VerifyOptions, VerifyResult } from "./verify.js";
