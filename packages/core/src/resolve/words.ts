import { SpecError, type SpecIssue } from "../errors.js";

/**
 * Splits a command string into words the way a POSIX shell does for a simple command, without any
 * expansion ($HOME, globs and ~ stay as written):
 * - unquoted blanks separate words;
 * - '…' keeps everything inside as it is;
 * - "…" keeps blanks, and a backslash in it escapes only $ ` " \ and a newline (elsewhere it stays);
 * - outside quotes a backslash keeps the next character as it is (a backslash-newline joins lines);
 * - quoted and unquoted parts that touch form one word: `--opt="a b"` is the single word --opt=a b.
 * A list is returned untouched. An unterminated quote throws a SpecError.
 */
export function splitCommand(cmd: string | string[] | undefined): string[] | undefined {
  if (cmd === undefined || Array.isArray(cmd)) return cmd;
  const r = splitWords(cmd);
  if (typeof r === "string") throw new SpecError("command", [{ path: [], message: r }]);
  return r;
}

/** The words of a command, or (with an issue at `where`) the whole text as one word when it cannot be split. */
export function commandWords(
  where: (string | number)[],
  cmd: string | string[] | undefined,
  issues: SpecIssue[],
): string[] | undefined {
  if (cmd === undefined || Array.isArray(cmd)) return cmd;
  const r = splitWords(cmd);
  if (typeof r !== "string") return r;
  issues.push({ path: where, message: `${r}; close the quote, or write the command as a list of words` });
  return [cmd];
}

/** The words of `text`, or why it cannot be split (an unterminated quote). */
function splitWords(text: string): string[] | string {
  const words: string[] = [];
  let word = "";
  /** Whether a word has started: quotes alone ("") make an empty word. */
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === " " || ch === "\t" || ch === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return `unterminated single quote (the ' at character ${i + 1} is never closed)`;
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= text.length)
          return `unterminated double quote (the " at character ${i + 1} is never closed)`;
        const c = text[j] as string;
        if (c === '"') break;
        if (c === "\\" && j + 1 < text.length && '$`"\\\n'.includes(text[j + 1] as string)) {
          if (text[j + 1] !== "\n") word += text[j + 1];
          j += 2;
        } else {
          word += c;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (ch === "\\") {
      if (i + 1 >= text.length) {
        // A backslash at the very end has nothing to escape: shells keep it.
        word += ch;
        inWord = true;
        i++;
      } else if (text[i + 1] === "\n") {
        i += 2; // line continuation
      } else {
        word += text[i + 1];
        inWord = true;
        i += 2;
      }
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
