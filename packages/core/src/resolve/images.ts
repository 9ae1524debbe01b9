import path from "node:path";
import { pullSources } from "../image-ref.js";
import type { Resolving, Where } from "./context.js";

/*
 * Images: the stack's own (pulled by reference or built from a context), and every reference a
 * service or job names directly, each with where to pull it from (a mirror's candidates first).
 */

/** Where to pull an image from (nothing for a built one); an issue when `ref` is not a reference. */
function sourcesOf(r: Resolving, ref: string, where: Where, built = false): string[] {
  try {
    const sources = pullSources(ref, r.spec.registryMirror);
    return built ? [] : sources;
  } catch (err) {
    r.issues.push({ path: where, message: `not a valid image reference: ${(err as Error).message}` });
    return built ? [] : [ref];
  }
}

/** The mirror's first source, when the image is pulled through a mirror (its sources are not just `ref`). */
function mirrorRefOf(ref: string, sources: string[]): string | undefined {
  const first = sources[0];
  return first !== undefined && first !== ref ? first : undefined;
}

export function resolveImages(r: Resolving): void {
  for (const [key, img] of Object.entries(r.spec.images)) {
    const sources = sourcesOf(r, img.ref, ["images", key, "ref"], img.build !== undefined);
    r.images[key] = {
      key,
      ref: img.ref,
      build: img.build
        ? {
            contextDir: path.resolve(r.projectDir, img.build.context),
            dockerfile: img.build.dockerfile,
            args: img.build.args,
            target: img.build.target,
          }
        : undefined,
      pull: img.pull,
      needs: img.needs,
      mirrorRef: mirrorRefOf(img.ref, sources),
      pullSources: sources,
    };
  }
}

/** The image key for what a service or job names: a key of `images`, or a reference added as one. */
export function imageKey(r: Resolving, ref: string, where: Where): string {
  if (r.images[ref]) return ref;
  const sources = sourcesOf(r, ref, where);
  r.images[ref] = {
    key: ref,
    ref,
    build: undefined,
    pull: "missing",
    needs: [],
    mirrorRef: mirrorRefOf(ref, sources),
    pullSources: sources,
  };
  return ref;
}

/** An image built FROM an image key the stack does not have is an issue. */
export function checkNeeds(r: Resolving): void {
  for (const img of Object.values(r.images)) {
    for (const need of img.needs) {
      if (!r.images[need])
        r.issues.push({
          path: ["images", img.key, "needs"],
          message: `no image named "${need}" in this stack`,
        });
    }
  }
}
