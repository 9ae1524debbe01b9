import { checkDataRoot, connectEngine, teardown, UsageError } from "@sh/core";
import { ask } from "../prompt.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { createProgress, displayPath, resolveStack, type StackOptions } from "./common.js";

export interface TeardownCommandOptions extends StackOptions, GlobalOptions {
  data?: boolean;
  yes?: boolean;
  forceUnlock?: boolean;
}

export async function run(o: TeardownCommandOptions, ui: Ui): Promise<number> {
  const stack = await resolveStack(o);
  const engine = connectEngine();
  const where = displayPath(stack.dataRoot);
  // An unsafe data root is refused (UnsafeDataRootError) before anything is touched: before the
  // question, and before the lock, whose directory would otherwise be made inside it.
  const dataRoot = o.data ? await checkDataRoot(stack) : undefined;

  if (o.data && !o.yes) {
    // With --json a script reads stdout: it gets no question (as apply asks none), it must say --yes.
    if (!ui.canPrompt || ui.json) {
      throw new UsageError(
        `teardown --data deletes the data root ${stack.dataRoot} with everything in it, and ${ui.json ? "--json asks no questions" : "there is no terminal to confirm on"}`,
        { hint: `pass --yes to confirm: shctl teardown --data --yes${ui.json ? " --json" : ""}` },
      );
    }
    // Nothing to ask about if it is gone.
    if (dataRoot === "ok") {
      ui.err(
        `This removes the ${stack.target === "swarm" ? "services" : "containers"} and networks of stack ${stack.name} and deletes ${stack.dataRoot} ` +
          `${stack.target === "swarm" ? "(here and on the nodes that hold its data) " : ""}with everything its services stored. It cannot be undone.`,
      );
      const answer = await ask(`Type the stack name (${stack.name}) or y to confirm: `);
      if (answer === undefined) {
        ui.err("Cancelled; nothing was removed.");
        return 130;
      }
      if (answer !== stack.name && !/^y(es)?$/i.test(answer)) {
        ui.err("Cancelled; nothing was removed.");
        return 1;
      }
    }
  }

  const progress = createProgress(ui, "tearing down", [
    ...Object.keys(stack.services).map((n) => `service ${n}`),
    ...Object.keys(stack.jobs).map((n) => `job ${n}`),
    ...Object.keys(stack.networks).map((n) => `network ${n}`),
  ]);
  // Core's teardown cannot be stopped half-way; it is safe to run again, so a second Ctrl-C just exits.
  const interrupt = onInterrupt(() =>
    progress.note(
      ui.c.yellow("teardown goes on to the end; press Ctrl-C again to exit now (and run it again later)"),
    ),
  );
  try {
    const r = await teardown(stack, engine, {
      ...(o.forceUnlock ? { forceUnlock: true } : {}),
      data: o.data === true,
      onEvent: (e) => {
        if (e.type !== "plan") progress.event(e);
      },
    });
    progress.stop();
    if (ui.json) {
      ui.emit({
        type: "result",
        command: "teardown",
        stack: stack.name,
        containers: r.containers,
        networks: r.networks,
        dataRoot: stack.dataRoot,
        dataRemoved: r.dataRemoved,
      });
      return 0;
    }
    const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
    // On a swarm the stack is services (their tasks' containers go with them).
    const unit = stack.target === "swarm" ? "service" : "container";
    if (r.containers + r.networks > 0 || r.dataRemoved) ui.out("");
    ui.out(
      r.containers + r.networks === 0
        ? `Stack ${stack.name} had no ${unit}s or networks.`
        : ui.c.green(
            `Removed ${plural(r.containers, unit)} and ${plural(r.networks, "network")} of stack ${stack.name}.`,
          ),
    );
    if (o.data)
      ui.out(r.dataRemoved ? `Deleted the data root ${where}.` : `The data root ${where} did not exist.`);
    else ui.out(ui.c.dim(`Data kept in ${where} (\`shctl teardown --data\` deletes it).`));
    return 0;
  } finally {
    progress.stop();
    interrupt.dispose();
  }
}
