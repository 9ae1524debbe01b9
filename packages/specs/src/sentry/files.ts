import { emptyGeoipDatabase } from "./geoip.js";
import type { SentryOptions } from "./options.js";
import { sentryConfigYml, sentryConfPy, sentryEntrypointSh } from "./sentry-config.js";
import {
  clickhouseConfigXml,
  nginxConf,
  postgresEntrypointSh,
  postgresInitHbaSh,
  redisConf,
  relayConfigYml,
  symbolicatorConfigYml,
} from "./service-configs.js";

/** One generated file, relative to the data root. */
export interface ConfigFile {
  path: string;
  content: string | Uint8Array;
  mode: number;
  /** Given to this uid:gid when shctl runs as root (otherwise the file is made world-readable). */
  owner?: { uid: number; gid: number };
  /** Written only when missing and never compared afterwards (another program maintains it). */
  userOwned?: boolean;
}

/** uid:gid of the processes that read a config holding the redis password. */
const RELAY_USER = { uid: 10001, gid: 10001 };
const REDIS_USER = { uid: 999, gid: 1000 };

/**
 * Every file the stack's config directories hold, rendered from the options. Pure: writing,
 * keeping the user's edits and ownership are the config job's business. `projectDir` is
 * accepted for symmetry with the stack factory; nothing here reads the disk.
 */
export function renderConfigFiles(
  opts: SentryOptions,
  secretKey: string,
  _projectDir?: string,
): ConfigFile[] {
  const secretRedis = opts.redisPassword !== undefined;
  const files: ConfigFile[] = [
    // Sentry's user id is not pinned by its image, so these stay readable by any uid (as upstream).
    { path: "config/sentry/sentry.conf.py", content: sentryConfPy(opts), mode: 0o644 },
    // It holds the secret key: private. The generated entrypoint gives it to the sentry user.
    { path: "config/sentry/config.yml", content: sentryConfigYml(opts, secretKey), mode: 0o600 },
    { path: "config/sentry/entrypoint.sh", content: sentryEntrypointSh(), mode: 0o755 },
    {
      path: "config/relay/config.yml",
      content: relayConfigYml(opts),
      ...(secretRedis ? { mode: 0o600, owner: RELAY_USER } : { mode: 0o644 }),
    },
    { path: "config/nginx/nginx.conf", content: nginxConf(opts), mode: 0o644 },
    { path: "config/symbolicator/config.yml", content: symbolicatorConfigYml(), mode: 0o644 },
    { path: "config/clickhouse/config.xml", content: clickhouseConfigXml(), mode: 0o644 },
    { path: "config/postgres/postgres-entrypoint.sh", content: postgresEntrypointSh(), mode: 0o755 },
    { path: "config/postgres/init_hba.sh", content: postgresInitHbaSh(), mode: 0o755 },
    // geoipupdate replaces it with the real database when configured.
    { path: "config/geoip/GeoLite2-City.mmdb", content: emptyGeoipDatabase(), mode: 0o644, userOwned: true },
  ];
  if (secretRedis) {
    files.push({ path: "config/redis/redis.conf", content: redisConf(opts), mode: 0o600, owner: REDIS_USER });
  }
  return files;
}
