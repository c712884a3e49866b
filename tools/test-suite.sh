#!/usr/bin/env bash
# make test: lint, unit, release checks and every Molecule scenario, in two lanes.
#
# Creating, converging and re-converging (idempotence) a scenario, and the default
# scenario's host checks (tests/infra), wait on one round trip after another and leave
# much of two cores idle; load through the hosts needs the cores (the Makefile's note
# by MOLECULE_JOBS). So no two loads ever run at once:
#   1. the fleet (cluster) is created and converged in the background, while this
#      lane lints, runs the unit and release checks and converges the default scenario;
#   2. the fleet's verifier (load) runs in the background, and its containers are
#      destroyed, while this lane checks the default scenario's hosts (tests/infra);
#   3. then the release lifecycle story (load) on the default scenario's host, and its
#      containers are destroyed.
# Each scenario's containers are destroyed whatever fails.
set -uo pipefail
cd "$(dirname "$0")/.."

make=${MAKE:-make}
background=cluster
foreground=default
mkdir -p build

seconds() { echo $(($(date +%s) - $1)); }
outcome() { [ "$1" = 0 ] && echo passed || echo FAILED; }

# Run make's targets in the background, into a log printed by `joined`.
alongside() {
  log=build/molecule-$background-$1.log
  shift
  $make --no-print-directory "$@" >"$log" 2>&1 &
  lane=$!
}
joined() {
  wait "$lane"
  local status=$?
  echo "---- $1 (alongside; $log) ----"
  cat "$log"
  return $status
}

started=$(date +%s)
alongside converge "molecule-ready-$background"
$make --no-print-directory lint unit release-check "molecule-ready-$foreground"
checks=$?
joined "molecule $background: destroy, syntax, create, converge, idempotence"
converged=$?
echo "checks and $foreground converged: $(outcome $checks); $background converged:" \
  "$(outcome $converged); $(seconds "$started") s"

# Once anything has failed, the scenarios left are only destroyed.
failed=$((checks != 0 || converged != 0))
if [ $failed = 0 ]; then
  alongside verify "molecule-verified-$background"
  PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} --deselect tests/lifecycle/" $make --no-print-directory "molecule-checked-$foreground" ||
    failed=1
  joined "molecule $background: verify, destroy" || failed=1
else
  $make --no-print-directory "molecule-destroyed-$background" || true
fi
# The story changes the host: it comes after the checks of the host as converged.
if [ $failed = 0 ]; then
  PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} --deselect tests/infra/" $make --no-print-directory "molecule-verified-$foreground" ||
    failed=1
else
  $make --no-print-directory "molecule-destroyed-$foreground" || true
fi
[ $failed = 0 ] || exit 1
echo "make test: passed in $(seconds "$started") s"
