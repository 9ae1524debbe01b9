import type { Plan } from "./plan/types.js";

/*
 * Core reports progress only through these events; it never prints. The CLI renders them as a
 * live view on a TTY, as timestamped lines elsewhere, or as JSON lines with --json.
 */

export type Phase =
  | "pending"
  | "pulling"
  | "building"
  | "creating"
  | "starting"
  | "stopping"
  | "removing"
  | "updating"
  | "restarting"
  | "running"
  | "waiting"
  | "healthy"
  | "exporting"
  | "verifying"
  | "loading"
  | "done"
  | "unchanged"
  | "failed";

export type ProgressEvent =
  | { type: "plan"; plan: Plan }
  /** A resource ("service web", "job migrate", "image app", …) entered a phase. */
  | { type: "phase"; resource: string; phase: Phase; message?: string; elapsedMs?: number }
  /** A line of output from a build, a pull or a function job. */
  | { type: "output"; resource: string; line: string }
  | { type: "warning"; message: string; resource?: string }
  | TransferProgress
  /**
   * How an execution ended, sent once at its end (done, failed or interrupted): the plan's actions
   * carried out and not, and the services it was to wait for that were not known ready.
   */
  | { type: "outcome"; done: string[]; notDone: string[]; notReady: string[] };

export type EventSink = (event: ProgressEvent) => void;

/**
 * Figures of a transfer in progress: sent at most a few times a second per resource while it
 * runs, and once more with the final figures when it ends (before the resource's `done` phase).
 */
export interface TransferProgress {
  type: "progress";
  /** "image app", or "bundle FILE" for an image bundle being saved, verified or loaded. */
  resource: string;
  what: "pull" | "build" | "save" | "verify" | "load";
  /** A pull's layers: done (pulled, or already present) of those the engine named so far. */
  layers?: { done: number; total: number };
  /**
   * Bytes transferred (a pull's downloaded, a bundle's written, read or sent to the engine); `total` once the size of
   * everything to transfer is known (a pull: once every layer to download has reported its size).
   */
  bytes?: { done: number; total?: number };
  /** A build's current step, as the builder writes it: "Step 3/7 : RUN make". */
  step?: string;
  /** The last line of a build's output. */
  line?: string;
  /** Time since the transfer began. */
  elapsedMs: number;
}
