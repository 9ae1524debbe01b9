import { createRequire, Module } from "node:module";
import type Docker from "dockerode";

const require = createRequire(import.meta.url);

/**
 * dockerode loads its BuildKit session client (gRPC and protobuf), its own tar-fs and docker-modem
 * its SSH transport (ssh2) as soon as it is loaded, though shctl needs the first never (it builds
 * with the classic builder), the second never (it packs build contexts itself) and the third only
 * for an ssh:// engine: more than half of dockerode's load time, paid by every command. Until one
 * of their functions is first called, a stand-in holds each module's place in the module cache and
 * loads the real one on the call. If dockerode's layout ever differs, the stand-ins are simply not
 * installed.
 */
function loadDockerode(): typeof Docker {
  // The module, and the names of its exported functions (none: it exports a single function).
  const deferred: [request: string, methods: string[]][] = [
    ["./session.js", []],
    ["tar-fs", ["pack", "extract"]],
    ["docker-modem/lib/ssh.js", []],
  ];
  const fromDockerode = createRequire(require.resolve("dockerode"));
  for (const [request, methods] of deferred) {
    let file: string;
    try {
      file = fromDockerode.resolve(request);
    } catch {
      continue;
    }
    if (require.cache[file]) continue;
    const standIn = new Module(file);
    const real = (): Record<string, (...a: unknown[]) => unknown> => {
      if (require.cache[file] === standIn) delete require.cache[file];
      return require(file);
    };
    standIn.filename = file;
    standIn.loaded = true;
    standIn.exports =
      methods.length === 0
        ? (...args: unknown[]) => (real() as unknown as (...a: unknown[]) => unknown)(...args)
        : Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) => real()[m]?.(...args)]));
    require.cache[file] = standIn;
  }
  return require("dockerode") as typeof Docker;
}

/** dockerode, with its unneeded parts deferred (loaded once, when this module is). */
export const DockerClient = loadDockerode();
