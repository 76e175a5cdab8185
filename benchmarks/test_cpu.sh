#!/bin/bash
# CPU seconds of a set of test files under one test-run setting (the suite's CPU budget).
#
#   benchmarks/test_cpu.sh LABEL CACHE FLAGS FILE...
#
# LABEL names the outputs in $OUT (default /tmp/test-cpu): time-LABEL (GNU time: wall, user,
# system seconds, subprocesses included), junit-LABEL.xml (per-test seconds), out-LABEL.
# CACHE is `off` or `fresh` (a new, empty JAX persistent compilation cache in $OUT/cache-LABEL,
# as `make test` would use); FLAGS is the XLA_FLAGS value ("" for none). The files run in one
# pytest process, like one xdist worker (`--dist loadfile`). Run the settings one after the other,
# never side by side, and record `uptime`: on a shared machine the wall time follows the load,
# the CPU seconds much less. Example (2026-12-06, benchmarks/RESULTS.md "Test-suite CPU"):
#   benchmarks/test_cpu.sh A off "" tests/test_mesolve_api.py tests/test_rk_dop853.py
#   benchmarks/test_cpu.sh C fresh "--xla_backend_optimization_level=0" tests/test_mesolve_api.py ...
set -u
OUT=${OUT:-/tmp/test-cpu}
mkdir -p "$OUT"
label=$1; cache=$2; flags=$3; shift 3
if [ "$cache" = fresh ]; then rm -rf "$OUT/cache-$label"; cache=$OUT/cache-$label; fi
echo "== $label cache=$cache XLA_FLAGS='$flags' start $(date -u +%T) $(uptime)"
XLA_FLAGS="$flags" NEPHLAB_JAX_CACHE=$cache nice -n 5 /usr/bin/time -f "%e s wall, %U s user, %S s system" \
  -o "$OUT/time-$label" .venv/bin/python -m pytest -q -p no:cacheprovider -p no:xdist "$@" \
  --junitxml="$OUT/junit-$label.xml" > "$OUT/out-$label" 2>&1
rc=$?
echo "rc=$rc $(cat "$OUT/time-$label") end $(date -u +%T) $(uptime)"
tail -1 "$OUT/out-$label"
exit $rc
