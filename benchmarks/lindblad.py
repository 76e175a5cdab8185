"""Lindblad benchmark: nephlab vs QuTiP 5 vs dynamiqs, side by side in one run.

    python benchmarks/lindblad.py                    # rows n = 10, 20, 50, 100 and batch
    python benchmarks/lindblad.py --rows 10,batch --repeats 3 --json out.json --markdown
    python benchmarks/lindblad.py --gpu-rows         # batch 1000 × n=10, n = 100, 200 on GPU

The logic lives in :mod:`nephlab.bench.lindblad`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.lindblad import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.lindblad import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/lindblad.py"))
