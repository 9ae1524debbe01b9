import { EngineError, StepFailedError } from "../errors.js";
import { networkHash } from "../hash.js";
import { LABEL } from "../labels.js";
import type { ActionOf } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import type { RunContext } from "./context.js";

export async function createNetwork(ctx: RunContext, a: ActionOf<"network.create">): Promise<void> {
  const t0 = Date.now();
  const n = ctx.stack.networks[a.target];
  if (!n) throw new StepFailedError(resourceKey(a.resource), "create", "it is not in the stack");
  const resource = resourceKey(a.resource);
  ctx.phase(resource, "creating");
  await ctx.engine.createNetwork({
    Name: n.dockerName,
    Driver: n.driver,
    Internal: n.internal,
    CheckDuplicate: true,
    Labels: {
      ...n.labels,
      [LABEL.stack]: ctx.stack.name,
      [LABEL.project]: ctx.stack.dataRoot,
      [LABEL.name]: n.name,
      [LABEL.hash]: networkHash(n),
    },
  });
  ctx.phase(resource, "done", "created", t0);
}

export async function removeNetwork(ctx: RunContext, a: ActionOf<"network.remove">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  ctx.phase(resource, "removing");
  try {
    await ctx.engine.removeNetwork(a.networkId);
  } catch (err) {
    if (err instanceof EngineError && err.statusCode === 403) {
      throw new StepFailedError(resource, "remove", err.message, {
        cause: err,
        hint: "a container outside this stack is still attached: `docker network inspect` shows which; disconnect it and run again (Docker 20.10 may also keep stale endpoints, moby#43286: restarting the engine clears them)",
      });
    }
    throw err;
  }
  ctx.phase(resource, "done", "removed", t0);
}
