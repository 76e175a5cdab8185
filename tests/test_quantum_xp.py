"""The array-module backend (issue 15): the sparse Lindblad right-hand side and ``mesolve_xp`` on
NumPy/SciPy, checked against nephlab's dense JAX ``mesolve`` on the M = 3 Kerr chain (D = 27).

rk4 takes exactly the same steps as the JAX ``rk4``, so the two agree to round-off (1e-12);
tsit5/dopri5 run with rtol=1e-10, atol=1e-12, so each is within ~1e-9 of the exact solution and
is compared to QuTiP (rtol=1e-11) or a fine rk4 (dt⁴ ≈ 1e-11) at 1e-8. The CuPy path is the same code with ``cupy`` as the array module; it is
exercised in tests/test_gpu.py where a GPU is lent.
"""

from __future__ import annotations

import numpy as np
import pytest
import qutip

import nephlab
from nephlab.quantum import superop
from nephlab.quantum.xp import SparseLindblad, get_array_module, kerr_chain, lindblad_rhs, mesolve_xp

TL = np.linspace(0.0, 1.0, 3)
TIGHT = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def kerr3():
    H, c_ops, a = kerr_chain(3)
    rho0 = np.zeros((27, 27), complex)
    rho0[0, 0] = 1.0
    n0 = (a[0].conj().T @ a[0]).tocsr()
    return H, c_ops, a, rho0, n0


def test_rhs_equals_dense_liouvillian(kerr3):
    H, c_ops, _, _, _ = kerr3
    rng = np.random.default_rng(3)
    X = rng.normal(size=(27, 27)) + 1j * rng.normal(size=(27, 27))  # not Hermitian on purpose
    ref = np.asarray(superop.lindblad_rhs(H.toarray(), [c.toarray() for c in c_ops], X))
    np.testing.assert_allclose(lindblad_rhs(H, c_ops, X), ref, atol=1e-12, rtol=0)
    Xh = X + X.conj().T
    lind = SparseLindblad(H, c_ops)
    np.testing.assert_allclose(lind(Xh, hermitian=True), lind(Xh), atol=1e-12, rtol=0)


def test_rk4_equals_dense_mesolve(kerr3):
    H, c_ops, _, rho0, n0 = kerr3
    kw = dict(method="rk4", dt=0.01)
    res = mesolve_xp(H, rho0, TL, c_ops, e_ops=[n0], **kw)
    ref = nephlab.mesolve(H.toarray(), rho0, TL, [c.toarray() for c in c_ops], e_ops=[n0.toarray()], **kw)
    np.testing.assert_allclose(res.states, np.asarray(ref.states), atol=1e-12, rtol=0)
    np.testing.assert_allclose(res.expect[0], ref.expect[0], atol=1e-12, rtol=0)
    assert res.expect[0].dtype == np.float64 and res.stats["format"] == "csr"
    assert res.stats["steps"] == 100 and res.stats["rhs_evals"] == 400


def test_tsit5_equals_qutip(kerr3):
    # the adaptive path against an independent code (nephlab's dense tsit5 takes the same steps,
    # but compiling it for this check costs ~20 s on a loaded 2-core machine)
    H, c_ops, _, rho0, n0 = kerr3
    dims = [[3, 3, 3], [3, 3, 3]]
    q = lambda m: qutip.Qobj(m, dims=dims)  # noqa: E731
    ref = qutip.mesolve(q(H), q(rho0), TL, [q(c) for c in c_ops], e_ops=[q(n0)],
                        options={"atol": 1e-13, "rtol": 1e-11, "store_states": True})
    res = mesolve_xp(H, rho0, TL, c_ops, e_ops=[n0], method="tsit5", **TIGHT)
    np.testing.assert_allclose(res.final_state, ref.states[-1].full(), atol=1e-8, rtol=0)
    np.testing.assert_allclose(res.expect[0], ref.expect[0], atol=1e-8, rtol=0)


def test_dopri5_equals_rk4_fine(kerr3):
    H, c_ops, _, rho0, _ = kerr3
    a = mesolve_xp(H, rho0, TL, c_ops, method="dopri5", **TIGHT)
    b = mesolve_xp(H, rho0, TL, c_ops, method="rk4", dt=2e-3)  # RK4 error ~ dt⁴ ≈ 1e-11
    np.testing.assert_allclose(a.final_state, b.final_state, atol=1e-8, rtol=0)
    assert a.stats["rejected"] >= 0 and a.stats["accepted"] > 0


def test_mesolve_backend_keyword_and_qobj_dims(kerr3):
    H, c_ops, a, _, n0 = kerr3
    dims = [[3, 3, 3], [3, 3, 3]]
    psi = qutip.tensor(qutip.basis(3, 1), qutip.basis(3, 0), qutip.basis(3, 0))
    res = nephlab.mesolve(qutip.Qobj(H, dims=dims), psi, TL, [qutip.Qobj(c, dims=dims) for c in c_ops],
                          e_ops={"n0": n0, "a0": a[0]}, method="rk4", dt=0.05, backend="numpy")
    assert list(res.expect) == ["n0", "a0"] and res.expect["a0"].dtype == np.complex128
    assert res.expect["n0"][0] == pytest.approx(1.0, abs=1e-14)
    assert res.to_qutip(final=True).dims == dims
    assert res.states.shape == (3, 27, 27)
    np.testing.assert_allclose(res.purity()[0], 1.0, atol=1e-14)


def test_store_states_false(kerr3):
    H, c_ops, _, rho0, n0 = kerr3
    res = mesolve_xp(H, rho0, TL, c_ops, e_ops=[n0], method="rk4", dt=0.1, store_states=False)
    assert res.states is None and res.final_state.shape == (27, 27)


def test_array_module_dispatch():
    import scipy.sparse as sps

    assert get_array_module(np.eye(2), sps.eye(2), 1.0) is np


def test_bad_input(kerr3):
    H, c_ops, _, rho0, _ = kerr3
    with pytest.raises(ValueError, match=r"backend='cupy' needs the cupy package.*backend='numpy'"):
        mesolve_xp(H, rho0, TL, c_ops, method="rk4", dt=0.1, backend="cupy")
    with pytest.raises(ValueError, match=r"backend must be one of 'jax', 'numpy', 'cupy'; got 'torch'"):
        nephlab.mesolve(H, rho0, TL, c_ops, backend="torch")
    with pytest.raises(ValueError, match=r"backend must be one of 'numpy', 'cupy'"):
        mesolve_xp(H, rho0, TL, c_ops, method="rk4", dt=0.1, backend="jax")
    with pytest.raises(ValueError, match=r"method must be one of 'rk4', 'tsit5', 'dopri5'"):
        mesolve_xp(H, rho0, TL, c_ops, method="expm")
    with pytest.raises(ValueError, match="dt is required by method='rk4'"):
        mesolve_xp(H, rho0, TL, c_ops, method="rk4")
    with pytest.raises(ValueError, match="dt is only for method='rk4'"):
        mesolve_xp(H, rho0, TL, c_ops, method="tsit5", dt=0.1)
    with pytest.raises(ValueError, match="does not support args"):
        nephlab.mesolve(H, rho0, TL, c_ops, args={"w": 1.0}, backend="numpy")
    with pytest.raises(ValueError, match="does not support format"):  # the backend is always sparse
        nephlab.mesolve(H, rho0, TL, c_ops, format="dense", backend="numpy")
    with pytest.raises(ValueError, match="H must be Hermitian"):
        mesolve_xp(H * 1j, rho0, TL, c_ops, method="rk4", dt=0.1)
    with pytest.raises(ValueError, match=r"rho0 has shape \(9, 9\)"):
        mesolve_xp(H, np.eye(9) / 9, TL, c_ops, method="rk4", dt=0.1)
    with pytest.raises(ValueError, match=r"c_ops\[1\] has shape"):
        mesolve_xp(H, rho0, TL, [c_ops[0], np.eye(3)], method="rk4", dt=0.1)
    with pytest.raises(TypeError, match="time-dependent list format"):
        mesolve_xp([H, [H, np.cos]], rho0, TL, c_ops, method="rk4", dt=0.1)
    with pytest.raises(ValueError, match=r"e_ops\[0\] has shape"):
        mesolve_xp(H, rho0, TL, c_ops, e_ops=[np.eye(3)], method="rk4", dt=0.1)
    with pytest.raises(RuntimeError, match="did not reach"):
        mesolve_xp(H, rho0, TL, c_ops, method="tsit5", max_steps=2)
