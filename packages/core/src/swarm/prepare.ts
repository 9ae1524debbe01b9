import { EngineError } from "../errors.js";
import { LABEL } from "../labels.js";
import type { ContainerSpec } from "../model.js";
import { configMounts, readSource, type SourceView, type TaskFile, taskFiles } from "./files.js";
import { configName } from "./names.js";
import type { SwarmRun } from "./run.js";
import type { ConfigRef, SwarmImage } from "./spec.js";
import { readSwarmState } from "./state.js";

/*
 * What a service or job is made of when the executor makes it: the image as the nodes run it, and
 * its files as configs, read now (after the jobs that write them ran) and made when missing.
 */

/** The image of a key as tasks run it, and what identifies it (as the plan saw it). */
export async function swarmImage(run: SwarmRun, key: string): Promise<SwarmImage> {
  const img = run.stack.images[key];
  const ref = img?.ref ?? key;
  const info = (await run.engine.listImages([ref]))[ref];
  const local = info !== undefined && (img?.build !== undefined || (info.repoDigests ?? []).length === 0);
  const identity = local ? info.id : undefined;
  const pushed = run.runRefs.get(key);
  if (pushed) return { run: pushed, ref, identity };
  const registry = run.stack.swarm?.registry;
  if (registry && local) {
    const record = (await readSwarmState(run.stack.dataRoot)).pushed[key];
    if (record && record.imageId === identity)
      return { run: `${record.pushRef}@${record.digest}`, ref, identity };
  }
  return { run: ref, ref, identity };
}

/** The files a container gets as configs, as they are on disk now. */
export async function currentFiles(run: SwarmRun, spec: Pick<ContainerSpec, "mounts">): Promise<TaskFile[]> {
  const sources: Record<string, SourceView> = {};
  await Promise.all(
    configMounts(spec).map(async (m) => {
      sources[m.hostPath] = await readSource(m, run.read);
    }),
  );
  return taskFiles(spec, sources);
}

const known = new WeakMap<SwarmRun, Promise<Map<string, string>>>();

/** The configs of these files, made when the swarm lacks them (by content: the same file, the same config). */
export async function ensureConfigs(run: SwarmRun, files: TaskFile[]): Promise<ConfigRef[]> {
  let list = known.get(run);
  if (!list) {
    list = run.engine
      .listConfigs([`${LABEL.stack}=${run.stack.name}`])
      .then((cs) => new Map(cs.map((c) => [c.name, c.id])));
    known.set(run, list);
  }
  const byName = await list;
  const out: ConfigRef[] = [];
  for (const file of files) {
    const name = configName(run.stack.name, run.stack.dataRoot, file.digest);
    let id = byName.get(name);
    if (!id) {
      const body = await run.read(file.hostPath);
      if (body === undefined)
        throw new Error(`${file.hostPath} disappeared before it could be made a config`);
      try {
        id = await run.engine.createConfig({
          Name: name,
          Labels: {
            [LABEL.stack]: run.stack.name,
            [LABEL.project]: run.stack.dataRoot,
            [LABEL.kind]: "config",
            [LABEL.name]: file.hostPath,
          },
          Data: body.toString("base64"),
        });
      } catch (err) {
        // Made meanwhile by another step of this run (the same content): use that one.
        if (!(err instanceof EngineError && err.statusCode === 409)) throw err;
        const again = await run.engine.listConfigs([`${LABEL.stack}=${run.stack.name}`]);
        id = again.find((c) => c.name === name)?.id;
        if (!id) throw err;
      }
      byName.set(name, id);
    }
    out.push({ file, id, name });
  }
  return out;
}
