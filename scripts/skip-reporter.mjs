// A vitest reporter that ends the run with every skipped test, by file and outer suite, so a skip
// in CI is never quiet: each skipping suite says why in its name (or in a warning printed above).
import path from "node:path";

export class SkipReporter {
  onTestRunEnd(testModules) {
    const groups = new Map();
    let total = 0;
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        if (t.result().state !== "skipped") continue;
        total++;
        const file = path.relative(process.cwd(), m.moduleId);
        const outer = t.fullName.split(" > ").length > 1 ? t.fullName.split(" > ")[0] : t.name;
        const key = `${file}: ${outer}`;
        groups.set(key, (groups.get(key) ?? 0) + 1);
      }
    }
    if (total === 0) return;
    const lines = [`\nskipped: ${total} test${total === 1 ? "" : "s"}`];
    for (const [key, n] of groups) lines.push(`  ${n} × ${key}`);
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}
