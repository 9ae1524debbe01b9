import type Docker from "dockerode";
import type { Call } from "./call.js";
import { status } from "./call.js";
import { demuxLines, followServiceLogs } from "./streams.js";
import { toNode, toService, toTask } from "./swarm-mapping.js";
import type { SwarmInfo } from "./types.js";

/** The engine client's swarm calls: the swarm, its nodes and its configs. */
export function swarmCalls(docker: Docker, call: Call) {
  return {
    swarmInfo() {
      return call("info", false, async (): Promise<SwarmInfo> => {
        const i = (await docker.info()) as {
          Swarm?: { LocalNodeState?: string; NodeID?: string; ControlAvailable?: boolean };
        };
        return {
          state: i.Swarm?.LocalNodeState ?? "inactive",
          nodeId: i.Swarm?.NodeID ?? "",
          manager: i.Swarm?.ControlAvailable === true,
        };
      });
    },

    listNodes() {
      return call("node.list", false, async () => (await docker.listNodes()).map(toNode));
    },

    listConfigs(labels: string[]) {
      return call("config.list", false, async () => {
        const list = (await docker.listConfigs({ filters: { label: labels } } as object)) as unknown as {
          ID: string;
          Spec?: { Name?: string; Labels?: Record<string, string> };
        }[];
        return list.map((c) => ({ id: c.ID, name: c.Spec?.Name ?? "", labels: c.Spec?.Labels ?? {} }));
      });
    },

    createConfig(spec: Record<string, unknown>) {
      return call(
        "config.create",
        true,
        async () => {
          const c = (await docker.createConfig(spec as never)) as unknown as { id: string };
          return c.id;
        },
        String(spec.Name ?? ""),
      );
    },

    removeConfig(id: string) {
      return call("config.remove", true, async () => {
        try {
          await docker.getConfig(id).remove();
        } catch (err) {
          if (status(err) !== 404) throw err;
        }
      });
    },
  };
}

/** The engine client's swarm service calls: services, their tasks and their logs. */
export function swarmServiceCalls(docker: Docker, call: Call) {
  return {
    listServices(labels: string[]) {
      return call("service.list", false, async () =>
        (await docker.listServices({ filters: { label: labels } } as Docker.ServiceListOptions)).map(
          toService,
        ),
      );
    },

    inspectService(id: string) {
      return call("service.inspect", false, async () => {
        try {
          return toService(await docker.getService(id).inspect());
        } catch (err) {
          if (status(err) === 404) return undefined;
          throw err;
        }
      });
    },

    createService(spec: Record<string, unknown>) {
      return call(
        "service.create",
        true,
        async () => (await docker.createService(spec as never)).id as string,
        String(spec.Name ?? ""),
      );
    },

    updateService(
      id: string,
      version: number,
      spec: Record<string, unknown>,
      opts: { rollback?: boolean } = {},
    ) {
      return call(
        "service.update",
        true,
        async () => {
          await docker.getService(id).update({
            _query: { version, ...(opts.rollback ? { rollback: "previous" } : {}) },
            _body: spec,
          } as never);
        },
        String(spec.Name ?? id),
      );
    },

    removeService(id: string) {
      return call("service.remove", true, async () => {
        try {
          await docker.getService(id).remove();
        } catch (err) {
          if (status(err) !== 404) throw err; // already gone
        }
      });
    },

    listTasks(services?: string[]) {
      return call("task.list", false, async () => {
        if (services?.length === 0) return [];
        try {
          const opts = services ? { filters: { service: services } } : {};
          return (await docker.listTasks(opts as object)).map(toTask);
        } catch (err) {
          if (status(err) === 404) return []; // a service of the filter is gone
          throw err;
        }
      });
    },

    serviceLogs(id: string, tail: number) {
      return call("service.logs", false, async () => {
        const buf = (await docker.getService(id).logs({
          stdout: true,
          stderr: true,
          follow: false,
          ...(tail > 0 ? { tail } : {}),
        } as never)) as unknown as Buffer;
        return demuxLines(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf ?? "")));
      });
    },

    followServiceLogs(id: string, tail: number, onLine: (line: string) => void, signal: AbortSignal) {
      return call("service.logs", false, () => followServiceLogs(docker, id, tail, onLine, signal));
    },
  };
}
