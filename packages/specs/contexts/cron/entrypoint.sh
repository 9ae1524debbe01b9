#!/usr/bin/env bash
# Installs the crontab line given as arguments and runs cron in the foreground.
# cron starts its jobs with an almost empty environment, so the container's variables are
# saved to a file that every job's shell loads first (BASH_ENV).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: give one crontab line as the command, e.g. '0 0 * * * some-command'" >&2
  exit 2
fi

# Custom CA certificates mounted at /usr/local/share/ca-certificates reach the system bundle,
# as in upstream's cron entrypoint (so sentry-cleanup trusts what web and the workers trust).
if [ -d /usr/local/share/ca-certificates ] && [ -n "$(ls -A /usr/local/share/ca-certificates)" ]; then
  if command -v update-ca-certificates > /dev/null; then
    update-ca-certificates
  else
    echo "warning: certificates in /usr/local/share/ca-certificates, but this image has no update-ca-certificates" >&2
  fi
fi

export -p | grep -v -E '^declare -x (HOSTNAME|HOME|PWD|SHLVL|_)=' > /shctl-cron.env
{
  echo "SHELL=/bin/bash"
  echo "BASH_ENV=/shctl-cron.env"
  # Job output goes to the container's log.
  echo "$* > /proc/1/fd/1 2> /proc/1/fd/2"
} | crontab -

exec cron -f
