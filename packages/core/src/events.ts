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
  | "exporting"
  | "verifying"
  | "loading"
  | "done"
  | "unchanged"
  | "failed"
  /** Backup and restore: an archive being written or unpacked (checking it is "verifying"). */
  | "packing"
  | "extracting";

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
  /**
   * "image app"; "bundle FILE" for an image bundle being saved, verified or loaded; "archive FILE"
   * or "data root" for a backup or restore.
   */
  resource: string;
  what: "pull" | "build" | "save" | "verify" | "load" | "backup" | "restore";
  /** A pull's layers: done (pulled, or already present) of those the engine named so far. */
  layers?: { done: number; total: number };
  /**
   * Bytes transferred (a pull's downloaded, a bundle's written, read or sent to the engine, a
   * backup's file content); `total` once the size of everything to transfer is known (a pull:
   * once every layer to download has reported its size).
   */
  bytes?: { done: number; total?: number };
  /** Files copied so far (backup, restore). */
  files?: number;
  /** A build's current step, as the builder writes it: "Step 3/7 : RUN make". */
  step?: string;
  /** The last line of a build's output. */
  line?: string;
  /** Time since the transfer began. */
  elapsedMs: number;
}

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
