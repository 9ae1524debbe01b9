import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../atomic.js";
import { stateDir } from "../state.js";

/*
 * What the swarm target remembers beside state.json, under <dataRoot>/.shctl/swarm.json: the data
 * directories it made on nodes (shctl cannot look at another node's disk: it knows what it made)
 * and the images it pushed to the stack's registry (by local image ID, with the pushed digest).
 * It goes with the data root, as state.json does.
 */

export interface SwarmState {
  /** By host path: the node it was made on. */
  nodeDirs: Record<string, { nodeId: string; nodeName: string; madeAt: string }>;
  /** By image key: the local image pushed, and where. */
  pushed: Record<string, { imageId: string; pushRef: string; digest: string }>;
}

const file = (dataRoot: string) => path.join(stateDir(dataRoot), "swarm.json");

export async function readSwarmState(dataRoot: string): Promise<SwarmState> {
  try {
    const parsed = JSON.parse(await readFile(file(dataRoot), "utf8")) as Partial<SwarmState>;
    return { nodeDirs: parsed.nodeDirs ?? {}, pushed: parsed.pushed ?? {} };
  } catch {
    return { nodeDirs: {}, pushed: {} };
  }
}

/** Updates one after another (one run's steps record concurrently): each reads what the last wrote. */
const queues = new Map<string, Promise<void>>();

export function updateSwarmState(dataRoot: string, update: (s: SwarmState) => void): Promise<void> {
  const prev = queues.get(dataRoot) ?? Promise.resolve();
  const next = prev
    .catch(() => undefined)
    .then(async () => {
      const s = await readSwarmState(dataRoot);
      update(s);
      await mkdir(stateDir(dataRoot), { recursive: true });
      await writeFileAtomic(file(dataRoot), `${JSON.stringify(s, null, 2)}\n`);
    });
  queues.set(dataRoot, next);
  return next;
}
