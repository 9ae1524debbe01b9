import type Docker from "dockerode";
import { UsageError } from "../errors.js";
import { countedCall, status, whereOf } from "./call.js";
import { containerCalls, containerIoCalls } from "./containers.js";
import { imageArchiveCalls, imageCalls } from "./images.js";
import { DockerClient } from "./load.js";
import { followEvents } from "./streams.js";
import { swarmCalls, swarmServiceCalls } from "./swarm.js";
import type { CallCounts, EngineClient, EngineEvent } from "./types.js";

/**
 * Creates the dockerode-backed client; the connection is resolved the way docker-modem does (DOCKER_HOST, …).
 * Its calls by kind are in engine/containers.ts, images.ts and swarm.ts; each runs through one
 * counted call (engine/call.ts).
 */
export function connectEngine(opts?: Docker.DockerOptions): EngineClient {
  if (!opts) checkDockerHost(process.env.DOCKER_HOST);
  const docker = new DockerClient(opts);
  const calls: CallCounts = { read: 0, mutating: 0, byOperation: {} };
  const where = whereOf(docker);
  const call = countedCall(calls, where);
  return {
    calls,
    where,
    resetCalls() {
      calls.read = 0;
      calls.mutating = 0;
      calls.byOperation = {};
    },

    version() {
      return call("version", false, async () => {
        const v = await docker.version();
        return { version: v.Version, apiVersion: v.ApiVersion };
      });
    },

    info() {
      return call("info", false, async () => {
        const i = (await docker.info()) as {
          ServerVersion: string;
          NCPU: number;
          MemTotal: number;
          OperatingSystem: string;
          KernelVersion: string;
          Architecture: string;
          OSType: string;
          SystemTime?: string;
        };
        return {
          serverVersion: i.ServerVersion,
          cpus: i.NCPU,
          memoryBytes: i.MemTotal,
          os: i.OperatingSystem,
          kernel: i.KernelVersion,
          architecture: i.Architecture,
          osType: i.OSType ?? "",
          ...(i.SystemTime ? { systemTime: i.SystemTime } : {}),
        };
      });
    },

    listNetworks(labels: string[]) {
      return call("network.list", false, async () => {
        const list = await docker.listNetworks({ filters: { label: labels } });
        return list.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
      });
    },

    createNetwork(body: Record<string, unknown>) {
      return call(
        "network.create",
        true,
        async () => (await docker.createNetwork(body as unknown as Docker.NetworkCreateOptions)).id,
      );
    },

    removeNetwork(id: string) {
      return call("network.remove", true, async () => {
        try {
          await docker.getNetwork(id).remove();
        } catch (err) {
          if (status(err) !== 404) throw err;
        }
      });
    },

    connectNetwork(network: string, container: string, aliases: string[]) {
      return call("network.connect", true, async () => {
        await docker
          .getNetwork(network)
          .connect({ Container: container, EndpointConfig: { Aliases: aliases } });
      });
    },

    events(labels: string[], signal: AbortSignal, onEvent: (e: EngineEvent) => void) {
      return call("events", false, () => followEvents(docker, labels, signal, onEvent));
    },

    ...containerCalls(docker, call),
    ...containerIoCalls(docker, call),
    ...imageCalls(docker, call),
    ...imageArchiveCalls(docker, call),
    ...swarmCalls(docker, call),
    ...swarmServiceCalls(docker, call),
  };
}

/**
 * DOCKER_HOST names the engine by scheme; one shctl cannot speak (a typo: `bogus://x`) is a usage
 * error, not an HTTP address to try.
 */
export function checkDockerHost(value: string | undefined): void {
  if (value === undefined || value.trim() === "") return;
  if (/^(unix|tcp|http|https|ssh|npipe):\/\//i.test(value.trim())) return;
  throw new UsageError(`DOCKER_HOST=${value} is not an engine address shctl can use`, {
    hint: "use unix:///var/run/docker.sock, tcp://HOST:2376 (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or ssh://USER@HOST; or unset it",
  });
}
