import type { EngineClient } from "../engine/index.js";
import { InterruptedError, isShctlError } from "../errors.js";
import type { EventSink } from "../events.js";
import type { ResolvedStack } from "../model.js";
import type { Action, Plan } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import { recordContainer } from "../state.js";
import {
  type ContainerOps,
  createService,
  removeContainer,
  restartService,
  startExisting,
  updateService,
} from "./containers.js";
import { createRunContext, type RunContext } from "./context.js";
import { createDir } from "./dirs.js";
import { engineGone, Failures } from "./failures.js";
import { buildImage, pullImage } from "./images.js";
import { recordFinishedJob, runJob } from "./jobs.js";
import { createNetwork, removeNetwork } from "./networks.js";
import { Readiness } from "./readiness.js";
import { recreateService } from "./recreate.js";
import { runPlan } from "./run-plan.js";
import type { StepControls } from "./scheduler.js";

export interface ExecuteOptions {
  /**
   * How many actions run at once; default 32. The engine queues what it cannot do at once; on 2
   * cores, 40 services reach running about 10% sooner with 32 than with 8.
   */
  concurrency?: number;
  /** Aborting stops scheduling; actions in flight finish, then InterruptedError is thrown. */
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** Wait until every started service is healthy and ready before returning; default true. */
  wait?: boolean;
}

export interface ExecuteResult {
  /** Ids of the actions carried out. */
  done: string[];
  /** Ids of the actions not carried out (the run stopped first). */
  skipped: string[];
  durationMs: number;
}

/**
 * Carries out a plan as it says: the only code that changes the engine or the data root. Each
 * action begins once the actions it comes after are done; containers start once the dependencies
 * the plan names are ready. On the first failure nothing new begins, waits end, steps in flight
 * finish; the first failure is what is thrown, or, when steps in flight failed too, every failure
 * grouped by cause (failures.ts).
 */
export async function execute(
  plan: Plan,
  stack: ResolvedStack,
  engine: EngineClient,
  opts: ExecuteOptions = {},
): Promise<ExecuteResult> {
  const started = Date.now();
  const records: Promise<void>[] = [];
  const failures = new Failures();
  const run = await runPlan(plan, stack, opts, 32, (signal, onWaitFailed) => {
    const ctx = createRunContext(plan, stack, engine, opts.onEvent ?? (() => {}), signal, opts.signal);
    const ops: ContainerOps = {
      ctx,
      ready: new Readiness(ctx, onWaitFailed),
      record: (service, id, restart) => {
        records.push(
          recordContainer(stack.dataRoot, service, id, restart).catch((err: unknown) =>
            ctx.emit({
              type: "warning",
              message: `could not record service ${service}'s container: ${(err as Error).message}`,
            }),
          ),
        );
      },
    };
    return {
      ctx,
      ready: ops.ready,
      perform: (a, controls) => perform(ops, a, controls),
      noteFailure: (step, err) => failures.add(step, err),
      close: async () => {
        await Promise.all(records);
        await ctx.close();
      },
    };
  });
  const { done, skipped, notReady, failure, target } = run;
  if (failure) {
    const lost = await engineGone(engine, plan, [failure, ...failures.all], "apply");
    throw withWaitsCut(lost ?? failures.error(plan, failure), target.ready.pending);
  }
  if (run.interrupted) throw interruptedError(plan, skipped, done.length, notReady);
  return { done, skipped, durationMs: Date.now() - started };
}

/** Runs one action; false when it stopped part-way because the run stopped. */
async function perform(ops: ContainerOps, a: Action, controls: StepControls): Promise<boolean | undefined> {
  const { ctx } = ops;
  switch (a.kind) {
    case "network.create":
      return void (await createNetwork(ctx, a));
    case "network.remove":
      return void (await removeNetwork(ctx, a));
    case "image.pull":
      return void (await pullImage(ctx, a));
    case "image.build":
      return void (await buildImage(ctx, a));
    case "dir.create":
      return void (await createDir(ctx, a));
    case "job.run":
      return runJob(ops, a, controls);
    case "job.record":
      return void (await recordFinishedJob(ctx, a));
    case "container.create":
      return createService(ops, a, controls);
    case "container.recreate":
      return recreateService(ops, a, controls);
    case "container.update":
      return void (await updateService(ops, a));
    case "container.start":
      return startExisting(ops, a, controls);
    case "container.restart":
      return void (await restartService(ops, a));
    case "container.remove":
      return void (await removeContainer(ops, a));
    case "image.push":
    case "node-dir.create":
    case "service.create":
    case "service.update":
    case "service.restart":
    case "service.remove":
    case "config.remove":
      throw new Error(`${a.kind} is an action of the swarm target, not of one engine`);
    default: {
      const never: never = a;
      throw new Error(`unknown action ${JSON.stringify(never)}`);
    }
  }
}

/**
 * A failed run's error, with the waits the failure cut short: each service still waited for and
 * its last answer (the first failure stops every wait, so a second service timing out at the same
 * moment is said here rather than lost).
 */
function withWaitsCut(err: unknown, pending: ReadonlyMap<string, string>): unknown {
  if (!isShctlError(err) || pending.size === 0) return err;
  err.details.push(
    "not ready either when the run stopped:",
    ...[...pending].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, a]) => `  service ${n}: ${a}`),
  );
  return err;
}

function interruptedError(plan: Plan, skipped: string[], done: number, notReady: string[]): InterruptedError {
  const resources = [
    ...new Set([
      ...plan.actions.filter((a) => skipped.includes(a.id)).map((a) => resourceKey(a.resource)),
      ...notReady.map((n) => `service ${n}`),
    ]),
  ];
  return new InterruptedError(
    `interrupted: ${done} of ${plan.actions.length} steps done, nothing new was started`,
    {
      details: resources.length > 0 ? [`not done: ${resources.join(", ")}`] : [],
      hint: "run apply again to finish; it continues from what the engine has now",
    },
  );
}

export type { RunContext };
