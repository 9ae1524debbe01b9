/*
 * Image references, read the way the Docker CLI and Engine read them (distribution's reference
 * grammar): `[REGISTRY/]PATH[:TAG][@DIGEST]`. The first `/`-separated component is a registry
 * only when it contains a `.` or a `:` (a port), is `localhost`, or has an upper-case letter;
 * otherwise the whole name is a path on Docker Hub, where a one-component path means `library/…`
 * (the official images). A reference without tag and digest means the tag `latest`.
 */

/** Docker Hub's canonical registry name; `index.docker.io` and `registry-1.docker.io` are the same registry. */
export const DOCKER_HUB = "docker.io";
const HUB_ALIASES = new Set([DOCKER_HUB, "index.docker.io", "registry-1.docker.io"]);

export interface ImageRef {
  /** The reference as given. */
  ref: string;
  /** The registry as written (host, with a port if one was given), or undefined when none was written. */
  registry: string | undefined;
  /** The registry the reference resolves to: `docker.io` for Docker Hub (also for its aliases). */
  domain: string;
  /** The repository path without the registry, as written: `postgres`, `library/postgres`, `bitnami/nginx`. */
  path: string;
  /** The repository path on its registry: on Docker Hub a one-component path gets `library/`. */
  remotePath: string;
  /** The last path component: `postgres` for `docker.io/library/postgres:14.5`. */
  name: string;
  /** The tag: as written, `latest` when neither a tag nor a digest is given, else undefined. */
  tag: string | undefined;
  /** `sha256:…` when the reference pins a digest. */
  digest: string | undefined;
  /** Whether the reference resolves to Docker Hub. */
  dockerHub: boolean;
}

// distribution/reference's grammar (reference/regexp.go).
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;
const IPV6_DOMAIN = /^\[[a-fA-F0-9:]+\](?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const NAME_MAX = 255;

/** Whether the first component of a name is a registry host (Docker's rule). */
function isRegistry(component: string): boolean {
  return (
    component.includes(".") ||
    component.includes(":") ||
    component === "localhost" ||
    component.toLowerCase() !== component
  );
}

/** Parses an image reference; throws an Error that says what is wrong when it is not one. */
export function parseImageRef(ref: string): ImageRef {
  if (ref === "") throw new Error("an image reference cannot be empty");
  if (ref !== ref.trim() || /\s/.test(ref)) throw new Error(`"${ref}" has white space`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      throw new Error(`"${ref}": "${digest}" is not a digest (like sha256:<64 hex digits>)`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`"${ref}": "${tag}" is not a valid tag`);
  }
  if (rest === "") throw new Error(`"${ref}" has no repository name`);
  if (rest.length > NAME_MAX)
    throw new Error(`"${ref}": the repository name is longer than ${NAME_MAX} characters`);
  const slash = rest.indexOf("/");
  let registry: string | undefined;
  let path = rest;
  if (slash >= 0 && isRegistry(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    if (!DOMAIN.test(registry) && !IPV6_DOMAIN.test(registry))
      throw new Error(`"${ref}": "${registry}" is not a valid registry host`);
  }
  const components = path.split("/");
  for (const c of components) {
    if (!PATH_COMPONENT.test(c)) {
      throw new Error(
        c === ""
          ? `"${ref}" has an empty path component`
          : `"${ref}": "${c}" is not a valid repository name component (lower-case letters, digits and . _ - separators)`,
      );
    }
  }
  const domain = registry === undefined || HUB_ALIASES.has(registry) ? DOCKER_HUB : registry;
  const dockerHub = domain === DOCKER_HUB;
  return {
    ref,
    registry,
    domain,
    path,
    remotePath: dockerHub && components.length === 1 ? `library/${path}` : path,
    name: components[components.length - 1] as string,
    tag: tag ?? (digest === undefined ? "latest" : undefined),
    digest,
    dockerHub,
  };
}

/** Parses, or gives undefined for something that is not an image reference. */
export function tryParseImageRef(ref: string): ImageRef | undefined {
  try {
    return parseImageRef(ref);
  } catch {
    return undefined;
  }
}

function suffix(r: Pick<ImageRef, "tag" | "digest">, withTag = true): string {
  return `${withTag && r.tag !== undefined ? `:${r.tag}` : ""}${r.digest !== undefined ? `@${r.digest}` : ""}`;
}

/**
 * The fully qualified form, for comparing references: `postgres`, `library/postgres:latest` and
 * `docker.io/library/postgres:latest` are all `docker.io/library/postgres:latest`. With a digest,
 * the tag is left out: the engine keeps an image pulled by digest under `NAME@DIGEST` (RepoDigests),
 * and a digest names the content whatever the tag.
 */
export function canonicalImageRef(ref: string | ImageRef): string {
  const r = typeof ref === "string" ? parseImageRef(ref) : ref;
  return `${r.domain}/${r.remotePath}${suffix(r, r.digest === undefined)}`;
}

/**
 * The short form the engine shows (RepoTags, `docker images`): `postgres:14.5` for
 * `docker.io/library/postgres:14.5`, `bitnami/nginx:1.25.3` for `index.docker.io/bitnami/…`;
 * with a digest, `NAME@DIGEST` (the tag left out, as the engine keeps it in RepoDigests). The
 * engine's `reference` filter for listing images matches this form (or the bare name), not the
 * fully qualified one.
 */
export function familiarImageRef(ref: string | ImageRef): string {
  const r = typeof ref === "string" ? parseImageRef(ref) : ref;
  const name = r.dockerHub ? r.remotePath.replace(/^library\/(?=[^/]+$)/, "") : `${r.domain}/${r.path}`;
  return `${name}${suffix(r, r.digest === undefined)}`;
}

/**
 * The repository and tag to give `docker tag` (the Engine's POST /images/{id}/tag?repo=&tag=):
 * the repository as written (`localhost:5000/app`, `postgres`), and the tag (`latest` when none).
 * Throws for a reference that pins only a digest: an image cannot be tagged with a digest.
 */
export function tagParts(ref: string): { repo: string; tag: string } {
  const r = parseImageRef(ref);
  if (r.tag === undefined)
    throw new Error(`"${ref}" pins a digest and names no tag: an image cannot be tagged with a digest`);
  return { repo: r.registry === undefined ? r.path : `${r.registry}/${r.path}`, tag: r.tag };
}

/**
 * Where to pull an image from when a registry mirror is set, in the order to try: a later source
 * only when the engine answered "not found" for the one before (see isNotFoundPullError). The
 * image is then tagged with `ref` itself.
 *
 * A mirror of Docker Hub (e.g. `hub.rat.dev`, or `mirror.local:5000/hub` with a path prefix)
 * serves Docker Hub's repositories under their full path, and official images live under
 * `library/`: `docker pull` adds that prefix only for Docker Hub itself, so `postgres:14.5` is
 * pulled as `MIRROR/library/postgres:14.5` first, then as `MIRROR/postgres:14.5` (some mirrors
 * also answer for the short name). A path given with `library/` or with a namespace
 * (`bitnami/nginx`) has one source, `MIRROR/PATH:TAG`.
 *
 * A reference that names its own registry (ghcr.io, quay.io, localhost:5000, a private
 * registry…) is not mirrored: it returns no mirror source, and the image is pulled from its own
 * registry. A Docker Hub mirror does not serve other registries — Docker's own `registry-mirrors`
 * setting applies to Docker Hub only, and Docker's documentation of the pull-through cache says
 * only the central Hub can be mirrored — so `MIRROR/ghcr.io/…` would only fail.
 *
 * `docker.io/…` and `index.docker.io/…` are Docker Hub, so they are mirrored. The tag and digest
 * are kept as given.
 */
export function mirrorSources(ref: string, mirror: string | undefined): string[] {
  if (!mirror) return [];
  const r = parseImageRef(ref);
  if (!r.dockerHub) return [];
  const base = mirror.replace(/\/+$/, "");
  const s = suffix(r);
  const first = `${base}/${r.remotePath}${s}`;
  // `library/` was added: also try the name as written.
  return r.remotePath === r.path ? [first] : [first, `${base}/${r.path}${s}`];
}

/**
 * The ordered sources to pull `ref` from: the mirror's (mirrorSources) when a mirror applies to
 * it, otherwise `ref` itself. Throws when `ref` is not an image reference.
 */
export function pullSources(ref: string, mirror: string | undefined): string[] {
  parseImageRef(ref); // throws for what is not a reference, mirror or not
  const mirrored = mirrorSources(ref, mirror);
  return mirrored.length > 0 ? mirrored : [ref];
}

/**
 * Whether a failed pull means "the registry has no such image" (so the next source may be tried),
 * as opposed to an unreachable registry, a refused login, a full disk… Reads the HTTP status the
 * engine answered with (404) and the registry's message, anywhere along the `cause` chain (the
 * engine reports errors that happen once the pull has started inside the progress stream, with no
 * status).
 */
export function isNotFoundPullError(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err; e && typeof e === "object" && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const x = e as { statusCode?: number; message?: unknown; json?: { message?: unknown } };
    if (x.statusCode === 404) return true;
    for (const m of [x.message, x.json?.message]) if (typeof m === "string" && NOT_FOUND.test(m)) return true;
  }
  return false;
}

// The registry's and the engine's wording for a missing repository or tag: "manifest for X not
// found: manifest unknown", "repository does not exist or may require 'docker login'",
// "name unknown", "No such image", and the registry API's error codes.
const NOT_FOUND =
  /manifest unknown|MANIFEST_UNKNOWN|NAME_UNKNOWN|name unknown|repository does not exist|\bnot found\b|no such image/i;
