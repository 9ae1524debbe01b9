import { createInterface } from "node:readline/promises";

/** Asks one question on the terminal (stderr); undefined when the user pressed Ctrl-C or Ctrl-D. */
export async function ask(question: string): Promise<string | undefined> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const ac = new AbortController();
  rl.on("SIGINT", () => ac.abort());
  rl.on("close", () => ac.abort());
  try {
    return (await rl.question(question, { signal: ac.signal })).trim();
  } catch {
    process.stderr.write("\n");
    return undefined;
  } finally {
    rl.close();
  }
}
