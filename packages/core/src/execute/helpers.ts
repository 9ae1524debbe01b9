import type { EngineClient } from "../engine.js";
import { LABEL } from "../labels.js";
import type { ResolvedStack } from "../model.js";

/*
 * Helper containers: short-lived root containers that do on the host what shctl may not (give a
 * directory to a container user, delete files of other users), with one directory mounted.
 */

/** The first image present locally to run helpers from: the stack's `helperImage`, else a stack image. */
export async function helperImageOf(engine: EngineClient, stack: ResolvedStack): Promise<string | undefined> {
  const candidates = [stack.helperImage, ...Object.values(stack.images).map((i) => i.ref)].filter(
    (x): x is string => !!x,
  );
  for (const ref of candidates) if (await engine.inspectImage(ref)) return ref;
  return undefined;
}

/**
 * Runs a short-lived root helper container with `dir` mounted at /target, and removes it.
 * Used to chown new directories and to delete files of other users, without needing root on the host.
 */
export async function runHelper(
  engine: EngineClient,
  stack: string,
  image: string,
  dir: string,
  cmd: string[],
): Promise<number> {
  const id = await engine.createContainer({
    Image: image,
    Entrypoint: [],
    Cmd: cmd,
    User: "0:0",
    Labels: { [LABEL.stack]: stack, [LABEL.kind]: "helper", [LABEL.name]: "helper", [LABEL.helper]: "true" },
    HostConfig: { Binds: [`${dir}:/target:rw`], NetworkMode: "none" },
  });
  try {
    const waiting = engine.waitContainer(id);
    await engine.startContainer(id);
    return await waiting;
  } finally {
    await engine.removeContainer(id);
  }
}
