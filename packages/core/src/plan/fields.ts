import { canonicalJson, type Snapshot } from "../hash.js";
import type { ResolvedService } from "../model.js";
import type { ObservedContainer } from "../observe.js";
import type { FieldChange } from "./types.js";

/*
 * Field-level differences, for people: between the snapshot a container was applied with and the
 * one wanted now, and between what a container really runs and what shctl applied (drift).
 */

const SENSITIVE_RE = /^\(sensitive(:[0-9a-f]+)?\)$/;

function printable(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : canonicalJson(v);
}

function change(field: string, a: unknown, b: unknown): FieldChange {
  const pa = printable(a);
  const pb = printable(b);
  const hidden = (p: string | undefined) => p !== undefined && SENSITIVE_RE.test(p);
  return {
    field,
    ...(pa !== undefined ? { before: hidden(pa) ? "(sensitive)" : pa } : {}),
    ...(pb !== undefined ? { after: hidden(pb) ? "(sensitive)" : pb } : {}),
    sensitive: hidden(pa) || hidden(pb),
  };
}

const isMap = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);

/** Field-level differences between an applied snapshot and the desired one. */
export function diffSnapshots(before: Snapshot, after: Snapshot): FieldChange[] {
  const out: FieldChange[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const k of keys) {
    const a = before[k];
    const b = after[k];
    if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) continue;
    if ((isMap(a) || a === undefined) && (isMap(b) || b === undefined) && k !== "healthcheck") {
      const am = (a ?? {}) as Record<string, unknown>;
      const bm = (b ?? {}) as Record<string, unknown>;
      for (const sub of [...new Set([...Object.keys(am), ...Object.keys(bm)])].sort()) {
        if (canonicalJson(am[sub] ?? null) !== canonicalJson(bm[sub] ?? null))
          out.push(change(`${k}.${sub}`, am[sub], bm[sub]));
      }
    } else out.push(change(k, a, b));
  }
  return out;
}

function envMap(list: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf("=");
    out.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return out;
}

/**
 * Differences between what the container runs and what shctl applied, for changes made behind
 * shctl's back (a container recreated by hand with other env, another image, another command).
 * `ident` is the image ID wanted now, or undefined while it is still to be built or pulled.
 */
export function driftOf(
  s: ResolvedService,
  c: ObservedContainer,
  ident: string | undefined,
  imageEnv: string[],
): FieldChange[] {
  const out: FieldChange[] = [];
  if (c.details) {
    const actual = envMap(c.details.env);
    const desired = new Map(s.env.map((e) => [e.name, e]));
    for (const e of s.env) {
      const got = actual.get(e.name);
      if (got === e.value) continue;
      out.push({
        field: `env.${e.name}`,
        ...(got !== undefined ? { before: e.secret ? "(sensitive)" : got } : {}),
        after: e.secret ? "(sensitive)" : e.value,
        sensitive: e.secret,
      });
    }
    const fromImage = envMap(imageEnv);
    for (const [name, value] of actual) {
      if (desired.has(name) || fromImage.get(name) === value) continue;
      if (imageEnv.length === 0 && !fromImage.has(name)) continue; // image env unknown: cannot tell
      out.push({ field: `env.${name}`, before: value, sensitive: false });
    }
  }
  if (ident !== undefined && c.imageId !== ident) {
    out.push({ field: "image", before: c.imageId, after: ident, sensitive: false });
  }
  if (c.details && s.command && canonicalJson(c.details.cmd ?? []) !== canonicalJson(s.command)) {
    out.push(change("command", c.details.cmd, s.command));
  }
  return out;
}
