"""Levenberg–Marquardt steps of the HJB PINN with one OpenBLAS thread vs the default pool.

    python benchmarks/hjb_lm_threads.py [--steps 60] [--repeats 3]

The LM loop of :func:`nephlab.learn.hjb.solve_hjb` factors a ~700x700 matrix per step through
jaxlib's LAPACK kernels (SciPy's OpenBLAS). ``_levenberg_marquardt`` runs them with one OpenBLAS
thread (``nephlab._blas.process_single_thread``); this script times the same loop (the 2-D double integrator of
``tests/test_learn_hjb.py::test_lq2_targets``: hidden (24, 24), 721 weights, 768 points) with and
without that block, interleaved, and prints CPU and wall seconds per call (medians over the
repeats; every call traces and compiles its loop anew, ~2-3 s that both variants share, so the
difference is the factorisations; the first call of each variant is printed apart) and the final
loss of each (they agree: the thread count does not change the result beyond rounding).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import nephlab.learn.hjb as H
from nephlab import _blas


def _problem():
    p = H.LinearQuadraticHJB(A=[[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]], Q=np.eye(2), R=1.0, QT=np.eye(2),
                             tau=1.0, domain=1.0)
    cfg = H.HJBConfig(hidden=(24, 24), n_collocation=768, margin=0.2, seed=0)
    residual = H._residual_fn(p, cfg)
    params = H._mlp(cfg).init(jax.random.PRNGKey(0), jnp.zeros(3))
    t, x = (jnp.asarray(a) for a in H._uniform_points(np.random.default_rng(0), 768, 1.0, H._train_box(p, cfg)))

    def one(params, i):
        return residual(params, t[i][None], x[i][None])[0] / np.sqrt(768)

    return (one, 768), params


def _time(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.process_time() - c0, time.perf_counter() - w0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    res, params = _problem()
    single = _blas.process_single_thread
    variants = {"one OpenBLAS thread": single, "default OpenBLAS pool": contextlib.nullcontext}
    with single():  # finds the loaded OpenBLAS builds
        pass
    print(f"jax {jax.__version__}; OpenBLAS builds found: {len(_blas._pools)}"
          f" (default threads {[get() for get, _ in _blas._pools]})")
    rows = {k: [] for k in variants}
    for rep in range(a.repeats + 1):  # interleaved; repeat 0 includes the compilation
        for name, ctx in variants.items():
            _blas.process_single_thread = ctx
            try:
                cpu, wall, (_, h) = _time(lambda: H._levenberg_marquardt(res, params, a.steps))
            finally:
                _blas.process_single_thread = single
            if rep == 0:
                print(f"first call (compiles), {name}: cpu {cpu:.2f} s, wall {wall:.2f} s, final loss {float(h[-1]):.6e}")
            else:
                rows[name].append((cpu, wall))
    print(f"| variant ({a.steps} LM steps per call) | CPU s per call (median of {a.repeats}) | wall s per call |")
    print("|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {statistics.median(c for c, _ in r):.2f} | {statistics.median(w for _, w in r):.2f} |")


if __name__ == "__main__":
    main()
