"""DOP853 (Hairer's 8(5,3) pair) and Verner's 7(6) pair in nephlab's adaptive loop: coefficients
(against SciPy's and QuTiP's), one step and the dense output against SciPy's own DOP853,
convergence orders, and the solvers that run them.

Tolerances: one step against SciPy is the same arithmetic in a different order, so 1e-14 on the
state (|y| ~ 1) and, on the error norm, rounding of the cancelling error sums (1e-15 over the
scale 1e-3). The
orders are read from error ratios of halved steps, 2^8 = 256 for the solution (global error
h^8) and for the dense output's local error (7th-order interpolant, local error h^8), allowed
within 2^±0.5. The solver tests keep the reference tests' rule: global error within 2 rtol.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate._ivp import dop853_coefficients as ref
from scipy.integrate._ivp.rk import DOP853
from scipy.linalg import expm

import nephlab
from nephlab.quantum import _rk, basis, destroy, fock_dm, mcsolve, sigmaz
from nephlab.quantum import jax as nqj


def _linear(seed=0, n=6):
    """y' = M y + sin(t) (real, ‖M‖₂ = 1) on a (2, n/2) array, as the loop stores states."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    M /= np.linalg.norm(M, 2)
    y0 = rng.normal(size=n)

    def f(t, y):
        return (jnp.asarray(M) @ y.reshape(-1)).reshape(2, -1) + jnp.sin(t)

    return M, y0, f


def test_coefficients_are_scipys_bit_for_bit():
    tb = _rk.dop853_tableau()
    s = ref.N_STAGES
    for i in range(1, s):
        assert tb.a[i - 1] == tuple(ref.A[i, :i]), i
    assert tb.a[-1] == tuple(ref.B) and tb.b == tuple(ref.B) + (0.0,)
    assert tb.c == tuple(ref.C[:s]) + (1.0,)
    assert tb.e == tuple(ref.E5) and tb.e3 == tuple(ref.E3)
    for i, row in enumerate(tb.a_extra):
        assert row == tuple(ref.A[s + 1 + i, :s + 1 + i]), i
    assert tb.c_extra == tuple(ref.C[s + 1:])
    assert _rk._DOP853.D == tuple(tuple(r) for r in ref.D)
    assert tb.rhs_per_step == 12 and len(tb.dense(0.5, tb.b)) == 16
    np.testing.assert_allclose(tb.dense(1.0, tb.b), tb.b + (0.0,) * 3, atol=1e-13)
    np.testing.assert_allclose(tb.dense(0.0, tb.b), 0.0, atol=0)


@pytest.mark.parametrize("h", [0.3, 0.7])
def test_one_step_error_norm_and_dense_output_equal_scipys(h):
    M, y0, f = _linear()
    tb = _rk.dop853_tableau()
    fun = lambda t, y: M @ y + np.sin(t)  # noqa: E731
    sp = DOP853(fun, 0.0, y0, 10.0, rtol=1e-3, atol=1e-3, first_step=h)
    sp.step()
    assert sp.h_previous == h  # accepted at once
    y = jnp.asarray(y0.reshape(2, -1))
    y_new, ks, en, accept, _ = _rk.rk_step(f, tb, 0.0, y, f(0.0, y), h, 1.0, 1e-3, 1e-3)
    np.testing.assert_allclose(np.asarray(y_new).ravel(), sp.y, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.asarray(ks[-1]).ravel(), sp.f, rtol=0, atol=1e-14)
    scale = 1e-3 + 1e-3 * np.maximum(np.abs(y0), np.abs(sp.y))
    # the error sums cancel to ~1e-12 of terms ~1: rounding of 1e-15 over the scale 1e-3 is 1e-12 of en
    np.testing.assert_allclose(float(en), sp._estimate_error_norm(sp.K, h, scale), rtol=1e-6, atol=1e-12)
    kd = _rk.dense_stages(f, tb, 0.0, y, h, ks)
    dense = sp.dense_output()
    for theta in (0.1, 0.37, 0.8):
        yd = y + h * _rk._lincomb(tb.dense(theta, tb.b), kd)
        np.testing.assert_allclose(np.asarray(yd).ravel(), dense(theta * h), rtol=0, atol=1e-14)


def test_fixed_steps_agree_with_scipys_step_by_step():
    """Ten steps of h = 0.4 (SciPy held to it by max_step, tolerances loose enough that every step
    is accepted): the states agree step by step to rounding."""
    M, y0, f = _linear(seed=2)
    tb = _rk.dop853_tableau()
    h = 0.4
    sp = DOP853(lambda t, y: M @ y + np.sin(t), 0.0, y0, 10.0, rtol=1.0, atol=1.0, first_step=h, max_step=h)
    y, t = jnp.asarray(y0.reshape(2, -1)), 0.0
    for _ in range(10):
        sp.step()
        y, *_ = _rk.rk_step(f, tb, t, y, f(t, y), h, 1.0, 1.0, 1.0)
        t += h
        assert abs(sp.t - t) <= 1e-14
        np.testing.assert_allclose(np.asarray(y).ravel(), sp.y, rtol=0, atol=1e-13 * max(1.0, np.abs(sp.y).max()))


def _exact(M, y0, t):
    """y(t) of y' = M y + sin(t) (one component each): expm of the augmented system."""
    n = len(y0)
    A = np.zeros((n + 2, n + 2))
    A[:n, :n] = M
    A[:n, n] = 1.0  # + s(t) with (s, c)' = (c, -s), s(0) = 0, c(0) = 1
    A[n, n + 1], A[n + 1, n] = 1.0, -1.0
    return (expm(A * t) @ np.concatenate([y0, [0.0, 1.0]]))[:n]


def test_convergence_orders_of_the_solution_and_the_dense_output():
    M, y0, f = _linear(seed=1)
    tb = _rk.dop853_tableau()
    T = 4.0

    def fixed(N):
        y, t, h = jnp.asarray(y0.reshape(2, -1)), 0.0, T / N
        for _ in range(N):
            y, *_ = _rk.rk_step(f, tb, t, y, f(t, y), h, 1.0, 1e3, 1e3)
            t += h
        return np.abs(np.asarray(y).ravel() - _exact(M, y0, T)).max()

    errs = [fixed(N) for N in (4, 8, 16)]
    assert errs[-1] > 1e-13  # above rounding, so the ratios measure the method
    for e1, e2 in zip(errs, errs[1:]):
        assert 2**7.5 <= e1 / e2 <= 2**8.5, errs

    def local_dense(h, theta=0.37):
        y = jnp.asarray(y0.reshape(2, -1))
        _, ks, *_ = _rk.rk_step(f, tb, 0.0, y, f(0.0, y), h, 1.0, 1e3, 1e3)
        kd = _rk.dense_stages(f, tb, 0.0, y, h, ks)
        yd = y + h * _rk._lincomb(tb.dense(theta, tb.b), kd)
        return np.abs(np.asarray(yd).ravel() - _exact(M, y0, theta * h)).max()

    errs = [local_dense(h) for h in (1.0, 0.5, 0.25)]
    assert errs[-1] > 1e-13
    for e1, e2 in zip(errs, errs[1:]):
        assert 2**7.5 <= e1 / e2 <= 2**8.5, errs


def _kerr(n=15):
    a = np.asarray(destroy(n))
    ad = a.conj().T
    return ad @ a + 0.5 * (a + ad) + 0.05 * ad @ ad @ a @ a, [np.sqrt(0.1) * a], [ad @ a, a + ad]


@pytest.mark.parametrize("rtol, atol", [(1e-6, 1e-8), (1e-8, 1e-10)])
def test_kerr_oscillator_against_the_exact_propagator(rtol, atol):
    """Global error within 2 rtol of expm (the reference tests' rule), and fewer steps than tsit5
    (at 1e-6, 75 % fewer steps here; the step count ratio is what makes DOP853 worth its 12 stages)."""
    H, c_ops, e_ops = _kerr()
    tlist = np.linspace(0, 10, 101)
    rho0 = fock_dm(15, 0)
    ex = nephlab.mesolve(H, rho0, tlist, c_ops, e_ops=e_ops, method="expm")
    res = nephlab.mesolve(H, rho0, tlist, c_ops, e_ops=e_ops, method="dop853", rtol=rtol, atol=atol)
    ts5 = nephlab.mesolve(H, rho0, tlist, c_ops, e_ops=e_ops, method="tsit5", rtol=rtol, atol=atol)
    for k in range(2):
        err = np.abs(res.expect[k] - ex.expect[k]).max() / np.abs(ex.expect[k]).max()
        assert err <= 2 * rtol, (k, err)
    st = res.stats
    assert st["method"] == "dop853" and st["rejected"] >= 0
    assert 12 * st["steps"] + 2 <= st["rhs_evals"] <= 15 * st["steps"] + 2
    assert st["steps"] < 0.5 * ts5.stats["steps"], (st["steps"], ts5.stats["steps"])


def test_sparse_format_equals_dense():
    from nephlab.bench.large import kerr_lattice

    H, c_ops, n0, rho0 = kerr_lattice(2)
    tl = np.linspace(0.0, 2.0, 5)
    kw = dict(e_ops=[n0], method="dop853", rtol=1e-10, atol=1e-12)
    sparse = nephlab.mesolve(H, rho0.toarray(), tl, c_ops, format="sparse", **kw)
    dense = nephlab.mesolve(H.toarray(), rho0.toarray(), tl, [c.toarray() for c in c_ops], format="dense", **kw)
    assert sparse.stats["format"] == "sparse" and dense.stats["format"] in ("dia", "dense")
    assert np.max(np.abs(sparse.expect[0] - dense.expect[0])) <= 1e-8
    assert np.max(np.abs(np.asarray(sparse.final_state) - np.asarray(dense.final_state))) <= 1e-8


@pytest.mark.parametrize("method", ["dop853", "vern7"])
def test_mcsolve_trajectories_equal_tsit5s_at_tight_tolerance(method):
    """Same seed, same random numbers: at rtol 1e-10 both pairs locate the same jumps, so the
    trajectories agree to the integration error, not just in distribution."""
    a = np.asarray(destroy(6))
    H = 0.4 * a.conj().T @ a + 0.6 * (a + a.conj().T)
    tl = np.linspace(0.0, 3.0, 13)
    kw = dict(ntraj=8, seed=5, e_ops=[a.conj().T @ a], rtol=1e-10, atol=1e-12)
    r8 = mcsolve(H, basis(6, 0), tl, [np.sqrt(0.8) * a], method=method, **kw)
    r5 = mcsolve(H, basis(6, 0), tl, [np.sqrt(0.8) * a], method="tsit5", **kw)
    assert np.abs(np.diff(r5.expect[0])).max() > 0.1  # the trajectories jump
    np.testing.assert_allclose(r8.expect[0], r5.expect[0], rtol=0, atol=1e-7)


# compiling the adjoint of 16 stages: ~30 s cold at load 4 before the looped step transpose, 8-11 s now
@pytest.mark.slow
@pytest.mark.parametrize("method", ["dop853", "vern7"])
def test_gradient_checkpoint_matches_finite_differences_and_direct_is_refused(method):
    """The discrete adjoint through the steps and dense output (time-dependent H: the generic
    ``jax.vjp`` of a step) against central differences of the forward solve at rtol 1e-12 (step
    1e-4: truncation ~1e-8 relative, the solve's error ~1e-11 / 1e-4)."""
    n = 4
    a = jnp.asarray(destroy(n))
    ad = a.conj().T
    rho0 = jnp.asarray(fock_dm(n, 0))
    tl = jnp.linspace(0, 2.0, 5)

    def loss(p, gradient):
        H = [p[0] * (a + ad) + 0.3 * ad @ ad @ a @ a, [p[1] * (a + ad), lambda t, args: jnp.cos(t)]]
        r = nqj.mesolve(H, rho0, tl, [jnp.sqrt(p[2]) * a], e_ops=[ad @ a], method=method,
                        gradient=gradient, rtol=1e-12, atol=1e-14)
        return jnp.sum(r.expect[0].real ** 2)

    p = jnp.array([0.7, 0.2, 0.4])
    g = np.asarray(jax.grad(loss)(p, "checkpoint"))
    f = jax.jit(lambda p: loss(p, None))
    eps = 1e-4
    fd = np.array([(f(p.at[i].add(eps)) - f(p.at[i].add(-eps))) / (2 * eps) for i in range(3)])
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-6 * np.abs(fd).max())
    with pytest.raises(ValueError, match=rf"gradient='direct' is not available with method '{method}'.*diffrax has no"):
        nqj.mesolve(np.asarray(sigmaz()), fock_dm(2, 0), tl, method=method, gradient="direct")


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="rtol"):
        nephlab.mesolve(np.asarray(sigmaz()), fock_dm(2, 0), [0.0, 1.0], method="dop853", rtol=-1.0)
    with pytest.raises(ValueError, match="dt"):
        nephlab.mesolve(np.asarray(sigmaz()), fock_dm(2, 0), [0.0, 1.0], method="dop853", dt=0.1)


# -- Verner's 7(6) pair ------------------------------------------------------------------------


def test_vern7_coefficients_are_qutips_bit_for_bit():
    v = pytest.importorskip("qutip.solver.integrator.verner7efficient")
    tb = _rk.vern7_tableau()
    for i in range(1, 10):
        assert tb.a[i - 1] == tuple(v.a[i, :i]), i
    assert tb.a[-1] == tuple(v.a[10, :10]) == tuple(v.b)  # stage 11 of the interpolant: f(t + h, y_new)
    assert tb.c == tuple(v.c[:11]) and tb.c_extra == tuple(v.c[11:])
    for i, row in enumerate(tb.a_extra):
        assert row == tuple(v.a[11 + i, :11 + i]), i
    assert _rk._VERN7.BH == tuple(v.bh) and _rk._VERN7.BI == tuple(tuple(r) for r in v.bi)
    np.testing.assert_allclose(tb.e[:10], v.e, rtol=0, atol=1e-16)  # b - b̂
    assert tb.rhs_per_step == 10 and len(tb.dense(0.5, tb.b)) == 16
    np.testing.assert_allclose(tb.dense(1.0, tb.b), tb.b + (0.0,) * 5, atol=1e-13)


def test_vern7_orders_of_the_solution_the_error_estimate_and_the_interpolant():
    """Global error h^7 (ratio 2^7 = 128 within 2^±0.5), error estimate h^7 (the 6th-order
    solution's local error), interpolant local error h^8 (measured 2^7.5-2^7.6 on these steps)."""
    M, y0, f = _linear(seed=1)
    tb = _rk.vern7_tableau()
    y00 = jnp.asarray(y0.reshape(2, -1))

    def fixed(N, T=4.0):
        y, t, h = y00, 0.0, T / N
        for _ in range(N):
            y, *_ = _rk.rk_step(f, tb, t, y, f(t, y), h, 1.0, 1e3, 1e3)
            t += h
        return np.abs(np.asarray(y).ravel() - _exact(M, y0, T)).max()

    def one(h, theta=0.37):
        _, ks, *_ = _rk.rk_step(f, tb, 0.0, y00, f(0.0, y00), h, 1.0, 1e3, 1e3)
        kd = _rk.dense_stages(f, tb, 0.0, y00, h, ks)
        yd = y00 + h * _rk._lincomb(tb.dense(theta, tb.b), kd)
        return (np.abs(np.asarray(yd).ravel() - _exact(M, y0, theta * h)).max(),
                np.abs(np.asarray(h * _rk._lincomb(tb.e, ks))).max())

    glob = [fixed(N) for N in (8, 16, 32)]
    assert glob[-1] > 1e-13
    for e1, e2 in zip(glob, glob[1:]):
        assert 2**6.5 <= e1 / e2 <= 2**7.5, glob
    loc = [one(h) for h in (1.0, 0.5, 0.25)]
    for (d1, r1), (d2, r2) in zip(loc, loc[1:]):
        assert 2**6.5 <= r1 / r2 <= 2**7.5, loc
        assert 2**7 <= d1 / d2 <= 2**8.5, loc


@pytest.mark.parametrize("rtol, atol", [(1e-6, 1e-8), (1e-8, 1e-10)])
def test_vern7_kerr_oscillator_against_the_exact_propagator_and_sparse(rtol, atol):
    H, c_ops, e_ops = _kerr()
    tlist = np.linspace(0, 10, 101)
    rho0 = fock_dm(15, 0)
    ex = nephlab.mesolve(H, rho0, tlist, c_ops, e_ops=e_ops, method="expm")
    res = nephlab.mesolve(H, rho0, tlist, c_ops, e_ops=e_ops, method="vern7", rtol=rtol, atol=atol)
    for k in range(2):
        err = np.abs(res.expect[k] - ex.expect[k]).max() / np.abs(ex.expect[k]).max()
        assert err <= 2 * rtol, (k, err)
    st = res.stats
    assert st["method"] == "vern7" and 10 * st["steps"] + 2 <= st["rhs_evals"] <= 15 * st["steps"] + 2
    sp = nephlab.mesolve(H, rho0, tlist, c_ops, e_ops=e_ops, method="vern7", rtol=1e-10, atol=1e-12, format="sparse")
    de = nephlab.mesolve(H, rho0, tlist, c_ops, e_ops=e_ops, method="vern7", rtol=1e-10, atol=1e-12, format="dense")
    assert sp.stats["format"] == "sparse"
    assert np.max(np.abs(sp.expect[0] - de.expect[0])) <= 1e-8
