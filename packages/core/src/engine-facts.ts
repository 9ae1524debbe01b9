import type { EngineClient } from "./engine/index.js";
import { runHelperCommand } from "./helper-container.js";
import type { EngineInfoSummary } from "./schema.js";

/**
 * The engine's facts, with the CPU flags and model of the machine its containers run on, read by
 * the engine-side helper (`cat /proc/cpuinfo`): on Docker Desktop or a remote engine they are not
 * this host's. Without the helper (it could not run), the engine's info alone.
 */
export async function engineFacts(engine: EngineClient, stack: string): Promise<EngineInfoSummary> {
  const info = await engine.info();
  const cpu = await runHelperCommand(engine, { stack, args: ["cat", "/proc/cpuinfo"] }).catch(
    () => undefined,
  );
  if (cpu?.exitCode !== 0) return info;
  return { ...info, ...cpuFacts(cpu.stdout) };
}

/** The `flags` (or on arm `Features`) and `model name` of a /proc/cpuinfo text. */
export function cpuFacts(cpuinfo: string): Pick<EngineInfoSummary, "cpuFlags" | "cpuModel"> {
  const field = (name: string) => cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1]?.trim();
  const flags = field("flags") ?? field("Features");
  const model = field("model name");
  return {
    ...(flags !== undefined ? { cpuFlags: flags.split(/\s+/) } : {}),
    ...(model !== undefined ? { cpuModel: model } : {}),
  };
}
