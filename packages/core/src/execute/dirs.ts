import { chmod, chown, mkdir } from "node:fs/promises";
import { StepFailedError } from "../errors.js";
import type { ActionOf } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import type { RunContext } from "./context.js";
import { helperImageOf, runHelper } from "./helpers.js";

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

/** Without the right to chown, a short-lived helper container (root inside) sets the owner. */
async function helperChown(
  ctx: RunContext,
  a: ActionOf<"dir.create">,
  owner: { uid: number; gid: number },
): Promise<void> {
  const resource = resourceKey(a.resource);
  const image = await helperImageOf(ctx.engine, ctx.stack);
  if (!image) {
    throw new StepFailedError(resource, "chown", `cannot give ${a.target} to ${owner.uid}:${owner.gid}`, {
      hint: "run shctl as root, or set `helperImage` to an image present locally so a helper container can do it",
    });
  }
  const code = await runHelper(ctx.engine, ctx.stack.name, image, a.target, [
    "chown",
    `${owner.uid}:${owner.gid}`,
    "/target",
  ]);
  if (code !== 0) throw new StepFailedError(resource, "chown", `the helper container exited with ${code}`);
}
