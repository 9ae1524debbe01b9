import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engine, ensureToolsImage, toolsImage } from "../helpers.js";
import {
  baseline,
  dispose,
  expectNothingLost,
  guardHostDocker0,
  newProject,
  type Project,
  runBounded,
  show,
  TAG,
  WORK,
  workDir,
  writeSpec,
} from "./support.js";

guardHostDocker0();

/*
 * A recreate that fails: a healthy service `web` (busybox httpd on :8080, a readiness probe on it)
 * is changed into one that never becomes ready (it now listens on :8081 while the probe still asks
 * :8080; readyTimeout 5s). REQUIRED: the apply exits 1 saying it "rolled back to the previous
 * version of web": the previous container runs again (the same spec as before), and `diff` still
 * shows the change as pending. Today the old container is stopped first and the service is gone.
 */

function spec(name: string, port: number) {
  return {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    jobs: {
      seed: {
        image: "tools",
        command: [
          "sh",
          "-c",
          "mkdir -p /work/www && echo hello > /work/www/index.html && echo seed >> /work/runs.log",
        ],
        mounts: [WORK],
      },
    },
    services: {
      web: {
        image: "tools",
        command: ["httpd", "-f", "-p", String(port), "-h", "/work/www"],
        mounts: [{ ...WORK, readOnly: true }],
        dependsOn: { seed: { condition: "completed" } },
        readiness: [{ http: { port: 8080, path: "/index.html" } }],
        readyTimeout: "5s",
        stopGracePeriod: "1s",
      },
    },
  };
}

async function webContainers(p: Project) {
  return (await engine.listContainers([`${LABEL.stack}=${p.name}`])).filter(
    (c) => c.labels[LABEL.name] === "web",
  );
}

describe("a recreate whose new container never becomes ready", () => {
  let p: Project | undefined;
  beforeAll(() => ensureToolsImage(), 300_000);
  afterAll(() => dispose(p), 120_000);

  it("is rolled back to the previous version: the old container runs again, exit 1 says so, diff still shows the change", async () => {
    p = await newProject("rback", engine);
    await mkdir(path.join(workDir(p), "www"), { recursive: true });
    await writeFile(path.join(workDir(p), "www/index.html"), "hello\n");
    await writeSpec(p, spec(p.name, 8080));
    const first = await runBounded(p, ["apply", "--yes"]);
    expect(first.code, show(first)).toBe(0);
    const base = await baseline(p);
    const [v1] = await webContainers(p);
    expect(v1?.state).toBe("running");
    const v1Cmd = (await engine.inspectContainer(v1?.id as string))?.cmd;

    await writeSpec(p, spec(p.name, 8081));
    const r = await runBounded(p, ["apply", "--yes"], 120_000);
    expect.soft(r.code, `${TAG.clear} the failed recreate exits 1:\n${show(r)}`).toBe(1);
    expect
      .soft(r.stderr, `${TAG.required} it says it rolled back:\n${show(r)}`)
      .toMatch(/rolled back to the previous version of web/);
    expect.soft(r.stderr, `${TAG.clear} it says why (not ready):\n${show(r)}`).toMatch(/web[\s\S]*ready/);

    const now = await webContainers(p);
    expect
      .soft(
        now.map((c) => c.state),
        `${TAG.required} exactly one web container runs`,
      )
      .toEqual(["running"]);
    const cmd = now[0] ? (await engine.inspectContainer(now[0].id))?.cmd : undefined;
    expect.soft(cmd, `${TAG.required} the running web is the previous version`).toEqual(v1Cmd);

    const d = await runBounded(p, ["diff", "--exit-code"]);
    expect.soft(d.code, `${TAG.required} diff still shows the pending change:\n${show(d)}`).toBe(3);
    expect
      .soft(d.stdout, `${TAG.required} diff names web's change:\n${show(d)}`)
      .toMatch(/service web[\s\S]*8081/);
    await expectNothingLost(expect, p, base, { seed: 1 });
  }, 180_000);
});
