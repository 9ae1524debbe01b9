import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import dockerignoreModule from "@balena/dockerignore";
import { SpecError, type SpecIssue } from "./errors.js";
import { canonicalJson, sha256 } from "./hash.js";
import type { ResolvedStack } from "./model.js";

/* A built image's context on disk: that it is there, the files the engine receives, their hash. */

/** A build context that is not there is a problem in the stack (exit 2), named by its field. */
export async function checkBuildContexts(stack: ResolvedStack): Promise<void> {
  const issues: SpecIssue[] = [];
  for (const img of Object.values(stack.images)) {
    if (!img.build) continue;
    const { contextDir, dockerfile } = img.build;
    const isDir = await stat(contextDir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) {
      issues.push({
        path: ["images", img.key, "build", "context"],
        message: `no such directory: ${contextDir}`,
      });
      continue;
    }
    const hasFile = await stat(path.resolve(contextDir, dockerfile)).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!hasFile)
      issues.push({
        path: ["images", img.key, "build", "dockerfile"],
        message: `no ${dockerfile} in ${contextDir}`,
      });
  }
  if (issues.length > 0) throw new SpecError(stack.source, issues);
}

/** Lists the files of a build context that the engine would receive (honouring .dockerignore). */
export async function contextFiles(dir: string): Promise<string[]> {
  const ignore = (
    dockerignoreModule as unknown as (o: { ignorecase: boolean }) => import("@balena/dockerignore").Ignore
  )({ ignorecase: false });
  const text = await readFile(path.join(dir, ".dockerignore"), "utf8").catch(() => "");
  ignore.add(text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#")));
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (ignore.ignores(p)) continue;
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  };
  await walk("");
  return out.sort();
}

export async function hashContext(dir: string, recipe: Record<string, unknown>): Promise<string> {
  const files = await contextFiles(dir);
  const parts = await Promise.all(
    files.map(async (f) => {
      const [body, st] = await Promise.all([readFile(path.join(dir, f)), stat(path.join(dir, f))]);
      return `${f}\0${st.mode & 0o777}\0${sha256(body)}`;
    }),
  );
  return sha256(canonicalJson({ recipe, files: parts })).slice(0, 32);
}
