import { tryParseImageRef } from "../image-ref.js";

/*
 * Images on a swarm. Each node runs what it has or pulls the reference itself; an image made on
 * this machine (built, or loaded: no registry knows it) reaches other nodes only through a
 * registry every node can pull from (`swarm.registry`): shctl tags it there, pushes it, and the
 * service runs it by the pushed digest, so every node runs the same bytes.
 */

/** Where an image goes in the stack's registry: REGISTRY/PATH:TAG (the path as its own registry has it). */
export function pushRefOf(registry: string, ref: string): string {
  const r = tryParseImageRef(ref);
  const base = registry.replace(/\/+$/, "");
  if (!r) return `${base}/${ref}`;
  return `${base}/${r.path}:${r.tag ?? "latest"}`;
}
