"""Time-dependent operators on the sparse format (issue 15): ``H(t) = H0 + Σ_j f_j(t) H_j`` and
``c(t) = Σ_j g_j(t) C_j`` with sparse H_j, C_j, for mesolve (rk4, tsit5, dopri5) and mcsolve.

Model: the Kerr lattice of nephlab.bench.large with M = 3 (D = 27), driven on site 0 by a
Gaussian pulse 0.8 exp(-(t - 1)²/(2 · 0.3²)) (a_0 + a_0†) and on site 1 by 0.5 cos(1.3 t)
(a_1 + a_1†), with a modulated loss on site 2, c(t) = sqrt(0.1) (1 + 0.5 sin t) a_2
(QuTiP lists and QobjEvo semantics on both sides).

Tolerances:
* sparse vs dense nephlab with fixed-step rk4: the same arithmetic in another order (rounding
  only): 1e-8 absolute on every expectation value and on ρ(t_end);
* against QuTiP 5 (adams at rtol 1e-8, atol 1e-10, CSR data) the shared tolerance of
  tests/test_mesolve_reference.py: nephlab tsit5/dopri5 at rtol 1e-6 / atol 1e-8, relative
  error <= 2e-6;
* mcsolve vs mesolve: 4.5 standard errors per saved time (max over 6 times and 2 e_ops: a
  false failure has probability < 1e-4), plus 2e-5 for the times before the sample's first jump
  (there every trajectory is the same no-jump ket, se = 0, and ρ(t) differs by the O(1e-6)
  weight of early jumps);
* mcsolve sparse vs dense format, same seed: the formats differ only in the order of the sums in
  ``H_eff(t) ψ``; jump records equal, jump times and expectations to 1e-8 (as in
  tests/test_quantum_mcsolve_sparse.py).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import qutip
import scipy.sparse as sp

import nephlab as nl
from nephlab.bench.large import kerr_lattice
from nephlab.quantum import _ops
from nephlab.quantum.sparse import embed

A_LOC = np.diag(np.sqrt(np.arange(1, 3)), 1)
T0, SIG, AMP, W, EPS = 1.0, 0.3, 0.8, 1.3, 0.5


def pulse(t):
    return AMP * jnp.exp(-((t - T0) ** 2) / (2 * SIG**2))


def drive(t, args):
    return args["eps"] * jnp.cos(args["w"] * t)


def modulation(t):
    return 1.0 + 0.5 * jnp.sin(t)


def driven_lattice(M: int = 3):
    """(H list, c_ops list, e_ops, rho0 dense, pieces) of the driven lattice, all scipy CSR."""
    H0, c_ops, n0, rho0 = kerr_lattice(M)
    dims = [3] * M
    a = [embed(A_LOC, k, dims) for k in range(M)]
    X0, X1 = (a[0] + a[0].conj().T).tocsr(), (a[1] + a[1].conj().T).tocsr()
    H = [H0, [X0, pulse], [X1, drive]]
    c = list(c_ops[:2]) + [[c_ops[2], modulation]]
    n1 = (a[1].conj().T @ a[1]).tocsr()
    return H, c, [n0, n1], rho0.toarray(), (H0, X0, X1, c_ops)


ARGS = {"eps": EPS, "w": W}


def _densified(H, c):
    """``(H, c_ops)`` of :func:`driven_lattice` with every operator a dense array (the same lists
    and coefficients), for the dense engine."""
    dense = (lambda x: [x[0].toarray(), x[1]] if isinstance(x, list) else x.toarray())  # noqa: E731
    return [dense(x) for x in H], [dense(x) for x in c]


def _qutip_reference(tl, M: int = 3):
    H, c, e_ops, rho0, (H0, X0, X1, c_ops) = driven_lattice(M)
    q = lambda m: qutip.Qobj(m, dims=[[3] * M, [3] * M]).to("csr")  # noqa: E731
    Hq = [q(H0), [q(X0), lambda t: AMP * np.exp(-((t - T0) ** 2) / (2 * SIG**2))],
          [q(X1), lambda t: EPS * np.cos(W * t)]]
    cq = [q(c_ops[0]), q(c_ops[1]), [q(c_ops[2]), lambda t: 1.0 + 0.5 * np.sin(t)]]
    return qutip.mesolve(qutip.QobjEvo(Hq), qutip.Qobj(rho0, dims=[[3] * M, [3] * M]), tl, cq,
                         e_ops=[q(e) for e in e_ops], options={"rtol": 1e-8, "atol": 1e-10, "nsteps": 100_000})


def rel_err(x, ref) -> float:
    return float(np.max(np.abs(np.asarray(x) - np.asarray(ref))) / np.max(np.abs(np.asarray(ref))))


# ---------------------------------------------------------------------------------------------
# the operator layout: union pattern, per-term values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ket", [False, True])
def test_sparse_sum_combines_terms_on_the_union_pattern(ket):
    """``Σ_j c_j O_j`` from the stored layout equals the CSR sum, applied to a random state, for
    ELL (density matrices), diagonals (kets) and the one-diagonal jump layout (``L X L†`` for
    density matrices, ``L ψ`` for kets)."""
    H, c, _, _, (H0, X0, X1, c_ops) = driven_lattice(3)
    rng = np.random.default_rng(0)
    coef = rng.normal(size=3) + 1j * rng.normal(size=3)
    mats = [-1j * H0, X0, 0.3j * X1]
    want = sum(ci * m for ci, m in zip(coef, mats))
    data = _ops.sparse_sum(mats, ket=ket)
    assert len(_ops.term_values(data)) == 3
    vals = sum(complex(ci) * (v[0] + 1j * v[1]) for ci, v in zip(coef, _ops.term_values(data)))
    A = _ops.with_values(data, np.stack([vals.real, vals.imag]))
    x = rng.normal(size=(27, 1 if ket else 27)) + 1j * rng.normal(size=(27, 1 if ket else 27))
    got = np.asarray(_ops.lmul("sparse", (), A, _ops.split(x)))
    np.testing.assert_allclose(got[0] + 1j * got[1], want @ x, rtol=0, atol=1e-12)
    # a ladder operator occupies one diagonal: the slice layout, with two value arrays
    jump = _ops.sparse_sum([c_ops[2], 2.0j * c_ops[2]], jump=True)
    assert isinstance(jump, _ops.Diagonals) and len(jump.offsets) == 1
    jv = sum(complex(ci) * (v[0] + 1j * v[1]) for ci, v in zip(coef, _ops.term_values(jump)))
    L = _ops.with_values(jump, np.stack([jv.real, jv.imag]))
    Lc = coef[0] * c_ops[2] + 2.0j * coef[1] * c_ops[2]
    got = np.asarray(_ops.lmul("sparse", (), L, _ops.split(x)) if ket else _ops.sandwich(L, _ops.split(x)))
    np.testing.assert_allclose(got[0] + 1j * got[1], Lc @ x if ket else Lc @ x @ Lc.conj().T, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# mesolve
# ---------------------------------------------------------------------------------------------


def test_driven_sparse_equals_dense_nephlab_rk4():
    H, c, e_ops, rho0, _ = driven_lattice(3)
    tl = np.linspace(0.0, 2.0, 5)
    kw = dict(e_ops=e_ops, args=ARGS, method="rk4", dt=0.05)
    sparse = nl.mesolve(H, rho0, tl, c, format="sparse", **kw)
    Hd, cd = _densified(H, c)
    dense = nl.mesolve(Hd, rho0, tl, cd, format="dense", **kw)
    assert sparse.stats["format"] == "sparse" and dense.stats["format"] in ("dia", "dense")
    for xs, xd in zip(sparse.expect, dense.expect):
        assert np.max(np.abs(xs - xd)) <= 1e-8
    assert np.max(np.abs(np.asarray(sparse.final_state) - np.asarray(dense.final_state))) <= 1e-8
    assert np.max(np.abs(sparse.expect[0])) > 0.05  # the pulse did drive the lattice


def test_array_coefficient_sparse_equals_dense():
    """A coefficient sampled on tlist (cubic spline, as QuTiP) gives the same run on both formats."""
    H, c, e_ops, rho0, (H0, X0, X1, c_ops) = driven_lattice(3)
    tl = np.linspace(0.0, 2.0, 41)
    samples = 0.8 * np.exp(-((tl - T0) ** 2) / (2 * SIG**2))
    kw = dict(e_ops=e_ops, method="rk4", dt=0.05)
    sparse = nl.mesolve([H0, [X0, samples]], rho0, tl, c_ops, format="sparse", **kw)
    dense = nl.mesolve([H0.toarray(), [X0.toarray(), samples]], rho0, tl, [x.toarray() for x in c_ops],
                       format="dense", **kw)
    assert sparse.stats["format"] == "sparse"
    for xs, xd in zip(sparse.expect, dense.expect):
        assert np.max(np.abs(xs - xd)) <= 1e-8


@pytest.mark.parametrize("method", ["tsit5", "dopri5"])
def test_driven_sparse_equals_qutip(method):
    H, c, e_ops, rho0, _ = driven_lattice(3)
    tl = np.linspace(0.0, 2.5, 6)
    res = nl.mesolve(H, rho0, tl, c, e_ops=e_ops, args=ARGS, method=method, rtol=1e-6, atol=1e-8,
                     format="sparse")
    ref = _qutip_reference(tl)
    assert res.stats["format"] == "sparse"
    for x, r in zip(res.expect, ref.expect):
        assert rel_err(x, r) <= 2e-6


def test_auto_picks_sparse_for_time_dependent_sparse_inputs(monkeypatch):
    """format=None: a driven D = 81 lattice runs sparse, as the constant one does, and no
    operator is densified on the way (toarray disabled during the call)."""
    H, c, e_ops, rho0, _ = driven_lattice(4)
    with monkeypatch.context() as m:
        m.setattr(sp.csr_matrix, "toarray", lambda self, *a, **k: pytest.fail("an operator was densified"))
        res = nl.mesolve(H, rho0, [0.0, 0.2], c, e_ops=e_ops[:1], args=ARGS, method="rk4", dt=0.05,
                         store_states=False)
    assert res.stats["format"] == "sparse"
    assert 0 < res.expect[0][-1] < 0.05


# ---------------------------------------------------------------------------------------------
# mcsolve
# ---------------------------------------------------------------------------------------------


def test_mcsolve_sparse_time_dependent_matches_mesolve_and_dense_format():
    H, c, e_ops, rho0, _ = driven_lattice(3)
    psi0 = np.zeros(27, complex)
    psi0[0] = 1.0
    tl = np.linspace(0.0, 2.5, 6)
    kw = dict(e_ops=e_ops, args=ARGS, seed=3, rtol=1e-8, atol=1e-10)
    mc = nl.mcsolve(H, psi0, tl, c, ntraj=256, format="sparse", **kw)
    me = nl.mesolve(H, rho0, tl, c, e_ops=e_ops, args=ARGS, method="tsit5", rtol=1e-8, atol=1e-10, format="sparse")
    assert mc.stats["format"] == "sparse" and mc.n_jumps.sum() > 20
    for x, se, ref in zip(mc.expect, mc.stderr, me.expect):
        # floor 2e-5: before the first jump of the sample the trajectories agree exactly (se = 0)
        # while ρ(t) holds the O(1e-6) weight of early jumps (observed 1.2e-6 at t = 0.5)
        assert np.all(np.abs(x - ref) <= 4.5 * se + 2e-5), (x, ref, se)

    few = dict(kw, ntraj=8)
    rs = nl.mcsolve(H, psi0, tl, c, format="sparse", **few)
    Hd, cd = _densified(H, c)
    rd = nl.mcsolve(Hd, psi0, tl, cd, format="dense", **few)
    assert rd.stats["format"] in ("dia", "dense") and rs.n_jumps.sum() >= 2
    np.testing.assert_array_equal(rs.n_jumps, rd.n_jumps)
    np.testing.assert_array_equal(rs.jump_channels, rd.jump_channels)
    np.testing.assert_allclose(rs.jump_times, rd.jump_times, rtol=0, atol=1e-8)
    for xs, xd in zip(rs.expect, rd.expect):
        np.testing.assert_allclose(xs, xd, rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_bad_time_dependent_input_names_the_argument():
    H, c, e_ops, rho0, (H0, X0, X1, c_ops) = driven_lattice(3)
    tl = np.linspace(0.0, 1.0, 11)
    kw = dict(format="sparse", method="rk4", dt=0.1)
    with pytest.raises(ValueError, match=r"H\[1\]\[1\]: an array coefficient must have one value per time in tlist "
                                         r"\(shape \(11,\)\), got shape \(7,\)"):
        nl.mesolve([H0, [X0, np.ones(7)]], rho0, tl, c_ops, **kw)
    with pytest.raises(TypeError, match=r"H\[1\]\[1\]: string coefficients are not supported"):
        nl.mesolve([H0, [X0, "cos(t)"]], rho0, tl, c_ops, **kw)
    with pytest.raises(TypeError, match=r"H\[1\]\[1\]"):
        nl.mcsolve([H0, [X0, {"w": 1.0}]], rho0[:, 0], tl, c_ops, ntraj=1, seed=0, format="sparse")
    with pytest.raises(ValueError, match=r"H\[1\] has shape \(9, 9\), which does not match the dimension n=27"):
        nl.mesolve([H0, [sp.eye(9, format="csr"), pulse]], rho0, tl, c_ops, **kw)
    with pytest.raises(ValueError, match=r"c_ops\[2\]"):
        nl.mesolve(H, rho0, tl, c_ops[:2] + [[sp.eye(9, format="csr"), modulation]], args=ARGS, **kw)
    with pytest.raises(ValueError, match=r"H\(t=.*\) must be Hermitian"):
        nl.mesolve([H0, [X0, lambda t: 1j * t]], rho0, tl, c_ops, **kw)
    with pytest.raises(TypeError, match=r"H\[1\]\[1\] .* cannot be traced by JAX"):
        nl.mesolve([H0, [X0, lambda t: np.cos(float(t))]], rho0, tl, c_ops, **kw)


def test_bench_large_drive_rows_solve_the_same_problem():
    """``nephlab bench large --drive``: nephlab (sparse and dense) and QuTiP's QobjEvo row solve
    the same driven lattice (M = 2 here), to the shared tolerance of the adaptive solves."""
    from nephlab.bench.large import _call

    vals = {code: _call(code, 2, "adaptive", drive=True)()[0] for code in ("nephlab-sparse", "nephlab-dense", "qutip-csr")}
    const = _call("nephlab-sparse", 2, "adaptive")()[0]
    assert abs(vals["nephlab-sparse"] - const) > 1e-3  # the drive changes the answer
    for code, v in vals.items():
        assert abs(v - vals["qutip-csr"]) <= 2e-6 * abs(vals["qutip-csr"]), (code, v)
