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

/*
 * What `verify` reports while a stack's checks run: each check's start and end, and each hop of a
 * check as it starts and ends (ok, failed with what owns it and its state, or skipped after the
 * first broken hop). Separate from ProgressEvent: the apply and teardown views never see them.
 */

/** A service's state when a hop it owns broke: for the reader to see what to look at. */
export interface Diagnosis {
  service: string;
  /** The container's state ("running", "restarting", "exited", …), or "missing" without one. */
  state: string;
  /** The Docker healthcheck's verdict, when it has one. */
  health: string | undefined;
  restarts: number;
  /** The exit code of a container that is not running. */
  exitCode: number | undefined;
  startedAt: string | undefined;
  /** Its last log lines, secrets redacted. */
  logTail: string[];
  /** Why the diagnosis itself is incomplete (the engine did not answer), if so. */
  note?: string;
}

export type HopStatus = "running" | "ok" | "failed" | "skipped";

export type VerifyEvent =
  /** A check started (with the hops it declared, in order) or ended. */
  | {
      type: "check";
      name: string;
      phase: "running" | "passed" | "failed";
      ms?: number;
      hops?: string[];
      description?: string;
    }
  /**
   * A hop of a check started or ended. `owner` is the service that owns the hop; a failed hop
   * carries what went wrong (`detail`), the likely `fix` and the owner's `diagnosis`.
   */
  | {
      type: "hop";
      check: string;
      hop: string;
      status: HopStatus;
      ms?: number;
      detail?: string;
      owner?: string;
      fix?: string;
      diagnosis?: Diagnosis;
    };

export type VerifySink = (event: VerifyEvent) => void;
