"""Full counting statistics (nephlab.quantum.counting) against closed forms, heat_currents,
QuTiP's countstat_current_noise, the eigenvalue θ(s), and each other (dense vs Arnoldi)."""

import math

import numpy as np
import pytest
import qutip

from nephlab.largedev._conventions import SCGF_CONVENTION
from nephlab.quantum import (
    CountingResult, counting_statistics, destroy, heat_currents, liouvillian, sigmam, sigmax, sigmaz, steadystate,
    thermal_bath, tilted_liouvillian,
)


def _cavity(n=8, F=0.3, delta=0.2, kappa=0.5, nth=0.5):
    """Driven damped cavity at finite temperature; emission counted +1, absorption -1."""
    a = np.asarray(destroy(n))
    H = F * (a + a.conj().T) + delta * a.conj().T @ a
    return H, [math.sqrt(kappa * (nth + 1)) * a, math.sqrt(kappa * nth) * a.conj().T], [1.0, -1.0]


# -------------------------------------------------------------------------------------------
# the tilted Liouvillian
# -------------------------------------------------------------------------------------------


def test_tilted_liouvillian_reduces_to_liouvillian_and_matches_qutip():
    H, c, w = _cavity(n=4)
    assert np.allclose(tilted_liouvillian(H, c, w, 0.0), liouvillian(H, c), rtol=0, atol=1e-15)
    s = 0.37
    Hq, cq = qutip.Qobj(H), [qutip.Qobj(x) for x in c]
    got = tilted_liouvillian(Hq, cq, w, s)  # Qobj in -> QuTiP super (column stacking) out
    ref = qutip.liouvillian(Hq, cq) + sum(math.expm1(-s * wk) * qutip.sprepost(ck, ck.dag()) for wk, ck in zip(w, cq))
    assert got.issuper and got.dims == ref.dims
    assert np.abs(got.full() - ref.full()).max() < 1e-14


def test_theta_is_the_leading_eigenvalue_of_tilted_liouvillian():
    H, c, w = _cavity(n=4)
    s = np.array([-0.4, 0.25])
    r = counting_statistics(H, c, w, s=s, method="dense")
    for si, th in zip(s, r.theta):
        ev = np.linalg.eigvals(np.asarray(tilted_liouvillian(H, c, w, si)))
        assert abs(th - ev.real.max()) < 1e-13
        # the leading eigenvalue is real (Perron–Frobenius for the positive semigroup)
        assert abs(ev[np.argmax(ev.real)].imag) < 1e-12


# -------------------------------------------------------------------------------------------
# closed forms
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("Omega, gamma", [(1.0, 1.0), (1.3, 0.7), (0.2, 2.0)])
def test_resonance_fluorescence_flux_and_mandel_q(Omega, gamma):
    """Driven two-level atom, H = Ω/2 σx, L = √γ σ-, photons counted.

    Mean flux γ ρ_ee = γ Ω²/(γ² + 2Ω²) (steady-state Bloch equations on resonance), and the
    long-time Mandel parameter Q = κ2/κ1 - 1 = -6 Ω² γ² / (γ² + 2Ω²)² (Mandel, Opt. Lett. 4, 205
    (1979); re-derived for this test with SymPy by implicit differentiation of the characteristic
    polynomial det(L_χ - θ) = 0 of the tilted 4x4 Liouvillian to second order in χ).
    """
    r = counting_statistics(Omega / 2 * sigmax(), [math.sqrt(gamma) * sigmam()], [1.0], order=2)
    rho = np.asarray(steadystate(Omega / 2 * sigmax(), [math.sqrt(gamma) * sigmam()]))
    flux = gamma * Omega**2 / (gamma**2 + 2 * Omega**2)
    Q = -6 * Omega**2 * gamma**2 / (gamma**2 + 2 * Omega**2) ** 2
    assert r.mean == pytest.approx(flux, rel=1e-12, abs=0)
    assert r.mean == pytest.approx(gamma * rho[0, 0].real, rel=1e-10, abs=0)  # γ ρ_ee (excited = basis 0)
    assert r.fano - 1 == pytest.approx(Q, rel=1e-10, abs=1e-14)


def test_heat_current_equals_heat_currents():
    """Two-level system between a hot and a cold bath: counting the energy ±ω carried by the
    absorption/emission jumps of bath 1 gives heat_currents' J_1 (energy from bath 1 into the system)."""
    omega = 1.7
    H = 0.5 * omega * np.asarray(sigmaz())
    b1 = thermal_bath(sigmam(), 0.3, beta=0.4, omega=omega)
    b2 = thermal_bath(sigmam(), 0.8, beta=2.5, omega=omega)
    c = b1 + b2
    rho = steadystate(H, c)
    J = np.asarray(heat_currents(H, [b1, b2], rho))
    r1 = counting_statistics(H, c, [-omega, omega, 0.0, 0.0], order=2)
    r2 = counting_statistics(H, c, [0.0, 0.0, -omega, omega], order=2)
    assert J[0] > 0.01  # a real flow from the hot bath
    assert abs(r1.mean - J[0]) < 1e-10 and abs(r2.mean - J[1]) < 1e-10
    assert abs(r1.mean + r2.mean) < 1e-12  # first law at the steady state
    assert r1.noise > 0


# -------------------------------------------------------------------------------------------
# QuTiP
# -------------------------------------------------------------------------------------------


def test_against_qutip_countstat_net_current():
    """Net photon current of a thermal driven cavity: QuTiP's current, noise and skewness with
    I_op = Σ w_k J_k and J_op = Σ w_k² J_k (w = ±1, so Σ w_k³ J_k = I_op)."""
    H, c, w = _cavity(n=8)
    r = counting_statistics(H, c, w, order=3)
    Hq, cq = qutip.Qobj(H), [qutip.Qobj(x) for x in c]
    L = qutip.liouvillian(Hq, cq)
    Js = [qutip.sprepost(x, x.dag()) for x in cq]
    I_op = sum(wk * Jk for wk, Jk in zip(w, Js))
    J_op = sum(wk**2 * Jk for wk, Jk in zip(w, Js))
    cur, noise, skew = qutip.countstat_current_noise(L, [], rhoss=qutip.steadystate(L), J_ops=[J_op], I_ops=[I_op])
    # QuTiP regularises its zero-frequency solve with 1e-15j: agreement is ~1e-14 relative
    assert r.cumulants == pytest.approx([cur[0], noise[0, 0, 0], skew[0, 0]], rel=1e-9, abs=0)


def test_against_qutip_countstat_resonance_fluorescence():
    Omega, gamma = 1.3, 0.7
    Hq, cq = Omega / 2 * qutip.sigmax(), [math.sqrt(gamma) * qutip.sigmam()]
    r = counting_statistics(Hq, cq, [1.0], order=3)  # Qobj input
    L = qutip.liouvillian(Hq, cq)
    # pass rhoss: without it QuTiP 5.3 computes steadystate(L, c_ops), which adds the c_ops'
    # dissipators to L a second time (a different steady state)
    cur, noise, skew = qutip.countstat_current_noise(L, cq, rhoss=qutip.steadystate(L))
    assert r.cumulants == pytest.approx([cur[0], noise[0, 0, 0], skew[0, 0]], rel=1e-9, abs=0)


# -------------------------------------------------------------------------------------------
# θ(s): cumulant series, θ(0) = 0, convexity; dense vs Arnoldi
# -------------------------------------------------------------------------------------------


def test_theta_agrees_with_cumulant_series_and_is_convex():
    H, c, w = _cavity(n=6)
    s_small = np.array([-0.05, -0.02, 0.0, 0.02, 0.05])
    order = 8
    r = counting_statistics(H, c, w, s=s_small, order=order)
    series = sum(r.cumulants[k - 1] * (-s_small) ** k / math.factorial(k) for k in range(1, order + 1))
    # truncation error ≤ |κ9| 0.05⁹/9! ~ 1e-17 |κ9|; eigenvalue round-off ~1e-15
    assert np.abs(r.theta - series).max() < 1e-12
    assert abs(r.theta[2]) < 1e-14  # θ(0) = 0
    # -θ'(0) = κ1 by a central difference (error ~ κ3 h²/6)
    assert (r.theta[1] - r.theta[3]) / 0.04 == pytest.approx(r.mean, rel=1e-4)
    s = np.linspace(-1.5, 1.5, 31)
    th = counting_statistics(H, c, w, s=s, order=1).theta
    assert np.all(np.diff(th, 2) > 0)  # strictly convex (non-degenerate current)


def test_dense_and_arnoldi_agree():
    H, c, w = _cavity(n=10)
    s = np.array([-0.8, -0.1, 0.0, 0.3, 1.0])
    d = counting_statistics(H, c, w, s=s, order=4, method="dense")
    a = counting_statistics(H, c, w, s=s, order=4, method="arnoldi")
    assert (d.method, a.method) == ("dense", "arnoldi")
    assert np.abs(d.theta - a.theta).max() < 1e-11
    assert np.allclose(d.cumulants, a.cumulants, rtol=1e-10, atol=0)
    assert counting_statistics(H, c, w, order=1).method == "dense"  # auto: n² = 100 ≤ 400


def test_result_and_xarray():
    r = counting_statistics(0.5 * sigmax(), [sigmam()], [1.0], s=[-0.1, 0.1], order=3)
    assert isinstance(r, CountingResult) and r.cumulants.shape == (3,)
    ds = r.to_xarray()
    assert ds.attrs["convention"] == SCGF_CONVENTION
    assert ds.order.values.tolist() == [1, 2, 3]
    assert ds.attrs["mean"] == r.mean and ds.attrs["fano"] == r.fano
    assert np.array_equal(ds.theta.values, r.theta)
    r0 = counting_statistics(0.5 * sigmax(), [sigmam()], [1.0], order=1)
    assert r0.theta.shape == (0,) and math.isnan(r0.noise) and math.isnan(r0.fano)


# -------------------------------------------------------------------------------------------
# bad input
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, exc, match", [
    (dict(weights=[1.0, 0.0]), ValueError, "weights"),
    (dict(weights=1.0), TypeError, "weights"),
    (dict(weights=[np.nan]), ValueError, "weights"),
    (dict(s=[0.0, np.nan]), ValueError, "s must be finite"),
    (dict(s=np.inf), ValueError, "s must be finite"),
    (dict(s=[[0.1]]), ValueError, "s must be a scalar or a 1-D"),
    (dict(s=-1e4), ValueError, "overflows"),
    (dict(order=0), ValueError, "order"),
    (dict(order=2.0), TypeError, "order"),
    (dict(order="3"), TypeError, "order"),
    (dict(order=True), TypeError, "order"),
    (dict(method="lu"), ValueError, "method must be one of"),
])
def test_bad_input(kw, exc, match):
    args = dict(weights=[1.0])
    args.update(kw)
    w = args.pop("weights")
    with pytest.raises(exc, match=match):
        counting_statistics(0.5 * sigmax(), [sigmam()], w, **args)


def test_bad_input_tilted_and_systems():
    with pytest.raises(ValueError, match="weights"):
        tilted_liouvillian(sigmax(), [sigmam()], [1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="s must be a finite"):
        tilted_liouvillian(sigmax(), [sigmam()], [1.0], float("nan"))
    with pytest.raises(ValueError, match="batch"):
        counting_statistics(np.stack([sigmax(), sigmaz()]), [sigmam()], [1.0])
    with pytest.raises(RuntimeError, match="not unique"):  # pure dephasing: two stationary states
        counting_statistics(0 * sigmaz(), [sigmaz()], [1.0])
    with pytest.raises(RuntimeError, match="not unique"):
        counting_statistics(0 * sigmaz(), [sigmaz()], [1.0], method="arnoldi")
