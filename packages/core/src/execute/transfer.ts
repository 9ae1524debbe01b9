import type { LayerMessage } from "../engine/index.js";
import type { EventSink, TransferProgress } from "../events.js";

/*
 * Figures of a transfer, as data for `progress` events: a pull's layers and bytes (from the
 * engine's per-layer messages), a build's step and last line, and a throttle so that a resource
 * sends at most a few of them a second (the engine sends dozens).
 */

/** What a progress event says beyond who and what. */
export type Figures = Pick<TransferProgress, "layers" | "bytes" | "files" | "step" | "line">;

interface Layer {
  /** Compressed size, once the engine reports it (it does when the download begins). */
  size: number | undefined;
  got: number;
  downloaded: boolean;
  /** Pulled and extracted, or already present. */
  done: boolean;
  /** Already present locally: nothing to download. */
  present: boolean;
}

/**
 * A pull's layers and bytes from its layer messages. Bytes are what is downloaded (compressed);
 * their total is known once every layer still to download has reported its size (the engine
 * downloads three at a time, so the last ones report theirs late). A layer so small that it was
 * downloaded before any size was reported counts in neither.
 */
export class PullTracker {
  private readonly layers = new Map<string, Layer>();

  update(m: LayerMessage): void {
    let l = this.layers.get(m.id);
    if (!l) {
      l = { size: undefined, got: 0, downloaded: false, done: false, present: false };
      this.layers.set(m.id, l);
    }
    switch (m.status) {
      case "Already exists":
        l.present = true;
        l.done = true;
        return;
      case "Downloading":
        if (m.total !== undefined) l.size = m.total;
        if (m.current !== undefined) l.got = l.size !== undefined ? Math.min(m.current, l.size) : m.current;
        return;
      case "Pull complete":
        l.done = true;
        break;
      case "Verifying Checksum":
      case "Download complete":
      case "Extracting":
        break;
      default:
        // "Pulling fs layer", "Waiting", "Retrying in 5 seconds", …: nothing to count yet.
        return;
    }
    l.downloaded = true;
    if (l.size !== undefined) l.got = l.size;
  }

  figures(): Figures {
    let done = 0;
    let got = 0;
    let total = 0;
    let sized = false;
    let allKnown = true;
    for (const l of this.layers.values()) {
      if (l.done) done++;
      if (l.present) continue;
      if (l.size !== undefined) {
        sized = true;
        got += l.got;
        total += l.size;
      } else if (!l.downloaded) allKnown = false;
    }
    return {
      layers: { done, total: this.layers.size },
      ...(sized ? { bytes: { done: got, ...(allKnown ? { total } : {}) } } : {}),
    };
  }

  /** Whether any layer message was seen (a pull of an image already present has none). */
  get seen(): boolean {
    return this.layers.size > 0;
  }
}

const STEP = /^Step \d+\/\d+ : /;
/** The classic builder's own lines between a step's output: not what the step printed. */
const BUILDER_CHATTER = /^(---> |Removing intermediate container |Successfully (built|tagged) )/;

/** A build's current step ("Step 3/7 : RUN make") and the last line its step printed. */
export class BuildTracker {
  private step: string | undefined;
  private line: string | undefined;

  update(raw: string): void {
    const text = raw.trim();
    if (!text) return;
    if (STEP.test(text)) {
      this.step = text;
      this.line = undefined;
    } else if (!BUILDER_CHATTER.test(text)) this.line = text;
  }

  figures(): Figures {
    return {
      ...(this.step !== undefined ? { step: this.step } : {}),
      ...(this.line !== undefined ? { line: this.line } : {}),
    };
  }
}

/**
 * Sends a resource's figures as `progress` events, at most one per `intervalMs`, the first one an
 * interval after the start (a pull names its layers in a burst first: "1/1 layers" would mislead):
 * the latest figures wait for the interval to end (a timer sends them), and `end` sends what is
 * still waiting, so the last figures always go out.
 */
export class ProgressThrottle {
  private lastSent: number;
  private pending: Figures | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly emit: EventSink,
    private readonly resource: string,
    private readonly what: TransferProgress["what"],
    private readonly t0: number,
    private readonly intervalMs = 250,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSent = now();
  }

  update(f: Figures): void {
    if (this.ended) return;
    const wait = this.lastSent + this.intervalMs - this.now();
    if (wait <= 0) {
      this.send(f);
      return;
    }
    this.pending = f;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.pending && !this.ended) this.send(this.pending);
      }, wait);
      this.timer.unref?.();
    }
  }

  /** Sends the figures still waiting, and nothing after. */
  end(): void {
    if (this.ended) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending) this.send(this.pending);
    this.ended = true;
  }

  private send(f: Figures): void {
    this.pending = undefined;
    this.lastSent = this.now();
    this.emit({
      type: "progress",
      resource: this.resource,
      what: this.what,
      ...f,
      elapsedMs: this.lastSent - this.t0,
    });
  }
}
