"""mcsolve on the sparse operator format (``format="sparse"``): operators stay scipy.sparse /
coordinate data end to end, the state is a ket of size D.

Checks:
* the same seed gives the same trajectories on the sparse and the dense format (a driven,
  damped, coupled spin chain, D = 256): the jump records agree exactly up to rounding (jump times
  to 1e-8) and so do the expectations (1e-8). The formats differ only in the order of the
  floating-point sums of ``H_eff ψ``, so the trajectories differ by rounding only (the dense run
  gets the same scipy.sparse inputs: ``format="dense"`` densifies them);
* a D = 16384 product of 14 driven, detuned, damped qubits runs on the sparse path chosen by
  ``format=None`` (sparse inputs, D >= 4096), with a traced Python-side peak far below the
  4.3 GB of one dense operator, and every trajectory's <σz_k>(t) equals the exact reconstruction
  from its own jump record: between jumps each site evolves under its 2x2 ``H_eff,k`` (the
  sites are uncoupled, so the no-jump ket is a product), a jump through channel k resets site k
  to the ground state. The reconstruction is exact (matrix exponentials); the tolerance 1e-6
  (10 x rtol; observed 1.7e-8) is the integrator's (rtol = 1e-7, atol = 1e-9, ~50 steps);
* bad input names ``format``; a callable H is refused on the sparse format.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.linalg as sla

from nephlab.quantum import mcsolve
from nephlab.quantum.sparse import embed

SM = np.array([[0, 0], [1, 0]], complex)  # σ-: excited |0> -> ground |1>
SX = np.array([[0, 1], [1, 0]], complex)
SZ = np.diag([1.0, -1.0]).astype(complex)


def _chain(M: int, couple: float, n_decay: int, seed: int = 0):
    dims = [2] * M
    rng = np.random.default_rng(seed)
    om, de, ga = rng.uniform(0.5, 1.5, M), rng.uniform(-0.5, 0.5, M), rng.uniform(0.2, 0.6, M)
    H = sum(embed(0.5 * de[k] * SZ + 0.5 * om[k] * SX, k, dims) for k in range(M))
    if couple:
        sp_, sm_ = [embed(SM.T, k, dims) for k in range(M)], [embed(SM, k, dims) for k in range(M)]
        H = H + sum(couple * (sp_[k] @ sm_[k + 1] + sp_[k + 1] @ sm_[k]) for k in range(M - 1))
    c_ops = [embed(np.sqrt(ga[k]) * SM, k, dims) for k in range(n_decay)]
    psi0 = np.zeros(2**M, complex)
    psi0[-1] = 1.0  # every site in the ground state |1>
    return H.tocsr(), c_ops, psi0, (om, de, ga), dims


def test_sparse_and_dense_give_the_same_trajectories():
    H, c_ops, psi0, _, dims = _chain(8, 0.4, 4)
    e_ops = [embed(SZ, k, dims) for k in (0, 3, 7)]
    tl = np.linspace(0.0, 3.0, 7)
    kw = dict(ntraj=6, seed=5, rtol=1e-8, atol=1e-10)
    rs = mcsolve(H, psi0, tl, c_ops, e_ops=e_ops, format="sparse", **kw)
    rd = mcsolve(H, psi0, tl, c_ops, e_ops=e_ops, format="dense", **kw)  # the same inputs, densified
    assert rs.stats["format"] == "sparse" and rd.stats["format"] in ("dense", "dia")
    assert rs.n_jumps.sum() >= 4  # the comparison covers jumps (5 with this seed)
    np.testing.assert_array_equal(rs.n_jumps, rd.n_jumps)
    np.testing.assert_array_equal(rs.jump_channels, rd.jump_channels)
    np.testing.assert_allclose(rs.jump_times, rd.jump_times, rtol=0, atol=1e-8)  # NaN padding equal too
    for xs, xd in zip(rs.expect, rd.expect):
        np.testing.assert_allclose(xs, xd, rtol=0, atol=1e-8)
    np.testing.assert_allclose(rs.final_states, rd.final_states, rtol=0, atol=1e-8)


def _reconstruct(times, channels, tl, om, de, ga, k):
    """<σz_k>(tl) of one trajectory from its jump record (exact, site by site)."""
    g = ga[k] if k < len(ga) else 0.0
    heff = 0.5 * de[k] * SZ + 0.5 * om[k] * SX - 0.5j * g * np.diag([1.0, 0.0])
    resets = np.sort(times[channels == k])
    out = []
    for t in tl:
        prev = resets[resets <= t]
        t0 = prev[-1] if len(prev) else 0.0
        phi = sla.expm(-1j * heff * (t - t0)) @ np.array([0.0, 1.0])  # from the ground state
        out.append(np.real(np.vdot(phi, SZ @ phi)) / np.real(np.vdot(phi, phi)))
    return np.array(out)


@pytest.mark.slow  # ~15 s on a quiet 2-core CPU, mostly compilation
def test_large_product_chain_stays_sparse_and_matches_exact_sites():
    M, n_decay = 14, 4
    H, c_ops, psi0, (om, de, ga), dims = _chain(M, 0.0, n_decay, seed=1)
    sites = [0, 3, 9]
    e_ops = [embed(SZ, k, dims) for k in sites]
    tl = np.linspace(0.0, 2.0, 5)
    tracemalloc.start()
    try:
        res = mcsolve(H, psi0, tl, c_ops, ntraj=2, seed=2, e_ops=e_ops, rtol=1e-7, atol=1e-9, keep_runs=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert H.shape == (16384, 16384)
    assert res.stats["format"] == "sparse"  # format=None chose it (sparse inputs, D >= 4096)
    assert peak < 200e6, peak  # one dense operator would be 16 D² = 4.3 GB
    assert res.final_states.shape == (2, 16384)
    assert res.n_jumps.sum() >= 2
    for i in range(res.ntraj):
        t_i, ch_i = res.jumps(i)
        assert set(ch_i.tolist()) <= set(range(n_decay))
        for j, k in enumerate(sites):
            exact = _reconstruct(t_i, ch_i, tl, om, de, ga[:n_decay], k)
            np.testing.assert_allclose(res.runs_expect[j][i], exact, rtol=0, atol=1e-6)  # observed 1.7e-8; 10 x rtol


@pytest.mark.parametrize("fmt", ["dense2", 3])
def test_bad_format_is_refused(fmt):
    H, c_ops, psi0, _, _ = _chain(3, 0.0, 1)
    with pytest.raises(ValueError, match="format"):
        mcsolve(H, psi0, [0.0, 1.0], c_ops, ntraj=1, seed=0, format=fmt)


def test_callable_hamiltonian_with_sparse_is_refused():
    """A callable H(t) returns dense matrices: the sparse format refuses it, naming the list form
    (time-dependent lists run sparse, tests/test_quantum_sparse_timedep.py)."""
    H, c_ops, psi0, _, _ = _chain(3, 0.0, 1)
    Hd = H.toarray()
    with pytest.raises(ValueError, match="format='sparse' needs H and every c_ops entry .* list format"):
        mcsolve(lambda t: Hd * np.cos(t), psi0, [0.0, 1.0], c_ops, ntraj=1, seed=0, format="sparse")

