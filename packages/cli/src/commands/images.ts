import { readFileSync } from "node:fs";
import path from "node:path";
import {
  type BundleManifest,
  connectEngine,
  formatBytes,
  formatDuration,
  loadBundle,
  type ProgressEvent,
  saveBundle,
  stackImages,
} from "@sh/core";
import type { Progress } from "../render/progress.js";
import { onInterrupt } from "../signals.js";
import type { GlobalOptions, Ui } from "../ui.js";
import { createProgress, displayPath, resolveStack, type StackOptions } from "./common.js";

/*
 * `shctl images save FILE` and `shctl images load FILE`: the stack's images in one file, for a
 * machine that cannot reach a registry (core/src/bundle.ts has the format, bundle-verify.ts the
 * checks).
 */

export interface SaveCommandOptions extends StackOptions, GlobalOptions {
  /** False with --no-pull. */
  pull?: boolean;
}

export interface LoadCommandOptions extends GlobalOptions {
  check?: boolean;
}

function shctlVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return `shctl ${pkg.version}`;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

/** Ctrl-C stops the save or the load (nothing half-written, nothing loaded); a second exits at once. */
function interruptible(progress: Progress, ui: Ui, what: string) {
  const controller = new AbortController();
  const interrupt = onInterrupt(() => {
    progress.note(ui.c.yellow(`stopping the ${what}; press Ctrl-C again to exit now`));
    controller.abort();
  });
  return { signal: controller.signal, dispose: () => interrupt.dispose() };
}

function sink(progress: Progress) {
  return (e: ProgressEvent) => {
    if (e.type !== "plan") progress.event(e);
  };
}

export async function save(file: string, o: SaveCommandOptions, ui: Ui): Promise<number> {
  const stack = await resolveStack(o);
  const engine = connectEngine();
  const images = stackImages(stack);
  const bundle = `bundle ${path.basename(file)}`;
  if (!ui.json)
    ui.out(
      `Saving ${plural(images.length, "image")} of stack ${stack.name} to ${displayPath(path.resolve(file))}.\n`,
    );
  const progress = createProgress(ui, "saving", [...images.map((i) => `image ${i.key}`), bundle]);
  const stop = interruptible(progress, ui, "save");
  const t0 = Date.now();
  try {
    const r = await saveBundle(stack, engine, file, {
      onEvent: sink(progress),
      signal: stop.signal,
      prepare: o.pull !== false,
      createdBy: shctlVersion(),
    });
    progress.stop();
    if (ui.json) {
      ui.emit({
        type: "result",
        command: "images save",
        file: path.resolve(file),
        bytes: r.bytes,
        stack: r.manifest.stack,
        profile: r.manifest.profile,
        archive: r.manifest.archive,
        images: r.manifest.images,
        prepared: r.prepared,
        durationMs: Date.now() - t0,
      });
      return 0;
    }
    ui.out("");
    ui.out(
      ui.c.green(
        `Saved ${plural(r.manifest.images.length, "image")} (${formatBytes(r.bytes)}) to ${displayPath(path.resolve(file))} in ${formatDuration(Date.now() - t0)}.`,
      ),
    );
    ui.out(
      `On the machine without registry access: ${ui.c.bold(`shctl images load ${path.basename(file)}`)}, then apply as usual.`,
    );
    return 0;
  } finally {
    progress.stop();
    stop.dispose();
  }
}

function describeBundle(m: BundleManifest): string {
  return `stack ${m.stack}${m.profile ? `, profile ${m.profile}` : ""}; saved by ${m.createdBy} on ${m.createdAt.replace(/\.\d+Z$/, "Z")}`;
}

export async function load(file: string, o: LoadCommandOptions, ui: Ui): Promise<number> {
  const engine = connectEngine();
  const bundle = `bundle ${path.basename(file)}`;
  const progress = createProgress(ui, o.check ? "checking" : "loading", [bundle]);
  const stop = interruptible(progress, ui, o.check ? "check" : "load");
  const t0 = Date.now();
  try {
    const r = await loadBundle(engine, file, {
      onEvent: sink(progress),
      signal: stop.signal,
      checkOnly: o.check === true,
    });
    progress.stop();
    if (ui.json) {
      ui.emit({
        type: "result",
        command: o.check ? "images load --check" : "images load",
        file: path.resolve(file),
        stack: r.manifest.stack,
        profile: r.manifest.profile,
        createdBy: r.manifest.createdBy,
        createdAt: r.manifest.createdAt,
        loaded: r.loaded,
        images: r.images.map((i) => ({
          key: i.key,
          ref: i.ref,
          id: i.id,
          source: i.source,
          before: i.before ?? null,
        })),
        durationMs: Date.now() - t0,
      });
      return 0;
    }
    const n = plural(r.images.length, "image");
    ui.out("");
    if (o.check) {
      ui.out(
        ui.c.green(`${displayPath(path.resolve(file))} is whole: ${n} (${describeBundle(r.manifest)}).`),
      );
      const missing = r.images.filter((i) => i.before !== i.id).length;
      ui.out(
        missing === 0
          ? "The engine has every one of them already."
          : `The engine lacks ${missing} of them: \`shctl images load ${path.basename(file)}\` loads them.`,
      );
      return 0;
    }
    ui.out(
      ui.c.green(
        r.loaded
          ? `Loaded ${n} in ${formatDuration(Date.now() - t0)}; each has the ID the bundle gives it.`
          : `The engine had all ${n} already, with the IDs the bundle gives them; nothing to load.`,
      ),
    );
    ui.out(`Bundle: ${describeBundle(r.manifest)}.`);
    const replaced = r.images.filter((i) => i.before !== undefined && i.before !== i.id);
    if (replaced.length > 0)
      ui.out(
        ui.c.yellow(
          `Retagged ${replaced.map((i) => i.ref).join(", ")}: apply recreates what ran the old images.`,
        ),
      );
    ui.out(ui.c.dim("apply pulls none of these images now (`shctl diff` shows the plan)."));
    return 0;
  } finally {
    progress.stop();
    stop.dispose();
  }
}
