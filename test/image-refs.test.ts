import { createRequire } from "node:module";
import type Docker from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { BASE_IMAGE, engine } from "./helpers.js";

/*
 * Image references against the real engine: every way of writing a Docker Hub reference finds the
 * same local image, a registry's port is not taken for a tag, and the engine reports its own
 * architecture. The test only adds tags of its own to the local base image and removes them.
 */

const require = createRequire(import.meta.url);
const DockerClient = require("dockerode") as typeof Docker;
const docker = new DockerClient();

const unique = `shctl-it-ref-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const added: string[] = [];

afterAll(async () => {
  // Removing a tag of an image that has other tags only removes the tag.
  for (const tag of added)
    await docker
      .getImage(tag)
      .remove({ noprune: true })
      .catch(() => undefined);
});

describe("image references on the real engine", () => {
  it("finds an official-style image however its reference is written", async () => {
    const base = await engine.inspectImage(BASE_IMAGE);
    expect(base, `the base image ${BASE_IMAGE} (scripts/test-env.sh makes it)`).toBeDefined();
    await engine.tagImage(BASE_IMAGE, `docker.io/library/${unique}:1`);
    added.push(`${unique}:1`);
    const spellings = [
      `${unique}:1`,
      `library/${unique}:1`,
      `docker.io/${unique}:1`,
      `docker.io/library/${unique}:1`,
      `index.docker.io/library/${unique}:1`,
    ];
    const found = await engine.listImages(spellings);
    for (const s of spellings) expect(found[s]?.id, s).toBe(base?.id);
    // Each alone too: the engine's reference filter does not match the fully qualified forms.
    for (const s of spellings) expect((await engine.listImages([s]))[s]?.id, `${s} alone`).toBe(base?.id);
    // Another tag is another image reference.
    expect(await engine.listImages([`${unique}:2`])).toEqual({});
  });

  it("tags with a registry that has a port, and finds it again without a tag (latest)", async () => {
    const base = await engine.inspectImage(BASE_IMAGE);
    const ref = `localhost:5000/${unique}`;
    await engine.tagImage(BASE_IMAGE, ref);
    added.push(`${ref}:latest`);
    expect((await engine.inspectImage(`${ref}:latest`))?.id).toBe(base?.id);
    expect((await engine.listImages([ref, `${ref}:latest`]))[ref]?.id).toBe(base?.id);
    // The port is not a tag: nothing was tagged "localhost" with the tag "5000/…".
    expect(await engine.listImages([`localhost:5000`])).toEqual({});
  });

  it("the engine's info names its architecture, as `docker info` does", async () => {
    const info = await engine.info();
    const raw = (await docker.info()) as { Architecture: string };
    expect(info.architecture).toBe(raw.Architecture);
    expect(info.architecture).toMatch(/^[a-z0-9_]+$/);
  });
});
