import { existsSync } from "node:fs";
import path from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, it } from "vitest";
import { engine, ensureToolsImage } from "../helpers.js";
import {
  openGates,
  PHASES,
  phaseRuns,
  phaseServices,
  prepare,
  slowImageRef,
  slowJobCompletes,
  startPhase,
} from "./phases.js";
import {
  dataDir,
  dispose,
  expectClearExit,
  expectConverges,
  expectNothingLost,
  expectServicesRunning,
  guardHostDocker0,
  newProject,
  type Project,
  settle,
  show,
  TAG,
  timer,
} from "./support.js";

guardHostDocker0();

/*
 * shctl itself is stopped half-way, on the shared engine: SIGKILL (nothing can be said; the next
 * apply takes the dead process's lock over), SIGINT and SIGTERM (the steps in flight finish,
 * nothing new starts, exit 130 with what to do; a teardown goes on to its end), while it builds an
 * image, creates and starts a wave of containers, runs a job, waits for a healthcheck, or tears the
 * stack down. Then one apply converges, a second has nothing to do, and nothing is lost.
 *
 * A killed shctl leaves a job's container running: the job is let finish before the next apply,
 * which must see that its run completed and not run it again.
 */

describe("shctl stopped half-way (shared engine)", () => {
  beforeAll(() => ensureToolsImage(), 300_000);

  // The signals' chains run side by side: each has its own stack, and most of a case is waiting.
  describe("per signal", () => {
    for (const signal of ["SIGKILL", "SIGINT", "SIGTERM"] as const) {
      describe.concurrent(`shctl ${signal}`, () => {
        let project: Project | undefined;

        afterAll(async () => {
          await dispose(project);
          if (project)
            await new Docker()
              .getImage(slowImageRef(project.name))
              .remove()
              .catch(() => undefined);
        }, 180_000);

        for (const phase of PHASES) {
          const required =
            signal === "SIGKILL"
              ? "the next apply takes the lock over"
              : phase === "teardown"
                ? "teardown goes on to its end"
                : "steps in flight finish, exit 130";
          it.sequential(`shctl ${signal} during ${phase}: ${required}; one apply converges and nothing is lost`, async ({
            expect,
          }) => {
            project ??= await newProject(`k${signal.slice(3, 7).toLowerCase()}`, engine);
            const p = project;
            const t = timer();
            const base = await prepare(expect, p, phase);
            t.lap("before");
            const run = await startPhase(p, phase);
            t.lap("window");
            run.kill(signal);

            if (signal === "SIGKILL") {
              const r = await settle(run, 30_000);
              expect.soft(r.hung, `${TAG.clear} SIGKILL ended it`).toBe(false);
              if (phase === "job") {
                // Its container outlives shctl: its run completes before the next apply.
                await slowJobCompletes(p);
              }
            } else {
              if (phase === "job") {
                // The job in flight is waited for: let it finish.
                await run.waitFor(/finishing the steps in flight/, 30_000).catch(() => undefined);
                await openGates(p);
              }
              const r = await settle(run, 90_000);
              if (phase === "teardown") {
                expect.soft(r.hung, `${TAG.clear} teardown ended:\n${show(r)}`).toBe(false);
                expect
                  .soft([0, 130], `${TAG.clear} teardown ends 0 (went on to its end) or 130:\n${show(r)}`)
                  .toContain(r.code);
                expect
                  .soft(r.stdout + r.stderr, `${TAG.clear} teardown says it goes on:\n${show(r)}`)
                  .toMatch(/teardown goes on to the end/);
              } else expectClearExit(expect, r, 130);
              expect
                .soft(existsSync(path.join(dataDir(p), ".shctl/lock")), `${TAG.clear} the lock is released`)
                .toBe(false);
            }
            t.lap("shctl ended");

            await openGates(p);
            const a = await expectConverges(expect, p);
            if (signal !== "SIGKILL")
              expect
                .soft(a.stdout + a.stderr, `${TAG.converged} no stale lock after an interrupt`)
                .not.toMatch(/took over a lock/);
            t.lap("converged");
            await expectServicesRunning(expect, p, phaseServices(phase));
            await expectNothingLost(expect, p, base, phaseRuns(phase));
            t.done(`${signal} ${phase}`);
          }, 300_000);
        }
      });
    }
  });
});
