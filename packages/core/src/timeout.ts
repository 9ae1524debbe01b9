/**
 * A signal that aborts after `ms`, from a timer that keeps the process alive while it runs (Node's
 * own AbortSignal.timeout does not: a process waiting only on it would end before it fires, with
 * exit code 13 and nothing said). Call `clear()` once the wait is over.
 */
export function timeoutSignal(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(Object.assign(new Error(`timed out after ${ms}ms`), { name: "TimeoutError" })),
    ms,
  );
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
