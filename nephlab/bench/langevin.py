"""Langevin benchmark: nephlab's batched overdamped integrator vs NumPy and pure Python.

Problem: dragged harmonic trap U = k(x - vt)²/2, k = γ = k_BT = v = 1, Euler–Maruyama with
Gaussian noise, and the simplified weak Euler scheme (Rademacher noise ξ = ±1: same weak order 1,
for work statistics), each in nephlab and in a NumPy vectorised loop; dt = 1e-3, n_steps steps (default 1000), n_traj trajectories (default 10^5), equilibrium start,
accumulating the Sekimoto work per trajectory; no trajectories stored. The rate is
trajectories × steps per second (median of ``--repeats`` timed calls after one warm-up call;
the pure-Python loop runs ``--python-traj`` trajectories, default 200, and is scaled).

Run ``python benchmarks/langevin.py --help``.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import time

import numpy as np

DT = 1e-3
V = 1.0


def _numpy_run(n_traj: int, n_steps: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n_traj)
    w = np.zeros(n_traj)
    s = math.sqrt(2 * DT)
    for n in range(n_steps):
        l0, l1 = V * DT * n, V * DT * (n + 1)
        w += 0.5 * (x - l1) ** 2 - 0.5 * (x - l0) ** 2
        x = x - (x - l1) * DT + s * rng.standard_normal(n_traj)
    return w


def _numpy_run_rademacher(n_traj: int, n_steps: int, seed: int) -> np.ndarray:
    """The same loop with the simplified weak Euler noise ξ = ±1, one bit per step taken from a
    32-bit word per trajectory drawn every 32 steps (what nephlab's ``noise="rademacher"`` does)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n_traj)
    w = np.zeros(n_traj)
    s = math.sqrt(2 * DT)
    word = np.zeros(n_traj, dtype=np.uint32)
    for n in range(n_steps):
        if n % 32 == 0:
            word = rng.integers(0, 2**32, size=n_traj, dtype=np.uint32)
        xi = ((word >> np.uint32(n % 32)) & np.uint32(1)).astype(np.float64) * 2.0 - 1.0
        l0, l1 = V * DT * n, V * DT * (n + 1)
        w += 0.5 * (x - l1) ** 2 - 0.5 * (x - l0) ** 2
        x = x - (x - l1) * DT + s * xi
    return w


def _python_run(n_traj: int, n_steps: int, seed: int) -> list[float]:
    rnd = random.Random(seed)
    s = math.sqrt(2 * DT)
    out = []
    for _ in range(n_traj):
        x, w = rnd.gauss(0.0, 1.0), 0.0
        for n in range(n_steps):
            l0, l1 = V * DT * n, V * DT * (n + 1)
            w += 0.5 * (x - l1) ** 2 - 0.5 * (x - l0) ** 2
            x = x - (x - l1) * DT + s * rnd.gauss(0.0, 1.0)
        out.append(w)
    return out


def _trap(x, lam):
    return 0.5 * (x - lam) ** 2


def _time(fn, repeats: int) -> tuple[float, float]:
    t = time.perf_counter()
    fn(0)
    first = time.perf_counter() - t
    ts = []
    for r in range(repeats):
        t = time.perf_counter()
        fn(r + 1)
        ts.append(time.perf_counter() - t)
    return first, statistics.median(ts)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the benchmark and print a table; returns 0.

    Example:
        >>> main(["--n-traj", "1000", "--n-steps", "20", "--repeats", "1", "--python-traj", "5"])  # doctest: +ELLIPSIS
        langevin benchmark...
        0
    """
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-traj", type=int, default=100_000)
    ap.add_argument("--n-steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--python-traj", type=int, default=200)
    a = ap.parse_args(argv)

    import jax

    from nephlab.stochastic import overdamped_langevin

    lam = V * DT * np.arange(a.n_steps + 1)
    ts = a.n_traj * a.n_steps

    def neph(noise: str):
        def run(seed: int):
            return overdamped_langevin(_trap, "equilibrium", lam, dt=DT, n_traj=a.n_traj, seed=seed, noise=noise).work
        return run

    # exact: <W> = v²γ[τ - (γ/k)(1 - e^{-kτ/γ})], Var W = 2 k_BT <W> (k = γ = k_BT = v = 1)
    tau = DT * a.n_steps
    w_exact = tau - (1 - math.exp(-tau))
    rows: dict[str, tuple[float, float, float]] = {}

    def add(name, fn, repeats):
        first, med = _time(fn, repeats)
        rows[name] = (first, med, float(np.mean(np.asarray(fn(12345)))))

    add("nephlab, Gaussian noise (EM)", neph("gaussian"), a.repeats)
    add("nephlab, Rademacher noise (weak Euler)", neph("rademacher"), a.repeats)
    add("numpy loop, Gaussian noise (EM)", lambda s: _numpy_run(a.n_traj, a.n_steps, s), a.repeats)
    add("numpy loop, Rademacher noise (weak Euler)", lambda s: _numpy_run_rademacher(a.n_traj, a.n_steps, s), a.repeats)
    py_first, py_med = _time(lambda s: _python_run(a.python_traj, a.n_steps, s), 1)
    scale = a.n_traj / a.python_traj
    rows["pure python, Gaussian (scaled)"] = (py_first * scale, py_med * scale, float("nan"))
    print(f"langevin benchmark: dragged trap, n_traj={a.n_traj}, n_steps={a.n_steps}, dt={DT}, repeats={a.repeats}")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, jax {jax.__version__}, "
          f"cpu {platform.processor() or platform.machine()}, devices {jax.devices()}")
    print(f"  exact <W> = {w_exact:.5f}; the <W> column is one extra run (seed 12345)")
    print("| code | first call (s) | median (s) | traj×steps/s | vs numpy Gaussian | <W> |")
    print("|---|---|---|---|---|---|")
    base = rows["numpy loop, Gaussian noise (EM)"][1]
    for name, (first, med, wm) in rows.items():
        print(f"| {name} | {first:.3g} | {med:.3g} | {ts / med:.3g} | {base / med:.3g}× | {wm:.4f} |")
    same = rows["numpy loop, Rademacher noise (weak Euler)"][1] / rows["nephlab, Rademacher noise (weak Euler)"][1]
    print(f"  same algorithm and noise (Rademacher): nephlab is {same:.3g}× the NumPy loop")
    return 0
