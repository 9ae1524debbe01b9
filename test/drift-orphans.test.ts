import { apply, ConflictError, describeConflict, diff, type ResolvedStack, resourceKey } from "@sh/core";
import { LABEL } from "@sh/core/internals";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, containersOf, engine, load, stackName, tempProject, toolsImage } from "./helpers.js";

/* Out-of-band drift is seen and repaired; orphans go; what shctl does not own is never touched. */

const name = stackName("drift");
let projectDir: string;
let stack: ResolvedStack | undefined;
const foreign: string[] = [];

const svc = (env: Record<string, string> = {}) => ({
  image: "tools",
  command: ["sleep", "infinity"],
  env,
  stopGracePeriod: "1s",
});
const spec = (withB = true) => ({
  name,
  dataRoot: "./data",
  images: { tools: toolsImage() },
  services: { a: svc({ LEVEL: "one" }), ...(withB ? { b: svc() } : {}) },
});

beforeAll(async () => {
  projectDir = await tempProject();
  stack = await load(spec(), projectDir);
  await apply(stack, engine);
});
afterAll(async () => {
  for (const id of foreign) await engine.removeContainer(id);
  await cleanup(stack, projectDir);
});

/** A running container without stack labels that publishes 127.0.0.1:port. */
async function portHolder(containerName: string, port: number): Promise<string> {
  const id = await engine.createContainer({
    name: containerName,
    Image: "shctl-test/tools:latest",
    Entrypoint: ["/usr/bin/tini", "--"],
    Cmd: ["sleep", "infinity"],
    ExposedPorts: { "80/tcp": {} },
    HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] } },
  });
  foreign.push(id);
  await engine.startContainer(id);
  return id;
}

const ids = async () => (await diff(stack as ResolvedStack, engine)).actions.map((a) => a.id);

describe("drift and orphans", () => {
  it("a container stopped by hand is started again", async () => {
    await engine.stopContainer((await containersOf(name)).a?.id as string, 1);
    expect(await ids()).toEqual(["container.start:a"]);
    await apply(stack as ResolvedStack, engine);
    expect((await containersOf(name)).a?.state).toBe("running");
  });

  it("a container removed by hand is created again", async () => {
    await engine.removeContainer((await containersOf(name)).b?.id as string);
    expect(await ids()).toEqual(["container.create:b"]);
    await apply(stack as ResolvedStack, engine);
    expect((await containersOf(name)).b?.state).toBe("running");
  });

  it("a container recreated by hand with other env is seen and put back", async () => {
    const old = await engine.inspectContainer((await containersOf(name)).a?.id as string);
    await engine.removeContainer(old?.id as string);
    const id = await engine.createContainer({
      name: old?.name,
      Image: "shctl-test/tools:latest",
      Cmd: ["sleep", "infinity"],
      Env: ["LEVEL=two"],
      Labels: old?.labels,
    });
    await engine.startContainer(id);
    const plan = await diff(stack as ResolvedStack, engine);
    expect(plan.actions.map((a) => a.id)).toEqual(["container.recreate:a"]);
    const recreate = plan.actions[0] as Extract<
      (typeof plan.actions)[number],
      { kind: "container.recreate" }
    >;
    expect(recreate.cause).toBe("drift");
    expect(recreate.changes).toContainEqual({
      field: "env.LEVEL",
      before: "two",
      after: "one",
      sensitive: false,
    });
    await apply(stack as ResolvedStack, engine);
    const now = await engine.inspectContainer((await containersOf(name)).a?.id as string);
    expect(now?.env).toContain("LEVEL=one");
  });

  it("a service removed from the spec is removed; containers without the stack's labels are left alone", async () => {
    const bystander = await engine.createContainer({
      name: `${name}-other`,
      Image: "shctl-test/tools:latest",
      Cmd: ["true"],
    });
    foreign.push(bystander);
    stack = await load(spec(false), projectDir);
    expect(await ids()).toEqual([`container.remove:${name}-b`]);
    await apply(stack, engine);
    expect(Object.keys(await containersOf(name))).toEqual(["a"]);
    expect(await engine.inspectContainer(bystander)).toBeDefined();
  });

  it("a name held by a container shctl does not own is a conflict, and that container is not touched", async () => {
    stack = await load(spec(true), projectDir);
    const squatter = await engine.createContainer({
      name: `${name}-b`,
      Image: "shctl-test/tools:latest",
      Cmd: ["true"],
    });
    foreign.push(squatter);
    const plan = await diff(stack, engine);
    expect(plan.conflicts.map((c) => resourceKey(c.resource))).toEqual(["service b"]);
    await expect(apply(stack, engine)).rejects.toBeInstanceOf(ConflictError);
    const still = await engine.inspectContainer(squatter);
    expect(still?.id).toBe(squatter);
    expect(still?.labels[LABEL.stack]).toBeUndefined();
    // Images shctl builds do not pass the stack label on to containers made from them.
  });

  it("a host port published by a container shctl does not own is a conflict in the plan", async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const holder = await portHolder(`${name}-holder`, port);
    const withPort = spec(false); // b's name is held by the squatter of the test above
    const web = { ...svc(), ports: [`127.0.0.1:${port}:8080`] };
    stack = await load({ ...withPort, services: { ...withPort.services, web } }, projectDir);
    const plan = await diff(stack, engine);
    expect(plan.conflicts).toEqual([
      {
        kind: "host-port-held",
        resource: { type: "service", name: "web" },
        port,
        protocol: "tcp",
        holder: `${name}-holder`,
        index: 0,
      },
    ]);
    expect(describeConflict(plan.conflicts[0] as (typeof plan.conflicts)[number]).message).toBe(
      `host port ${port}/tcp is already published by container ${name}-holder, which is not in this stack`,
    );
    await expect(apply(stack, engine)).rejects.toBeInstanceOf(ConflictError);
    expect(Object.keys(await containersOf(name))).not.toContain("web");
    expect((await engine.inspectContainer(holder))?.state).toBe("running");
    // Once the port is free the same stack applies.
    await engine.stopContainer(holder, 1);
    expect((await diff(stack, engine)).conflicts).toEqual([]);
    await apply(stack, engine);
    const running = (await containersOf(name)).web?.id;
    expect(running).toBeDefined();

    // A running service moved to a port that someone else holds: a conflict, and it keeps running
    // (a recreate would remove it, then fail to start the new one).
    const port2 = port + 1;
    await portHolder(`${name}-holder2`, port2);
    const moved = { ...web, ports: [`127.0.0.1:${port2}:8080`] };
    stack = await load({ ...withPort, services: { ...withPort.services, web: moved } }, projectDir);
    expect((await diff(stack, engine)).conflicts.map((c) => describeConflict(c).message)).toEqual([
      `host port ${port2}/tcp is already published by container ${name}-holder2, which is not in this stack`,
    ]);
    await expect(apply(stack, engine)).rejects.toBeInstanceOf(ConflictError);
    expect((await containersOf(name)).web).toEqual({ id: running, state: "running" });
  });
});
