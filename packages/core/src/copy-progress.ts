import type { EventSink, TransferProgress } from "./events.js";
import { ProgressThrottle } from "./execute/transfer.js";

/**
 * A long copy's figures (bytes, and files when it counts them) as `progress` events, at most one
 * every `everyMs`, the last one always (call `flush`).
 */
export function throttled(
  emit: EventSink,
  resource: string,
  what: TransferProgress["what"],
  total: number | undefined,
  everyMs = 250,
) {
  const t = new ProgressThrottle(emit, resource, what, Date.now(), everyMs);
  return {
    update(bytes: number, files: number) {
      t.update({
        bytes: total === undefined ? { done: bytes } : { done: bytes, total },
        ...(files > 0 ? { files } : {}),
      });
    },
    flush: () => t.end(),
  };
}
