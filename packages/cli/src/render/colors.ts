import pc from "picocolors";

export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Whether to colour a stream: never with `--no-color` or a non-empty NO_COLOR (no-color.org);
 * with FORCE_COLOR (not "0"/"false") always; otherwise only on a terminal that is not "dumb".
 */
export function colorEnabled(opts: {
  isTTY: boolean | undefined;
  env: Record<string, string | undefined>;
  /** False when `--no-color` was given. */
  flag?: boolean;
}): boolean {
  if (opts.flag === false) return false;
  const { NO_COLOR, FORCE_COLOR, TERM } = opts.env;
  if (NO_COLOR !== undefined && NO_COLOR !== "") return false;
  if (FORCE_COLOR !== undefined && FORCE_COLOR !== "" && FORCE_COLOR !== "0" && FORCE_COLOR !== "false")
    return true;
  return opts.isTTY === true && TERM !== "dumb";
}

export function createColors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

/** True when the CI variable says so (any value but "", "0" and "false"). */
export function isCI(env: Record<string, string | undefined>): boolean {
  const v = env.CI;
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences is the point
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI, "");
}

/** Visible width of a string (code points, ANSI sequences not counted). */
export function visibleWidth(s: string): number {
  return [...stripAnsi(s)].length;
}

/** Cuts a string to `width` visible characters, ending with "…" when cut; ANSI sequences are kept. */
export function fit(s: string, width: number): string {
  if (visibleWidth(s) <= width) return s;
  if (width <= 0) return "";
  let out = "";
  let seen = 0;
  let i = 0;
  let hadAnsi = false;
  while (i < s.length && seen < width - 1) {
    if (s[i] === "\u001b") {
      ANSI.lastIndex = i;
      const m = ANSI.exec(s);
      if (m && m.index === i) {
        out += m[0];
        i += m[0].length;
        hadAnsi = true;
        continue;
      }
    }
    const cp = s.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    out += ch;
    i += ch.length;
    seen++;
  }
  return `${out}…${hadAnsi ? "\u001b[0m" : ""}`;
}

/** Pads to a visible width (ANSI sequences not counted). */
export function padEnd(s: string, width: number): string {
  const w = visibleWidth(s);
  return w >= width ? s : s + " ".repeat(width - w);
}

export function padStart(s: string, width: number): string {
  const w = visibleWidth(s);
  return w >= width ? s : " ".repeat(width - w) + s;
}
