#!/usr/bin/env node
// Counts the fault suite's results: faults tried, survived, and those that lost data.
//
//   node scripts/fault-report.mjs                    run test/faults (vitest, integration project), then report
//   node scripts/fault-report.mjs test/faults/x.test.ts …   run only these files, then report
//   node scripts/fault-report.mjs --from FILE.json   report from a vitest JSON report made earlier
//                                                    (vitest run … --reporter=json --outputFile=FILE.json)
//   --markdown                                       the summary as a Markdown table (for the README)
//   --json                                           the counts and every case as one JSON object
//
// Every test under test/faults is one fault injected (a skipped test was not tried). Each checks
// properties whose assertion messages start with a tag (test/faults/support.ts):
//   [nothing-lost]  data byte-identical, job records kept, no completed job run again
//   [converged]     one apply completes, a second has nothing to do
//   [clear-exit]    exit 1 (or 130) with what failed and the fix on stderr
//   [required]      a behaviour the case requires beyond those (a rollback, a conflict, …)
// A fault is survived when its test passed; it lost data when a [nothing-lost] check failed.
// Exit code: 0 when a report was made (whatever it counts), 2 when there were no results to read.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TAGS = {
  "nothing-lost": "data lost",
  converged: "did not converge",
  "clear-exit": "unclear exit",
  required: "required behaviour missing",
};

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
};
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
};
const markdown = flag("--markdown");
const asJson = flag("--json");
let from = option("--from");

let tmp;
if (!from) {
  tmp = mkdtempSync(path.join(tmpdir(), "shctl-fault-report-"));
  from = path.join(tmp, "results.json");
  const files = args.length > 0 ? args : ["test/faults"];
  // The suite's own progress goes to stderr, so that stdout is only the report.
  const r = spawnSync(
    "npx",
    [
      "vitest",
      "run",
      "--project",
      "integration",
      ...files,
      "--reporter=default",
      "--reporter=json",
      `--outputFile.json=${from}`,
    ],
    { cwd: REPO, stdio: ["ignore", process.stderr, process.stderr] },
  );
  if (r.error) {
    console.error(`fault-report: could not run vitest: ${r.error.message}`);
    process.exit(2);
  }
}

let report;
try {
  report = JSON.parse(readFileSync(from, "utf8"));
} catch (err) {
  console.error(`fault-report: no results to read at ${from}: ${err.message}`);
  process.exit(2);
} finally {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

const cases = [];
for (const file of report.testResults ?? []) {
  const rel = path.relative(REPO, file.name ?? "");
  if (!rel.startsWith(`test${path.sep}faults${path.sep}`)) continue;
  for (const t of file.assertionResults ?? []) {
    const messages = (t.failureMessages ?? []).join("\n");
    const failed = Object.keys(TAGS).filter((tag) => messages.includes(`[${tag}]`));
    // A failure with no tagged check failing (an error before the checks, a timeout) is still a failure.
    if (t.status === "failed" && failed.length === 0) failed.push("error");
    cases.push({
      file: rel,
      name: [...(t.ancestorTitles ?? []).slice(-1), t.title].join(" > "),
      status: t.status,
      durationMs: t.duration ?? 0,
      failed,
      firstFailure: (t.failureMessages ?? [])[0]?.split("\n").slice(0, 3).join(" ").slice(0, 300),
    });
  }
}
if (cases.length === 0) {
  console.error(`fault-report: ${from} has no results from test/faults`);
  process.exit(2);
}

const tried = cases.filter((c) => c.status === "passed" || c.status === "failed");
const count = (tag) => tried.filter((c) => c.failed.includes(tag)).length;
const summary = {
  tried: tried.length,
  survived: tried.filter((c) => c.status === "passed").length,
  dataLost: count("nothing-lost"),
  notConverged: count("converged"),
  unclearExit: count("clear-exit"),
  requiredMissing: count("required"),
  errors: count("error"),
  skipped: cases.length - tried.length,
  durationMs: tried.reduce((s, c) => s + c.durationMs, 0),
};

if (asJson) {
  console.log(JSON.stringify({ summary, cases }, null, 2));
  process.exit(0);
}

const secs = (ms) => `${Math.round(ms / 1000)}s`;
if (markdown) {
  console.log(
    "| faults tried | survived | lost data | did not converge | unclear exit | required behaviour missing |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|");
  console.log(
    `| ${summary.tried} | ${summary.survived} | ${summary.dataLost} | ${summary.notConverged} | ${summary.unclearExit} | ${summary.requiredMissing} |`,
  );
  process.exit(0);
}

console.log(
  `fault suite: ${summary.tried} faults tried, ${summary.survived} survived, ${summary.dataLost} lost data` +
    (summary.skipped ? ` (${summary.skipped} skipped)` : ""),
);
console.log(
  `  did not converge: ${summary.notConverged}, unclear exit: ${summary.unclearExit}, ` +
    `required behaviour missing: ${summary.requiredMissing}, errors: ${summary.errors}; ` +
    `time in tests: ${secs(summary.durationMs)}`,
);
for (const c of cases) {
  const mark = c.status === "passed" ? "ok  " : c.status === "failed" ? "FAIL" : "skip";
  const why = c.failed.length ? `  [${c.failed.map((f) => TAGS[f] ?? f).join(", ")}]` : "";
  console.log(`${mark} ${c.file.replace(/^test\/faults\//, "")}: ${c.name} (${secs(c.durationMs)})${why}`);
}
