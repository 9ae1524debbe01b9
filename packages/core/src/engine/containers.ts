import type { Duplex, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import type { Call } from "./call.js";
import { status, UNREACHABLE_CODES } from "./call.js";
import { toDetails, toSummary } from "./mapping.js";
import { demuxLines, execCollect, followLogs } from "./streams.js";

/** The engine client's container lifecycle calls: list, inspect, create, start, stop, restart, remove, … */
export function containerCalls(docker: Docker, call: Call) {
  return {
    listContainers(labels: string[]) {
      return call("container.list", false, async () => {
        const list = await docker.listContainers({ all: true, filters: { label: labels } });
        return list.map(toSummary);
      });
    },

    inspectContainer(id: string) {
      return call("container.inspect", false, async () => {
        try {
          return toDetails(await docker.getContainer(id).inspect());
        } catch (err) {
          if (status(err) === 404) return undefined;
          throw err;
        }
      });
    },

    createContainer(body: Record<string, unknown>) {
      return call(
        "container.create",
        true,
        async () => (await docker.createContainer(body as Docker.ContainerCreateOptions)).id,
        String(body.name ?? ""),
      );
    },

    startContainer(id: string) {
      return call("container.start", true, async () => {
        try {
          await docker.getContainer(id).start();
        } catch (err) {
          if (status(err) !== 304) throw err; // already started
        }
      });
    },

    stopContainer(id: string, timeoutSeconds?: number) {
      return call("container.stop", true, async () => {
        try {
          await docker.getContainer(id).stop(timeoutSeconds === undefined ? {} : { t: timeoutSeconds });
        } catch (err) {
          if (status(err) !== 304 && status(err) !== 404) throw err; // already stopped, or gone
        }
      });
    },

    restartContainer(id: string, timeoutSeconds?: number) {
      return call("container.restart", true, async () => {
        await docker.getContainer(id).restart(timeoutSeconds === undefined ? {} : { t: timeoutSeconds });
      });
    },

    removeContainer(id: string) {
      return call("container.remove", true, async () => {
        try {
          await docker.getContainer(id).remove({ force: true });
        } catch (err) {
          if (status(err) !== 404) throw err; // already gone
        }
      });
    },

    renameContainer(id: string, name: string) {
      return call("container.rename", true, async () => {
        await docker.getContainer(id).rename({ name });
      });
    },

    updateContainer(id: string, body: Record<string, unknown>) {
      return call("container.update", true, async () => {
        await docker.getContainer(id).update(body);
      });
    },

    waitContainer(id: string, signal?: AbortSignal) {
      return call("container.wait", false, async () => {
        const done = new AbortController();
        const stop = signal ? AbortSignal.any([signal, done.signal]) : done.signal;
        try {
          // "next-exit": a wait issued before start would otherwise return at once with code 0.
          const waited = docker
            .getContainer(id)
            .wait({ condition: "next-exit", abortSignal: stop })
            .then((res: { StatusCode: number }) => res.StatusCode);
          return await Promise.race([waited, watchExit(docker, id, stop)]);
        } finally {
          done.abort();
        }
      });
    },

    killContainer(id: string) {
      return call("container.kill", true, async () => {
        try {
          await docker.getContainer(id).kill();
        } catch (err) {
          if (status(err) !== 404 && status(err) !== 409) throw err; // gone, or not running
        }
      });
    },
  };
}

/** The engine client's calls into containers: logs, exec and archives. */
export function containerIoCalls(docker: Docker, call: Call) {
  return {
    containerLogs(id: string, tail: number, streams = { stdout: true, stderr: true }) {
      return call("container.logs", false, async () => {
        const buf = (await docker.getContainer(id).logs({
          ...streams,
          ...(tail > 0 ? { tail } : {}),
          follow: false,
        })) as unknown as Buffer;
        return demuxLines(buf);
      });
    },

    followLogs(id: string, tail: number, onLine: (line: string) => void, signal: AbortSignal) {
      return call("container.logs", false, () => followLogs(docker, id, tail, onLine, signal));
    },

    exec(id: string, cmd: string[], signal?: AbortSignal) {
      return call("container.exec", true, () => execCollect(docker, id, cmd, signal));
    },

    execStream(id: string, cmd: string[]) {
      return call("container.exec", true, async () => {
        const exec = await docker.getContainer(id).exec({
          Cmd: cmd,
          AttachStdin: true,
          AttachStdout: true,
          AttachStderr: true,
          Tty: false,
        });
        return (await exec.start({ hijack: true, stdin: true })) as Duplex;
      });
    },

    getArchive(id: string, path: string) {
      return call("container.archive", false, async () => {
        try {
          return (await docker.getContainer(id).getArchive({ path })) as unknown as Readable;
        } catch (err) {
          if (status(err) === 404) return undefined;
          throw err;
        }
      });
    },

    putArchive(id: string, path: string, tar: Readable) {
      return call("container.put-archive", true, async () => {
        await docker.getContainer(id).putArchive(tar as unknown as NodeJS.ReadableStream, { path });
      });
    },
  };
}

/** How often a container wait checks the container itself (see watchExit). */
const WAIT_CHECK_MS = 2_000;

/**
 * The wait's connection can end without an answer (an engine killed outright) or its answer can
 * be lost with a retried wait (a container that exited in between is never "next" to exit):
 * every WAIT_CHECK_MS the container is inspected, and one that has started and no longer runs
 * gives its exit code. An engine that no longer answers fails the wait (unreachable).
 */
async function watchExit(docker: Docker, id: string, signal: AbortSignal): Promise<number> {
  for (;;) {
    await sleep(WAIT_CHECK_MS, undefined, { signal });
    let state: { Running?: boolean; StartedAt?: string; ExitCode?: number } | undefined;
    try {
      state = ((await docker.getContainer(id).inspect({ abortSignal: signal })) as { State?: typeof state })
        .State;
    } catch (err) {
      if (signal.aborted) throw err;
      const code = (err as NodeJS.ErrnoException)?.code;
      if (status(err) === undefined && code && UNREACHABLE_CODES.has(code)) throw err;
      continue; // a passing hiccup: the wait or the next check answers
    }
    const started = state?.StartedAt !== undefined && !state.StartedAt.startsWith("0001-");
    if (started && state?.Running === false) return state.ExitCode ?? -1;
  }
}
