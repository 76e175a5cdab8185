"""First call in a fresh process, cold and warm compilation cache: nephlab vs QuTiP vs dynamiqs.

    python benchmarks/first_call.py --help
    nephlab bench lindblad --family first_call --help      # the same

The logic lives in :mod:`nephlab.bench.first_call`.
"""

import os
import sys

try:
    from nephlab.bench.first_call import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.first_call import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/first_call.py"))
