/*
 * Runs a graph of steps: each once the steps it waits for are done, at most `concurrency` at once.
 * A step may wait inside (for its dependencies' health) without holding a slot. The first failure
 * stops scheduling: steps not yet begun never begin, steps in flight finish; the failure is the
 * first one, never one that came after it.
 */

export interface StepGraph<T> {
  steps: readonly T[];
  idOf(step: T): string;
  /** Steps that must be done before this one begins. */
  afterOf(step: T): readonly string[];
}

export interface StepControls {
  /** Runs `wait` without holding a slot (a wait for other steps or for health), then takes one back. */
  gate<R>(wait: () => Promise<R>): Promise<R>;
  /** The promise of another step of the graph (resolved once it is done; never rejects). */
  done(id: string): Promise<void>;
  /** True once the run failed or was interrupted: nothing new should begin. */
  stopped(): boolean;
}

/** Carries out a step; `false` when it stopped part-way because the run stopped (not done, not failed). */
export type Perform<T> = (step: T, controls: StepControls) => Promise<boolean | undefined>;

export interface StepOutcome {
  done: Set<string>;
  failure: { step: string | undefined; error: unknown } | undefined;
}

/** A counting semaphore whose holders can give their slot back while they wait. */
export class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];
  constructor(size: number) {
    this.free = Math.max(1, size);
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }
  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}

export class Scheduler<T> {
  private readonly slots: Slots;
  private readonly running = new Map<string, Promise<void>>();
  private readonly finished = new Set<string>();
  private firstFailure: StepOutcome["failure"];
  private readonly byId: Map<string, T>;

  constructor(
    private readonly graph: StepGraph<T>,
    concurrency: number,
    private readonly isInterrupted: () => boolean,
    private readonly onFirstFailure: () => void,
  ) {
    this.slots = new Slots(concurrency);
    this.byId = new Map(graph.steps.map((s) => [graph.idOf(s), s]));
  }

  stopped(): boolean {
    return this.firstFailure !== undefined || this.isInterrupted();
  }

  /** Records a failure; only the first one becomes the run's failure. */
  fail(step: string | undefined, error: unknown): void {
    if (this.firstFailure !== undefined) return;
    this.firstFailure = { step, error };
    this.onFirstFailure();
  }

  /** Runs every step; resolves when none is running any more (never rejects). */
  async run(perform: Perform<T>): Promise<StepOutcome> {
    await Promise.all(this.graph.steps.map((s) => this.schedule(s, perform)));
    return { done: this.finished, failure: this.firstFailure };
  }

  private schedule(step: T, perform: Perform<T>): Promise<void> {
    const id = this.graph.idOf(step);
    const existing = this.running.get(id);
    if (existing) return existing;
    const p = (async () => {
      const deps = this.graph
        .afterOf(step)
        .map((d) => this.byId.get(d))
        .filter((d): d is T => d !== undefined);
      await Promise.all(deps.map((d) => this.schedule(d, perform)));
      if (this.stopped() || deps.some((d) => !this.finished.has(this.graph.idOf(d)))) return;
      await this.slots.acquire();
      let holding = true;
      const controls: StepControls = {
        gate: async (wait) => {
          if (holding) this.slots.release();
          holding = false;
          try {
            return await wait();
          } finally {
            await this.slots.acquire();
            holding = true;
          }
        },
        done: (other) => {
          const s = this.byId.get(other);
          return s ? this.schedule(s, perform) : Promise.resolve();
        },
        stopped: () => this.stopped(),
      };
      try {
        if (this.stopped()) return;
        if ((await perform(step, controls)) !== false) this.finished.add(id);
      } catch (err) {
        this.fail(id, err);
      } finally {
        if (holding) this.slots.release();
      }
    })();
    this.running.set(id, p);
    return p;
  }

  /** The first failure, if any (a step's, or one recorded with `fail`). */
  get failure(): StepOutcome["failure"] {
    return this.firstFailure;
  }

  /** Whether a step finished successfully. */
  isDone(id: string): boolean {
    return this.finished.has(id);
  }
}
