"""GRAPE benchmark: nephlab vs qutip-qoc on the qutip-qoc Hadamard problem, side by side.

    python benchmarks/grape.py                       # targets ε = 1e-3 and 1e-7, 5 repeats
    python benchmarks/grape.py --targets 1e-3 --repeats 3 --json out.json

The logic lives in :mod:`nephlab.bench.grape`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.grape import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.grape import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/grape.py"))
