"""Learned-control benchmark: nephlab PPO vs Stable-Baselines3 PPO vs a NumPy loop.

    python benchmarks/learn.py                       # full run (SB3 rows need stable-baselines3, torch, gymnasium)
    python benchmarks/learn.py --no-sb3 --ppo-steps 0 --markdown

The logic lives in :mod:`nephlab.bench.learn`; see ``--help``.
"""

import os
import sys

try:
    from nephlab.bench.learn import main
except ImportError:  # run from a checkout without nephlab installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nephlab.bench.learn import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/learn.py"))
