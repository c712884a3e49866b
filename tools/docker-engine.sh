#!/usr/bin/env bash
# Make sure a Docker engine answers. On a machine without one (no systemd to
# start it), install Debian's docker.io and start dockerd in the background.
set -euo pipefail

engine_answers() { docker info >/dev/null 2>&1; }

if engine_answers; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "docker-engine: no Docker engine answers, and starting one needs root." >&2
  exit 1
fi
if ! command -v dockerd >/dev/null; then
  echo "docker-engine: installing Debian's Docker engine (docker.io)"
  "$(dirname "$0")/apt-install.sh" docker.io
fi
if ! command -v docker >/dev/null; then
  echo "docker-engine: no docker client found after installing docker.io" >&2
  exit 1
fi
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl start docker
else
  log=/var/log/dockerd.log
  echo "docker-engine: starting dockerd (log: $log)"
  # dockerd holds a lock on its standard input for as long as it runs. On /dev/null,
  # that lock makes every later make with -j and its output in /dev/null (output-sync
  # locks it) wait forever: an empty file of its own instead.
  stdin=/run/dockerd.stdin
  : >"$stdin"
  nohup dockerd <"$stdin" >"$log" 2>&1 &
fi
for _ in $(seq 1 60); do
  if engine_answers; then
    echo "docker-engine: engine $(docker info --format '{{.ServerVersion}}') is up"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
exit 1
