import { connectEngine, status } from "@sh/core";
import { renderStatus } from "../render/status.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { resolveStack, type StackOptions } from "./common.js";

export async function run(o: StackOptions & GlobalOptions & { probes?: boolean }, ui: Ui): Promise<number> {
  const stack = await resolveStack(o);
  const warnings: string[] = [];
  const rows = await status(stack, connectEngine(), {
    probes: o.probes !== false,
    onEvent: (e) => {
      if (e.type === "warning") warnings.push(e.message);
    },
  });
  const now = Date.now();
  if (ui.json) {
    ui.emit({
      type: "result",
      command: "status",
      stack: stack.name,
      services: rows.map((r) => ({
        ...r,
        uptimeMs: r.startedAt ? Math.max(0, now - Date.parse(r.startedAt)) : null,
      })),
      ...(warnings.length > 0 ? { warnings } : {}),
    });
  } else {
    ui.out(renderStatus(stack.name, rows, now, ui.c));
    for (const w of warnings) ui.err(`${ui.ce.yellow("warning:")} ${w}`);
  }
  return 0;
}
