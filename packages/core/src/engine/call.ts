import type Docker from "dockerode";
import pRetry, { AbortError } from "p-retry";
import { EngineError, EngineUnreachableError } from "../errors.js";
import type { CallCounts } from "./types.js";

const TRANSIENT_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN"]);
export const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "EHOSTUNREACH", "ENOTFOUND"]);

/** One engine API call, run by `countedCall`: the client's calls by kind (engine/containers.ts, …) take it. */
export type Call = <T>(
  operation: string,
  mutating: boolean,
  fn: () => Promise<T>,
  resource?: string,
) => Promise<T>;

export function status(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

/** The engine's address as dockerode will reach it, for messages (`unix:///var/run/docker.sock`, …). */
export function whereOf(docker: Docker): string {
  const m = docker.modem as unknown as {
    socketPath?: string;
    host?: string;
    port?: number;
    protocol?: string;
  };
  // docker-modem's default socketPath is a function that probes candidates: name the usual one.
  const socket =
    typeof m.socketPath === "string" ? m.socketPath : m.socketPath ? "/var/run/docker.sock" : undefined;
  return socket ? `unix://${socket}` : `${m.protocol ?? "http"}://${m.host}:${m.port ?? ""}`;
}

/** Runs one API call: counts it, retries transient transport errors for reads, and types its failure. */
export function countedCall(calls: CallCounts, where: string): Call {
  return async <T>(
    operation: string,
    mutating: boolean,
    fn: () => Promise<T>,
    resource?: string,
  ): Promise<T> => {
    calls[mutating ? "mutating" : "read"]++;
    calls.byOperation[operation] = (calls.byOperation[operation] ?? 0) + 1;
    try {
      return await pRetry(
        async () => {
          try {
            return await fn();
          } catch (err) {
            const code = (err as NodeJS.ErrnoException)?.code;
            if (!mutating && code && TRANSIENT_CODES.has(code)) throw err;
            throw new AbortError(err as Error);
          }
        },
        { retries: 3, minTimeout: 200, factor: 2 },
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code && UNREACHABLE_CODES.has(code) && status(err) === undefined)
        throw new EngineUnreachableError(where, err);
      if (err instanceof EngineError || err instanceof EngineUnreachableError) throw err;
      throw new EngineError(operation, err, resource ? { resource } : {});
    }
  };
}
