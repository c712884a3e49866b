#!/usr/bin/env bash
# make test: lint, unit, release checks and every Molecule scenario, in two lanes.
#
# Creating, converging and re-converging (idempotence) a scenario waits on one
# round trip after another and leaves half of two cores idle; the verifiers run load
# through the hosts and need the machine to themselves (the Makefile's note by
# MOLECULE_JOBS). So:
#   1. the fleet (cluster) is created and converged in the background, while this
#      lane lints, runs the unit and release checks and converges the default scenario;
#   2. then each scenario's verifier runs alone, and its containers are destroyed.
# Each scenario's containers are destroyed whatever fails.
set -uo pipefail
cd "$(dirname "$0")/.."

make=${MAKE:-make}
background=cluster
foreground=default
mkdir -p build
log=build/molecule-$background-converge.log

seconds() { echo $(($(date +%s) - $1)); }

started=$(date +%s)
$make --no-print-directory "molecule-ready-$background" >"$log" 2>&1 &
lane=$!

$make --no-print-directory lint unit release-check "molecule-ready-$foreground"
checks=$?
wait "$lane"
converged=$?
echo "---- molecule $background: destroy, syntax, create, converge, idempotence (alongside; $log) ----"
cat "$log"
echo "checks and $foreground converged: $([ $checks = 0 ] && echo passed || echo FAILED);" \
  "$background converged: $([ $converged = 0 ] && echo passed || echo FAILED); $(seconds "$started") s"

# Once anything has failed, the scenarios left are only destroyed.
failed=$((checks != 0 || converged != 0))
for scenario in $foreground $background; do
  if [ $failed = 0 ]; then
    $make --no-print-directory "molecule-verified-$scenario" || failed=1
  else
    $make --no-print-directory "molecule-destroyed-$scenario" || true
  fi
done
[ $failed = 0 ] || exit 1
echo "make test: passed in $(seconds "$started") s"
