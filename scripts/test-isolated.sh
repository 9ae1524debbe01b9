#!/usr/bin/env bash
# The reachability tests again, with this process in a network namespace that has only loopback
# (as a client of Docker Desktop or of a remote engine is): container ports must be reached through
# the engine, over its unix socket. Run by `npm test` after the main run; needs root, unshare and ip
# (util-linux, iproute2), and says so when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
  echo "test-isolated: SKIPPED: the isolated reachability run needs root, unshare and ip" >&2
  exit 0
fi
case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
  unix://*) ;;
  *)
    echo "test-isolated: SKIPPED: DOCKER_HOST=$DOCKER_HOST is not a unix socket (an isolated namespace reaches no TCP engine)" >&2
    exit 0
    ;;
esac
echo "test-isolated: reachability tests from a namespace with only loopback (unshare --net)"
exec unshare --net sh -c 'ip link set lo up && SHCTL_TEST_ISOLATED=1 exec npx vitest run --project integration test/reach.test.ts test/reach-apply.test.ts test/sentry-infra.test.ts'
