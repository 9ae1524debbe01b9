import { createReadStream } from "node:fs";
import { type BackupManifest, DATA_DIR, type OwnerMap } from "./backup-archive.js";
import { extractionTar, type VerifiedArchive } from "./backup-archive-read.js";
import { throttled } from "./copy-progress.js";
import type { EngineClient } from "./engine/index.js";
import { BackupArchiveError } from "./errors.js";
import type { EventSink } from "./events.js";
import { withUnstartedHelper } from "./helper-container.js";
import type { ResolvedStack } from "./model.js";

/* A restore's second pass: the checked archive unpacked into the data root, owners mapped. */

/**
 * Owners on the way in: files that belonged to the user who made the backup go to the user who
 * restores it, when that user is not root and not the same (a non-root user could not write its
 * own state files otherwise). Everything else (the services' users) keeps its numeric owner.
 */
export function restoreOwners(
  createdBy: BackupManifest["createdBy"],
  me: { uid: number; gid: number } | undefined,
): OwnerMap | undefined {
  if (!createdBy || !me || me.uid === 0) return undefined;
  if (createdBy.uid === me.uid && createdBy.gid === me.gid) return undefined;
  return (uid, gid) => [uid === createdBy.uid ? me.uid : uid, gid === createdBy.gid ? me.gid : gid];
}

/** The second pass: the archive, checked again entry by entry, unpacked by the engine into the data root. */
export async function extractBackup(
  stack: ResolvedStack,
  engine: EngineClient,
  target: string,
  file: string,
  v: VerifiedArchive & { compressed: boolean },
  emit: EventSink,
  resource: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const me =
    typeof process.getuid === "function"
      ? { uid: process.getuid(), gid: process.getgid?.() ?? 0 }
      : undefined;
  const owner = restoreOwners(v.manifest.createdBy, me);
  const progress = throttled(emit, resource, "restore", v.manifest.totals.bytes);
  const input = createReadStream(file);
  const { tar, done } = await extractionTar(input, {
    file,
    compressed: v.compressed,
    manifest: v.manifest,
    onProgress: progress.update,
    ...(owner ? { owner } : {}),
    ...(signal ? { signal } : {}),
  });
  const binds = [`${target}:/${DATA_DIR}`];
  await withUnstartedHelper(engine, { stack: stack.name, name: "restore", binds }, async (id) => {
    try {
      const putting = engine.putArchive(id, "/", tar);
      putting.catch(() => {
        input.destroy();
        tar.destroy();
      });
      await Promise.all([done, putting]);
      progress.flush();
    } catch (err) {
      input.destroy();
      tar.destroy();
      // A difference from the manifest says more than the upload it broke; otherwise the engine's error.
      throw await done.then(
        () => err,
        (e: unknown) => (e instanceof BackupArchiveError ? e : err),
      );
    }
  });
}
