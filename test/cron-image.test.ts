import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { apply, type ResolvedStack } from "@sh/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, containersOf, engine, load, REPO, stackName, tempProject, toolsImage } from "./helpers.js";

/*
 * The cleanup images (sentry-cleanup, symbolicator-cleanup, vroom-cleanup) are built from
 * packages/specs/contexts/cron on their service's image. Here the same context is built on the
 * test tools image (Debian, with ca-certificates), and run the way the Sentry stack runs
 * sentry-cleanup: a custom CA certificate mounted at /usr/local/share/ca-certificates must reach
 * the system bundle, as upstream's cron entrypoint makes it.
 */

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const name = stackName("cron");
let projectDir: string;
let stack: ResolvedStack | undefined;

beforeAll(async () => {
  projectDir = await tempProject();
});
afterAll(async () => {
  await cleanup(stack, projectDir);
});

describe.skipIf(!hasOpenssl)("the cleanup images' cron entrypoint (needs openssl to make a test CA)", () => {
  it("runs update-ca-certificates, so a custom CA reaches the container's bundle", async () => {
    const certs = path.join(projectDir, "data/certs");
    await mkdir(certs, { recursive: true });
    const cert = path.join(certs, "shctl-test-ca.crt");
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      path.join(projectDir, "ca.key"),
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=shctl test CA",
    ]);
    stack = await load(
      {
        name,
        dataRoot: "./data",
        images: {
          tools: toolsImage(),
          cron: {
            ref: "shctl-test/cron:latest",
            build: {
              context: path.join(REPO, "packages/specs/contexts/cron"),
              args: { BASE_IMAGE: "shctl-test/tools:latest" },
            },
            needs: ["tools"],
          },
        },
        services: {
          cleanup: {
            image: "cron",
            command: ["* * * * * true"],
            mounts: [{ source: "certs", target: "/usr/local/share/ca-certificates", readOnly: true }],
            stopGracePeriod: "1s",
          },
        },
      },
      projectDir,
    );
    await apply(stack, engine);
    const id = (await containersOf(name)).cleanup?.id as string;
    expect(id).toBeDefined();
    // The certificate's body, one line of it, is in the system bundle the Sentry processes read.
    const body = (await readFile(cert, "utf8")).split("\n").filter((l) => l && !l.startsWith("-----"));
    let bundle = "";
    // The entrypoint rebuilds the bundle as it starts; on a busy machine that takes a while.
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      bundle = (await engine.exec(id, ["cat", "/etc/ssl/certs/ca-certificates.crt"])).output;
      if (bundle.includes(body[1] as string)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(bundle).toContain(body[1]);
    // And cron runs the line it was given.
    expect((await engine.exec(id, ["crontab", "-l"])).output).toContain("* * * * * true");
  });
});
