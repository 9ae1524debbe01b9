import type Docker from "dockerode";
import { healthOfStatus } from "./streams.js";
import type { ContainerDetails, ContainerSummary } from "./types.js";

/* The engine's answers in shctl's terms. */

/** A container as the listing shows it. */
export function toSummary(c: Docker.ContainerInfo): ContainerSummary {
  return {
    id: c.Id,
    name: (c.Names[0] ?? "").replace(/^\//, ""),
    imageId: c.ImageID,
    state: c.State,
    health: healthOfStatus(c.Status),
    status: c.Status ?? "",
    labels: c.Labels ?? {},
    published: (c.Ports ?? []).flatMap((p) =>
      p.PublicPort ? [{ hostIp: p.IP ?? "0.0.0.0", port: p.PublicPort, protocol: p.Type }] : [],
    ),
    networks: Object.fromEntries(
      Object.entries(c.NetworkSettings?.Networks ?? {}).map(([n, v]) => [n, { ip: v.IPAddress ?? "" }]),
    ),
  };
}

/** A container as an inspect shows it. */
export function toDetails(c: Docker.ContainerInspectInfo): ContainerDetails {
  const nets = c.NetworkSettings?.Networks ?? {};
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ""),
    imageId: c.Image,
    state: c.State.Status,
    labels: c.Config.Labels ?? {},
    health: c.State.Health?.Status,
    healthLog: (c.State.Health?.Log ?? []).map((l) => `[exit ${l.ExitCode}] ${l.Output.trim()}`),
    exitCode: c.State.ExitCode,
    restartCount: c.RestartCount,
    startedAt: c.State.StartedAt,
    env: c.Config.Env ?? [],
    cmd: (c.Config.Cmd as string[] | null) ?? null,
    entrypoint: (c.Config.Entrypoint as string[] | null) ?? null,
    user: c.Config.User ?? "",
    restartPolicy: c.HostConfig.RestartPolicy?.Name ?? "no",
    networks: Object.fromEntries(
      Object.entries(nets).map(([n, v]) => [
        n,
        { ip: v.IPAddress, ipv6: v.GlobalIPv6Address ?? "", aliases: v.Aliases ?? [] },
      ]),
    ),
    ports: Object.fromEntries(
      Object.entries(c.NetworkSettings?.Ports ?? {}).map(([k, v]) => [
        k,
        v ? v.map((b) => ({ hostIp: b.HostIp, hostPort: b.HostPort })) : null,
      ]),
    ),
  } satisfies ContainerDetails;
}
