"""mcsolve benchmark of the quantum solver family; the logic lives in :mod:`nephlab.bench.mcsolve`.

    python benchmarks/mcsolve.py --help
    nephlab bench lindblad --family mcsolve --help      # the same
"""

import os
import sys

try:
    from nephlab.bench.mcsolve import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.mcsolve import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/mcsolve.py"))
