import { apply, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { cleanup, engine, load, recorder, stackName, tempProject, toolsImage } from "./helpers.js";

/* A container job's log lines reach the progress events while it runs, secrets redacted. */

let projectDir: string;
let stack: ResolvedStack | undefined;
beforeAll(async () => {
  projectDir = await tempProject();
});
afterAll(async () => {
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
