/** Replaces every secret value in a text with "(sensitive)"; longest first, so overlapping values are covered. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= 3) out = out.split(s).join("(sensitive)");
  }
  return out;
}
