/** Labels shctl puts on everything it creates. Nothing without `STACK` is ever changed or removed. */
export const LABEL = {
  stack: "io.shctl.stack",
  /** Service or job name. */
  name: "io.shctl.name",
  kind: "io.shctl.kind",
  hash: "io.shctl.hash",
  recipe: "io.shctl.recipe",
  /** The applied snapshot (JSON, secrets as digests), for field-level diffs. */
  snapshot: "io.shctl.snapshot",
  /** For built images: the hash of the build context and recipe. */
  context: "io.shctl.context",
  jobKey: "io.shctl.job-key",
  /** Comma-separated dependency names, so teardown can stop in reverse order without the spec. */
  dependsOn: "io.shctl.depends-on",
  helper: "io.shctl.helper",
  /**
   * The project that owns it: its data root's absolute path. Two directories whose stack files
   * name the same stack are two projects; neither touches the other's containers or networks.
   */
  project: "io.shctl.project",
  /** On built images: the stack that built it (never `stack`, which containers would inherit). */
  builtBy: "io.shctl.built-by",
} as const;

export function stackFilter(stack: string): { label: string[] } {
  return { label: [`${LABEL.stack}=${stack}`] };
}

/**
 * Whether a resource with these labels belongs to this project of the stack: its project label
 * is this data root, or it has none (made before shctl labelled projects).
 */
export function ownedByProject(labels: Record<string, string>, stack: { dataRoot: string }): boolean {
  const owner = labels[LABEL.project];
  return owner === undefined || owner === stack.dataRoot;
}
