import type { DoctorFinding } from "./doctor.js";

/** Counts by status, and whether any check failed (`shctl doctor` exits 1 then). */
export function summarizeFindings(findings: readonly DoctorFinding[]): {
  ok: number;
  warning: number;
  failure: number;
  skipped: number;
  failed: boolean;
} {
  const n = { ok: 0, warning: 0, failure: 0, skipped: 0 };
  for (const f of findings) n[f.status]++;
  return { ...n, failed: n.failure > 0 };
}
