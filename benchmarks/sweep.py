"""Sweep benchmark: a 1000-point sweep of the n = 10 lindblad task on a Dask LocalCluster,
1 vs 2 workers, against a naive loop of one ``client.submit`` per point.

    python benchmarks/sweep.py                          # 1000 points, 1 and 2 workers, 3 repeats
    python benchmarks/sweep.py --points 200 --repeats 1
    python benchmarks/sweep.py --slurm local-slurm      # plus 100 points through a SLURM profile

The logic lives in :mod:`nephlab.bench.sweep`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.sweep import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.sweep import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/sweep.py"))
