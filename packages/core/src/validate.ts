import { isMap, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { SpecError, type SpecIssue } from "./errors.js";
import type { ResolvedStack } from "./model.js";
import { type ResolveContext, resolveSpec } from "./resolve/index.js";
import { Stack, type StackSpec } from "./schema.js";

export { Stack, stackJsonSchema } from "./schema.js";

/*
 * The parsing half of loading: reads YAML/JSON text, checks a raw stack (parsed text, or a module's
 * object) against the schema and turns zod's issues into SpecIssues with readable paths. Loaded
 * only when a stack has to be validated, so that a cached stack file loads neither yaml nor zod.
 */

/** The schema's output for `raw`; throws SpecError (exit 2) with every schema problem. */
export function parseSpec(raw: unknown, label: string): StackSpec {
  const parsed = Stack.safeParse(raw);
  if (!parsed.success) throw new SpecError(label, zodIssues(parsed.error));
  return parsed.data;
}

/**
 * The schema's output for the text of a YAML (or JSON) stack file; throws SpecError (exit 2) with
 * the YAML errors (line and column) or every schema problem. What the spec cache keeps is exactly
 * this function's result, so everything that shapes it lives in this module or the schema's.
 */
export function parseSpecText(text: string, label: string): StackSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new SpecError(
      label,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: [],
          message: `YAML ${pos ? `line ${pos.line}, column ${pos.col}` : ""}: ${(e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "")}`,
        };
      }),
    );
  }
  if (!isMap(doc.contents)) {
    throw new SpecError(label, [{ path: [], message: "expected a mapping with `name`, `services`, …" }]);
  }
  return parseSpec(doc.toJS(), label);
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

/** The zod schema of a plan (what `shctl diff --json` prints); plan.schema.json is made from it. */
export { PlanSchema } from "./plan/types.js";
