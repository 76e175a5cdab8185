"""spectrum benchmark of the quantum solver family; the logic lives in :mod:`nephlab.bench.spectrum`.

    python benchmarks/spectrum.py --help
    nephlab bench lindblad --family spectrum --help      # the same
"""

import os
import sys

try:
    from nephlab.bench.spectrum import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.spectrum import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/spectrum.py"))
