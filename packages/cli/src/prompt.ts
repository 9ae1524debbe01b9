import { createInterface } from "node:readline/promises";
import { Writable } from "node:stream";

/**
 * Asks one question on the terminal (stderr); undefined when the user pressed Ctrl-C or Ctrl-D.
 * With `secret`, what is typed is not echoed (the question itself is).
 */
export async function ask(question: string, opts: { secret?: boolean } = {}): Promise<string | undefined> {
  let muted = false;
  const output = opts.secret
    ? new Writable({
        write(chunk: Buffer, _enc, done) {
          if (!muted) process.stderr.write(chunk);
          done();
        },
      })
    : process.stderr;
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const ac = new AbortController();
  rl.on("SIGINT", () => ac.abort());
  rl.on("close", () => ac.abort());
  try {
    const answer = rl.question(question, { signal: ac.signal });
    // The question has been written by now; from here on only the typed characters would be.
    muted = true;
    const text = await answer;
    if (!opts.secret) return text.trim();
    process.stderr.write("\n");
    return text;
  } catch {
    process.stderr.write("\n");
    return undefined;
  } finally {
    rl.close();
  }
}
