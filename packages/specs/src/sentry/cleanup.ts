import { data, type Family, type Svc } from "./family.js";

/*
 * The cron containers that clean up after retention: Sentry's, symbolicator's and vroom's.
 */

export function cleanupServices(f: Family): Record<string, Svc> {
  const { restart, retention, passThrough, sentry, cronEntrypoint } = f;
  return {
    "symbolicator-cleanup": {
      image: "symbolicator-cleanup",
      command: ["55 23 * * * gosu symbolicator symbolicator cleanup"],
      mounts: [data("symbolicator", "/data")],
      restart,
    },
    "sentry-cleanup": sentry([`0 0 * * * gosu sentry sentry cleanup --days ${retention}`], {
      image: "sentry-cleanup",
      entrypoint: cronEntrypoint,
    }),
    "vroom-cleanup": {
      image: "vroom-cleanup",
      entrypoint: cronEntrypoint,
      env: passThrough(["SENTRY_EVENT_RETENTION_DAYS"]),
      command: [`0 0 * * * find /var/lib/sentry-profiles -type f -mtime +${retention} -delete`],
      mounts: [data("vroom", "/var/lib/sentry-profiles")],
      profiles: ["full"],
      restart,
    },
  };
}
