"""Large Hilbert spaces (issue 15): M coupled Kerr cavities, nephlab dense/sparse vs QuTiP 5 vs dynamiqs.

    python benchmarks/large.py                       # M = 4 and 6, every code
    python benchmarks/large.py --sizes 4 --repeat 3 --json out.json

The logic lives in :mod:`nephlab.bench.large`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.large import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.large import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/large.py"))
