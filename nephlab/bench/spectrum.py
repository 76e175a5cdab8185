"""Spectrum and correlation functions at n = 20 (driven damped thermal cavity): nephlab vs QuTiP 5.

Run: ``nephlab bench lindblad --family spectrum [--n 20] [--repeat 5]`` (or ``python benchmarks/spectrum.py``). Prints, per function, the first
call in this process (nephlab's includes its compilation; the nephlab rows run first, right after
the imports) and the median of the warm calls, the ratio nephlab / QuTiP of the medians, and the
largest difference between the two results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import numpy as np
import qutip

from nephlab.quantum import correlation_2op_1t, spectrum


def first_and_median(fn, repeat):
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return out, first, statistics.median(ts)


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the benchmark; ``argv`` excludes the program name. Returns an exit status."""
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--nw", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    N = a.n
    op = qutip.destroy(N)
    H = 0.7 * op.dag() * op + 0.5 * (op + op.dag())
    c_ops = [np.sqrt(1.1) * op, np.sqrt(0.1) * op.dag()]
    w = np.linspace(-5, 5, a.nw)
    tau = np.linspace(0, 10, 201)
    rows = [
        ("spectrum", lambda: spectrum(H, w, c_ops, op.dag(), op), lambda: qutip.spectrum(H, w, c_ops, op.dag(), op)),
        ("correlation_2op_1t", lambda: correlation_2op_1t(H, None, tau, c_ops, op.dag(), op),
         lambda: qutip.correlation_2op_1t(H, None, tau, c_ops, op.dag(), op)),
    ]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"n={N}, {a.nw} frequencies, 201 delays; qutip {qutip.__version__}, jax {jax.__version__}; "
          f"median of {a.repeat}; load average {load}")
    for name, ours, ref in rows:
        y_ours, f_ours, t_ours = first_and_median(ours, a.repeat)
        y_ref, f_ref, t_ref = first_and_median(ref, a.repeat)
        diff = np.abs(np.asarray(y_ours) - np.asarray(y_ref)).max()
        print(f"{name:20s} nephlab first {f_ours * 1e3:8.1f} ms, median {t_ours * 1e3:8.1f} ms | qutip first "
              f"{f_ref * 1e3:8.1f} ms, median {t_ref * 1e3:8.1f} ms | ratio of medians {t_ours / t_ref:.2f}"
              f"  max|diff| {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
