/*
 * @sh/core/internals: the building blocks under the public API, for tests, the benchmark and
 * tools that need to go below it. No stability promise: these change with the code.
 *
 * - observe → plan → execute: the three stages apply runs (plan is pure and synchronous).
 * - the engine client's types, labels, hashes and graph order;
 * - the state files under the data root (lock, job records, saved job logs);
 * - the helper image and its containers, and the sockets `createReach` hands out.
 */

export { wantsCompression } from "./backup.js";
export { BACKUP_FORMAT, BACKUP_FORMAT_VERSION } from "./backup-archive.js";
export { extractionTar, isGzip, verifyArchive } from "./backup-archive-read.js";
export { writeArchive } from "./backup-archive-write.js";
export { contentBytes } from "./backup-preflight.js";
export { restartPlan } from "./backup-services.js";
export {
  addressesOverlap,
  containersPublishing,
  describeHolder,
  type PortHolder,
  parseProcNet,
  probeHostPort,
  socketOwner,
} from "./doctor-ports.js";
export type {
  BuildOptions,
  CallCounts,
  ContainerDetails,
  ContainerSummary,
  EngineEvent,
  EngineInfo,
  LayerMessage,
} from "./engine/index.js";
export { cpuFacts, engineFacts } from "./engine-facts.js";
export { type ExecuteOptions, type ExecuteResult, execute } from "./execute/index.js";
export { byCodeUnit, depths, findCycles, topoOrder } from "./graph.js";
export { canonicalJson, HASH_RECIPE } from "./hash.js";
export {
  type HelperRunOptions,
  type HelperRunResult,
  type LongLivedHelper,
  type LongLivedHelperOptions,
  runHelperCommand,
  startLongLivedHelper,
} from "./helper-container.js";
export { ensureHelperImage, HELPER_PATH, type HelperImageOptions, helperImageRef } from "./helper-image.js";
export { LABEL } from "./labels.js";
export { type ObservedContainer, type ObservedState, observe } from "./observe.js";
export { diffSnapshots } from "./plan/fields.js";
export { plan } from "./plan/index.js";
export { nodesInOrder } from "./plan/order.js";
export { PLAN_VERSION } from "./plan/util.js";
export { ProxySocket } from "./proxy-socket.js";
export { reachSetting } from "./reach-mode.js";
export { redact } from "./redact.js";
export { type ResolveContext, splitCommand } from "./resolve/index.js";
export { restoreOwners } from "./restore-extract.js";
export type { JobRun, ProbeCheck } from "./schema.js";
export { acquireLock, alive, type Lock, readJobLog, readState, type SavedJobLog } from "./state.js";
export { tunnelSocket } from "./tunnel.js";
export { type CheckHarness, diagnoseService, runCheck, selectChecks } from "./verify.js";
