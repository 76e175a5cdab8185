"""One sparse ``H_eff ψ`` product (the work of one mcsolve stage) in each layout, against SciPy CSR.

Model: the driven XX qubit chain of ``benchmarks/mcsolve_sparse.py`` (D = 2^M), A = -i H_eff.
Layouts: nephlab's ELL (row gathers of the real-split ket, what mcsolve used before) and the
diagonal layout (``_ops.Diagonals``: static slices of one zero-padded copy, what mcsolve uses for
kets now), each jitted and timed inside a ``fori_loop`` of 200 products (no dispatch in the
number); SciPy's CSR ``A @ ψ`` timed in a Python loop. Median of 7 repeats, ms per product; the
error column is max |nephlab - SciPy|.

Run:  nice -n 5 python benchmarks/ket_product.py [--sizes 12 14]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcsolve_sparse import model  # noqa: E402

from nephlab.quantum import _ops  # noqa: E402

REPS = 200


def _time_jax(data, y):
    def loop(y):
        body = lambda i, c: c + 1e-9 * _ops.lmul("sparse", (), data, y + 1e-12 * c)  # noqa: E731
        return jax.lax.fori_loop(0, REPS, body, jnp.zeros_like(y))

    g = jax.jit(loop)
    jax.block_until_ready(g(y))
    ts = []
    for _ in range(7):
        t = time.perf_counter()
        jax.block_until_ready(g(y))
        ts.append((time.perf_counter() - t) / REPS)
    out = np.asarray(jax.jit(lambda y: _ops.lmul("sparse", (), data, y))(y))
    return statistics.median(ts), out[0, :, 0] + 1j * out[1, :, 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[12, 14], help="chain lengths M (D = 2^M)")
    a = ap.parse_args()
    print(f"# H_eff psi per product, ms (median of 7 x {REPS}); load average {os.getloadavg()[0]:.2f}")
    print(f"{'M':>3} {'D':>6} {'nnz':>7} {'scipy csr':>10} {'ell':>8} {'w':>3} {'diagonals':>10} {'n_diag':>6}  max err")
    for M in a.sizes:
        H, c_ops, _, _, _ = model(M)
        A = (-1j * (H - 0.5j * sum(c.conj().T @ c for c in c_ops))).tocsr()
        psi = np.random.default_rng(0).normal(size=A.shape[0]) * (1 + 0.5j)
        ref = A @ psi
        ts = []
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(REPS):
                A @ psi
            ts.append((time.perf_counter() - t) / REPS)
        y = jnp.asarray(np.stack([psi.real, psi.imag])[:, :, None])
        ell = _ops.to_sparse(A)
        dia = _ops.to_sparse(A, ket=True)
        assert "ec" in ell and isinstance(dia, _ops.Diagonals)
        t_ell, o_ell = _time_jax(jax.device_put(ell), y)
        t_dia, o_dia = _time_jax(jax.device_put(dia), y)
        err = max(np.abs(o_ell - ref).max(), np.abs(o_dia - ref).max())
        print(f"{M:>3} {A.shape[0]:>6} {A.nnz:>7} {statistics.median(ts) * 1e3:>10.3f} {t_ell * 1e3:>8.3f} "
              f"{ell['ec'].shape[0]:>3} {t_dia * 1e3:>10.3f} {len(dia.offsets):>6}  {err:.1e}", flush=True)


if __name__ == "__main__":
    main()
