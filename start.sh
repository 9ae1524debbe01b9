#!/usr/bin/env bash
# start.sh — the first install of Sentry (the plan's start.sh), and safe to run any time after.
#
# Installs the dependencies (`npm ci`) when node_modules is missing or older than
# package-lock.json, builds shctl (`npm run build`) when it is not built or its sources changed
# since the last build, then runs `shctl apply`: it creates ./sentrydata, runs each first-run init
# job once (prerequisites, config, relay credentials, snuba bootstrap and migrations, Kafka topics,
# `sentry upgrade`) and starts every service in dependency order. Arguments go to `shctl apply`,
# e.g. `./start.sh --yes`, `./start.sh --profile core`, `./start.sh --dry-run`.
#
# Runs in the repository root, where ./sentrydata and shctl.yaml are (a -f path is relative to it).
# For the everyday start after a stop or a reboot, ./up.sh is enough.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

STAMP=packages/cli/dist/.shctl-build-stamp

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "start.sh: installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
  rm -f "$STAMP" # new dependencies: build again
fi

stale() {
  [ -f packages/cli/dist/main.js ] && [ -f "$STAMP" ] || return 0
  # Anything the build reads, newer than the last build.
  [ -n "$(find packages/*/src packages/*/scripts packages/*/tsconfig.json packages/*/package.json \
    tsconfig.base.json tsconfig.json package.json -type f -newer "$STAMP" -not -name '*.test.ts' -print -quit 2>/dev/null)" ]
}
if stale; then
  echo "start.sh: building shctl (npm run build)" >&2
  npm run build --silent
  touch "$STAMP"
fi

exec node packages/cli/dist/main.js apply "$@"
