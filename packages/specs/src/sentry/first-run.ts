import path from "node:path";
import { completedJobs } from "@sh/core";
import { loadSentryOptions } from "./options.js";

/** One thing to ask on a terminal; the answer is passed to the stack as the environment variable `env`. */
export interface FirstRunQuestion {
  env: string;
  prompt: string;
  /** Not echoed while typed, asked twice. */
  secret: boolean;
}

/**
 * What `shctl apply` asks on a terminal before Sentry's first install: the first superuser, unless
 * shctl.yaml or SHCTL_ADMIN_* already name one. "First install" means `sentry upgrade` has never
 * completed under this data root; every later run asks nothing. Invalid options ask nothing here —
 * loading the stack reports them with their paths.
 */
export async function firstRunQuestions(
  projectDir: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<FirstRunQuestion[]> {
  let opts: Awaited<ReturnType<typeof loadSentryOptions>>;
  try {
    opts = await loadSentryOptions(projectDir, env);
  } catch {
    return [];
  }
  if (opts.admin) return [];
  const done = await completedJobs(path.resolve(projectDir, opts.dataRoot));
  if (done["sentry-upgrade"]) return [];
  return [
    {
      env: "SHCTL_ADMIN_EMAIL",
      prompt: "Email of Sentry's first admin user (empty: create one later)",
      secret: false,
    },
    { env: "SHCTL_ADMIN_PASSWORD", prompt: "Password for that user", secret: true },
  ];
}
