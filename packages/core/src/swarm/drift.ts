import { canonicalJson } from "../hash.js";
import type { FieldChange } from "../plan/types.js";

/*
 * Drift on a swarm: what a service's spec says now against what shctl would send, field by field,
 * for the fields shctl sets (a `docker service update` or `scale` by hand). Both sides are
 * ServiceSpecs; the engine keeps networks by ID, so those are named first.
 */

type Raw = Record<string, unknown>;
const obj = (v: unknown): Raw => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Raw) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const sorted = (xs: string[]) => [...xs].sort();

/** The fields compared, each as printable text (or undefined when unset). */
export function specView(
  spec: Raw,
  networkName: (idOrName: string) => string,
): Record<string, string | undefined> {
  const task = obj(spec.TaskTemplate);
  const c = obj(task.ContainerSpec);
  const text = (v: unknown) =>
    v === undefined || v === null || v === "" ? undefined : typeof v === "string" ? v : canonicalJson(v);
  const list = (v: unknown[]) => (v.length === 0 ? undefined : v.join(", "));
  const mode = obj(spec.Mode);
  return {
    image: text(c.Image),
    entrypoint: text(c.Command),
    command: text(c.Args),
    ...Object.fromEntries(
      arr(c.Env).map((e) => {
        const t = String(e);
        const i = t.indexOf("=");
        return [`env.${i < 0 ? t : t.slice(0, i)}`, i < 0 ? "" : t.slice(i + 1)];
      }),
    ),
    user: text(c.User),
    workingDir: text(c.Dir),
    hostname: text(c.Hostname),
    mounts: list(
      sorted(
        arr(c.Mounts).map((m) => {
          const o = obj(m);
          return `${o.Type}:${o.Source ?? ""}:${o.Target}${o.ReadOnly ? ":ro" : ""}`;
        }),
      ),
    ),
    configs: list(sorted(arr(c.Configs).map((x) => `${obj(x).ConfigName}:${obj(obj(x).File).Name}`))),
    networks: list(
      sorted(
        arr(task.Networks).map((n) => {
          const o = obj(n);
          return `${networkName(String(o.Target ?? ""))}${arr(o.Aliases).length ? `(${sorted(arr(o.Aliases).map(String)).join(" ")})` : ""}`;
        }),
      ),
    ),
    replicas: mode.Replicated ? String(obj(mode.Replicated).Replicas ?? 1) : undefined,
    placement: list(sorted(arr(obj(task.Placement).Constraints).map(String))),
    ports: list(
      sorted(
        arr(obj(spec.EndpointSpec).Ports).map((p) => {
          const o = obj(p);
          return `${o.PublishedPort}:${o.TargetPort}/${o.Protocol ?? "tcp"}`;
        }),
      ),
    ),
    healthcheck: text(obj(c.Healthcheck).Test),
    restart: text(obj(task.RestartPolicy).Condition),
  };
}

/** The fields where the service's spec (before) differs from shctl's (after); secrets as "(sensitive)". */
export function specDrift(
  observed: Raw,
  desired: Raw,
  networkName: (idOrName: string) => string,
  secrets: readonly string[],
): FieldChange[] {
  const a = specView(observed, networkName);
  const b = specView(desired, networkName);
  const out: FieldChange[] = [];
  for (const field of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (a[field] === b[field]) continue;
    const hidden = (v: string | undefined) =>
      v !== undefined && secrets.some((s) => s !== "" && v.includes(s));
    const sensitive = hidden(a[field]) || hidden(b[field]);
    out.push({
      field,
      ...(a[field] !== undefined ? { before: sensitive ? "(sensitive)" : a[field] } : {}),
      ...(b[field] !== undefined ? { after: sensitive ? "(sensitive)" : b[field] } : {}),
      sensitive,
    });
  }
  return out;
}
