/**
 * SIGINT/SIGTERM while a command runs: the first calls `first` (e.g. aborts the apply so the steps
 * in flight finish and nothing new starts); the second exits with 130 at once.
 */
export function onInterrupt(first: (signal: NodeJS.Signals) => void): { dispose(): void } {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) first(signal);
    else process.exit(130);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    dispose() {
      process.removeListener("SIGINT", handler);
      process.removeListener("SIGTERM", handler);
    },
  };
}
