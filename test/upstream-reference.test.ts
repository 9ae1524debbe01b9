import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findUpstreamReference } from "./upstream-reference.js";

/*
 * The tests that read upstream's 23.12.0 files find them from a clean clone made elsewhere (CI's
 * `git clone . /tmp/fresh`), not only from a checkout that sits beside them.
 */

const root = mkdtempSync(path.join(tmpdir(), "shctl-upstream-ref-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const git = (...args: string[]) => execFileSync("git", args, { stdio: "ignore" });
const ref = path.join(root, "work", "shared", "reference", "sentry-self-hosted-23.12.0");
mkdirSync(ref, { recursive: true });
writeFileSync(path.join(ref, "docker-compose.yml"), "services: {}\n");
const main = path.join(root, "work", "main");
mkdirSync(main, { recursive: true });
git("-C", main, "init", "-q");
const clone = path.join(root, "elsewhere", "fresh");
git("clone", "-q", main, clone);

describe("where upstream's files are found", () => {
  it("above the checkout", () => {
    expect(findUpstreamReference(main).dir).toBe(ref);
  });

  it("above the checkout a clean clone came from", () => {
    expect(findUpstreamReference(clone).dir).toBe(ref);
  });

  it("in SHCTL_SENTRY_REFERENCE when set, and nowhere else", () => {
    expect(findUpstreamReference(clone, ref).dir).toBe(ref);
    const empty = path.join(root, "empty");
    mkdirSync(empty);
    expect(findUpstreamReference(clone, empty)).toEqual({ looked: [empty] });
  });

  it("nowhere for a checkout with no origin and nothing above it", () => {
    const lone = path.join(root, "lone");
    mkdirSync(lone);
    git("-C", lone, "init", "-q");
    expect(findUpstreamReference(lone).dir).toBeUndefined();
  });
});
