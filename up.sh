#!/usr/bin/env bash
# up.sh — the everyday start after a stop or a reboot (the plan's up.sh): `shctl apply`.
#
# It never re-runs an init step, because apply itself never does: each init job runs only when
# its key — its command, image and the files it reads — changes, and the keys of the jobs that
# completed are kept in sentrydata/.shctl/state.json. So apply only starts what is stopped (in
# dependency order, behind the same readiness checks), puts back what was changed by hand, and
# otherwise changes nothing. Arguments go to `shctl apply` (e.g. `./up.sh --yes`, `./up.sh --dry-run`).
#
# Runs in the repository root, where ./sentrydata and shctl.yaml are (a -f path is relative to it).
# It neither installs nor builds: for the first install, or after updating the checkout, run ./start.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ ! -f packages/cli/dist/main.js ]; then
  echo "up.sh: shctl is not built yet; run ./start.sh for the first install" >&2
  exit 1
fi
exec node packages/cli/dist/main.js apply "$@"
