import { randomBytes } from "node:crypto";
import type { EngineClient } from "./engine/index.js";
import { ensureHelperImage, type HelperImageOptions } from "./helper-image.js";
import { LABEL } from "./labels.js";

/*
 * Containers of the helper image (see helper-image.ts): one-shot commands (chown, chmod, rmtree,
 * cat), a long-lived container that sleeps until removed, in which commands are exec'd, and
 * containers never started, whose mounts the engine's archive API reads and writes.
 */

export interface HelperRunOptions extends HelperImageOptions {
  stack: string;
  /** The helper's arguments, e.g. ["rmtree", "/target"]. */
  args: string[];
  /** Engine bind specs ("host:container[:ro]"). */
  binds?: string[];
  /** Default "none". */
  networkMode?: string;
  /** Default "0:0": helpers exist to do what the user cannot. */
  user?: string;
  /** Value of LABEL.name (default "helper"). */
  name?: string;
}

export interface HelperRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function helperLabels(stack: string, name: string): Record<string, string> {
  return { [LABEL.stack]: stack, [LABEL.kind]: "helper", [LABEL.name]: name, [LABEL.helper]: "true" };
}

/** Runs one helper command to completion in a new container, then removes the container. */
export async function runHelperCommand(engine: EngineClient, o: HelperRunOptions): Promise<HelperRunResult> {
  const image = await ensureHelperImage(engine, o);
  const id = await engine.createContainer({
    Image: image,
    Cmd: o.args,
    User: o.user ?? "0:0",
    Labels: helperLabels(o.stack, o.name ?? "helper"),
    HostConfig: { Binds: o.binds ?? [], NetworkMode: o.networkMode ?? "none" },
  });
  try {
    const waiting = engine.waitContainer(id);
    await engine.startContainer(id);
    const exitCode = await waiting;
    const [stdout, stderr] = await Promise.all([
      engine.containerLogs(id, 0, { stdout: true, stderr: false }),
      engine.containerLogs(id, 0, { stdout: false, stderr: true }),
    ]);
    return { exitCode, stdout: joinLines(stdout), stderr: joinLines(stderr) };
  } finally {
    await engine.removeContainer(id);
  }
}

function joinLines(lines: string[]): string {
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

export interface LongLivedHelperOptions extends HelperImageOptions {
  stack: string;
  /** Container name prefix; a random suffix keeps it unique per process. */
  namePrefix: string;
  /** Value of LABEL.name. */
  name: string;
  /** Engine network names (docker names) to attach it to; the first is its network mode. */
  networks: string[];
}

export interface LongLivedHelper {
  id: string;
  name: string;
  /** Removes the container (idempotent). */
  close(): Promise<void>;
}

/**
 * Starts a helper container that sleeps until removed, attached to the given networks. It runs as
 * nobody with no capabilities and a read-only root: commands exec'd in it only open connections.
 * Stops at once (StopSignal SIGKILL); the caller removes it with close().
 */
export async function startLongLivedHelper(
  engine: EngineClient,
  o: LongLivedHelperOptions,
): Promise<LongLivedHelper> {
  const image = await ensureHelperImage(engine, o);
  const [first, ...rest] = o.networks;
  const name = `${o.namePrefix}-${randomBytes(3).toString("hex")}`;
  const id = await engine.createContainer({
    name,
    Image: image,
    Cmd: ["sleep"],
    User: "65534:65534",
    StopSignal: "SIGKILL",
    Labels: helperLabels(o.stack, o.name),
    HostConfig: {
      NetworkMode: first ?? "none",
      CapDrop: ["ALL"],
      ReadonlyRootfs: true,
      SecurityOpt: ["no-new-privileges"],
      RestartPolicy: { Name: "no" },
    },
  });
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= engine.removeContainer(id);
    return closed;
  };
  try {
    for (const net of rest) await engine.connectNetwork(net, id, []);
    await engine.startContainer(id);
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return { id, name, close };
}

/**
 * Gives `use` a helper container that is created and never started, with these binds and no
 * network: the engine's archive API reads (getArchive) and writes (putArchive) its mounts with
 * their owners, modes and links. The container is removed afterwards, however `use` ended.
 */
export async function withUnstartedHelper<T>(
  engine: EngineClient,
  o: { stack: string; name: string; binds: string[] },
  use: (id: string) => Promise<T>,
): Promise<T> {
  const image = await ensureHelperImage(engine);
  const id = await engine.createContainer({
    Image: image,
    Cmd: ["sleep"],
    Labels: helperLabels(o.stack, o.name),
    HostConfig: { Binds: o.binds, NetworkMode: "none" },
  });
  try {
    return await use(id);
  } finally {
    await engine.removeContainer(id).catch(() => undefined);
  }
}
