import { chmod, chown, mkdir } from "node:fs/promises";
import { StepFailedError } from "../errors.js";
import { runHelperCommand } from "../helper-container.js";
import type { ActionOf } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import type { RunContext } from "./context.js";

export async function createDir(ctx: RunContext, a: ActionOf<"dir.create">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  ctx.phase(resource, "creating");
  await mkdir(a.target, { recursive: true });
  if (a.mode !== undefined) await chmod(a.target, a.mode);
  if (a.owner) {
    try {
      await chown(a.target, a.owner.uid, a.owner.gid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
      await helperChown(ctx, a, a.owner);
    }
  }
  ctx.phase(resource, "done", a.owner ? `owner ${a.owner.uid}:${a.owner.gid}` : "created", t0);
}

/**
 * Without the right to chown, a short-lived helper container (root inside, shctl's own helper
 * image, which the engine always has or gets without a registry) sets the owner.
 */
async function helperChown(
  ctx: RunContext,
  a: ActionOf<"dir.create">,
  owner: { uid: number; gid: number },
): Promise<void> {
  const r = await runHelperCommand(ctx.engine, {
    stack: ctx.stack.name,
    args: ["chown", `${owner.uid}:${owner.gid}`, "/target"],
    binds: [`${a.target}:/target`],
  });
  if (r.exitCode !== 0)
    throw new StepFailedError(
      resourceKey(a.resource),
      "chown",
      `the helper exited with ${r.exitCode}: ${r.stderr.trim()}`,
      {
        hint: `give it to ${owner.uid}:${owner.gid} yourself (sudo chown ${owner.uid}:${owner.gid} ${a.target}), then apply again`,
      },
    );
}
