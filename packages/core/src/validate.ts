import type { z } from "zod";
import { SpecError, type SpecIssue } from "./errors.js";
import type { ResolvedStack } from "./model.js";
import { type ResolveContext, resolveSpec } from "./resolve.js";
import { Stack, type StackSpec } from "./schema.js";

export { Stack, stackJsonSchema } from "./schema.js";

/*
 * The zod half of loading: checks a raw stack (parsed YAML/JSON, or a module's object) against the
 * schema and turns zod's issues into SpecIssues with readable paths. Loaded only when a stack has
 * to be validated, so that a cached stack file does not pay for loading zod.
 */

/** The schema's output for `raw`; throws SpecError (exit 2) with every schema problem. */
export function parseSpec(raw: unknown, label: string): StackSpec {
  const parsed = Stack.safeParse(raw);
  if (!parsed.success) throw new SpecError(label, zodIssues(parsed.error));
  return parsed.data;
}

/** Validates and resolves a raw stack object in one synchronous step. */
export function validateStack(raw: unknown, ctx: ResolveContext): ResolvedStack {
  return resolveSpec(parseSpec(raw, ctx.label), ctx);
}

function zodIssues(error: z.ZodError): SpecIssue[] {
  return error.issues.map((i) => zodIssue(i, []));
}

function zodIssue(i: z.core.$ZodIssue, prefix: (string | number)[]): SpecIssue {
  const p = [...prefix, ...i.path.map((s) => (typeof s === "symbol" ? String(s) : s))];
  if (i.code === "unrecognized_keys") {
    return {
      path: p,
      message: `unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`,
    };
  }
  if (i.code === "invalid_key") {
    // A record key (a service, job, network or image name) failed its rule: say which rule.
    const inner = i.issues[0]?.message;
    return {
      path: p,
      message: `${JSON.stringify(String(p[p.length - 1]))} is not an allowed name${inner ? `: ${inner}` : ""}`,
    };
  }
  if (i.code === "invalid_union") {
    // Report the branch that got furthest, which is the one the author meant.
    const best = [...i.errors].sort((a, b) => depth(b) - depth(a))[0];
    const inner = best?.[0];
    if (inner) return zodIssue(inner, p);
  }
  return { path: p, message: i.message };
}

function depth(issues: z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((x) => x.path.length + (x.code === "invalid_type" ? 0 : 1)));
}
