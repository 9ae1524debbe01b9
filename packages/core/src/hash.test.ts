import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  containerSnapshot,
  effectiveContextHash,
  HASH_RECIPE,
  hashOf,
  jobKey,
  networkHash,
  secretDigest,
  serviceSnapshot,
  snapshotHash,
} from "./hash.js";
import type { ResolvedService } from "./model.js";
import type { StackInput } from "./schema.js";
import { validateStack } from "./validate.js";

function resolve(stack: StackInput) {
  return validateStack(stack, { label: "test", projectDir: "/srv/shop", profile: undefined, env: {} });
}

function service(spec: NonNullable<StackInput["services"]>[string]): ResolvedService {
  const s = resolve({ name: "shop", services: { web: spec } }).services.web;
  if (!s) throw new Error("no service");
  return s;
}

const hashOfService = (s: ResolvedService, imageId = "sha256:img1") =>
  snapshotHash(serviceSnapshot(s, imageId, "nginx:1", {}));

describe("canonicalJson", () => {
  it("does not depend on key order, at any depth", () => {
    const a = { b: 1, a: { d: [{ y: 1, x: 2 }], c: "3" } };
    const b = { a: { c: "3", d: [{ x: 2, y: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":"3","d":[{"x":2,"y":1}]},"b":1}');
    expect(hashOf(a)).toBe(hashOf(b));
  });

  it("keeps array order, which is meaningful", () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
    expect(hashOf({ cmd: ["a", "b"] })).not.toBe(hashOf({ cmd: ["b", "a"] }));
  });

  it("drops undefined fields, so an absent and an undefined field hash the same", () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
  });

  it("handles scalars and null", () => {
    expect(canonicalJson("x")).toBe('"x"');
    expect(canonicalJson(null)).toBe("null");
    expect(canonicalJson(3)).toBe("3");
  });

  it("gives 32 hex characters from hashOf", () => {
    expect(hashOf({ a: 1 })).toMatch(/^[0-9a-f]{32}$/);
    expect(hashOf({ a: 1 })).not.toBe(hashOf({ a: 2 }));
  });
});

describe("secretDigest", () => {
  it("never contains the value", () => {
    for (const value of ["hunter2", "pg-pass-123", "Zq9!s3cret", "0123456789abcdef0123"]) {
      const d = secretDigest("PASSWORD", value);
      expect(d).not.toContain(value);
      expect(d).toMatch(/^\(sensitive:[0-9a-f]{12}\)$/);
    }
  });

  it("changes with the value and with the name, and is stable", () => {
    expect(secretDigest("PW", "one")).toBe(secretDigest("PW", "one"));
    expect(secretDigest("PW", "one")).not.toBe(secretDigest("PW", "two"));
    expect(secretDigest("PW", "one")).not.toBe(secretDigest("OTHER_PW", "one"));
  });

  it("keeps secrets out of snapshots, while their change still changes the hash", () => {
    const s1 = service({
      image: "nginx:1",
      env: { PW: { value: "hunter22-secret", secret: true }, MODE: "x" },
    });
    const s2 = service({
      image: "nginx:1",
      env: { PW: { value: "other-secret!", secret: true }, MODE: "x" },
    });
    const snap = serviceSnapshot(s1, "sha256:img1", "nginx:1", {});
    expect(canonicalJson(snap)).not.toContain("hunter22-secret");
    expect(snap.env).toEqual({ MODE: "x", PW: secretDigest("PW", "hunter22-secret") });
    expect(hashOfService(s1)).not.toBe(hashOfService(s2));
  });
});

describe("snapshots", () => {
  const base = { image: "nginx:1", env: { LOG_LEVEL: "info" }, ports: ["8080:80"] };

  it("hash the same for the same spec", () => {
    expect(hashOfService(service({ ...base }))).toBe(hashOfService(service({ ...base })));
  });

  it("hash does not depend on the order env is written in", () => {
    const a = service({ image: "nginx:1", env: { A: "1", B: "2" } });
    const b = service({ image: "nginx:1", env: { B: "2", A: "1" } });
    expect(hashOfService(a)).toBe(hashOfService(b));
  });

  it("hash changes with env", () => {
    const before = hashOfService(service({ ...base }));
    expect(hashOfService(service({ ...base, env: { LOG_LEVEL: "debug" } }))).not.toBe(before);
    expect(hashOfService(service({ ...base, env: { LOG_LEVEL: "info", EXTRA: "1" } }))).not.toBe(before);
    expect(hashOfService(service({ ...base, env: {} }))).not.toBe(before);
  });

  it("hash does not change with the restart policy (updated in place)", () => {
    const before = hashOfService(service({ ...base }));
    for (const restart of ["always", "unless-stopped", "on-failure"] as const) {
      expect(hashOfService(service({ ...base, restart }))).toBe(before);
    }
    expect(serviceSnapshot(service({ ...base, restart: "always" }), "i", "r", {})).not.toHaveProperty(
      "restart",
    );
  });

  it("hash changes with the image identity, command, ports, mounts and healthcheck", () => {
    const s = service({ ...base });
    const before = hashOfService(s);
    expect(hashOfService(s, "sha256:img2")).not.toBe(before);
    expect(hashOfService(service({ ...base, command: "nginx -g 'daemon off;'" }))).not.toBe(before);
    expect(hashOfService(service({ ...base, ports: ["8081:80"] }))).not.toBe(before);
    expect(hashOfService(service({ ...base, mounts: [{ source: "d", target: "/d" }] }))).not.toBe(before);
    expect(hashOfService(service({ ...base, healthcheck: { test: "true" } }))).not.toBe(before);
    expect(hashOfService(service({ ...base, init: true }))).not.toBe(before);
  });

  it("records input digests, null for a missing file", () => {
    const s = service({ ...base, inputs: [{ path: "conf/a.conf", root: "project" }] });
    const snap = serviceSnapshot(s, "i", "nginx:1", {});
    expect(snap.inputs).toEqual({ "/srv/shop/conf/a.conf": null });
    const withDigest = serviceSnapshot(s, "i", "nginx:1", { "/srv/shop/conf/a.conf": "abc" });
    expect(snapshotHash(withDigest)).not.toBe(snapshotHash(snap));
  });

  it("describes the container in flat, printable fields", () => {
    const s = service({
      ...base,
      mounts: [
        { source: "db", target: "/data", readOnly: true, selinux: "Z" },
        { type: "tmpfs", target: "/tmp", sizeBytes: 1024 },
      ],
      ulimits: { nofile: 1024 },
    });
    const snap = serviceSnapshot(s, "sha256:img1", "nginx:1", {});
    expect(snap).toMatchObject({
      image: "nginx:1@sha256:img1",
      env: { LOG_LEVEL: "info" },
      networks: { default: ["web"] },
      mounts: { "/data": "data:db:ro:Z", "/tmp": "tmpfs:1024" },
      ports: ["0.0.0.0:8080->80/tcp"],
      ulimits: { nofile: "1024:1024" },
      stopGraceMs: 10_000,
      init: false,
    });
    // The recipe is part of every hash, so a recipe bump never matches an old label.
    expect(snapshotHash(snap)).toBe(hashOf({ recipe: HASH_RECIPE, snapshot: snap }));
  });

  it("containerSnapshot merges kind-specific extras", () => {
    const s = service({ ...base });
    expect(containerSnapshot(s, "i", "r", {}, { extra: 1 })).toMatchObject({ image: "r@i", extra: 1 });
  });
});

describe("job keys", () => {
  const stack = resolve({
    name: "shop",
    jobs: {
      migrate: { image: "app:1", command: "migrate", inputs: [{ path: "m.sql", root: "project" }] },
      seed: { run: async () => {}, version: "1" },
    },
  });
  const migrate = stack.jobs.migrate;
  const seed = stack.jobs.seed;
  if (!migrate || !seed) throw new Error("jobs missing");

  it("changes with the image, inputs and version", () => {
    const key = jobKey(migrate, "sha256:a", "app:1", {});
    expect(jobKey(migrate, "sha256:a", "app:1", {})).toBe(key);
    expect(jobKey(migrate, "sha256:b", "app:1", {})).not.toBe(key);
    expect(jobKey(migrate, "sha256:a", "app:1", { "/srv/shop/m.sql": "d1" })).not.toBe(key);
    expect(jobKey({ ...migrate, version: "2" }, "sha256:a", "app:1", {})).not.toBe(key);
  });

  // Was a bug: a function job's key hashed the function's source text, which misses what the
  // function reads from its closure (the same text can do something else) and changes with a mere
  // reformat. Its explicit version and its declared inputs decide.
  it("keys a function job by its version and inputs, not by its source text", () => {
    const key = jobKey(seed, undefined, undefined, {});
    expect(jobKey({ ...seed, run: async (ctx) => ctx.log("different") }, undefined, undefined, {})).toBe(key);
    expect(jobKey({ ...seed, version: "2" }, undefined, undefined, {})).not.toBe(key);
    const withInput = { ...seed, inputs: ["/p/a.conf"] };
    expect(jobKey(withInput, undefined, undefined, { "/p/a.conf": "x" })).not.toBe(
      jobKey(withInput, undefined, undefined, { "/p/a.conf": "y" }),
    );
  });
});

describe("other hashes", () => {
  it("networkHash covers driver, internal and labels but not the name", () => {
    const n = { name: "a", dockerName: "s_a", driver: "bridge", internal: false, labels: {} };
    expect(networkHash({ ...n, name: "b", dockerName: "s_b" })).toBe(networkHash(n));
    expect(networkHash({ ...n, internal: true })).not.toBe(networkHash(n));
    expect(networkHash({ ...n, labels: { x: "1" } })).not.toBe(networkHash(n));
  });

  it("effectiveContextHash is the context hash when nothing is needed", () => {
    expect(effectiveContextHash("ctx1", [])).toBe("ctx1");
    expect(effectiveContextHash("ctx1", ["sha256:base"])).not.toBe("ctx1");
    expect(effectiveContextHash("ctx1", ["sha256:base"])).not.toBe(
      effectiveContextHash("ctx1", ["sha256:b2"]),
    );
  });
});
