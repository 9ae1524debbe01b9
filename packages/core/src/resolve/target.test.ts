import { describe, expect, it } from "vitest";
import { formatIssuePath, SpecError } from "../errors.js";
import { validateStack } from "../validate.js";

/* The target's rules: what only a swarm reads, and what a swarm stack must hold to. */

const validate = (raw: unknown) =>
  validateStack(raw, { label: "stack.yaml", projectDir: "/srv/shop", profile: undefined, env: {} });

function problems(raw: unknown): string[] {
  try {
    validate(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).exitCode).toBe(2);
    return (err as SpecError).issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`);
  }
  throw new Error("expected a SpecError, but the stack was accepted");
}

const db = {
  image: "postgres:16",
  mounts: [{ source: "db", target: "/var/lib/postgresql/data", owner: "999:999", mode: "0700" }],
};

describe("target", () => {
  it("defaults to one engine, where the swarm's fields are refused with their paths", () => {
    const s = validate({ name: "shop", services: { web: { image: "app" } } });
    expect(s.target).toBeUndefined();
    expect(s.swarm).toBeUndefined();
    expect(s.services.web).not.toHaveProperty("placement");
    expect(
      problems({
        name: "shop",
        swarm: { registry: "r:5000" },
        services: { db: { ...db, placement: { node: "db" }, replicas: 2 } },
        jobs: { migrate: { image: "app", placement: { node: "db" } } },
      }),
    ).toEqual([
      "swarm: `swarm` settings are for target: swarm",
      "services.db.placement: `placement` is for target: swarm",
      "services.db.replicas: `replicas` is for target: swarm",
      "jobs.migrate.placement: `placement` is for target: swarm",
    ]);
  });

  it("swarm: placement, replicas and the settings resolve", () => {
    const s = validate({
      name: "shop",
      target: "swarm",
      swarm: { registry: "10.0.0.5:5000/shop", sharedDirs: ["uploads"] },
      services: {
        db: { ...db, placement: { node: "db" } },
        web: {
          image: "app",
          replicas: 3,
          mounts: [
            { source: "uploads", target: "/srv/uploads" },
            { source: "config/web", target: "/etc/web", readOnly: true },
          ],
          ports: [{ host: 8080, container: 80 }],
        },
      },
      jobs: {
        migrate: { image: "app", placement: { node: "db" }, mounts: [{ source: "db", target: "/d" }] },
      },
    });
    expect(s.target).toBe("swarm");
    expect(s.swarm).toEqual({ registry: "10.0.0.5:5000/shop", sharedDirs: ["/srv/shop/data/uploads"] });
    expect(s.services.db).toMatchObject({ placement: "db" });
    expect(s.services.web).toMatchObject({ replicas: 3 });
    expect(s.jobs.migrate).toMatchObject({ placement: "db" });
  });

  it("swarm: data is on one node, project files and data files are read-only, ports are on every address", () => {
    expect(
      problems({
        name: "shop",
        target: "swarm",
        bindAddress: "127.0.0.1",
        swarm: { sharedDirs: ["../elsewhere"] },
        services: {
          db: { ...db, placement: { node: "db" }, replicas: 2 },
          cache: { image: "redis", placement: { node: "cache" }, mounts: [{ source: "db", target: "/d" }] },
          web: {
            image: "app",
            ports: ["8080:80"],
            mounts: [
              { source: "site", root: "project", target: "/site" },
              { source: "config/app.toml", target: "/etc/app.toml", kind: "file" },
              { source: "config/ro", target: "/ro", readOnly: true, selinux: "z" },
            ],
          },
        },
        jobs: { load: { image: "app", mounts: [{ source: "db", target: "/d" }] } },
        networks: { back: { driver: "macvlan" } },
      }),
    ).toEqual([
      'swarm.sharedDirs[0]: "../elsewhere" must be a directory inside the data root',
      'services.db.replicas: it writes "db", which lives on one node: it runs 1 task (list the directory in swarm.sharedDirs to run more)',
      "services.web.mounts[0].readOnly: project files reach a swarm's nodes as configs, which are read-only: mount it readOnly",
      "services.web.mounts[1].readOnly: a file reaches a swarm's nodes as a config, which is read-only: mount it readOnly (or mount its directory)",
      "services.web.mounts[2].selinux: a swarm cannot relabel a mount for SELinux",
      'jobs.load.placement: it writes "db", which lives on one node: pin it with placement: {node: ROLE} (or list the directory in swarm.sharedDirs if every node shares it)',
      "services.db.mounts[0]: this directory is written on nodes of roles db and cache: pin everything that writes it to one role",
      "services.cache.mounts[0]: this directory is written on nodes of roles db and cache: pin everything that writes it to one role",
      "jobs.load.mounts[0]: this directory is written on nodes of roles db and cache: pin everything that writes it to one role",
      "services.web.ports[0]: a swarm publishes a port on every address of its node, not on 127.0.0.1: leave the address out (and set bindAddress to 0.0.0.0)",
      "networks.back.driver: a swarm's networks are overlay networks, not macvlan",
    ]);
  });
});

describe("restart policy by target", () => {
  it("defaults to no on one engine and to always on a swarm; a policy given is kept on both", () => {
    const services = { web: { image: "app" }, once: { image: "app", restart: "no" } };
    const engine = validate({ name: "shop", services });
    expect([engine.services.web?.restart, engine.services.once?.restart]).toEqual(["no", "no"]);
    const swarm = validate({ name: "shop", target: "swarm", services });
    // As docker stack deploy does: a task lost with a drained or dead node is replaced.
    expect([swarm.services.web?.restart, swarm.services.once?.restart]).toEqual(["always", "no"]);
  });
});
