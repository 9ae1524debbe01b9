import type { EngineClient } from "../engine/index.js";
import { engineLost } from "../engine-lost.js";
import {
  type EngineUnreachableError,
  engineWords,
  type FailureGroup,
  isShctlError,
  type ShctlError,
  StepFailedError,
  StepsFailedError,
} from "../errors.js";
import { isNotFoundPullError, tryParseImageRef } from "../image-ref.js";
import type { Action, Plan } from "../plan/types.js";
import { resourceKey } from "../plan/util.js";

/*
 * Every failure of a run, and the one error it ends with. One failure is thrown as it is (typed
 * by the step that failed); several become a StepsFailedError that says each cause once, with the
 * resources it hit: "13 images could not be pulled from docker.io: registry unreachable (name
 * lookup failed)" rather than thirteen times the same engine message.
 *
 * A pull's cause is read from the engine's answer: its HTTP status where it gives one (404, 401,
 * 403), else the Go network error text the engine passes on from the registry connection ("no
 * such host", "connection refused", "i/o timeout", …), which is all it says about those.
 */

export interface Failure {
  /** The action that failed; undefined for a failure outside one (a final readiness wait). */
  step: string | undefined;
  error: unknown;
}

export class Failures {
  private readonly list: Failure[] = [];

  /** Records a failure; one caused only by the run stopping (an abort) is not a cause of its own. */
  add(step: string | undefined, error: unknown): void {
    if (isAbort(error)) return;
    this.list.push({ step, error });
  }

  get all(): readonly Failure[] {
    return this.list;
  }

  /**
   * The error the run ends with: `first` (the scheduler's first failure) typed by its step when it
   * is the only one; every failure grouped by cause when there are several.
   */
  error(plan: Plan, first: Failure): unknown {
    const all = this.list.some((f) => f.error === first.error) ? this.list : [first, ...this.list];
    if (all.length <= 1) return asStepError(plan, first.step, first.error);
    return groupedError(plan, all);
  }
}

/** A failure as a typed error: engine and unknown errors are named by the step that failed. */
export function asStepError(plan: Plan, step: string | undefined, err: unknown): unknown {
  if (isShctlError(err)) return err;
  const a = plan.actions.find((x) => x.id === step);
  if (!a) return err;
  return new StepFailedError(resourceKey(a.resource), a.kind, String((err as Error)?.message ?? err), {
    cause: err,
  });
}

export type PullFailureCode =
  | "not-found"
  | "unauthorized"
  | "name-lookup"
  | "refused"
  | "timeout"
  | "unreachable"
  | "tls"
  | "broken-off"
  | "disk-full";

const PULL_REASONS: Record<PullFailureCode, string> = {
  "not-found": "not found on the registry",
  unauthorized: "the registry refused access (unauthorized)",
  "name-lookup": "registry unreachable (name lookup failed)",
  refused: "registry unreachable (connection refused)",
  timeout: "registry unreachable (timed out)",
  unreachable: "registry unreachable (no route to it)",
  tls: "TLS with the registry failed",
  "broken-off": "the download broke off",
  "disk-full": "no space left on the engine's disk",
};

// Go's network errors as the engine passes them on (net, crypto/tls and net/http wording).
const PULL_TEXT: [PullFailureCode, RegExp][] = [
  ["disk-full", /no space left on device/i],
  ["name-lookup", /no such host|server misbehaving|name resolution|lookup \S+( on \S+)?: /i],
  ["refused", /connection refused/i],
  ["timeout", /i\/o timeout|Client\.Timeout|deadline exceeded|handshake timeout|timed out/i],
  ["unreachable", /no route to host|network is unreachable|host is down/i],
  ["tls", /x509:|tls:|HTTP response to HTTPS client|certificate/i],
  ["unauthorized", /unauthorized|authentication required|access (to the resource )?is denied|denied: /i],
  ["broken-off", /connection reset|unexpected EOF|broken pipe|EOF$/i],
];

const NETWORK_CODES: Record<string, PullFailureCode> = {
  ENOTFOUND: "name-lookup",
  EAI_AGAIN: "name-lookup",
  ECONNREFUSED: "refused",
  ETIMEDOUT: "timeout",
  EHOSTUNREACH: "unreachable",
  ENETUNREACH: "unreachable",
  ECONNRESET: "broken-off",
};

/** Why a pull failed, as a code (undefined when shctl cannot tell) and in words. */
export function classifyPullError(err: unknown): { code: PullFailureCode | undefined; reason: string } {
  const chain = causes(err);
  const found = (code: PullFailureCode) => ({ code, reason: PULL_REASONS[code] });
  if (isNotFoundPullError(err)) return found("not-found");
  for (const e of chain) {
    const status = (e as { statusCode?: unknown }).statusCode;
    if (status === 401 || status === 403) return found("unauthorized");
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES[code]) return found(NETWORK_CODES[code]);
  }
  const text = engineText(err);
  for (const [code, re] of PULL_TEXT) if (re.test(text)) return found(code);
  return { code: undefined, reason: text };
}

/** The engine's own words for an error: the deepest message along the cause chain. */
function engineText(err: unknown): string {
  let text = "";
  for (const e of causes(err)) {
    const x = e as { message?: unknown; json?: { message?: unknown } };
    const m = typeof x.json?.message === "string" ? x.json.message : x.message;
    if (typeof m === "string" && m.trim()) text = engineWords(m);
  }
  return text || String(err);
}

function causes(err: unknown): object[] {
  const out: object[] = [];
  for (let e = err; e && typeof e === "object" && !out.includes(e); e = (e as { cause?: unknown }).cause)
    out.push(e);
  return out;
}

function isAbort(err: unknown): boolean {
  return causes(err).some(
    (e) => (e as { name?: unknown }).name === "AbortError" || (e as { code?: unknown }).code === "ABORT_ERR",
  );
}

interface Classified {
  key: string;
  code: string | undefined;
  cause: string;
  resource: string;
  kind: string;
  /** A pull's registry (the one it failed on). */
  registry: string | undefined;
  error: ShctlError;
  hint: string | undefined;
}

function classify(plan: Plan, f: Failure): Classified {
  const a = plan.actions.find((x) => x.id === f.step);
  const typed = asStepError(plan, f.step, f.error);
  const error: ShctlError = isShctlError(typed)
    ? typed
    : new StepFailedError("(run)", "step", String((typed as Error)?.message ?? typed), { cause: typed });
  const resource = a ? resourceKey(a.resource) : error instanceof StepFailedError ? error.resource : "(run)";
  const kind = resource.split(" ")[0] ?? "step";
  if (a?.kind === "image.pull") {
    const { code, reason } = classifyPullError(f.error);
    const registry = registryOf(a);
    // The engine's text names the image: without a code, group by it with the references taken out.
    const cause = code ? reason : withoutRefs(reason, a);
    return {
      key: `pull\u0000${registry}\u0000${code ?? cause}`,
      code,
      cause,
      resource,
      kind,
      registry,
      error,
      hint: pullHint(code, registry, a),
    };
  }
  const own =
    error instanceof StepFailedError ? error.message.replace(`${error.resource}: `, "") : error.message;
  return {
    key: `${kind}\u0000${error.name}\u0000${own}`,
    code: undefined,
    cause: own,
    resource,
    kind,
    registry: undefined,
    error,
    hint: error.hint,
  };
}

function registryOf(a: Extract<Action, { kind: "image.pull" }>): string {
  const r = tryParseImageRef(a.sources[0] ?? a.ref);
  return r?.domain ?? "its registry";
}

function withoutRefs(text: string, a: Extract<Action, { kind: "image.pull" }>): string {
  let out = text;
  for (const ref of [...a.sources, a.ref].sort((x, y) => y.length - x.length))
    out = out.split(ref).join("IMAGE");
  return out;
}

function pullHint(
  code: PullFailureCode | undefined,
  registry: string,
  a: Extract<Action, { kind: "image.pull" }>,
): string {
  const mirrored = a.sources[0] !== a.ref;
  switch (code) {
    case "name-lookup":
    case "refused":
    case "timeout":
    case "unreachable":
      return mirrored
        ? `check that the mirror ${registry} runs and that this host reaches it`
        : `this host cannot reach ${registry}: check its network, DNS and proxy; behind a firewall, set registryMirror to a mirror it can reach, or bring the images in a bundle (\`shctl images save\` on a connected machine, \`shctl images load\` here)`;
    case "not-found":
      return mirrored
        ? `check the image names and tags, and that the mirror ${registry} has them`
        : "check the image names and tags";
    case "unauthorized":
      return `log in to ${registry} (docker login ${registry}) or check the image names`;
    case "tls":
      return `a registry without TLS must be in the engine's insecure-registries; otherwise check ${registry}'s certificate`;
    case "broken-off":
      return "run apply again: what was downloaded is kept";
    case "disk-full":
      return "free space on the engine's disk (`docker system df` shows what uses it)";
    default:
      return mirrored
        ? `check that the mirror ${registry} has the images and answers`
        : "check the image names and that the registry is reachable; behind a firewall, set registryMirror";
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function headline(g: Classified[]): string {
  const first = g[0] as Classified;
  if (first.registry !== undefined) {
    const who = g.length === 1 ? first.resource : `${plural(g.length, "image")}`;
    return `${who} could not be pulled from ${first.registry}: ${first.cause}`;
  }
  if (g.length === 1) return first.error.message;
  return `${plural(g.length, first.kind)}: ${first.cause}`;
}

/** Names in lines of at most `width` characters, comma-separated. */
function packed(names: string[], width = 96): string[] {
  const lines: string[] = [];
  let line = "";
  for (const n of names) {
    const next = line ? `${line}, ${n}` : n;
    if (line && next.length > width) {
      lines.push(`${line},`);
      line = n;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

function groupedError(plan: Plan, failures: readonly Failure[]): StepsFailedError {
  const byKey = new Map<string, Classified[]>();
  for (const f of failures) {
    const c = classify(plan, f);
    byKey.set(c.key, [...(byKey.get(c.key) ?? []), c]);
  }
  // The cause that hit most first, then in plan order: the same run reads the same, whatever order
  // the engine's answers came in.
  const order = (r: string) => plan.actions.findIndex((a) => resourceKey(a.resource) === r);
  const firstAt = (g: Classified[]) => Math.min(...g.map((c) => order(c.resource)));
  const all = [...byKey.values()].sort((x, y) => y.length - x.length || firstAt(x) - firstAt(y));
  const groups: FailureGroup[] = all.map((g) => ({
    code: g[0]?.code,
    cause: g[0]?.cause ?? "",
    headline: headline(g),
    resources: g.map((c) => c.resource),
    errors: g.map((c) => c.error),
  }));
  const details: string[] = [];
  const describe = (g: Classified[], indent: string) => {
    const first = g[0] as Classified;
    if (g.length > 1) {
      // In plan order (the order they failed in is the engine's).
      const names = g.map((c) => c.resource).sort((x, y) => order(x) - order(y));
      for (const l of packed(names.map((r) => r.replace(/^image /, "")))) details.push(`${indent}${l}`);
    }
    if (g.length === 1) for (const d of first.error.details) details.push(`${indent}${d}`);
    if (first.registry !== undefined && first.code !== undefined) {
      // The engine's own words, once, for whoever needs them.
      details.push(`${indent}the engine said: ${engineText(first.error)}`);
    }
  };
  let message: string;
  if (all.length === 1) {
    message = groups[0]?.headline ?? "";
    describe(all[0] as Classified[], "");
  } else {
    message = `${failures.length} steps failed (${all.length} different causes)`;
    for (const [i, g] of all.entries()) {
      details.push(`${groups[i]?.headline}:`);
      describe(g, "  ");
    }
  }
  const hints = [...new Set(all.map((g) => g[0]?.hint).filter((h): h is string => h !== undefined))];
  return new StepsFailedError(message, groups, {
    details,
    ...(hints.length > 0 ? { hint: hints.join("; ") } : {}),
  });
}

/**
 * When the engine no longer answers after steps failed, its loss is the cause, whatever each step
 * saw of it (engine-lost.ts): the run ends with EngineUnreachableError naming the steps it cut short.
 * Undefined when the engine answers.
 */
export async function engineGone(
  engine: EngineClient,
  plan: Plan,
  failures: readonly Failure[],
  command: "apply" | "teardown",
): Promise<EngineUnreachableError | undefined> {
  const steps: string[] = [];
  for (const f of failures) {
    const a = plan.actions.find((x) => x.id === f.step);
    const step = a
      ? `${resourceKey(a.resource)} (${a.kind.split(".").pop()})`
      : f.error instanceof StepFailedError
        ? `${f.error.resource} (${f.error.step})`
        : undefined;
    if (step && !steps.includes(step)) steps.push(step);
  }
  return engineLost(
    engine,
    failures.map((f) => f.error),
    steps,
    command,
  );
}
