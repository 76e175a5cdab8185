#!/usr/bin/env bash
# The whole suite, twice in a row, on a fresh clone, while another process keeps one core busy
# (issue 11: "CI that holds under load"). Prints the wall time and the pytest summary of each run.
#
#   bash benchmarks/suite_under_load.sh [REPO] [RUNS]
#
# REPO defaults to this checkout (its committed HEAD is cloned: uncommitted work is not tested);
# RUNS defaults to 2. Set KEEP=1 to keep the clone. Needs what .ci/run installs (apt packages
# and a running SLURM); the first run also creates the clone's .venv.
set -euo pipefail
REPO="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
RUNS="${2:-2}"
WORK="$(mktemp -d /tmp/nephlab-load.XXXXXX)"
git clone -q "$REPO" "$WORK/clone"
cd "$WORK/clone"
echo "clone of $(git rev-parse --short HEAD) in $WORK/clone; $(nproc) cores; busy loop on one core"
python3 -c 'while True: pass' &
BUSY=$!
trap 'kill $BUSY 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
status=0
for i in $(seq 1 "$RUNS"); do
    t0=$(date +%s)
    if CI=true bash .ci/run >"$WORK/run$i.log" 2>&1; then rc=0; else rc=$?; status=1; fi
    t1=$(date +%s)
    echo "run $i: rc=$rc, $((t1 - t0)) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
    grep -E "^(FAILED|ERROR)|[0-9]+ (passed|failed)" "$WORK/run$i.log" | tail -15
done
exit $status
