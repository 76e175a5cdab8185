"""Cloning benchmark: nephlab's JAX population dynamics vs the same algorithm in NumPy.

    python benchmarks/cloning.py                        # 10^4 clones x 200 resampling steps
    python benchmarks/cloning.py --n-clones 1000 --repeats 5

The logic lives in :mod:`nephlab.bench.cloning`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.cloning import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.cloning import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/cloning.py"))
