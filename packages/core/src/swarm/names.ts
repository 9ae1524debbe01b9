import { sha256 } from "../hash.js";

/*
 * How the swarm target names what it makes (as `docker stack deploy` would: STACK_NAME), and the
 * labels it reads: a node carries shctl.ROLE=true for each placement role it takes.
 */

/** The swarm service of a stack service: `STACK_NAME`. */
export const serviceName = (stack: string, name: string) => `${stack}_${name}`;
/** A job's one-off swarm service: `STACK_job_NAME`. */
export const jobServiceName = (stack: string, name: string) => `${stack}_job_${name}`;
/** The node label of a placement role. */
export const roleLabel = (role: string) => `shctl.${role}`;
/** The constraint that pins a task to the nodes of a role. */
export const roleConstraint = (role: string) => `node.labels.${roleLabel(role)} == true`;
/** The constraint that pins a task to one node. */
export const nodeConstraint = (nodeId: string) => `node.id == ${nodeId}`;

/**
 * A config's name: per stack and project, by content (configs cannot change: new content is a new
 * config, and the old one goes once no service uses it).
 */
export function configName(stack: string, dataRoot: string, digest: string): string {
  return `${stack}_cfg_${sha256(`${dataRoot}\0${digest}`).slice(0, 20)}`;
}

/** Labels on a task's container: which stack service it is and the hash of its task spec. */
export const TASK_LABEL = {
  service: "io.shctl.task-of",
  hash: "io.shctl.task-hash",
} as const;

/** A swarm config holds at most this many bytes (swarmkit's limit). */
export const CONFIG_MAX_BYTES = 500 * 1024;
