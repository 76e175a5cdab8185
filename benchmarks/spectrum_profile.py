"""Where the time of one ``nephlab.quantum.spectrum`` call goes (n = 20 cavity, 1000 frequencies).

Run: ``python benchmarks/spectrum_profile.py [--n 20] [--nw 1000] [--repeat 3]``. Prints the
cumulative time per call of the spectrum's parts (cProfile over ``--repeat`` warm calls: the real
Schur decomposition of the generator in the Hermitian basis, the same plus the reordering
that yields the steady state, the back substitution over the frequencies) and, for the same
Liouvillian size N = n², the time of a complex and of a real Schur decomposition of a random
matrix, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import time

import numpy as np
import scipy.linalg

from nephlab.quantum import destroy
from nephlab.quantum.correlation import spectrum


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--nw", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    n = a.n
    op = destroy(n)
    H = 0.3 * op.T @ op + 0.5 * (op + op.T)
    c_ops = [np.sqrt(1.1) * op, np.sqrt(0.1) * op.T]
    w = np.linspace(-5.0, 5.0, a.nw)
    spectrum(H, w, c_ops, op.T, op)  # warm
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(a.repeat):
        spectrum(H, w, c_ops, op.T, op)
    prof.disable()
    stats = pstats.Stats(prof).stats
    parts = {"spectrum (total)": "spectrum", "real Schur (dgees)": "_real_schur", "Schur + steady state": "_stationary_schur",
             "back substitution": "_spectrum_core"}
    print(f"n={n}, N={n * n}, {a.nw} frequencies; {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; numpy {np.__version__}, scipy {scipy.__version__}")
    for label, fn in parts.items():
        cum = sum(v[3] for k, v in stats.items() if k[2] == fn)
        print(f"  {label:20s} {1e3 * cum / a.repeat:8.1f} ms per call")
    rng = np.random.default_rng(0)
    L = rng.normal(size=(n * n, n * n))
    for label, f in (("complex Schur (N x N)", lambda: scipy.linalg.schur(L + 0j, output="complex")),
                     ("real Schur (N x N)", lambda: scipy.linalg.schur(L))):
        best = min(_timed(f) for _ in range(a.repeat))
        print(f"  {label:20s} {1e3 * best:8.1f} ms (best of {a.repeat})")


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
