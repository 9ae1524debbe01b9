import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { tagParts } from "../image-ref.js";
import type { Call } from "./call.js";
import { status } from "./call.js";
import { familiarRef, followProgress, layerMessage, normalizeRef } from "./streams.js";
import type { BuildOptions, LayerMessage } from "./types.js";

/** The engine client's image calls by reference: list, inspect, pull, tag and push. */
export function imageCalls(docker: Docker, call: Call) {
  return {
    listImages(refs: string[]) {
      return call("image.list", false, async () => {
        const out: Record<string, { id: string; labels: Record<string, string>; repoDigests: string[] }> = {};
        if (refs.length === 0) return out;
        // The filter matches the short form the engine shows (`postgres:14.5`), not `docker.io/library/…`.
        const patterns = [...new Set(refs.map((r) => familiarRef(r)))];
        const list = await docker.listImages({ filters: { reference: patterns } });
        // The engine's filter matches patterns: keep only the images that really are one of the
        // references. An image pulled by digest is known by NAME@DIGEST (RepoDigests), not by a tag.
        const wanted = new Map<string, string[]>();
        for (const r of refs) {
          const n = normalizeRef(r);
          wanted.set(n, [...(wanted.get(n) ?? []), r]);
        }
        for (const img of list) {
          for (const known of [...(img.RepoTags ?? []), ...(img.RepoDigests ?? [])]) {
            for (const r of wanted.get(normalizeRef(known)) ?? [])
              out[r] = { id: img.Id, labels: img.Labels ?? {}, repoDigests: img.RepoDigests ?? [] };
          }
        }
        return out;
      });
    },

    inspectImage(ref: string) {
      return call("image.inspect", false, async () => {
        try {
          const i = await docker.getImage(ref).inspect();
          return { id: i.Id, labels: i.Config?.Labels ?? {}, env: i.Config?.Env ?? [] };
        } catch (err) {
          if (status(err) === 404) return undefined;
          throw err;
        }
      });
    },

    pullImage(ref: string, onProgress: (line: string, layer?: LayerMessage) => void) {
      return call(
        "image.pull",
        true,
        async () => {
          const stream = (await docker.pull(ref)) as Readable;
          await followProgress(docker, stream, (line, ev) => {
            const layer = layerMessage(ev);
            if (layer) onProgress(line, layer);
            else onProgress(line);
          });
        },
        ref,
      );
    },

    tagImage(source: string, ref: string) {
      return call("image.tag", true, async () => {
        await docker.getImage(source).tag(tagParts(ref));
      });
    },

    pushImage(ref: string, onProgress: (line: string) => void) {
      return call(
        "image.push",
        true,
        async () => {
          // The engine wants X-Registry-Auth even for a registry without auth.
          const stream = (await docker
            .getImage(ref)
            .push({ authconfig: {} } as object)) as unknown as Readable;
          let digest = "";
          await followProgress(docker, stream, onProgress, (ev) => {
            const aux = ev.aux as { Digest?: string } | undefined;
            if (aux?.Digest) digest = aux.Digest;
          });
          return digest;
        },
        ref,
      );
    },
  };
}

/** The engine client's image calls that move image contents: import, build, export and load. */
export function imageArchiveCalls(docker: Docker, call: Call) {
  return {
    importImage(tar: Buffer, opts: { ref: string; changes: string[] }) {
      return call(
        "image.import",
        true,
        async () => {
          const stream = (await docker.importImage(
            tar as never,
            {
              ...tagParts(opts.ref),
              changes: opts.changes,
            } as never,
          )) as unknown as NodeJS.ReadableStream;
          let id = "";
          await followProgress(
            docker,
            stream,
            () => undefined,
            (ev) => {
              if (typeof ev.status === "string" && ev.status.startsWith("sha256:")) id = ev.status;
            },
          );
          return id;
        },
        opts.ref,
      );
    },

    buildImage(context: Readable, opts: BuildOptions, onProgress: (line: string) => void) {
      return call(
        "image.build",
        true,
        async () => {
          const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {
            t: opts.ref,
            dockerfile: opts.dockerfile,
            buildargs: opts.args,
            labels: opts.labels,
            rm: true,
            forcerm: true,
            ...(opts.target ? { target: opts.target } : {}),
          });
          let id = "";
          await followProgress(
            docker,
            stream,
            (line) => onProgress(line),
            (ev) => {
              const aux = ev.aux as { ID?: string } | undefined;
              if (aux?.ID) id = aux.ID;
            },
          );
          return id;
        },
        opts.ref,
      );
    },

    exportImages(refs: string[]) {
      return call("image.export", false, async () => {
        // GET /images/get?names=…: dockerode has it, its types do not.
        const untyped = docker as unknown as { getImages(opts: { names: string[] }): Promise<Readable> };
        return await untyped.getImages({ names: refs });
      });
    },

    loadImages(tar: Readable, onProgress: (line: string) => void) {
      return call("image.load", true, async () => {
        const stream = (await docker.loadImage(tar as unknown as NodeJS.ReadableStream, {
          quiet: false,
        })) as unknown as NodeJS.ReadableStream;
        await followProgress(docker, stream, (line) => onProgress(line));
      });
    },
  };
}
