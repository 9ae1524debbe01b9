import type { EngineInfoSummary } from "@sh/core";

/*
 * What Sentry needs of the engine and the machine, as upstream's install checks it
 * (install/_min-requirements.sh, install/check-minimum-requirements.sh at 23.12.0): read by the
 * prerequisites job (which refuses to go on) and by `shctl doctor` (which reports).
 */

/** Upstream's minimums (install.sh): fail below, warn below the recommended. */
export const REQUIREMENTS = {
  dockerVersion: "19.03.6",
  cpusMin: 2,
  cpusRecommended: 4,
  memoryMinMb: 3800,
  memoryRecommendedMb: 7800,
  diskRecommendedGb: 20,
} as const;

export const X86_64 = /^(x86_64|amd64|x64)$/i;
export const ARM64 = /^(aarch64|arm64)$/i;

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Where the engine's CPUs and memory come from, and where to raise them ("" on plain Linux). */
export function resourcesHint(desktop: boolean, wsl: boolean): string {
  return desktop
    ? "raise them in Docker Desktop: Settings → Resources, or with its WSL 2 backend in %UserProfile%\\.wslconfig"
    : wsl
      ? "WSL2 gives its VM part of the machine: raise memory and processors in %UserProfile%\\.wslconfig, then `wsl --shutdown`"
      : "";
}

/**
 * Whether the CPU lacks SSE 4.2, which ClickHouse needs on x86_64. Like upstream's check: only
 * where the CPU's flags are known, not on a KVM guest whose generic CPU model may hide the flag,
 * and not with SKIP_SSE42_REQUIREMENTS=1. Undefined when it cannot be judged.
 */
export function lacksSse42(
  info: EngineInfoSummary,
  env: Record<string, string | undefined>,
): boolean | undefined {
  if (info.cpuFlags === undefined || !X86_64.test(info.architecture)) return undefined;
  if (/Common KVM processor/i.test(info.cpuModel ?? "") || env.SKIP_SSE42_REQUIREMENTS === "1")
    return undefined;
  return !info.cpuFlags.includes("sse4_2");
}

export const SSE42_MESSAGE =
  "the CPU does not support the SSE 4.2 instruction set, which ClickHouse needs (upstream's install refuses such a CPU too; getsentry/self-hosted#340)";
export const SSE42_FIX =
  "If this is a virtual machine whose CPU model hides the flag, pass the host CPU through to it; SKIP_SSE42_REQUIREMENTS=1 skips this check";
