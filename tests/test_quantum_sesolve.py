"""Issue 14 item 2: ``sesolve`` and the public ``propagator``, against QuTiP and closed forms.

Tolerances: the adaptive methods run at rtol = 1e-10 (local error per step); over the few
hundred steps here the global error stays below ~1e-9, so 1e-8 is the agreement asked of them;
QuTiP runs at 1e-12. Fixed-step 4th-order methods at dt = 0.005 with |H| ~ 1 have a global
error ~ (dt)^4 * T ~ 1e-9. Exact methods (expm) are compared at 1e-10.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import qutip as qt
import scipy.linalg

import nephlab
from nephlab.quantum import KetResult, Result, Tsit5, destroy, propagator, sesolve, sigmax, sigmaz

SX, SZ = np.asarray(sigmax()), np.asarray(sigmaz())
ARGS = {"A": 0.7, "w": 1.3}
TL = np.linspace(0.0, 4.0, 21)
QOPT = dict(atol=1e-12, rtol=1e-12, nsteps=10**6)


def drive(t, args):
    return args["A"] * jnp.cos(args["w"] * t)


H_DRIVEN = [0.5 * SZ, [SX, drive]]
QH_DRIVEN = [0.5 * qt.sigmaz(), [qt.sigmax(), lambda t, A, w: A * np.cos(w * t)]]


@pytest.fixture(scope="module")
def qutip_driven():
    return qt.sesolve(QH_DRIVEN, qt.basis(2, 0), TL, e_ops=[qt.sigmaz(), qt.sigmax(), qt.sigmay()], args=ARGS,
                      options=QOPT)


@pytest.mark.parametrize("method, kw", [
    ("tsit5", dict(rtol=1e-10, atol=1e-12)),
    ("dopri5", dict(rtol=1e-10, atol=1e-12)),
    ("rk4", dict(dt=0.005)),
    ("magnus4", dict(dt=0.005)),
])
def test_driven_qubit_matches_qutip(qutip_driven, method, kw):
    res = sesolve(H_DRIVEN, np.array([1.0, 0.0]), TL, e_ops=[SZ, SX, np.asarray(qt.sigmay().full())], args=ARGS,
                  method=method, **kw)
    assert isinstance(res, Result) and res.method == method
    for k in range(3):
        np.testing.assert_allclose(res.expect[k], qutip_driven.expect[k], atol=1e-8, rtol=0)
    assert res.states.shape == (len(TL), 2) and res.final_state.shape == (2,)
    np.testing.assert_allclose(np.linalg.norm(res.states, axis=-1), 1.0, atol=1e-9)


@pytest.mark.slow  # diffrax's implicit solver compiles for ~10 s
def test_kvaerno5_driven_qubit(qutip_driven):
    """Kvaerno5 at rtol 1e-9 over 4 time units: global error below 1e-7."""
    res = sesolve(H_DRIVEN, np.array([1.0, 0.0]), TL, e_ops=[SZ], args=ARGS, method="kvaerno5", rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(res.expect[0], qutip_driven.expect[0], atol=1e-7, rtol=0)


def test_states_match_qutip_states_and_qobj_in_gives_ket_qobj_out():
    # the same structure as the tsit5 case above: the compiled program is reused
    res = sesolve([0.5 * qt.sigmaz(), [qt.sigmax(), drive]], qt.basis(2, 1), TL, args=ARGS, rtol=1e-10, atol=1e-12,
                  e_ops=[SZ, SX, np.asarray(qt.sigmay().full())])
    ref = qt.sesolve(QH_DRIVEN, qt.basis(2, 1), TL, args=ARGS, options=QOPT)
    for psi, q in zip(res.to_qutip(), ref.states):
        assert psi.isket and psi.dims == [[2], [1]]
        assert abs(psi.overlap(q) - 1.0) < 1e-9  # same phase, not only the same ray
    assert res.to_xarray()["states"].dims == ("time", "row")


def test_coherent_state_in_harmonic_oscillator_closed_form():
    """|α e^{-iωt}⟩ for H = ω a†a: ⟨a⟩ = α e^{-iωt} and ⟨a†a⟩ = |α|² exactly (N = 30, |α|² = 2.25:
    the truncated tail weight is e^{-2.25} 2.25^30/30! ~ 1e-21)."""
    N, w, alpha = 30, 1.7, 1.5 * np.exp(0.3j)
    a = np.asarray(destroy(N))
    psi0 = qt.coherent(N, alpha, method="analytic").full()[:, 0]
    tl = np.linspace(0.0, 3.0, 16)
    for method, kw in [("expm", {}), ("tsit5", dict(rtol=1e-10, atol=1e-12))]:
        res = sesolve(w * a.conj().T @ a, psi0, tl, e_ops=[a, a.conj().T @ a], method=method, **kw)
        np.testing.assert_allclose(res.expect[0], alpha * np.exp(-1j * w * tl), atol=1e-8)
        np.testing.assert_allclose(res.expect[1], abs(alpha) ** 2, atol=1e-8)
        exact = np.stack([qt.coherent(N, alpha * np.exp(-1j * w * t), method="analytic").full()[:, 0] for t in tl])
        np.testing.assert_allclose(res.states, exact, atol=1e-8)


def test_batch_equals_loop_and_top_level_name():
    assert nephlab.sesolve is sesolve
    ws = np.array([0.5, 1.0, 2.0])
    H = ws[:, None, None] * SX  # (3, 2, 2)
    psi = np.array([[1, 0], [0, 1]], complex)[:, None, :]  # (2, 1, 2): broadcasts to (2, 3)
    res = sesolve(H, psi, TL, e_ops=[SZ], method="expm")
    assert res.batch_shape == (2, 3) and res.states.shape == (2, 3, len(TL), 2)
    for i in range(2):
        for j in range(3):
            one = sesolve(H[j], psi[i, 0], TL, e_ops=[SZ], method="expm")
            np.testing.assert_allclose(res.expect[0][i, j], one.expect[0], atol=1e-13)
    np.testing.assert_allclose(res.expect[0][0], np.cos(2 * ws[:, None] * TL), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# propagator
# ---------------------------------------------------------------------------------------------

A4 = qt.destroy(4)
H4 = A4.dag() * A4 + 0.3 * (A4 + A4.dag()) + 0.1 * A4.dag() * A4.dag() * A4 * A4
C4 = [np.sqrt(0.2) * A4, np.sqrt(0.05) * A4.dag()]


def test_constant_propagators_exact():
    U = propagator(H4.full(), 1.3)
    np.testing.assert_allclose(U, scipy.linalg.expm(-1j * 1.3 * H4.full()), atol=1e-12)
    np.testing.assert_allclose(U @ U.conj().T, np.eye(4), atol=1e-13)
    S = propagator(H4, 1.3, C4)  # Qobj in: QuTiP's super Qobj out, column stacking
    assert S.type == "super" and S.dims == qt.liouvillian(H4, C4).dims
    np.testing.assert_allclose(S.full(), scipy.linalg.expm(1.3 * qt.liouvillian(H4, C4).full()), atol=1e-11)
    Sq = qt.propagator(H4, 1.3, C4, options=QOPT)
    np.testing.assert_allclose(S.full(), Sq.full(), atol=1e-8)


def test_time_dependent_propagators_match_qutip():
    t = [0.0, 0.5, 1.3]
    Hn = [H4.full(), [(A4 + A4.dag()).full(), lambda t: jnp.cos(2 * t)]]
    Hq = [H4, [A4 + A4.dag(), lambda t: np.cos(2 * t)]]
    Uq = qt.propagator(Hq, t, options=QOPT)
    for method, kw in [("magnus4", dict(dt=0.002)), ("tsit5", dict(rtol=1e-11, atol=1e-13))]:
        U = propagator(Hn, t, method=method, **kw)
        assert U.shape == (3, 4, 4)
        np.testing.assert_allclose(U[0], np.eye(4), atol=1e-14)
        np.testing.assert_allclose(U, np.stack([u.full() for u in Uq]), atol=1e-8)
        np.testing.assert_allclose(U[-1] @ U[-1].conj().T, np.eye(4), atol=1e-9)
    Sq = qt.propagator(Hq, t, [c.full() * 1 for c in C4] and C4, options=QOPT)
    S = propagator(Hn, t, [c.full() for c in C4], method=Tsit5(rtol=1e-11, atol=1e-13))
    assert S.shape == (3, 16, 16)
    np.testing.assert_allclose(S, np.stack([s.full() for s in Sq]), atol=1e-8)


def test_propagator_applied_to_psi0_equals_sesolve_state():
    psi0 = qt.coherent(4, 0.5).full()[:, 0]
    Hn = [H4.full(), [(A4 + A4.dag()).full(), lambda t: jnp.cos(2 * t)]]
    U = propagator(Hn, 1.3, method="magnus4", dt=0.002)
    res = sesolve(Hn, psi0, [0.0, 1.3], method="magnus4", dt=0.002)
    np.testing.assert_allclose(U @ psi0, res.final_state, atol=1e-13)  # same steps, same arithmetic


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, exc, words", [
    (lambda: sesolve(SZ + 0.5j * SX, np.array([1, 0]), TL), ValueError, "H must be Hermitian"),
    (lambda: sesolve(SZ, np.array([1, 1]), TL), ValueError, "psi0 has norm 1.41421"),
    (lambda: sesolve(SZ, np.array([1, 0, 0]), TL), ValueError, "H has shape (2, 2)"),
    (lambda: sesolve(SZ, qt.fock_dm(2, 0), TL), ValueError, "psi0 must be a ket"),
    (lambda: sesolve(SZ, np.array([1, 0]), [0.0, np.nan]), ValueError, "tlist contains NaN"),
    (lambda: sesolve(SZ, np.array([1, 0]), TL, method="euler"), ValueError, "method='euler' is not a known method"),
    (lambda: sesolve(SZ, np.array([1, 0]), TL, method="rk4"), ValueError, "needs dt"),
    (lambda: sesolve(H_DRIVEN, np.array([1, 0]), TL, args=ARGS, method="expm"), ValueError, "time-independent H"),
    (lambda: sesolve(SZ, np.array([1, 0]), TL, e_ops=[np.eye(3)]), ValueError, "dimension n=2 of psi0"),
    (lambda: propagator(SZ, -1.0), ValueError, "t must be a finite number > 0"),
    (lambda: propagator(SZ, [0.0, 0.0]), ValueError, "t must be strictly increasing"),
    (lambda: propagator(SZ, 1.0, [np.eye(3)]), ValueError, "c_ops[0] has shape (3, 3)"),
    (lambda: propagator(SZ, 1.0, [SX], method="magnus4", dt=0.1), ValueError, "closed systems only"),
    (lambda: propagator(SZ, 1.0, "L"), TypeError, "c_ops must be a list"),
])
def test_bad_input_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value)


def test_ket_result_helpers():
    res = sesolve(0.5 * np.pi * SX, np.array([1.0, 0.0]), [0.0, 1.0])
    assert isinstance(res, KetResult)
    np.testing.assert_allclose(res.populations()[-1], [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(res.purity(), 1.0)
    assert "kets" in str(res)


def test_open_propagator_time_dependent_c_ops_and_callable_H():
    """Time-dependent (complex) collapse coefficients and a callable H(t, args), against QuTiP."""
    a = qt.destroy(3)
    H = a.dag() * a + 0.2 * (a + a.dag())
    cq = [[a, lambda t: np.sqrt(0.2) * (1 + 0.5 * np.sin(t))], [a.dag() * a, lambda t: 0.3 * np.exp(1j * t)]]
    cn = [[a.full(), lambda t: jnp.sqrt(0.2) * (1 + 0.5 * jnp.sin(t))], [(a.dag() * a).full(), lambda t: 0.3 * jnp.exp(1j * t)]]
    S = propagator(H.full(), 1.7, cn, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(S, qt.propagator(H, 1.7, cq, options=QOPT).full(), atol=1e-8)
    Hn, X = H.full(), (a + a.dag()).full()
    S = propagator(lambda t, args: Hn + args["F"] * jnp.cos(t) * X, 1.7, [np.sqrt(0.1) * a.full()], args={"F": 0.5},
                   rtol=1e-11, atol=1e-13)
    Sq = qt.propagator([H, [a + a.dag(), lambda t: 0.5 * np.cos(t)]], 1.7, [np.sqrt(0.1) * a], options=QOPT)
    np.testing.assert_allclose(S, Sq.full(), atol=1e-8)
