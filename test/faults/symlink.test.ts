import { mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, describe, it } from "vitest";
import { engine, ensureToolsImage, toolsImage } from "../helpers.js";
import {
  dataDir,
  dispose,
  guardHostDocker0,
  newProject,
  type Project,
  runBounded,
  show,
  TAG,
  writeSpec,
} from "./support.js";

guardHostDocker0();

/*
 * A symbolic link inside the data root that leads out of it, used as a mount source: the engine
 * would follow it and the container would write outside the data root. REQUIRED: the plan shows a
 * "mount-escapes-root" conflict naming the mount and where it leads, `apply` refuses (exit 1), and
 * nothing is written outside: no container made, no directory created through the link.
 */

function spec(name: string, source: string) {
  return {
    name,
    dataRoot: "./data",
    images: { tools: toolsImage() },
    services: {
      w: {
        image: "tools",
        command: ["sh", "-c", "echo escaped > /mnt/escaped && exec sleep infinity"],
        mounts: [{ source, target: "/mnt" }],
        stopGracePeriod: "1s",
      },
    },
  };
}

const made: { project: Project; outside: string }[] = [];
beforeAll(() => ensureToolsImage(), 300_000);
afterAll(async () => {
  for (const m of made) {
    await dispose(m.project);
    await rm(m.outside, { recursive: true, force: true });
  }
}, 120_000);

describe.concurrent("a mount source that is a symbolic link out of the data root", () => {
  for (const c of [
    { what: "the mount source itself is the link", link: "link", source: "link" },
    { what: "a directory above the mount source is the link", link: "up", source: "up/below" },
  ]) {
    it(`${c.what}: the plan shows mount-escapes-root, apply refuses, nothing is written outside`, async ({
      expect,
    }) => {
      const p = await newProject("slink", engine);
      const outside = await mkdtemp(path.join(tmpdir(), "shctl-fault-outside-"));
      made.push({ project: p, outside });
      await mkdir(dataDir(p), { recursive: true });
      await symlink(outside, path.join(dataDir(p), c.link));
      await writeSpec(p, spec(p.name, c.source));

      const dj = await runBounded(p, ["diff", "--json"]);
      const plan = dj.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; plan?: { conflicts: Record<string, unknown>[] } })
        .find((e) => e.type === "plan")?.plan;
      expect(plan, show(dj)).toBeDefined();
      const conflict = plan?.conflicts.find((x) => x.kind === "mount-escapes-root");
      expect
        .soft(conflict, `${TAG.required} the plan has a mount-escapes-root conflict:\n${show(dj)}`)
        .toBeDefined();
      if (conflict) {
        expect.soft(conflict.resource).toEqual({ type: "service", name: "w" });
        expect.soft(String(conflict.realPath)).toContain(outside);
      }
      const d = await runBounded(p, ["diff", "--exit-code"]);
      expect.soft(d.code, `${TAG.required} diff --exit-code reports the conflict:\n${show(d)}`).toBe(3);
      expect.soft(d.stdout, `${TAG.required} diff says where the link leads:\n${show(d)}`).toContain(outside);

      const r = await runBounded(p, ["apply", "--yes"]);
      expect.soft(r.code, `${TAG.required} apply refuses:\n${show(r)}`).toBe(1);
      expect.soft(r.stderr, `${TAG.required} apply says why:\n${show(r)}`).toMatch(/conflict/);

      // Give a container that was started (wrongly) the time to write.
      await new Promise((res) => setTimeout(res, 1000));
      expect
        .soft(await readdir(outside), `${TAG.required} nothing was written outside the data root`)
        .toEqual([]);
      const created = await engine.listContainers([`${LABEL.stack}=${p.name}`]);
      expect
        .soft(
          created.map((x) => x.name),
          `${TAG.required} no container was made`,
        )
        .toEqual([]);
    });
  }
});
