import { describe, expect, it } from "vitest";
import { EngineError, StepFailedError } from "./errors.js";
import {
  canonicalImageRef,
  familiarImageRef,
  isNotFoundPullError,
  mirrorSources,
  parseImageRef,
  pullSources,
  tagParts,
} from "./image-ref.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("parseImageRef", () => {
  it.each([
    // ref, registry, domain, path, remotePath, name, tag, digest
    ["postgres", undefined, "docker.io", "postgres", "library/postgres", "postgres", "latest", undefined],
    ["postgres:14.5", undefined, "docker.io", "postgres", "library/postgres", "postgres", "14.5", undefined],
    [
      "library/postgres:14.5",
      undefined,
      "docker.io",
      "library/postgres",
      "library/postgres",
      "postgres",
      "14.5",
      undefined,
    ],
    [
      "docker.io/postgres:14.5",
      "docker.io",
      "docker.io",
      "postgres",
      "library/postgres",
      "postgres",
      "14.5",
      undefined,
    ],
    [
      "index.docker.io/library/redis",
      "index.docker.io",
      "docker.io",
      "library/redis",
      "library/redis",
      "redis",
      "latest",
      undefined,
    ],
    [
      "bitnami/nginx:1.25.3",
      undefined,
      "docker.io",
      "bitnami/nginx",
      "bitnami/nginx",
      "nginx",
      "1.25.3",
      undefined,
    ],
    [
      "bitnami/redis:7.2",
      undefined,
      "docker.io",
      "bitnami/redis",
      "bitnami/redis",
      "redis",
      "7.2",
      undefined,
    ],
    [
      "ghcr.io/maxmind/geoipupdate:v6.0.0",
      "ghcr.io",
      "ghcr.io",
      "maxmind/geoipupdate",
      "maxmind/geoipupdate",
      "geoipupdate",
      "v6.0.0",
      undefined,
    ],
    ["localhost/app", "localhost", "localhost", "app", "app", "app", "latest", undefined],
    [
      "localhost:5000/team/app:1.2",
      "localhost:5000",
      "localhost:5000",
      "team/app",
      "team/app",
      "app",
      "1.2",
      undefined,
    ],
    [
      "mirror.local:5000/hub/redis:7",
      "mirror.local:5000",
      "mirror.local:5000",
      "hub/redis",
      "hub/redis",
      "redis",
      "7",
      undefined,
    ],
    ["127.0.0.1:9/x/y:1", "127.0.0.1:9", "127.0.0.1:9", "x/y", "x/y", "y", "1", undefined],
    ["[::1]:5000/app:2", "[::1]:5000", "[::1]:5000", "app", "app", "app", "2", undefined],
    // A first component without . or : that is not localhost is a Docker Hub namespace.
    ["test_com/foo", undefined, "docker.io", "test_com/foo", "test_com/foo", "foo", "latest", undefined],
    [
      "my-registry/app:1",
      undefined,
      "docker.io",
      "my-registry/app",
      "my-registry/app",
      "app",
      "1",
      undefined,
    ],
    // With a digest and no tag there is no default tag.
    [
      `postgres@${DIGEST}`,
      undefined,
      "docker.io",
      "postgres",
      "library/postgres",
      "postgres",
      undefined,
      DIGEST,
    ],
    [
      `postgres:14.5@${DIGEST}`,
      undefined,
      "docker.io",
      "postgres",
      "library/postgres",
      "postgres",
      "14.5",
      DIGEST,
    ],
    [
      `localhost:5000/app@${DIGEST}`,
      "localhost:5000",
      "localhost:5000",
      "app",
      "app",
      "app",
      undefined,
      DIGEST,
    ],
    // "localhost:5000" alone is the image localhost with the tag 5000, as Docker reads it.
    [
      "localhost:5000",
      undefined,
      "docker.io",
      "localhost",
      "library/localhost",
      "localhost",
      "5000",
      undefined,
    ],
  ])("%s", (ref, registry, domain, path, remotePath, name, tag, digest) => {
    expect(parseImageRef(ref)).toEqual({
      ref,
      registry,
      domain,
      path,
      remotePath,
      name,
      tag,
      digest,
      dockerHub: domain === "docker.io",
    });
  });

  it.each([
    ["", /empty/],
    ["Postgres:14", /not a valid repository name component/],
    ["postgres:", /not a valid tag/],
    ["postgres:-x", /not a valid tag/],
    ["postgres@sha256:abc", /not a digest/],
    ["a//b", /empty path component/],
    ["/postgres", /empty path component/],
    ["a:b:c", /not a valid repository name component/],
    [" postgres", /white space/],
    ["bad_host.:5000/app", /not a valid registry host/],
    [`${"a".repeat(256)}:1`, /longer than 255/],
  ])("refuses %j", (ref, message) => {
    expect(() => parseImageRef(ref)).toThrow(message);
  });
});

describe("canonicalImageRef", () => {
  it("gives one form to every way of writing a Docker Hub reference", () => {
    for (const ref of [
      "postgres",
      "postgres:latest",
      "library/postgres",
      "docker.io/postgres",
      "docker.io/library/postgres:latest",
      "index.docker.io/library/postgres",
    ])
      expect(canonicalImageRef(ref)).toBe("docker.io/library/postgres:latest");
    expect(canonicalImageRef("bitnami/nginx:1.25.3")).toBe("docker.io/bitnami/nginx:1.25.3");
    expect(canonicalImageRef("localhost:5000/app")).toBe("localhost:5000/app:latest");
  });

  it("compares a digest reference by its digest, as the engine keeps it (RepoDigests)", () => {
    expect(canonicalImageRef(`postgres:14.5@${DIGEST}`)).toBe(`docker.io/library/postgres@${DIGEST}`);
    expect(canonicalImageRef(`postgres@${DIGEST}`)).toBe(`docker.io/library/postgres@${DIGEST}`);
  });
});

describe("familiarImageRef", () => {
  it("is the short form the engine shows", () => {
    expect(familiarImageRef("docker.io/library/postgres:14.5")).toBe("postgres:14.5");
    expect(familiarImageRef("index.docker.io/bitnami/nginx:1.25.3")).toBe("bitnami/nginx:1.25.3");
    expect(familiarImageRef("postgres")).toBe("postgres:latest");
    expect(familiarImageRef("library/postgres:1")).toBe("postgres:1");
    expect(familiarImageRef("localhost:5000/library/app:1")).toBe("localhost:5000/library/app:1");
    expect(familiarImageRef("ghcr.io/maxmind/geoipupdate:v6.0.0")).toBe("ghcr.io/maxmind/geoipupdate:v6.0.0");
    expect(familiarImageRef(`postgres:14.5@${DIGEST}`)).toBe(`postgres@${DIGEST}`);
  });
});

describe("tagParts", () => {
  it("splits at the tag, not at a registry's port", () => {
    expect(tagParts("localhost:5000/app")).toEqual({ repo: "localhost:5000/app", tag: "latest" });
    expect(tagParts("localhost:5000/app:2")).toEqual({ repo: "localhost:5000/app", tag: "2" });
    expect(tagParts("postgres:14.5")).toEqual({ repo: "postgres", tag: "14.5" });
    expect(tagParts("tianon/exim4")).toEqual({ repo: "tianon/exim4", tag: "latest" });
    expect(tagParts(`postgres:14.5@${DIGEST}`)).toEqual({ repo: "postgres", tag: "14.5" });
  });

  it("refuses a digest-only reference: an image cannot be tagged with a digest", () => {
    expect(() => tagParts(`postgres@${DIGEST}`)).toThrow(/cannot be tagged with a digest/);
  });
});

describe("mirrorSources", () => {
  const M = "hub.rat.dev";

  it("pulls an official image under library/ first, then under its short name", () => {
    expect(mirrorSources("postgres:14.5", M)).toEqual([
      "hub.rat.dev/library/postgres:14.5",
      "hub.rat.dev/postgres:14.5",
    ]);
    expect(mirrorSources("tianon/exim4", M)).toEqual(["hub.rat.dev/tianon/exim4:latest"]);
    expect(mirrorSources("memcached", M)).toEqual([
      "hub.rat.dev/library/memcached:latest",
      "hub.rat.dev/memcached:latest",
    ]);
  });

  it("has one source when library/ or a namespace is already given", () => {
    expect(mirrorSources("library/postgres:14.5", M)).toEqual(["hub.rat.dev/library/postgres:14.5"]);
    expect(mirrorSources("bitnami/nginx:1.25.3", M)).toEqual(["hub.rat.dev/bitnami/nginx:1.25.3"]);
    expect(mirrorSources("docker.io/library/redis:7", M)).toEqual(["hub.rat.dev/library/redis:7"]);
  });

  it("mirrors Docker Hub written out (docker.io/, index.docker.io/) like a bare name", () => {
    expect(mirrorSources("docker.io/postgres:14.5", M)).toEqual([
      "hub.rat.dev/library/postgres:14.5",
      "hub.rat.dev/postgres:14.5",
    ]);
    expect(mirrorSources("index.docker.io/grafana/grafana:10.2.0", M)).toEqual([
      "hub.rat.dev/grafana/grafana:10.2.0",
    ]);
  });

  it("keeps a mirror's port and path prefix, and drops a trailing slash", () => {
    expect(mirrorSources("redis:7", "mirror.local:5000/hub/")).toEqual([
      "mirror.local:5000/hub/library/redis:7",
      "mirror.local:5000/hub/redis:7",
    ]);
    expect(mirrorSources("shctl-test/absent-a:1", "127.0.0.1:9/shctl-test")).toEqual([
      "127.0.0.1:9/shctl-test/shctl-test/absent-a:1",
    ]);
  });

  it("keeps a digest", () => {
    expect(mirrorSources(`postgres@${DIGEST}`, M)).toEqual([
      `hub.rat.dev/library/postgres@${DIGEST}`,
      `hub.rat.dev/postgres@${DIGEST}`,
    ]);
    expect(mirrorSources(`postgres:14.5@${DIGEST}`, M)).toEqual([
      `hub.rat.dev/library/postgres:14.5@${DIGEST}`,
      `hub.rat.dev/postgres:14.5@${DIGEST}`,
    ]);
  });

  it("does not mirror a reference that names another registry", () => {
    expect(mirrorSources("ghcr.io/maxmind/geoipupdate:v6.0.0", M)).toEqual([]);
    expect(mirrorSources("localhost:5000/app", M)).toEqual([]);
    expect(mirrorSources("quay.io/org/app:1", M)).toEqual([]);
  });

  it("has no sources without a mirror", () => {
    expect(mirrorSources("postgres:14.5", undefined)).toEqual([]);
    expect(mirrorSources("postgres:14.5", "")).toEqual([]);
  });
});

describe("pullSources", () => {
  it("is the mirror's sources when a mirror applies, else the reference itself", () => {
    expect(pullSources("postgres:14.5", "hub.rat.dev")).toEqual([
      "hub.rat.dev/library/postgres:14.5",
      "hub.rat.dev/postgres:14.5",
    ]);
    expect(pullSources("ghcr.io/maxmind/geoipupdate:v6.0.0", "hub.rat.dev")).toEqual([
      "ghcr.io/maxmind/geoipupdate:v6.0.0",
    ]);
    expect(pullSources("postgres:14.5", undefined)).toEqual(["postgres:14.5"]);
  });
});

describe("isNotFoundPullError", () => {
  const engineError = (statusCode: number | undefined, message: string) =>
    new EngineError("image.pull", Object.assign(new Error(message), { statusCode, json: { message } }));

  it.each([
    [
      404,
      "pull access denied for hub.rat.dev/postgres, repository does not exist or may require 'docker login'",
    ],
    [
      undefined,
      "manifest for hub.rat.dev/library/postgres:14.5 not found: manifest unknown: manifest unknown",
    ],
    [500, "Error response from daemon: manifest unknown"],
    [undefined, "errors: NAME_UNKNOWN: repository name not known to registry"],
    [404, "anything"],
  ])("says yes to %s %j", (status, message) => {
    expect(isNotFoundPullError(engineError(status, message))).toBe(true);
    // Also when wrapped (a failed step keeps the engine's error as its cause).
    expect(
      isNotFoundPullError(
        new StepFailedError("image postgres", "pull", "failed", { cause: engineError(status, message) }),
      ),
    ).toBe(true);
  });

  it.each([
    [500, 'Get "https://hub.rat.dev/v2/": dial tcp: lookup hub.rat.dev: no such host'],
    [500, 'Get "https://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused'],
    [500, "toomanyrequests: You have reached your pull rate limit"],
    [401, "unauthorized: authentication required"],
    [undefined, "write /var/lib/docker/tmp/x: no space left on device"],
  ])("says no to %s %j", (status, message) => {
    expect(isNotFoundPullError(engineError(status, message))).toBe(false);
  });

  it("says no to what is not an error", () => {
    expect(isNotFoundPullError(undefined)).toBe(false);
    expect(isNotFoundPullError("not found")).toBe(false);
  });
});
