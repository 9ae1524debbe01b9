import type { Conflict } from "./types.js";
import { resourceKey } from "./util.js";

/**
 * The words for a conflict: what is in the way and how to clear it. A conflict is an error the
 * plan found, so its wording is shared by the CLI's plan and by the error apply throws.
 */
export function describeConflict(c: Conflict): { message: string; hint: string } {
  switch (c.kind) {
    case "container-name-taken":
      return {
        message: `a container named ${c.name} exists but was not created by shctl (it has no stack labels), so shctl will not touch it`,
        hint: `remove or rename it (docker rm -f ${c.name}), then apply again`,
      };
    case "network-name-taken":
      return {
        message: `a network named ${c.name} exists but was not created by shctl for this stack`,
        hint: `remove or rename that network (docker network rm ${c.name}), then apply again`,
      };
    case "host-port-held":
      return {
        message: `host port ${c.port}/${c.protocol} is already published by container ${c.holder}, which is not in this stack`,
        hint: `stop that container (docker stop ${c.holder}) or change services.${c.resource.name}.ports[${c.index}], then apply again`,
      };
    case "image-not-pullable":
      return {
        message: `${c.ref} is not present locally and its pull policy is "never"`,
        hint: `load or build ${c.ref} (or allow pulling), then apply again`,
      };
    case "stack-owned-elsewhere":
      return {
        message: `a stack of the same name from another project (data root ${c.owner}) owns its containers and networks`,
        hint: "give this stack another `name`, or run shctl from that project",
      };
    case "mount-escapes-root":
      return {
        message: `the mount source ${c.source} leads to ${c.realPath}, outside ${c.root}`,
        hint: "replace the symbolic link with a directory inside it, or mount another path",
      };
    case "mount-file-missing":
      return {
        message: `the file ${c.path} (mounted at ${c.target}) does not exist, and no job of the stack writes it`,
        hint: "create it (the engine would otherwise mount an empty directory in its place), then apply again",
      };
    case "service-name-taken":
      return {
        message: `a swarm service named ${c.name} exists but was not created by shctl for this stack, so shctl will not touch it`,
        hint: `remove or rename it (docker service rm ${c.name}), then apply again`,
      };
    case "node-role-missing":
      return {
        message: `no node of the swarm is labelled ${c.label}=true, so nothing can run there`,
        hint: `label the node for role ${c.role} (docker node update --label-add ${c.label}=true NODE), then apply again`,
      };
    case "node-role-ambiguous":
      return {
        message: `${c.nodes.length} nodes are labelled ${c.label}=true (${c.nodes.join(", ")}), but the data of role ${c.role} lives on one node`,
        hint: `keep the label on one node (docker node update --label-rm ${c.label} NODE on the others), then apply again`,
      };
    case "data-on-other-node":
      return {
        message: `its data ${c.path} is on node ${c.madeOn}, but role ${c.role} is now node ${c.roleNode}`,
        hint: `move the label back to ${c.madeOn}, or move the data (shctl backup FILE, then teardown --data and shctl restore FILE with the new node), then apply again`,
      };
    case "config-too-large":
      return {
        message: `${c.path} is ${c.size} bytes; a swarm config holds at most ${c.limit}`,
        hint: "put it in a data directory of a pinned service (its node keeps it), or in the image",
      };
    case "stack-on-other-target":
      return {
        message: `the stack runs as ${c.count} container(s) on this engine (target engine)`,
        hint: "tear it down first (with target engine), or move it with shctl backup FILE and shctl restore FILE",
      };
    default: {
      const never: never = c;
      return { message: `unknown conflict ${JSON.stringify(never)}`, hint: "" };
    }
  }
}

/** The conflicts as lines: "service web: host port 8080/tcp is already published by …". */
export function conflictLines(conflicts: readonly Conflict[]): string[] {
  return conflicts.map((c) => `${resourceKey(c.resource)}: ${describeConflict(c).message}`);
}
