// Keeps @sh/core in small pieces: no source file over MAX_FILE_LINES lines and no function over
// MAX_FUNCTION_LINES (tests excluded). Prints each one over and exits 1; run by `npm run lint`.
//
//   node scripts/check-size.mjs            # packages/core/src
//   node scripts/check-size.mjs --report   # also lists the largest files and functions

import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ROOTS = ["packages/core/src"];
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 120;
const REPORT = process.argv.includes("--report");

async function sources(dir) {
  const out = [];
  for (const e of await readdir(path.join(REPO, dir), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts"))
      out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

function nameOf(node, sf) {
  if (node.name) return node.name.getText(sf);
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p)) return p.name.getText(sf);
  if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  return "(anonymous)";
}

function functionsOf(sf) {
  const out = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ name: nameOf(node, sf), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const files = [];
const fns = [];
for (const root of ROOTS) {
  for (const file of await sources(root)) {
    const text = await readFile(file, "utf8");
    const rel = path.relative(REPO, file);
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    files.push({ file: rel, lines });
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    for (const f of functionsOf(sf)) fns.push({ ...f, file: rel });
  }
}

const bigFiles = files.filter((f) => f.lines > MAX_FILE_LINES);
const bigFns = fns.filter((f) => f.lines > MAX_FUNCTION_LINES);
if (REPORT) {
  console.log("largest files:");
  for (const f of [...files].sort((a, b) => b.lines - a.lines).slice(0, 10))
    console.log(`  ${String(f.lines).padStart(5)}  ${f.file}`);
  console.log("largest functions:");
  for (const f of [...fns].sort((a, b) => b.lines - a.lines).slice(0, 10))
    console.log(`  ${String(f.lines).padStart(5)}  ${f.file}:${f.line} ${f.name}`);
}
for (const f of bigFiles) console.log(`${f.file}: ${f.lines} lines (at most ${MAX_FILE_LINES}): split it`);
for (const f of bigFns)
  console.log(`${f.file}:${f.line}: ${f.name} is ${f.lines} lines (at most ${MAX_FUNCTION_LINES}): cut it`);
if (bigFiles.length + bigFns.length > 0) process.exitCode = 1;
else
  console.log(
    `size: ${files.length} files ≤ ${MAX_FILE_LINES} lines, ${fns.length} functions ≤ ${MAX_FUNCTION_LINES} lines`,
  );
