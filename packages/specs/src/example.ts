import path from "node:path";
import { fileURLToPath } from "node:url";
import type { StackFactory } from "@sh/core";

const CONTEXTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../contexts");

/**
 * A small stack that shows every part of the model: a built image, a one-shot job writing into
 * the data root, a health-gated web server publishing a port, and a readiness-gated client.
 * `SHCTL_BASE_IMAGE` picks the base image (default debian:bookworm-slim).
 */
export const exampleStack: StackFactory = ({ env }) => ({
  name: "example",
  dataRoot: "./sentrydata",
  networks: { web: {} },
  images: {
    app: {
      ref: "shctl-example/app:1",
      build: {
        context: path.join(CONTEXTS, "example"),
        args: { BASE: env.SHCTL_BASE_IMAGE ?? "debian:bookworm-slim" },
      },
    },
  },
  jobs: {
    "write-page": {
      image: "app",
      command: ["sh", "-c", 'echo "<h1>hello from shctl</h1>" > /site/index.html'],
      mounts: [{ source: "example/site", target: "/site", owner: "0:0", mode: "0755" }],
    },
  },
  services: {
    web: {
      image: "app",
      command: ["httpd", "-f", "-p", "8080", "-h", "/site"],
      mounts: [{ source: "example/site", target: "/site", readOnly: true }],
      ports: [`${env.SHCTL_EXAMPLE_PORT ?? "8080"}:8080`],
      healthcheck: {
        test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"],
        interval: "2s",
        retries: 5,
      },
      dependsOn: { "write-page": { condition: "completed" } },
      restart: "unless-stopped",
      stopGracePeriod: "2s",
    },
    client: {
      image: "app",
      command: ["sh", "-c", "while :; do wget -q -O - http://web:8080/ >/dev/null; sleep 10; done"],
      readiness: [{ exec: ["wget", "-q", "-O", "/dev/null", "http://web:8080/"] }],
      dependsOn: { web: { condition: "healthy" } },
      restart: "unless-stopped",
      stopGracePeriod: "1s",
    },
  },
});
