import type { Duplex } from "node:stream";

/*
 * Starting a process in a container (an exec) costs the engine about 100 ms, most of it in the
 * runtime. A few execs are started ahead of time and wait for their first line on stdin, so a
 * connection takes one that is already running and a replacement starts behind it.
 */
export class WarmExecs {
  private idle: Promise<Duplex>[] = [];
  private closed = false;

  constructor(
    private readonly start: () => Promise<Duplex>,
    private readonly size = 2,
  ) {}

  /** A started exec: a waiting one if there is one, else a new one. Starts replacements. */
  take(): Promise<Duplex> {
    if (this.closed) return Promise.reject(new Error("the helper is closed"));
    const waited = this.idle.shift();
    // One that ended while it waited (its container removed, the engine restarted) is no use.
    const next = waited ? waited.then((s) => (s.destroyed ? this.start() : refed(s, true))) : this.start();
    this.fill();
    return next;
  }

  /** A new exec, not one that waited (after a waiting one turned out dead). */
  fresh(): Promise<Duplex> {
    if (this.closed) return Promise.reject(new Error("the helper is closed"));
    return this.start();
  }

  fill(): void {
    while (!this.closed && this.idle.length < this.size) {
      // A waiting exec does not keep the process alive: one that forgets close() still exits.
      const started = this.start().then((s) => refed(s, false));
      this.idle.push(started);
      // A failed start is dropped; the next take() starts (and reports) its own.
      started.catch(() => {
        this.idle = this.idle.filter((p) => p !== started);
      });
    }
  }

  get waiting(): number {
    return this.idle.length;
  }

  close(): void {
    this.closed = true;
    for (const p of this.idle.splice(0))
      p.then(
        (s) => s.destroy(),
        () => undefined,
      );
  }
}

function refed(s: Duplex, on: boolean): Duplex {
  const handle = s as Duplex & { ref?: () => void; unref?: () => void };
  if (on) handle.ref?.();
  else handle.unref?.();
  return s;
}
