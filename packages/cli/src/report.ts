import { cleanView, errorJson, renderError, renderInternalError } from "./render/error.js";
import type { Ui } from "./ui.js";

/**
 * The one place failures are printed: a ShctlError as `error:` + details + `hint:` with its own
 * exit code (JSON on stdout with --json); anything else as an internal error with its stack, exit 1.
 */
export async function reportError(err: unknown, ui: Ui): Promise<number> {
  const { isShctlError } = await import("@sh/core");
  if (isShctlError(err)) {
    const view = cleanView({
      name: err.name,
      message: err.message,
      details: err.details,
      hint: err.hint,
      exitCode: err.exitCode,
    });
    if (ui.json) {
      // Several failures grouped by cause: each group as data too.
      const groups = (err as { groups?: { code?: string; cause: string; resources: string[] }[] }).groups;
      ui.emit({
        ...errorJson(view),
        ...(Array.isArray(groups)
          ? {
              failures: groups.map((g) => ({ code: g.code ?? null, cause: g.cause, resources: g.resources })),
            }
          : {}),
      });
    } else ui.err(renderError(view, ui.ce));
    return err.exitCode;
  }
  if (ui.json) {
    const e = err instanceof Error ? err : new Error(String(err));
    ui.emit(
      errorJson({
        name: "InternalError",
        message: e.message,
        details: (e.stack ?? "").split("\n").slice(1),
        hint: "this is a bug in shctl: please report it",
        exitCode: 1,
      }),
    );
  } else ui.err(renderInternalError(err, ui.ce));
  return 1;
}
