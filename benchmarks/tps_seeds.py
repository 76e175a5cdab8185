"""Seed study of the TPS mean transition path time (issue 16): the run of
``tests/test_largedev_paths.py::test_tps_mean_transition_path_time_1d`` for several seeds, against
the exact (quadrature) limit of the reweighted estimator for the discrete path ensemble.

V = (x^2 - 1)^2, beta = 3, A = {x <= -1}, B = {x >= 1}, dt = 0.02, T = 5, 768 chains, burn_in = 600,
300 moves. Prints per seed: mean +- jackknife se, z against the exact limit, the largest weight
share of one chain and the longest transition path time. ~10-20 s per seed and ~40 s for the
quadrature on one core.

    nice -n 5 python benchmarks/tps_seeds.py [--seeds 0 1 2 3] [--no-exact]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time
import warnings
from pathlib import Path

import jax
import numpy as np

from nephlab.largedev.paths import straight_path, transition_path_sampling

BETA, DT, T = 3.0, 0.02, 5.0


def _exact_limit(L: int) -> float:
    """Reweighted-mean limit from the quadrature reference of the tests (one source for both)."""
    spec = importlib.util.spec_from_file_location(
        "_tps_tests", Path(__file__).resolve().parents[1] / "tests" / "test_largedev_paths.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    PT = mod._exact_tps_tau_distribution(BETA, DT, L, h=0.005, xmax=2.4)
    tau = np.arange(L) * DT
    w = 1 / (T - tau + DT)
    return float(np.sum(PT * w * tau) / np.sum(PT * w))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    ap.add_argument("--no-exact", action="store_true")
    a = ap.parse_args()
    print(f"# machine: {platform.node()} {platform.processor() or platform.machine()}, jax {jax.__version__}")
    L = int(round(T / DT)) + 1
    limit = float("nan")
    if not a.no_exact:
        t0 = time.time()
        limit = _exact_limit(L)
        print(f"# exact limit of the reweighted mean (quadrature, h = 0.005): {limit:.5f} ({time.time() - t0:.0f} s)")
    print("seed  mean     se      z      top-chain-share  max-tau  unrelaxed  wall[s]")
    for seed in a.seeds:
        t0 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = transition_path_sampling(lambda x: (x**2 - 1) ** 2, straight_path(-1.2, 1.2, L), BETA,
                                         (-np.inf, -1.0), (1.0, np.inf), dt=DT, n_moves=300, n_chains=768,
                                         burn_in=600, save_every=50, seed=seed)
            m, se = r.mean_transition_path_time()
        tau = r.transition_path_times
        w = (1 / (r.window - tau + r.dt)).sum(1)
        print(f"{seed:4d}  {m:.4f}  {se:.4f}  {(m - limit) / se:+.2f}  {w.max() / w.sum():15.4f}  {tau.max():7.2f}  "
              f"{len(r.unrelaxed_chains):9d}  {time.time() - t0:7.1f}", flush=True)


if __name__ == "__main__":
    main()
