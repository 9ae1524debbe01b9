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
  /** On built images: the stack that built it (never `stack`, which containers would inherit). */
  builtBy: "io.shctl.built-by",
} as const;

export function stackFilter(stack: string): { label: string[] } {
  return { label: [`${LABEL.stack}=${stack}`] };
}
