#!/usr/bin/env bash
# Prepare the machine for the integration tests (run by `npm test` before vitest).
#
#  1. A Docker Engine must answer at $DOCKER_HOST or /var/run/docker.sock. When it does not and we are
#     root, install docker.io (if missing) and start dockerd in the background (log: /tmp/shctl-dockerd.log).
#  2. The local base image shctl-test/base:bookworm must exist. When missing: pull debian:bookworm-slim
#     (20 s timeout) and tag it; failing that, debootstrap a minbase bookworm and `docker import` it.
#  3. The config checkers (nginx, openssl, mmdblookup) are installed when missing, if we may.
#  4. A container registry answers at $SHCTL_TEST_REGISTRY (default 127.0.0.1:5555) for the pull
#     tests: when nothing answers there and the address is loopback, Debian's docker-registry
#     (distribution 2.8) is installed if missing (its own service kept off) and started in the
#     background with its own config and storage under $SHCTL_TEST_REGISTRY_DIR (default
#     /tmp/shctl-registry: config.yml, data/, registry.log, registry.pid). The engine talks plain
#     HTTP to loopback registries without configuration.
#
# Idempotent; when everything is in place it only runs two quick docker queries and one HTTP GET.
# Overrides: SHCTL_TEST_BASE_IMAGE, SHCTL_DEBIAN_MIRROR, SHCTL_DOCKERD_LOG, SHCTL_TEST_REGISTRY,
# SHCTL_TEST_REGISTRY_DIR.
set -euo pipefail

BASE_IMAGE="${SHCTL_TEST_BASE_IMAGE:-shctl-test/base:bookworm}"
PULL_IMAGE="debian:bookworm-slim"
MIRROR="${SHCTL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKERD_LOG="${SHCTL_DOCKERD_LOG:-/tmp/shctl-dockerd.log}"
BOOTSTRAP_LOG="/tmp/shctl-debootstrap.log"
APT_LOG="/tmp/shctl-apt.log"
LOCK_FILE="/tmp/shctl-test-env.lock"
REGISTRY="${SHCTL_TEST_REGISTRY:-127.0.0.1:5555}"
REGISTRY_DIR="${SHCTL_TEST_REGISTRY_DIR:-/tmp/shctl-registry}"

say() { printf 'test-env: %s\n' "$*"; }
die() {
  say "ERROR: $*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
dockerd_running() {
  if have pgrep; then
    pgrep -x dockerd >/dev/null 2>&1
  else
    grep -qx dockerd /proc/[0-9]*/comm 2>/dev/null
  fi
}
is_root() { [ "$(id -u)" -eq 0 ]; }
engine_up() { have docker && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
image_present() { docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; }
tail_log() {
  [ -s "$1" ] || return 0
  say "last lines of $1:" >&2
  tail -n "${2:-30}" "$1" | sed 's/^/  | /' >&2
}

# Local engines only: DOCKER_HOST unset or pointing at the default unix socket.
local_engine() {
  case "${DOCKER_HOST:-}" in
    "" | unix:///var/run/docker.sock | unix:///run/docker.sock) return 0 ;;
    *) return 1 ;;
  esac
}

apt_updated=0
apt_install() {
  is_root || die "need root to install $* (or install it yourself: apt-get install $*)"
  have apt-get || die "apt-get not available; install $* yourself"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    apt-get update -qq >>"$APT_LOG" 2>&1 || {
      tail_log "$APT_LOG"
      die "apt-get update failed"
    }
    apt_updated=1
  fi
  say "installing $*"
  apt-get install -y -qq --no-install-recommends "$@" >>"$APT_LOG" 2>&1 || {
    tail_log "$APT_LOG"
    die "apt-get install $* failed"
  }
}

ensure_engine() {
  if engine_up; then
    return 0
  fi
  if ! local_engine; then
    die "no Docker Engine answers at DOCKER_HOST=$DOCKER_HOST; start it or unset DOCKER_HOST"
  fi
  if ! is_root; then
    say "no Docker Engine answers at /var/run/docker.sock and this is not root." >&2
    say "start one (e.g. 'sudo systemctl start docker' or 'sudo dockerd &'), make sure your user may use" >&2
    say "the socket (docker group), then re-run. Debian: 'sudo apt-get install docker.io'." >&2
    exit 1
  fi
  if ! have dockerd || ! have docker; then
    apt_install docker.io
  fi

  if dockerd_running; then
    say "dockerd is already running; waiting for it to answer"
  else
    # A stale pid file from a killed daemon makes dockerd refuse to start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; then
      rm -f /var/run/docker.pid
    fi
    say "starting dockerd (log: $DOCKERD_LOG)"
    # setsid + nohup: own session, so the daemon survives this script and the npm process group.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    disown || true
  fi

  local i
  for i in $(seq 1 60); do
    if engine_up; then
      say "Docker Engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) is up (${i}s)"
      return 0
    fi
    if ! dockerd_running && [ "$i" -gt 3 ]; then
      tail_log "$DOCKERD_LOG"
      die "dockerd exited during startup"
    fi
    sleep 1
  done
  tail_log "$DOCKERD_LOG"
  die "Docker Engine did not answer within 60 s"
}

bootstrap_base() {
  is_root || die "debootstrap needs root; build $BASE_IMAGE yourself or run this script as root"
  have debootstrap || apt_install debootstrap
  local dir
  dir="$(mktemp -d /var/tmp/shctl-rootfs.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf '$dir'" EXIT
  say "debootstrap minbase bookworm from $MIRROR (about 30 s, log: $BOOTSTRAP_LOG)"
  if ! debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$BOOTSTRAP_LOG" 2>&1; then
    tail_log "$BOOTSTRAP_LOG"
    die "debootstrap failed"
  fi
  # Caches and device nodes are not wanted in the image (the engine provides /dev).
  rm -rf "${dir:?}"/var/cache/apt/*.bin "${dir:?}"/var/cache/apt/archives/*.deb "${dir:?}"/var/lib/apt/lists/* "${dir:?}"/dev/* \
    "${dir:?}"/var/log/bootstrap.log "${dir:?}"/debootstrap
  say "importing $BASE_IMAGE"
  if ! tar --numeric-owner -C "$dir" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >>"$BOOTSTRAP_LOG" 2>&1; then
    tail_log "$BOOTSTRAP_LOG"
    die "docker import failed"
  fi
  rm -rf "$dir"
  trap - EXIT
}

ensure_base_image() {
  image_present && return 0
  # Serialise concurrent runs so two of them do not debootstrap at once.
  if have flock; then
    exec 9>"$LOCK_FILE"
    flock 9
    image_present && return 0
  fi
  say "base image $BASE_IMAGE missing; trying 'docker pull $PULL_IMAGE' (20 s)"
  if timeout 20s docker pull -q "$PULL_IMAGE" >/dev/null 2>&1 && docker tag "$PULL_IMAGE" "$BASE_IMAGE"; then
    say "tagged $PULL_IMAGE as $BASE_IMAGE"
    return 0
  fi
  say "pull failed (no registry reachable?); building $BASE_IMAGE with debootstrap"
  bootstrap_base
  image_present || die "$BASE_IMAGE still missing after import"
  say "created $BASE_IMAGE"
}

# The config tests check generated files with the real tools when present: `nginx -t` (HTTP and
# HTTPS variants, a certificate from openssl) and libmaxminddb's mmdblookup for the GeoIP
# placeholder. Install them when missing and we may (root with apt); otherwise they skip.
ensure_checkers() {
  local missing=()
  have nginx || missing+=(nginx-light)
  have openssl || missing+=(openssl)
  have mmdblookup || missing+=(mmdb-bin)
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! is_root || ! have apt-get; then
    say "not installing ${missing[*]} (not root or no apt-get): the tests that use them skip"
    return 0
  fi
  # Installing nginx must not start a server on this machine.
  apt_install_no_start "${missing[@]}" || say "could not install ${missing[*]}: the tests that use them skip"
  return 0
}

# apt_install in a subshell (its die does not end this script) with every service start forbidden
# by policy-rc.d while it runs, so a package's own daemon does not come up on this machine.
apt_install_no_start() {
  local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  (apt_install "$@") || rc=$?
  [ "$own_policy" -eq 1 ] && rm -f "$policy"
  return "$rc"
}

registry_up() { curl -fsS -o /dev/null --max-time 3 "http://$REGISTRY/v2/" 2>/dev/null; }

# The pull tests push to and pull from a registry of their own; without one they skip.
ensure_registry() {
  registry_up && return 0
  case "${REGISTRY%:*}" in
    127.* | localhost) ;;
    *)
      say "no registry answers at $REGISTRY (not loopback, so not started here): the pull tests skip"
      return 0
      ;;
  esac
  if ! have docker-registry; then
    if ! is_root || ! have apt-get; then
      say "docker-registry missing (not root or no apt-get): the pull tests skip"
      return 0
    fi
    # The package's own service (port 5000, /var/lib/docker-registry) stays off.
    apt_install_no_start docker-registry || {
      say "could not install docker-registry: the pull tests skip"
      return 0
    }
  fi
  # Serialise concurrent runs so two of them do not start two registries.
  if have flock; then
    exec 8>"$LOCK_FILE.registry"
    flock 8
    registry_up && return 0
  fi
  local pidfile="$REGISTRY_DIR/registry.pid" log="$REGISTRY_DIR/registry.log" pid
  mkdir -p "$REGISTRY_DIR/data"
  # One of ours that no longer answers (hung) is replaced; another process on the port is not ours.
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -n "$pid" ] && grep -qx docker-registry "/proc/$pid/comm" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    sleep 1
  fi
  cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
  fields:
    service: shctl-test-registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  say "starting docker-registry at $REGISTRY (log: $log)"
  # setsid + nohup: own session, so the registry outlives this script and the npm process group.
  # 8>&-: the lock stays with this script (a registry holding it would block every later run).
  setsid nohup docker-registry serve "$REGISTRY_DIR/config.yml" >>"$log" 2>&1 </dev/null 8>&- &
  pid=$!
  echo "$pid" >"$pidfile"
  disown || true
  local i
  for i in $(seq 1 50); do
    if registry_up; then
      exec 8>&-
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log "$log" 10
      say "docker-registry exited at start: the pull tests skip"
      return 0
    fi
    sleep 0.2
  done
  tail_log "$log" 10
  say "docker-registry did not answer at $REGISTRY within 10 s: the pull tests skip"
}

# What an earlier test run left on this engine when it was killed before its clean-up: containers
# and networks of test stacks only (named it-* by test/helpers.ts, with a project under /tmp), made
# more than an hour ago (each test file removes its own when it ends, so nothing that old belongs
# to a run still going). Left there they add up run after run until the engine has no address
# pool for a new network.
remove_test_leftovers() {
  local cutoff ids nets n=0 m=0
  cutoff="$(date -d '1 hour ago' +%s)"
  ids="$(docker ps -a --filter 'label=io.shctl.stack' \
    --format '{{.ID}} {{.Label "io.shctl.stack"}} {{.Label "io.shctl.project"}}' 2>/dev/null |
    awk '$2 ~ /^it-/ && $3 ~ /^\/tmp\// {print $1}' |
    xargs -r docker inspect --format '{{.Id}} {{.Created}}' 2>/dev/null |
    while read -r id created; do
      [ "$(date -d "$created" +%s 2>/dev/null || echo "$cutoff")" -lt "$cutoff" ] && echo "$id"
    done || true)"
  if [ -n "$ids" ]; then
    n="$(echo "$ids" | wc -l)"
    echo "$ids" | xargs docker rm -f >/dev/null 2>&1 || true
  fi
  nets="$(docker network ls -q --filter 'label=io.shctl.stack' 2>/dev/null |
    xargs -r docker network inspect \
      --format '{{.Id}} {{index .Labels "io.shctl.stack"}} {{index .Labels "io.shctl.project"}} {{.Created.Unix}}' 2>/dev/null |
    awk -v cutoff="$cutoff" '$2 ~ /^it-/ && $3 ~ /^\/tmp\// && $4 < cutoff {print $1}' || true)"
  if [ -n "$nets" ]; then
    m="$(echo "$nets" | wc -l)"
    echo "$nets" | xargs docker network rm >/dev/null 2>&1 || say "some leftover test networks could not be removed"
  fi
  if [ "$n" -gt 0 ] || [ "$m" -gt 0 ]; then
    say "removed what earlier test runs left: $n container(s), $m network(s) of it-* test stacks"
  fi
  return 0
}

ensure_engine
remove_test_leftovers
ensure_base_image
ensure_checkers
ensure_registry
if registry_up; then
  say "ok (engine up, $BASE_IMAGE present, registry at $REGISTRY)"
else
  say "ok (engine up, $BASE_IMAGE present; no registry: the pull tests skip)"
fi
