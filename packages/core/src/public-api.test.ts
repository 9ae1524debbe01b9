import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as main from "./index.js";
import * as internals from "./internals.js";

// The repo's plain-JS scripts (bench, fixtures) are not type-checked: a name dropped from an entry
// point would only show when someone runs them. This reads their imports from @sh/core and checks
// each name still exists.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const DIRS = ["scripts", "test/fixtures"];

async function scriptFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(REPO, dir), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(".mjs")) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

const IMPORT = /import\s*\{([^}]*)\}\s*from\s*["'](@sh\/core(?:\/internals)?)["']/g;

describe("the scripts' imports from @sh/core", () => {
  it("name only what the entry points export", async () => {
    const files = (await Promise.all(DIRS.map(scriptFiles))).flat();
    expect(files.length).toBeGreaterThan(0);
    const missing: string[] = [];
    let seen = 0;
    for (const file of files) {
      const text = await readFile(file, "utf8");
      for (const m of text.matchAll(IMPORT)) {
        const mod: Record<string, unknown> = m[2] === "@sh/core" ? main : internals;
        for (const raw of (m[1] ?? "").split(",")) {
          const name = raw
            .trim()
            .replace(/^type\s+/, "")
            .split(/\s+as\s+/)[0];
          if (!name || raw.trim().startsWith("type ")) continue;
          seen++;
          if (!(name in mod)) missing.push(`${path.relative(REPO, file)}: ${name} from ${m[2]}`);
        }
      }
    }
    expect(seen).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });
});
