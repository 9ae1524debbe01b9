import { config, data, type Family, type Svc } from "./family.js";
import { CONFIG_DIRS } from "./layout.js";
import { TLS_CERT_PATH, TLS_KEY_PATH } from "./service-configs.js";

/*
 * The way in: nginx (the published port, HTTP and optionally HTTPS) and relay behind it.
 */

export function edgeServices(f: Family): Record<string, Svc> {
  const { opts, restart, httpPublish, httpsPublish } = f;
  return {
    nginx: {
      image: "nginx",
      ports: [...httpPublish, ...httpsPublish],
      mounts: [
        config("nginx", "/etc/nginx"),
        data("nginx-cache", "/var/cache/nginx"),
        ...(opts.https.enabled
          ? [
              {
                source: opts.https.certFile,
                root: "project" as const,
                target: TLS_CERT_PATH,
                readOnly: true,
                kind: "file" as const,
              },
              {
                source: opts.https.keyFile,
                root: "project" as const,
                target: TLS_KEY_PATH,
                readOnly: true,
                kind: "file" as const,
              },
            ]
          : []),
      ],
      dependsOn: {
        web: { condition: "started" },
        relay: { condition: "started" },
        config: { condition: "completed" },
      },
      readiness: [{ tcp: { port: 80 } }],
      inputs: [{ path: `${CONFIG_DIRS.nginx}/nginx.conf` }],
      restart,
    },
    relay: {
      image: "relay",
      mounts: [config("relay", "/work/.relay"), config("geoip", "/geoip")],
      dependsOn: {
        kafka: { condition: "healthy" },
        redis: { condition: "healthy" },
        web: { condition: "healthy" },
        "relay-credentials": { condition: "completed" },
      },
      readiness: [{ http: { port: 3000, path: "/api/relay/healthcheck/ready/" } }],
      inputs: [
        { path: `${CONFIG_DIRS.relay}/config.yml` },
        { path: `${CONFIG_DIRS.relay}/credentials.json` },
      ],
      restart,
    },
  };
}
