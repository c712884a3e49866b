#!/usr/bin/env bash
# Install Debian packages on this machine (the controller), one install at a time:
# make test sets up the Docker engine, debootstrap and the browser side by side, and
# apt refuses a second install while one runs. Each waits for the one before it.
#
#   tools/apt-install.sh PACKAGE...
set -euo pipefail

[[ $# -gt 0 ]] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
exec flock "${TMPDIR:-/tmp}/names-deploy-apt.lock" sh -c \
  'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null' \
  apt-install "$@"
