import type { Plan } from "./plan/types.js";

/*
 * Core reports progress only through these events; it never prints. The CLI renders them as a
 * live view on a TTY, as timestamped lines elsewhere, or as JSON lines with --json.
 */

export type Phase =
  | "pending"
  | "pulling"
  | "pushing"
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
  | "failed";

export type ProgressEvent =
  | { type: "plan"; plan: Plan }
  /** A resource ("service web", "job migrate", "image app", …) entered a phase. */
  | { type: "phase"; resource: string; phase: Phase; message?: string; elapsedMs?: number }
  /** A line of output from a build, a pull or a function job. */
  | { type: "output"; resource: string; line: string }
  | { type: "warning"; message: string; resource?: string }
  /**
   * How an execution ended, sent once at its end (done, failed or interrupted): the plan's actions
   * carried out and not, and the services it was to wait for that were not known ready.
   */
  | { type: "outcome"; done: string[]; notDone: string[]; notReady: string[] };

export type EventSink = (event: ProgressEvent) => void;
