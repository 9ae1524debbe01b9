import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { canonicalImageRef, familiarImageRef, tryParseImageRef } from "../image-ref.js";
import type { EngineEvent, LayerMessage } from "./types.js";

/*
 * The engine's streams, read: a container's log as it is written, an exec's output, the event
 * stream, pull and build progress, and the multiplexed log format.
 */

/** Follows a container's log until it ends or `signal` aborts, one line at a time. */
export async function followLogs(
  docker: Docker,
  id: string,
  tail: number,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const c = docker.getContainer(id);
  const info = await c.inspect();
  const stream = (await c.logs({
    stdout: true,
    stderr: true,
    tail,
    follow: true,
  })) as unknown as Readable;
  signal.addEventListener("abort", () => stream.destroy(), { once: true });
  // One line buffer per stream: a partial stdout line must not take in a line of stderr.
  const splitter = () => {
    const state = { pending: "" };
    const write = (chunk: Buffer) => {
      state.pending += chunk.toString("utf8");
      const lines = state.pending.split("\n");
      state.pending = lines.pop() ?? "";
      for (const l of lines) onLine(l);
    };
    return { state, write };
  };
  const out = splitter();
  const err = splitter();
  if (info.Config.Tty) stream.on("data", out.write);
  else docker.modem.demuxStream(stream, out as never, err as never);
  await new Promise<void>((resolve) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", () => resolve());
  });
  for (const s of [out, err]) if (s.state.pending) onLine(s.state.pending);
}

/** Runs a command in a container and collects its output; on abort, stops waiting (rejects). */
export async function execCollect(
  docker: Docker,
  id: string,
  cmd: string[],
  signal?: AbortSignal,
): Promise<{ exitCode: number; output: string }> {
  signal?.throwIfAborted();
  const exec = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const sink = { write: (c: Buffer) => chunks.push(c) };
  docker.modem.demuxStream(stream, sink as never, sink as never);
  await new Promise<void>((resolve, reject) => {
    // Aborted: stop reading (the connection closes; the command may still end on its own).
    const abort = () => {
      stream.destroy();
      reject(signal?.reason ?? new Error("aborted"));
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener("abort", abort, { once: true });
    const done = () => {
      signal?.removeEventListener("abort", abort);
      resolve();
    };
    stream.on("end", done);
    stream.on("close", done);
    stream.on("error", (err) => {
      signal?.removeEventListener("abort", abort);
      reject(err);
    });
  });
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString("utf8") };
}

/** Container events with these labels, until `signal` aborts or the stream ends. */
export async function followEvents(
  docker: Docker,
  labels: string[],
  signal: AbortSignal,
  onEvent: (e: EngineEvent) => void,
): Promise<void> {
  const stream = (await docker.getEvents({
    filters: { type: ["container"], label: labels },
  })) as unknown as Readable;
  const stop = () => stream.destroy();
  if (signal.aborted) stop();
  signal.addEventListener("abort", stop, { once: true });
  let pending = "";
  stream.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const ev = JSON.parse(line) as {
          id?: string;
          Action?: string;
          status?: string;
          Actor?: { ID?: string; Attributes?: Record<string, string> };
        };
        onEvent({
          id: ev.Actor?.ID ?? ev.id ?? "",
          action: ev.Action ?? ev.status ?? "",
          labels: ev.Actor?.Attributes ?? {},
        });
      } catch {
        // A partial or non-JSON line cannot be acted on; the waiters fall back to inspect.
      }
    }
  });
  await new Promise<void>((resolve) => {
    stream.on("close", resolve);
    stream.on("end", resolve);
    stream.on("error", () => resolve());
  });
}
/** The health a container listing's status shows: "Up 3 minutes (healthy)", "(health: starting)". */
export function healthOfStatus(status: string | undefined): string | undefined {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status ?? "");
  if (!m) return undefined;
  return m[1] === "health: starting" ? "starting" : m[1];
}

export function familiarRef(ref: string): string {
  const r = tryParseImageRef(ref);
  return r ? familiarImageRef(r) : ref;
}

/** One form for every way of writing a reference (image-ref.ts); what is not a reference stays as it is. */
export function normalizeRef(ref: string): string {
  const r = tryParseImageRef(ref);
  return r ? canonicalImageRef(r) : ref;
}

/**
 * A pull's message about one layer, as data: it names a layer id ("Pulling from NAME" names the
 * tag instead, and is not one). Undefined for every other message.
 */
export function layerMessage(ev: Record<string, unknown>): LayerMessage | undefined {
  if (typeof ev.id !== "string" || typeof ev.status !== "string" || ev.status.startsWith("Pulling from"))
    return undefined;
  const d = (ev.progressDetail ?? {}) as { current?: unknown; total?: unknown };
  return {
    id: ev.id,
    status: ev.status,
    ...(typeof d.current === "number" ? { current: d.current } : {}),
    ...(typeof d.total === "number" && d.total > 0 ? { total: d.total } : {}),
  };
}

/**
 * Reads a pull/build progress stream; a message with `error` fails it (the engine reports build
 * errors in-band). Each line of text is given with the message it came from.
 */
export function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onProgress: (line: string, ev: Record<string, unknown>) => void,
  onEvent?: (ev: Record<string, unknown>) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (err) reject(err);
        else if (failure) reject(Object.assign(new Error(failure), { json: { message: failure } }));
        else resolve();
      },
      (ev: Record<string, unknown>) => {
        onEvent?.(ev);
        if (typeof ev.error === "string") failure = ev.error;
        const text =
          typeof ev.stream === "string"
            ? ev.stream
            : typeof ev.status === "string"
              ? `${ev.status}${ev.progress ? ` ${ev.progress}` : ""}`
              : "";
        for (const line of text.split("\n")) if (line.trim()) onProgress(line.trimEnd(), ev);
      },
    );
  });
}

/** Splits the engine's multiplexed log format (8-byte frame headers) into lines. */
export function demuxLines(buf: Buffer): string[] {
  const parts: Buffer[] = [];
  let i = 0;
  const framed =
    buf.length >= 8 && (buf[0] === 1 || buf[0] === 2) && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
  if (!framed) parts.push(buf);
  else {
    while (i + 8 <= buf.length) {
      const size = buf.readUInt32BE(i + 4);
      parts.push(buf.subarray(i + 8, i + 8 + size));
      i += 8 + size;
    }
  }
  const text = Buffer.concat(parts).toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Follows a swarm service's log (its tasks on every node, multiplexed) until it ends or `signal` aborts. */
export async function followServiceLogs(
  docker: Docker,
  id: string,
  tail: number,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const stream = (await docker.getService(id).logs({
    stdout: true,
    stderr: true,
    tail,
    follow: true,
  } as never)) as unknown as Readable;
  signal.addEventListener("abort", () => stream.destroy(), { once: true });
  if (signal.aborted) stream.destroy();
  const state = { pending: "" };
  const sink = {
    write: (chunk: Buffer) => {
      state.pending += chunk.toString("utf8");
      const lines = state.pending.split("\n");
      state.pending = lines.pop() ?? "";
      for (const l of lines) onLine(l);
    },
  };
  docker.modem.demuxStream(stream, sink as never, sink as never);
  await new Promise<void>((resolve) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", () => resolve());
  });
  if (state.pending) onLine(state.pending);
}
