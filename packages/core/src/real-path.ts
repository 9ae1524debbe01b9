import { readlink, realpath } from "node:fs/promises";
import path from "node:path";

/** Most symbolic links followed on one path before giving up (the kernel's own limit is 40). */
const MAX_LINKS = 40;

/**
 * Where `p` leads once every symbolic link on its way is followed, whether or not its last parts
 * exist yet: the real path of its deepest existing ancestor with the rest joined on, a dangling
 * link followed to its target. `mkdir -p` of a path under a link makes its directories where the
 * link leads, so this is where a missing mount source would be made. Undefined when it cannot tell
 * (a part that is a file, a loop of links, no permission).
 */
export async function resolveThroughLinks(p: string): Promise<string | undefined> {
  let cur = path.resolve(p);
  const rest: string[] = [];
  for (let links = 0; links <= MAX_LINKS; ) {
    try {
      return path.join(await realpath(cur), ...rest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") return undefined;
    }
    const target = await readlink(cur).catch(() => undefined);
    if (target !== undefined) {
      // A dangling link: what would be made is its target.
      cur = path.resolve(path.dirname(cur), target);
      links++;
      continue;
    }
    const parent = path.dirname(cur);
    if (parent === cur) return undefined;
    rest.unshift(path.basename(cur));
    cur = parent;
  }
  return undefined;
}
