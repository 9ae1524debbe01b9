import type { ResolvedService } from "../model.js";

/*
 * What a run's readiness waits share on every target: one wait per service, shared by all who wait
 * for it (dependents, the final waits), its failure reported once; and a wait of one's own that a
 * replace or an update makes for itself. How a service is waited for is the target's (doWait).
 */

export abstract class ServiceWaits {
  /** Services seen ready (or healthy) in this run. */
  readonly ready = new Set<string>();
  private readonly waits = new Map<string, Promise<boolean>>();

  /**
   * `onFailure` hears of each service whose wait failed, once: the failure is that service's,
   * whoever was waiting for it (a dependent is not what failed).
   */
  constructor(private readonly onFailure: (service: string, err: unknown) => void = () => {}) {}

  /**
   * Memoized per service: true once it is ready within its readyTimeout; false when its wait failed
   * (reported through onFailure) or the run stopped.
   */
  wait(s: ResolvedService): Promise<boolean> {
    let p = this.waits.get(s.name);
    if (!p) {
      p = this.doWait(s).then(
        () => this.ready.has(s.name),
        (err: unknown) => {
          this.onFailure(s.name, err);
          return false;
        },
      );
      this.waits.set(s.name, p);
    }
    return p;
  }

  /**
   * One wait for the service as it is now, not shared and not reported (the caller decides what a
   * failure means: a replace or an update rolls back). Resolves true when ready, false when the run
   * stopped; throws why it did not get ready. Once ready, later waits for the service reuse it.
   */
  async waitOwn(s: ResolvedService): Promise<boolean> {
    await this.doWait(s);
    const ok = this.ready.has(s.name);
    if (ok) this.waits.set(s.name, Promise.resolve(true));
    return ok;
  }

  /** Fails unless the service runs now (a `started` dependency this run did not touch). */
  abstract ensureRunning(service: string): Promise<void>;

  /** Waits until the service is ready and adds it to `ready`; returns without it when the run stopped. */
  protected abstract doWait(s: ResolvedService): Promise<void>;
}
