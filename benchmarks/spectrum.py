"""Spectrum and correlation functions at n = 20 (driven damped thermal cavity): nephlab vs QuTiP 5.

Run: ``python benchmarks/spectrum.py [--n 20] [--repeat 5]``. Prints per-call medians (after one
warm-up call each, so nephlab's compilation is excluded) and the ratio nephlab / QuTiP, and the
largest difference between the two results.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import qutip

from nephlab.quantum import correlation_2op_1t, spectrum


def median_time(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--nw", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
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
    print(f"n={N}, {a.nw} frequencies, 201 delays; qutip {qutip.__version__}; median of {a.repeat}")
    for name, ours, ref in rows:
        diff = np.abs(np.asarray(ours()) - np.asarray(ref())).max()
        t_ours, t_ref = median_time(ours, a.repeat), median_time(ref, a.repeat)
        print(f"{name:20s} nephlab {t_ours * 1e3:8.1f} ms  qutip {t_ref * 1e3:8.1f} ms  ratio {t_ours / t_ref:.2f}"
              f"  max|diff| {diff:.2e}")


if __name__ == "__main__":
    main()
