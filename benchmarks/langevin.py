"""Langevin benchmark: nephlab's batched overdamped integrator vs NumPy and pure Python.

    python benchmarks/langevin.py                       # 10^5 trajectories × 10^3 steps
    python benchmarks/langevin.py --n-traj 10000 --repeats 5

The logic lives in :mod:`nephlab.bench.langevin`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.langevin import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.langevin import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/langevin.py"))
