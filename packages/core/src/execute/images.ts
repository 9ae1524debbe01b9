import type { Readable } from "node:stream";
import { StepFailedError } from "../errors.js";
import { effectiveContextHash } from "../hash.js";
import { isNotFoundPullError } from "../image-ref.js";
import { LABEL } from "../labels.js";
import { contextFiles } from "../observe.js";
import type { ActionOf } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";
import type { RunContext } from "./context.js";
import { BuildTracker, ProgressThrottle, PullTracker } from "./transfer.js";

/** Pulls an image from its sources in order (a mirror's candidates), then tags it as its reference. */
export async function pullImage(ctx: RunContext, a: ActionOf<"image.pull">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const tried: string[] = [];
  let pulled: string | undefined;
  for (const source of a.sources) {
    ctx.phase(resource, "pulling", source);
    // Layer messages become figures (a few events a second); the others stay output lines.
    const layers = new PullTracker();
    const progress = new ProgressThrottle(ctx.emit, resource, "pull", Date.now());
    try {
      await ctx.engine.pullImage(source, (line, layer) => {
        if (!layer) return ctx.emit({ type: "output", resource, line });
        layers.update(layer);
        progress.update(layers.figures());
      });
      progress.end();
      pulled = source;
      break;
    } catch (err) {
      progress.end();
      tried.push(`${source}: ${(err as Error).message}`);
      const last = source === a.sources[a.sources.length - 1];
      if (last || !isNotFoundPullError(err)) {
        throw new StepFailedError(resource, "pull", (err as Error).message, {
          cause: err,
          details: tried.length > 1 ? ["tried:", ...tried.map((t) => `  ${t}`)] : [],
          hint:
            a.sources[0] !== a.ref
              ? `check that the mirror has ${a.ref} (as ${a.sources.join(" or ")}) and answers`
              : "check the image name and that a registry is reachable; behind a firewall, set registryMirror",
        });
      }
    }
  }
  if (pulled !== undefined && pulled !== a.ref) await ctx.engine.tagImage(pulled, a.ref);
  const info = await ctx.engine.inspectImage(a.ref);
  if (info) ctx.setImageId(a.target, info.id);
  ctx.phase(resource, "done", "pulled", t0);
}

export async function buildImage(ctx: RunContext, a: ActionOf<"image.build">): Promise<void> {
  const t0 = Date.now();
  const resource = resourceKey(a.resource);
  const img = ctx.stack.images[a.target];
  if (!img?.build) throw new StepFailedError(resource, "build", "it has no build context");
  ctx.phase(resource, "building", img.ref);
  const files = await contextFiles(img.build.contextDir);
  // Loaded here: only builds need it, and every command would pay for it at start.
  const { pack } = await import("tar-fs");
  const tar = pack(img.build.contextDir, { entries: files }) as unknown as Readable;
  const tail: string[] = [];
  const steps = new BuildTracker();
  const progress = new ProgressThrottle(ctx.emit, resource, "build", t0);
  const needIds = await Promise.all(img.needs.map((n) => ctx.imageId(n)));
  try {
    await ctx.engine.buildImage(
      tar,
      {
        ref: img.ref,
        dockerfile: img.build.dockerfile,
        args: img.build.args,
        target: img.build.target,
        labels: {
          // Not LABEL.stack: image labels are inherited by every container made from the image.
          [LABEL.builtBy]: ctx.stack.name,
          [LABEL.context]: effectiveContextHash(a.contextHash, needIds),
        },
      },
      (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        ctx.emit({ type: "output", resource, line });
        steps.update(ctx.redact(line));
        progress.update(steps.figures());
      },
    );
    progress.end();
  } catch (err) {
    progress.end();
    throw new StepFailedError(resource, "build", (err as Error).message, {
      cause: err,
      details: tail.length > 0 ? ["last build output:", ...tail.map((l) => `  ${l}`)] : [],
      hint: `fix the Dockerfile or context in ${img.build.contextDir}, then run apply again`,
    });
  }
  const info = await ctx.engine.inspectImage(img.ref);
  if (info) ctx.setImageId(a.target, info.id);
  ctx.phase(resource, "done", "built", t0);
}
