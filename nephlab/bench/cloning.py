"""Cloning benchmark: nephlab's JAX population dynamics vs the same algorithm in NumPy.

Problem: two-state process (rates a = 1: 0->1, b = 3: 1->0), activity, s = 1; modified-rate
cloning with exact Gillespie sojourns inside each resampling interval dt = 0.5 and systematic
resampling, n_clones clones (default 10^4) for n_steps intervals (default 200). The NumPy code is
vectorised over clones (a Python loop over intervals and over the jump rounds inside each).
The rate is clone-steps per second (clones x resampling steps / s), median of ``--repeats``
timed calls after one warm-up call (the first call includes JAX compilation).

Run ``python benchmarks/cloning.py --help``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

A, B, S, DT = 1.0, 3.0, 1.0, 0.5


def numpy_cloning(rates: np.ndarray, g: np.ndarray, s: float, n_clones: int, n_steps: int, dt: float,
                  seed: int) -> float:
    """Same algorithm as :func:`nephlab.largedev.cloning.cloning` in NumPy; returns theta (no burn-in).

    Example:
        >>> th = numpy_cloning(np.array([[0, 1.0], [1.0, 0]]), np.ones((2, 2)), 1.0, 100, 20, 0.5, 0)
        >>> round(th, 6)
        -0.632121
    """
    rng = np.random.default_rng(seed)
    n = rates.shape[0]
    W = rates.copy()
    np.fill_diagonal(W, 0)
    Ws = W * np.exp(-s * g)
    r, rs = W.sum(1), Ws.sum(1)
    delta = rs - r
    cum = np.cumsum(Ws / rs[:, None], axis=1)
    cum /= cum[:, -1:]
    x = rng.integers(0, n, n_clones)
    total = 0.0
    for _ in range(n_steps):
        t = np.zeros(n_clones)
        logw = np.zeros(n_clones)
        active = np.ones(n_clones, bool)
        while active.any():
            tau = rng.exponential(size=n_clones) / rs[x]
            jump = active & (t + tau < dt)
            stay = np.where(jump, tau, np.where(active, dt - t, 0.0))
            logw += delta[x] * stay
            u = 1.0 - rng.random(n_clones)
            j = np.minimum((cum[x] < u[:, None]).sum(1), n - 1)
            x = np.where(jump, j, x)
            t = np.where(jump, t + tau, np.where(active, dt, t))
            active = t < dt
        m = logw.max()
        w = np.exp(logw - m)
        total += m + np.log(w.mean())
        c = np.cumsum(w) / w.sum()
        idx = np.minimum(np.searchsorted(c, (np.arange(n_clones) + rng.random()) / n_clones), n_clones - 1)
        x = x[idx]
    return float(total / (n_steps * dt))


def _time(fn, repeats: int) -> tuple[float, float, float]:
    t = time.perf_counter()
    val = fn(0)
    first = time.perf_counter() - t
    ts = []
    for k in range(repeats):
        t = time.perf_counter()
        val = fn(k + 1)
        ts.append(time.perf_counter() - t)
    return first, statistics.median(ts), val


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the benchmark and print a table; returns 0.

    Example:
        >>> main(["--n-clones", "100", "--n-steps", "10", "--repeats", "1"])  # doctest: +ELLIPSIS
        cloning benchmark...
        0
    """
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-clones", type=int, default=10_000)
    ap.add_argument("--n-steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)

    import jax

    from nephlab.largedev.cloning import cloning, two_state_scgf

    rates = np.array([[0.0, A], [B, 0.0]])
    t_max = a.n_steps * DT
    cs = a.n_clones * a.n_steps

    def neph(seed: int) -> float:
        return cloning(rates, S, n_clones=a.n_clones, t_max=t_max, dt=DT, seed=seed, burn_in=0.0,
                       store_trajectories=False).scgf

    def nump(seed: int) -> float:
        return numpy_cloning(rates, np.ones((2, 2)), S, a.n_clones, a.n_steps, DT, seed)

    rows = {"nephlab (jax.jit, 1 call)": _time(neph, a.repeats), "numpy (vectorised over clones)": _time(nump, a.repeats)}
    exact = two_state_scgf(A, B, S)
    print(f"cloning benchmark: two-state a={A}, b={B}, activity, s={S}, dt={DT}, n_clones={a.n_clones}, "
          f"n_steps={a.n_steps}, repeats={a.repeats}; exact theta = {exact:.6f}")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, jax {jax.__version__}, "
          f"cpu {platform.processor() or platform.machine()}, devices {jax.devices()}")
    print("| code | first call (s) | median (s) | clone-steps/s | theta (last call) | nephlab speed-up |")
    print("|---|---|---|---|---|---|")
    base = rows["nephlab (jax.jit, 1 call)"][1]
    for name, (first, med, val) in rows.items():
        print(f"| {name} | {first:.3g} | {med:.3g} | {cs / med:.3g} | {val:.4f} | {med / base:.3g}x |")
    return 0
