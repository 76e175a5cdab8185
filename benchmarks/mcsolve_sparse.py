"""mcsolve on sparse operators: nephlab (format="sparse", JAX) against QuTiP 5 mcsolve (CSR).

Model: a chain of M driven qubits with XX nearest-neighbour coupling and local decay,

    H = Σ_k (Ω/2) σx_k + J Σ_k (σ+_k σ-_{k+1} + h.c.),   L_k = sqrt(γ) σ-_k,

Ω = 1, J = 0.2, γ = 0.2, from every site in the ground state, saved at 5 times in [0, 2], one
e_op (⟨σ+σ-⟩ of site 0); D = 2^M. Both codes get the same scipy.sparse CSR operators (QuTiP as
``Qobj`` with CSR data), the same tolerances (rtol = 1e-6, atol = 1e-8), ``ntraj``
trajectories, one process, trajectories one after another on QuTiP's side (``map="serial"``;
nephlab vmaps them in one compiled program). nephlab's first call includes compilation; the
"warm" row is the median of ``--repeats`` further calls (the compiled program is reused).
Both means of the e_op are printed with their standard errors as a sanity check (they are
different random samples, so they agree only statistically).

Run:  nice -n 5 python benchmarks/mcsolve_sparse.py [--sizes 12 14] [--ntraj 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import nephlab  # noqa: E402
from nephlab.quantum.sparse import embed  # noqa: E402

SM = np.array([[0, 0], [1, 0]], complex)  # σ-: |0> (excited) -> |1> (ground)
SX = np.array([[0, 1], [1, 0]], complex)


def model(M: int):
    dims = [2] * M
    sm = [embed(SM, k, dims) for k in range(M)]
    H = sum(0.5 * embed(SX, k, dims) for k in range(M))
    H = H + 0.2 * sum(sm[k].T @ sm[k + 1] + sm[k + 1].T @ sm[k] for k in range(M - 1))
    c_ops = [np.sqrt(0.2) * s for s in sm]
    e_op = (sm[0].T @ sm[0]).tocsr()
    psi0 = np.zeros(2**M, complex)
    psi0[-1] = 1.0
    return H.tocsr(), [c.tocsr() for c in c_ops], e_op, psi0, dims


def run_nephlab(M, ntraj, repeats, tl):
    H, c_ops, e_op, psi0, _ = model(M)
    t = time.perf_counter()
    r = nephlab.mcsolve(H, psi0, tl, c_ops, ntraj=ntraj, seed=1, e_ops=[e_op], format="sparse")
    first = time.perf_counter() - t
    warm = []
    for i in range(repeats):
        t = time.perf_counter()
        r = nephlab.mcsolve(H, psi0, tl, c_ops, ntraj=ntraj, seed=2 + i, e_ops=[e_op], format="sparse")
        warm.append(time.perf_counter() - t)
    assert r.stats["format"] == "sparse"
    return first, statistics.median(warm), r.expect[0][-1], r.stderr[0][-1], float(np.mean(r.n_jumps))


def run_qutip(M, ntraj, repeats, tl):
    import qutip

    H, c_ops, e_op, psi0, dims = model(M)
    q = lambda m: qutip.Qobj(m, dims=[dims, dims]).to("CSR")  # noqa: E731
    psi = qutip.Qobj(psi0.reshape(-1, 1), dims=[dims, [1] * M])
    opts = {"progress_bar": False, "map": "serial", "rtol": 1e-6, "atol": 1e-8, "keep_runs_results": True}
    Hq, cq, eq = q(H), [q(c) for c in c_ops], q(e_op)
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        r = qutip.mcsolve(Hq, psi, tl, cq, e_ops=[eq], ntraj=ntraj, seeds=100 + i, options=opts)
        times.append(time.perf_counter() - t)
    runs = np.asarray(r.runs_expect[0])[:, -1]
    return statistics.median(times), runs.mean(), runs.std(ddof=1) / np.sqrt(len(runs)), \
        float(np.mean([len(c) for c in r.col_times]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[12, 14], help="chain lengths M (D = 2^M)")
    ap.add_argument("--ntraj", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-qutip", action="store_true")
    a = ap.parse_args()
    import jax
    import scipy

    versions = f"nephlab {nephlab.__version__}, jax {jax.__version__}, numpy {np.__version__}, scipy {scipy.__version__}"
    if not a.no_qutip:
        import qutip

        versions += f", qutip {qutip.__version__}"
    print(f"# mcsolve on sparse operators; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {versions}")
    print(f"# ntraj = {a.ntraj}, tlist = 5 points in [0, 2], rtol 1e-6, atol 1e-8; times in s (median of {a.repeats})")
    print(f"{'M':>3} {'D':>7} {'nnz(H_eff)':>10} {'nephlab 1st':>12} {'nephlab warm':>13} {'qutip':>8} {'ratio':>6}  "
          "<n0>(T) nephlab / qutip (± se), mean jumps")
    tl = np.linspace(0.0, 2.0, 5)
    for M in a.sizes:
        H, c_ops, *_ = model(M)
        nnz = (H + sum(c.T @ c for c in c_ops)).nnz
        first, warm, mn, sn, jn = run_nephlab(M, a.ntraj, a.repeats, tl)
        if a.no_qutip:
            print(f"{M:>3} {2**M:>7} {nnz:>10} {first:>12.2f} {warm:>13.2f}")
            continue
        tq, mq, sq, jq = run_qutip(M, a.ntraj, a.repeats, tl)
        print(f"{M:>3} {2**M:>7} {nnz:>10} {first:>12.2f} {warm:>13.2f} {tq:>8.2f} {warm / tq:>6.2f}  "
              f"{mn.real:.3f}±{sn:.3f} / {mq:.3f}±{sq:.3f}, {jn:.2f} / {jq:.2f}", flush=True)


if __name__ == "__main__":
    main()
