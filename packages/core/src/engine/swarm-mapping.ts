import type { NodeSummary, ServiceSummary, TaskSummary } from "./types.js";

/* The engine's answers about a swarm in shctl's terms. */

type Raw = Record<string, unknown>;
const obj = (v: unknown): Raw => (v !== null && typeof v === "object" ? (v as Raw) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const labels = (v: unknown): Record<string, string> => obj(v) as Record<string, string>;

export function toNode(raw: unknown): NodeSummary {
  const n = obj(raw);
  const spec = obj(n.Spec);
  const status = obj(n.Status);
  return {
    id: str(n.ID),
    hostname: str(obj(n.Description).Hostname),
    role: str(spec.Role),
    availability: str(spec.Availability),
    state: str(status.State),
    labels: labels(spec.Labels),
    addr: str(status.Addr),
  };
}

export function toService(raw: unknown): ServiceSummary {
  const s = obj(raw);
  const spec = obj(s.Spec);
  const update = s.UpdateStatus ? obj(s.UpdateStatus) : undefined;
  return {
    id: str(s.ID),
    name: str(spec.Name),
    version: Number(obj(s.Version).Index ?? 0),
    labels: labels(spec.Labels),
    spec,
    updateStatus: update ? { state: str(update.State), message: str(update.Message) } : undefined,
  };
}

export function toTask(raw: unknown): TaskSummary {
  const t = obj(raw);
  const status = obj(t.Status);
  const cs = obj(status.ContainerStatus);
  const exit = cs.ExitCode;
  return {
    id: str(t.ID),
    serviceId: str(t.ServiceID),
    slot: typeof t.Slot === "number" && t.Slot > 0 ? t.Slot : undefined,
    nodeId: str(t.NodeID),
    desiredState: str(t.DesiredState),
    state: str(status.State),
    message: str(status.Message),
    err: str(status.Err) || undefined,
    containerId: str(cs.ContainerID) || undefined,
    exitCode: typeof exit === "number" ? exit : undefined,
    timestamp: str(status.Timestamp),
    createdAt: str(t.CreatedAt),
    labels: labels(obj(obj(t.Spec).ContainerSpec).Labels),
    addresses: (Array.isArray(t.NetworksAttachments) ? t.NetworksAttachments : []).flatMap((a: unknown) => {
      const att = obj(a);
      const net = obj(att.Network);
      const addrs = Array.isArray(att.Addresses) ? att.Addresses : [];
      return addrs.map((x: unknown) => ({
        network: str(obj(net.Spec).Name),
        networkId: str(net.ID),
        ip: str(x).split("/")[0] ?? "",
      }));
    }),
  };
}
