import { StepFailedError } from "../errors.js";
import type { ResolvedService } from "../model.js";
import type { Wait } from "../plan/types.js";
import type { RunContext } from "./context.js";
import type { StepControls } from "./scheduler.js";
import type { ServiceWaits } from "./service-waits.js";

/*
 * A service's or job's gate, on every target: the plan says which actions must be done and which
 * services ready (or running) before it starts; the step waits for them without holding a slot.
 */

/** The stack's service a step is for; the step fails when the stack has none of that name. */
export function serviceOf(ctx: Pick<RunContext, "stack">, name: string): ResolvedService {
  const s = ctx.stack.services[name];
  if (!s) throw new StepFailedError(`service ${name}`, "create", "it is not in the stack");
  return s;
}

/**
 * Waits for what the plan says must come before a start: its dependencies' actions, then their
 * readiness (or that they run), without holding a slot. False when the run stopped meanwhile.
 * `until` is the word the waiting line uses for what a dependency is waited for to be.
 */
export async function passStartGate(
  ctx: Pick<RunContext, "stack" | "phase">,
  ready: Pick<ServiceWaits, "wait" | "ensureRunning">,
  resource: string,
  gate: { startAfter: string[]; waitFor: Wait[] },
  controls: StepControls,
  until: "healthy" | "ready",
): Promise<boolean> {
  if (gate.startAfter.length === 0 && gate.waitFor.length === 0) return !controls.stopped();
  let allReady = true;
  await controls.gate(async () => {
    await Promise.all(gate.startAfter.map((id) => controls.done(id)));
    if (controls.stopped()) return;
    await Promise.all(
      gate.waitFor.map(async (w) => {
        const svc = ctx.stack.services[w.service];
        if (!svc) return;
        if (w.condition === "running") return ready.ensureRunning(w.service);
        ctx.phase(resource, "waiting", `for ${w.service} to be ${until}`);
        // A dependency that never gets ready failed on its own: this one just does not start.
        if (!(await ready.wait(svc))) allReady = false;
      }),
    );
  });
  return allReady && !controls.stopped();
}
