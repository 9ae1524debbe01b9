import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadStack, parseDuration, type ResolvedStack } from "@sh/core";
import { splitCommand } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { UPSTREAM_MISSING, UPSTREAM_REFERENCE } from "../../../../test/upstream-reference.js";
import { DEVIATIONS } from "./deviations.js";
import { DATA_DIRS, sentryStackFactory } from "./stack.js";

/*
 * Conformance with upstream: the `full` profile must have every service of getsentry/self-hosted
 * 23.12.0's compose file with the same image, command, entrypoint, environment, healthcheck,
 * ulimits, restart policy and dependency conditions, except for the deviations listed in
 * deviations.ts (and docs/sentry.md), and every volume must be a bind mount under the data root.
 */

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const UPSTREAM = UPSTREAM_REFERENCE ?? "";
const present = UPSTREAM_REFERENCE !== undefined;

type ComposeService = Record<string, unknown>;

function dotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Z0-9_]+)=(.*)$/);
    if (m?.[1]) out[m[1]] = m[2] ?? "";
  }
  return out;
}

/** Compose-style interpolation: $VAR, ${VAR}, ${VAR:-default}. */
function interpolate(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}|\$([A-Z0-9_]+)/g, (_m, a, def, b) => {
      const name = (a ?? b) as string;
      const v = env[name];
      return v !== undefined && v !== "" ? v : ((def as string | undefined) ?? "");
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  }
  return value;
}

const allowed = (service: string, field: string, key?: string) =>
  DEVIATIONS.some(
    (d) =>
      (d.service === service || d.service === "*") &&
      d.field === field &&
      (key === undefined || d.keys?.includes(key)),
  );

describe.skipIf(!present)(
  `the full profile conforms to upstream's 23.12.0 compose file${
    present ? "" : ` (skipped: ${UPSTREAM_MISSING})`
  }`,
  () => {
    let compose: Record<string, ComposeService>;
    let stack: ResolvedStack;
    let projectDir: string;

    beforeAll(async () => {
      const env = dotenv(readFileSync(path.join(UPSTREAM, "dotenv"), "utf8"));
      const raw = parse(readFileSync(path.join(UPSTREAM, "docker-compose.yml"), "utf8"), {
        merge: true,
        maxAliasCount: -1,
      }) as {
        services: Record<string, ComposeService>;
      };
      compose = interpolate(raw.services, env) as Record<string, ComposeService>;
      projectDir = await mkdtemp(path.join(tmpdir(), "shctl-conformance-"));
      stack = await loadStack(sentryStackFactory, { projectDir, env: {} });
    });
    afterAll(async () => {
      await rm(projectDir, { recursive: true, force: true });
    });

    it("selects the full profile by default", () => {
      expect(stack.profile).toBe("full");
    });

    it("has every upstream service (or a documented replacement)", () => {
      const missing = Object.keys(compose).filter((s) => !stack.services[s] && !allowed(s, "service"));
      expect(missing).toEqual([]);
      // And nothing upstream does not have.
      expect(Object.keys(stack.services).filter((s) => !compose[s])).toEqual([]);
    });

    it("uses the same images", () => {
      for (const [name, svc] of Object.entries(compose)) {
        const ours = stack.services[name];
        if (!ours) continue;
        expect(`${name}: ${stack.images[ours.image]?.ref}`).toBe(`${name}: ${svc.image}`);
      }
    });

    it("runs the same commands and entrypoints", () => {
      for (const [name, svc] of Object.entries(compose)) {
        const ours = stack.services[name];
        if (!ours) continue;
        const command =
          svc.command === undefined ? undefined : splitCommand(svc.command as string | string[]);
        if (!allowed(name, "command")) expect({ name, command: ours.command }).toEqual({ name, command });
        const entrypoint =
          svc.entrypoint === undefined ? undefined : splitCommand(svc.entrypoint as string | string[]);
        expect({ name, entrypoint: ours.entrypoint }).toEqual({ name, entrypoint });
      }
    });

    it("sets the same environment (pass-through variables may be absent)", () => {
      for (const [name, svc] of Object.entries(compose)) {
        const ours = stack.services[name];
        if (!ours) continue;
        const want = (svc.environment ?? {}) as Record<string, unknown>;
        const got = Object.fromEntries(ours.env.map((e) => [e.name, e.value]));
        for (const [k, v] of Object.entries(want)) {
          if (v === null || v === "") continue; // taken from the host when set
          expect({ name, [k]: got[k] }).toEqual({ name, [k]: String(v) });
        }
        for (const k of Object.keys(got)) {
          if (k in want) continue;
          expect({ name, extra: k, allowed: allowed(name, "env", k) }).toEqual({
            name,
            extra: k,
            allowed: true,
          });
        }
      }
    });

    it("has the same healthchecks, ulimits and restart policies", () => {
      for (const [name, svc] of Object.entries(compose)) {
        const ours = stack.services[name];
        if (!ours) continue;
        const hc = svc.healthcheck as Record<string, unknown> | undefined;
        if (hc) {
          const test = typeof hc.test === "string" ? ["CMD-SHELL", hc.test] : (hc.test as string[]);
          expect({ name, test: ours.healthcheck?.test }).toEqual({ name, test });
          expect({ name, interval: ours.healthcheck?.intervalMs }).toEqual({
            name,
            interval: parseDuration(String(hc.interval)),
          });
          expect({ name, timeout: ours.healthcheck?.timeoutMs }).toEqual({
            name,
            timeout: parseDuration(String(hc.timeout)),
          });
          expect({ name, retries: ours.healthcheck?.retries }).toEqual({ name, retries: Number(hc.retries) });
          const start = hc.start_period === undefined ? 0 : parseDuration(String(hc.start_period));
          expect({ name, startPeriod: ours.healthcheck?.startPeriodMs }).toEqual({
            name,
            startPeriod: start,
          });
        } else {
          expect({ name, healthcheck: ours.healthcheck }).toEqual({ name, healthcheck: undefined });
        }
        const ulimits = Object.entries((svc.ulimits ?? {}) as Record<string, { soft: number; hard: number }>)
          .map(([n, u]) => ({ name: n, soft: u.soft, hard: u.hard }))
          .sort((a, b) => a.name.localeCompare(b.name));
        expect({ name, ulimits: ours.ulimits }).toEqual({ name, ulimits });
        expect({ name, restart: ours.restart }).toEqual({
          name,
          restart: (svc.restart as string | undefined) ?? "no",
        });
      }
    });

    it("keeps every dependency condition (extra dependencies are documented init jobs)", () => {
      for (const [name, svc] of Object.entries(compose)) {
        const ours = stack.services[name];
        if (!ours) continue;
        const dep = svc.depends_on as string[] | Record<string, { condition: string }> | undefined;
        const want: Record<string, string> = Array.isArray(dep)
          ? Object.fromEntries(dep.map((d) => [d, "started"]))
          : Object.fromEntries(
              Object.entries(dep ?? {}).map(([d, c]) => [
                d,
                c.condition === "service_healthy" ? "healthy" : "started",
              ]),
            );
        const got = Object.fromEntries(ours.deps.map((d) => [d.name, d.condition]));
        for (const [d, c] of Object.entries(want))
          expect({ name, dep: d, condition: got[d] }).toEqual({ name, dep: d, condition: c });
        for (const d of Object.keys(got)) {
          if (d in want) continue;
          expect({ name, extra: d, allowed: allowed(name, "dependsOn", d) }).toEqual({
            name,
            extra: d,
            allowed: true,
          });
        }
      }
    });

    it("turns every volume into a bind mount under the data root at the same target", () => {
      for (const [name, svc] of Object.entries(compose)) {
        const ours = stack.services[name];
        if (!ours) continue;
        for (const v of (svc.volumes ?? []) as (
          | string
          | { source: string; target: string; read_only?: boolean }
        )[]) {
          const [source, target, mode] =
            typeof v === "string" ? v.split(":") : [v.source, v.target, v.read_only ? "ro" : ""];
          const mount = ours.mounts.find((m) => m.target === target);
          expect({ name, target, found: mount?.type }).toEqual({ name, target, found: "bind" });
          if (mount?.type !== "bind") continue;
          expect(mount.hostPath.startsWith(stack.dataRoot + path.sep)).toBe(true);
          expect({ name, target, readOnly: mount.readOnly }).toEqual({
            name,
            target,
            readOnly: mode === "ro",
          });
          if (source && !source.startsWith(".")) {
            // A named volume: its own directory, named after the volume.
            const dir = Object.entries(DATA_DIRS).find(([, d]) => d.volume === source)?.[0];
            expect({ name, volume: source, dir: mount.source }).toEqual({ name, volume: source, dir });
          }
        }
      }
    });
  },
);

// Needs only the project's own files, so it runs in every checkout.
describe("deviations", () => {
  it("lists every deviation in docs/sentry.md", () => {
    const doc = readFileSync(path.join(REPO, "docs/sentry.md"), "utf8");
    for (const d of DEVIATIONS)
      expect({ field: d.field, documented: doc.includes(d.reason) }).toEqual({
        field: d.field,
        documented: true,
      });
  });
});
