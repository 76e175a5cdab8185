"""The array-module backend (issue 15): ``mesolve_xp`` with CuPy on a GPU against NumPy/SciPy on the
CPU, 100 RK4 steps of the driven Kerr chain (d = 3, D = 3^M; the QuantumToolbox.jl comparison of
the issue). Rows whose backend cannot run here (no CuPy or no GPU) read n/a.

    python benchmarks/xp_backend.py --sizes 4 6 --steps 100 --repeats 3 [--markdown] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _time(backend: str, M: int, steps: int, repeats: int) -> float | None:
    from nephlab.quantum.xp import kerr_chain, mesolve_xp

    H, c_ops, _ = kerr_chain(M)
    D = H.shape[0]
    rho0 = np.zeros((D, D), complex)
    rho0[0, 0] = 1.0
    dt = 0.01
    tl = np.array([0.0, steps * dt])
    try:
        mesolve_xp(H, rho0, tl, c_ops, method="rk4", dt=dt, backend=backend, store_states=False)  # warm-up
    except ValueError as err:  # backend not available here
        print(f"# {backend}: {err}")
        return None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mesolve_xp(H, rho0, tl, c_ops, method="rk4", dt=dt, backend=backend, store_states=False)
        times.append(time.perf_counter() - t0)  # mesolve_xp synchronises the device before returning
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[4, 6])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backends", nargs="+", default=["numpy", "cupy"])
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    rows = []
    for M in a.sizes:
        t = {b: _time(b, M, a.steps, a.repeats) for b in a.backends}
        base = t.get("numpy")
        for b, v in t.items():
            rows.append({"M": M, "D": 3**M, "backend": b, "median_s": v,
                         "vs_numpy": (v / base) if (v is not None and base) else None})
    if a.markdown:
        print(f"| M | D | backend | {a.steps} RK4 steps, median (s) | ratio to numpy |")
        print("|---|---|---|---|---|")
        for r in rows:
            med = "n/a" if r["median_s"] is None else f"{r['median_s']:.3g}"
            rat = "n/a" if r["vs_numpy"] is None else f"{r['vs_numpy']:.3g}"
            print(f"| {r['M']} | {r['D']} | {r['backend']} | {med} | {rat} |")
    else:
        for r in rows:
            print(r)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
