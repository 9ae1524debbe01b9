import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { apply, loadStack, type ResolvedStack } from "@sh/core";
import { readJobLog } from "@sh/core/internals";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { cleanup, engine, load, recorder, runCli, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * A container job's log lines reach the progress events while it runs, secrets redacted; the last
 * lines of each job's latest run are saved under the data root for `shctl logs JOB`.
 */

let projectDir: string;
let stack: ResolvedStack | undefined;
let saved: ResolvedStack | undefined;
beforeAll(async () => {
  projectDir = await tempProject();
});
afterAll(async () => {
  await cleanup(saved, undefined);
  await cleanup(stack, projectDir);
});

it("streams a job's output as it runs, with secrets shown as (sensitive)", async () => {
  stack = await load(
    {
      name: stackName("joblogs"),
      images: { tools: toolsImage() },
      jobs: {
        migrate: {
          image: "tools",
          command: [
            "sh",
            "-c",
            'echo "applying 0001"; sleep 0.3; echo "applying 0002" >&2; sleep 0.3; echo "token=$TOKEN"',
          ],
          env: { TOKEN: { value: "tok-5e1f9a", secret: true } },
        },
      },
    },
    projectDir,
  );
  const rec = recorder();
  await apply(stack, engine, { onEvent: rec.onEvent });
  const lines = rec.events.flatMap((e) =>
    e.type === "output" && e.resource === "job migrate" ? [e.line] : [],
  );
  expect(lines).toEqual(["applying 0001", "applying 0002", "token=(sensitive)"]);
  // The lines came before the job was done.
  const done = rec.events.findIndex(
    (e) => e.type === "phase" && e.resource === "job migrate" && e.phase === "done",
  );
  const last = rec.events.findLastIndex((e) => e.type === "output" && e.resource === "job migrate");
  expect(last).toBeLessThan(done);
});

it("keeps each job's latest log for `shctl logs JOB` once its container is gone", async () => {
  const name = stackName("jobsaved");
  const file = path.join(projectDir, "saved.yaml");
  const jobs: Record<string, unknown> = {
    migrate: {
      image: "tools",
      // stdout and stderr are two streams: pauses keep their lines in order.
      command: [
        "sh",
        "-c",
        'echo "applying 0001"; sleep 0.2; echo "applying 0002" >&2; sleep 0.2; echo "token=$TOKEN"',
      ],
      env: { TOKEN: { value: "tok-77c0d2", secret: true } },
    },
  };
  const write = () => writeFile(file, stringify({ name, images: { tools: toolsImage() }, jobs }));
  await write();
  saved = await loadStack(file);
  await apply(saved, engine);

  const logs = (...args: string[]) => runCli(["logs", "-f", file, ...args], { cwd: projectDir });
  const ok = await logs("migrate");
  expect(ok.code, ok.stderr).toBe(0);
  expect(ok.stdout).toBe("applying 0001\napplying 0002\ntoken=(sensitive)\n");
  expect(ok.stderr).toMatch(/saved log of its latest run, which completed at 20\d\d-/);
  expect((await logs("migrate", "--tail", "1")).stdout).toBe("token=(sensitive)\n");
  const onDisk = await readFile(path.join(saved.dataRoot, ".shctl", "logs", "migrate.log"), "utf8");
  expect(onDisk).toContain("applying 0002");
  expect(onDisk).not.toContain("tok-77c0d2");

  // A failing job's log says how it ended; a job that never ran has none.
  jobs.broken = { image: "tools", command: ["sh", "-c", "echo cannot connect; exit 4"] };
  jobs.after = { image: "tools", command: ["true"], dependsOn: ["broken"] };
  await write();
  saved = await loadStack(file);
  await expect(apply(saved, engine)).rejects.toThrow(/broken/);
  const broken = await logs("broken");
  expect(broken.code, broken.stderr).toBe(0);
  expect(broken.stdout).toBe("cannot connect\n");
  expect(broken.stderr).toContain("which failed with exit code 4");
  const never = await logs("after");
  expect(never.code).toBe(1);
  expect(never.stderr).toContain("it is not running and has no saved log");

  // A job the engine could not start at all says so, not that it was interrupted.
  jobs.unstartable = { image: "tools", entrypoint: ["/no/such/binary"], command: [] };
  delete jobs.broken;
  delete jobs.after;
  await write();
  saved = await loadStack(file);
  await expect(apply(saved, engine)).rejects.toThrow(/container.start failed/);
  const unstartable = await logs("unstartable");
  expect(unstartable.code, unstartable.stderr).toBe(0);
  expect(unstartable.stderr).toMatch(/which failed: .*no such file/i);
});

it("keeps a function job's log lines too", async () => {
  const fnStack = await load(
    {
      name: stackName("fnlog"),
      jobs: {
        seed: {
          run: async (ctx) => {
            ctx.log("seeding 3 rows");
            ctx.log("done");
          },
        },
      },
    },
    projectDir,
  );
  await apply(fnStack, engine);
  expect(await readJobLog(fnStack.dataRoot, "seed")).toMatchObject({
    outcome: "completed",
    lines: ["seeding 3 rows", "done"],
  });
  await cleanup(fnStack, undefined);
});
