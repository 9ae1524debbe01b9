import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { firstRunQuestions } from "./first-run.js";

function project(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), "shctl-first-run-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const upgraded = JSON.stringify({
  jobs: { "sentry-upgrade": { key: "k", completedAt: "2026-01-01T00:00:00Z" } },
});

describe("firstRunQuestions", () => {
  it("asks for the admin's email and password before the first install", async () => {
    const qs = await firstRunQuestions(project(), {});
    expect(qs.map((q) => [q.env, q.secret])).toEqual([
      ["SHCTL_ADMIN_EMAIL", false],
      ["SHCTL_ADMIN_PASSWORD", true],
    ]);
  });

  it("asks nothing once sentry upgrade has completed under the data root", async () => {
    expect(await firstRunQuestions(project({ "sentrydata/.shctl/state.json": upgraded }), {})).toEqual([]);
  });

  it("reads the data root from the options", async () => {
    const dir = project({ "shctl.yaml": "dataRoot: ./elsewhere\n", "elsewhere/.shctl/state.json": upgraded });
    expect(await firstRunQuestions(dir, {})).toEqual([]);
    expect(await firstRunQuestions(dir, { SHCTL_DATA_ROOT: "./sentrydata" })).toHaveLength(2);
  });

  it("asks nothing when the options already name an admin, from the file or the environment", async () => {
    const file = project({ "shctl.yaml": "admin: { email: a@example.com, password: pw }\n" });
    expect(await firstRunQuestions(file, {})).toEqual([]);
    const env = { SHCTL_ADMIN_EMAIL: "a@example.com", SHCTL_ADMIN_PASSWORD: "pw" };
    expect(await firstRunQuestions(project(), env)).toEqual([]);
  });

  it("asks nothing when the options are invalid (loading the stack reports them)", async () => {
    expect(await firstRunQuestions(project({ "shctl.yaml": "httpPort: nope\n" }), {})).toEqual([]);
  });
});
