// A vitest reporter that ends the run with every skipped test, by file and outer suite, so a skip
// in CI is never quiet (each skipping suite says why in its name), and then every failed test with
// the first lines of its error, so the end of a long log names what failed. With
// SHCTL_TEST_SUMMARY=FILE it also writes that end to FILE (.ci/run prints it last, after the
// engine's log).
import { writeFileSync } from "node:fs";
import path from "node:path";

const ERROR_LINES = 4;

function firstLines(text) {
  return String(text ?? "")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(0, ERROR_LINES)
    .map((l) => `      ${l.length > 200 ? `${l.slice(0, 200)}…` : l}`);
}

export class RunEndReporter {
  onTestRunEnd(testModules, unhandledErrors) {
    const skipped = new Map();
    let skippedTotal = 0;
    const failed = [];
    for (const m of testModules) {
      const file = path.relative(process.cwd(), m.moduleId);
      for (const e of m.errors?.() ?? []) failed.push([`${file}: (outside any test)`, e]);
      // A hook that failed in a describe block (its tests then show as skipped) is said too.
      for (const suite of m.children.allSuites?.() ?? [])
        for (const e of suite.errors?.() ?? []) failed.push([`${file} > ${suite.fullName}: (a hook)`, e]);
      for (const t of m.children.allTests()) {
        const result = t.result();
        if (result.state === "failed") {
          failed.push([`${file} > ${t.fullName}`, result.errors?.[0]]);
          continue;
        }
        if (result.state !== "skipped") continue;
        skippedTotal++;
        const outer = t.fullName.split(" > ").length > 1 ? t.fullName.split(" > ")[0] : t.name;
        const key = `${file}: ${outer}`;
        skipped.set(key, (skipped.get(key) ?? 0) + 1);
      }
    }
    for (const e of unhandledErrors ?? []) failed.push(["unhandled error", e]);
    const lines = [];
    if (skippedTotal > 0) {
      lines.push(`\nskipped: ${skippedTotal} test${skippedTotal === 1 ? "" : "s"}`);
      for (const [key, n] of skipped) lines.push(`  ${n} × ${key}`);
    }
    if (failed.length > 0) {
      lines.push(`\nfailed: ${failed.length}`);
      for (const [name, error] of failed) {
        lines.push(`  ✗ ${name}`, ...firstLines(error?.message ?? error));
      }
    }
    if (lines.length === 0) return;
    const text = `${lines.join("\n")}\n`;
    process.stdout.write(text);
    if (process.env.SHCTL_TEST_SUMMARY) writeFileSync(process.env.SHCTL_TEST_SUMMARY, text);
  }
}
