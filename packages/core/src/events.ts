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
  | "done"
  | "unchanged"
  | "failed"
  /** Backup and restore: an archive being written, checked or unpacked. */
  | "packing"
  | "verifying"
  | "extracting";

export type ProgressEvent =
  | { type: "plan"; plan: Plan }
  /** A resource ("service web", "job migrate", "image app", …) entered a phase. */
  | { type: "phase"; resource: string; phase: Phase; message?: string; elapsedMs?: number }
  /** A line of output from a build, a pull or a function job. */
  | { type: "output"; resource: string; line: string }
  | { type: "warning"; message: string; resource?: string }
  /**
   * Bytes moved so far by a long copy (backup, restore), sent a few times a second and once at
   * its end: file content bytes, and their total when it is known beforehand.
   */
  | { type: "transfer"; resource: string; bytes: number; total: number | undefined; files: number }
  /**
   * How an execution ended, sent once at its end (done, failed or interrupted): the plan's actions
   * carried out and not, and the services it was to wait for that were not known ready.
   */
  | { type: "outcome"; done: string[]; notDone: string[]; notReady: string[] };

export type EventSink = (event: ProgressEvent) => void;
