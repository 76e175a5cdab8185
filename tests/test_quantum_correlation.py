"""Correlation functions and spectra (nephlab.quantum.correlation) against QuTiP 5 and closed forms.

Models (ħ = 1, frame rotating at the drive frequency ω_L):
- driven damped cavity, H = Δ a†a + F (a + a†), c_ops = √(κ(1+n̄)) a, √(κ n̄) a†;
- resonance fluorescence, H = (Ω/2) σx, c_ops = √γ σ-.

Tolerances: nephlab propagates with exact matrix exponentials (round-off only, ~1e-13); QuTiP
integrates with atol=1e-12, rtol=1e-10 (its global error over the grid stays below ~1e-10, the
observed differences are 1e-12..5e-11), so agreement is asked to 1e-9 absolute on O(1) values.
QuTiP's spectrum is a closed-form eigen-expansion: agreement to 1e-10 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import qutip

from nephlab.quantum import (
    coherence_function_g1,
    coherence_function_g2,
    correlation_2op_1t,
    correlation_2op_2t,
    sigmam,
    sigmax,
    spectrum,
)

QOPT = {"atol": 1e-12, "rtol": 1e-10}
TAU = np.linspace(0.0, 4.0, 41)


def cavity(N=12, delta=0.7, F=0.6, kappa=1.0, nth=0.2):
    a = qutip.destroy(N)
    H = delta * a.dag() * a + F * (a + a.dag())
    c_ops = [np.sqrt(kappa * (1 + nth)) * a]
    if nth:
        c_ops.append(np.sqrt(kappa * nth) * a.dag())
    return H, c_ops, a


def fluorescence(Omega=2.0, gamma=1.0):
    sm = qutip.destroy(2)  # |0> excited, as qutip.sigmam
    return 0.5 * Omega * (sm + sm.dag()), [np.sqrt(gamma) * sm], sm


def mollow(w, Omega, gamma):
    """Exact incoherent resonance-fluorescence spectrum (Mollow 1969), QuTiP's normalisation.

    S(ω) = 8Ω⁴γ(Ω² + 2γ² + 2ω²) / [(2Ω² + γ²)(γ² + 4ω²)(4ω⁴ − (8Ω² − 5γ²)ω² + (2Ω² + γ²)²)];
    ∫ S dω/2π = <σ+σ-> − |<σ->|² = s²/(2(1+s)²), s = 2Ω²/γ².
    """
    W2, g2, w2 = Omega**2, gamma**2, w**2
    return 8 * W2**2 * gamma * (W2 + 2 * g2 + 2 * w2) / (
        (2 * W2 + g2) * (g2 + 4 * w2) * (4 * w2**2 - (8 * W2 - 5 * g2) * w2 + (2 * W2 + g2) ** 2)
    )


# ------------------------------------------------------------------------------------------
# agreement with QuTiP
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_correlation_2op_1t_matches_qutip_cavity(reverse):
    H, c_ops, a = cavity()
    for state0 in (None, qutip.basis(12, 1)):
        ours = correlation_2op_1t(H, state0, TAU, c_ops, a.dag(), a, reverse=reverse)
        ref = qutip.correlation_2op_1t(H, state0, TAU, c_ops, a.dag(), a, reverse=reverse, options=QOPT)
        assert ours.shape == (41,)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("reverse", [False, True])
def test_correlation_2op_2t_matches_qutip(reverse):
    H, c_ops, sm = fluorescence()
    tlist = np.linspace(0.0, 3.0, 7)
    psi0 = qutip.basis(2, 1)  # ground state: the transient matters
    ours = correlation_2op_2t(H, psi0, tlist, TAU, c_ops, sm.dag(), sm, reverse=reverse)
    ref = qutip.correlation_2op_2t(H, psi0, tlist, TAU, c_ops, sm.dag(), sm, reverse=reverse, options=QOPT)
    assert ours.shape == (7, 41)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    # the cavity, A ≠ B†, steady state: every row is the same stationary function
    H, c_ops, a = cavity()
    ours = correlation_2op_2t(H, None, [0.0, 1.0], TAU, c_ops, a, a.dag() * a, reverse=reverse)
    ref = qutip.correlation_2op_2t(H, None, [0.0, 1.0], TAU, c_ops, a, a.dag() * a, reverse=reverse, options=QOPT)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def test_spectrum_matches_qutip():
    w = np.linspace(-4.0, 4.0, 81)
    for H, c_ops, a in (cavity(), fluorescence()):
        ours = spectrum(H, w, c_ops, a.dag(), a)
        ref = qutip.spectrum(H, w, c_ops, a.dag(), a)
        assert ours.dtype == np.float64 and ours.shape == (81,)
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("steady", [True, False])
def test_coherence_functions_match_qutip(steady):
    H, c_ops, sm = fluorescence()
    state0 = None if steady else qutip.basis(2, 1)
    g2, G2 = coherence_function_g2(H, state0, TAU, c_ops, sm)
    q2, Q2 = qutip.coherence_function_g2(H, state0, TAU, c_ops, sm, options=QOPT)
    np.testing.assert_allclose(G2, Q2, rtol=0, atol=1e-9)
    g1, G1 = coherence_function_g1(H, state0, TAU, c_ops, sm)
    q1, Q1 = qutip.coherence_function_g1(H, state0, TAU, c_ops, sm, options=QOPT)
    np.testing.assert_allclose(G1, Q1, rtol=0, atol=1e-9)
    if steady:
        np.testing.assert_allclose(g2, q2, rtol=0, atol=1e-8)
        np.testing.assert_allclose(g1, q1, rtol=0, atol=1e-8)
    else:  # QuTiP's g1 divides by n(0) alone; ours by sqrt(n(0) n(τ)) as its docstring says
        n = qutip.mesolve(H, state0, TAU, c_ops, e_ops=[sm.dag() * sm], options=QOPT).expect[0]
        np.testing.assert_allclose(g1[1:], Q1[1:] / np.sqrt(n[0] * n[1:]), rtol=1e-7)
        np.testing.assert_allclose(g2[1:], Q2[1:] / (n[0] * n[1:]), rtol=1e-7)


# ------------------------------------------------------------------------------------------
# closed forms
# ------------------------------------------------------------------------------------------


def test_resonance_fluorescence_antibunching_and_g2_closed_form():
    """g2(τ) = 1 − e^{−3γτ/4}[cos μτ + (3γ/4μ) sin μτ], μ = sqrt(Ω² − γ²/16); g2(0) = 0."""
    gamma = 1.0
    for Omega in (0.8, 2.0, 5.0):
        H, c_ops, sm = fluorescence(Omega, gamma)
        g2, G2 = coherence_function_g2(H, None, TAU, c_ops, sm)
        mu = np.sqrt(Omega**2 - gamma**2 / 16)
        exact = 1 - np.exp(-0.75 * gamma * TAU) * (np.cos(mu * TAU) + 0.75 * gamma / mu * np.sin(mu * TAU))
        assert abs(g2[0]) < 1e-13 and abs(G2[0]) < 1e-15
        np.testing.assert_allclose(g2, exact, rtol=0, atol=1e-12)


def test_coherent_cavity_g2_is_one_and_thermal_spectrum_is_lorentzian():
    # coherent steady state (n̄ = 0): g1 = g2 = 1, |α|² ≈ 0.12, truncation error ~|α|^{2N}/N! < 1e-15
    H, c_ops, a = cavity(F=0.3, nth=0.0)
    g2, _ = coherence_function_g2(H, None, TAU, c_ops, a)
    g1, G1 = coherence_function_g1(H, None, TAU, c_ops, a)
    np.testing.assert_allclose(g2, 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(g1, 1.0, rtol=0, atol=1e-10)
    # the coherent part is removed: the spectrum of a coherent state vanishes
    w = np.linspace(-4.0, 4.0, 81)
    assert np.abs(spectrum(H, w, c_ops, a.dag(), a)).max() < 1e-10
    # thermal input: <δa†(τ)δa(0)> = n̄ e^{(iΔ − κ/2)τ}  =>  S(ω) = n̄κ / ((κ/2)² + (ω − Δ)²)
    # Truncation at N Fock states is the only error: measured max relative error 1.0e-4, 2.6e-6,
    # 5.4e-8, 1.8e-11 at N = 8, 10, 12, 16 (n̄ = 0.1, |α|² = F²/(Δ² + κ²/4) ≈ 0.12); N = 12 here
    H, c_ops, a = cavity(F=0.3, nth=0.1)
    S = spectrum(H, w, c_ops, a.dag(), a)
    np.testing.assert_allclose(S, 0.1 * 1.0 / (0.25 + (w - 0.7) ** 2), rtol=1e-7)


def test_mollow_triplet():
    gamma, Omega = 1.0, 20.0
    H, c_ops, sm = fluorescence(Omega, gamma)
    w = np.linspace(-30.0, 30.0, 1201)  # resolution 0.05 γ
    S = spectrum(H, w, c_ops, sm.dag(), sm)
    np.testing.assert_allclose(S, mollow(w, Omega, gamma), rtol=1e-10)
    # side peaks at ω_L ± Ω: the maximum sits at ±(Ω − γ²/(2Ω)) + O(γ⁴/Ω³) (−0.025 γ here);
    # refine on a 1e-4 γ grid around the coarse maximum
    for sign in (1, -1):
        side = sign * w > 5
        w0 = w[side][np.argmax(S[side])]
        assert abs(w0 - sign * Omega) <= 0.05 + 1e-9  # one grid step
        fine = w0 + np.linspace(-0.1, 0.1, 2001)
        peak = fine[np.argmax(spectrum(H, fine, c_ops, sm.dag(), sm))]
        assert abs(peak - sign * (Omega - gamma**2 / (2 * Omega))) < 3e-4
    # strong-drive heights 1/γ (centre, FWHM γ) and 1/(3γ) (sides, FWHM 3γ/2): ratio 3, to O(γ/Ω)
    centre, side = S[600], S[np.argmin(np.abs(w - Omega))]
    assert abs(centre * gamma - 1) < 0.01 and abs(3 * side * gamma - 1) < 0.01


# ------------------------------------------------------------------------------------------
# grids, batching, input forms
# ------------------------------------------------------------------------------------------


def test_nonuniform_taulist_and_batch_equal_loop():
    H, c_ops, sm = fluorescence()
    Hn, sn = H.full(), sm.full()
    taus = np.array([0.0, 0.1, 0.35, 1.0, 2.5])
    uniform = correlation_2op_1t(Hn, None, np.linspace(0, 2.5, 51), [c.full() for c in c_ops], sn.T, sn)
    ours = correlation_2op_1t(Hn, None, taus, [c.full() for c in c_ops], sn.T, sn)
    np.testing.assert_allclose(ours, uniform[[0, 2, 7, 20, 50]], rtol=0, atol=1e-13)
    # batch over the drive strength == loop, for every public function
    Hb = np.stack([0.5 * W * sigmax() for W in (1.0, 3.0)])
    cb = [np.asarray(sigmam())]
    sm = np.asarray(sigmam())
    corr = correlation_2op_1t(Hb, None, TAU, cb, sm.T, sm)
    S = spectrum(Hb, [-3.0, 0.0, 3.0], cb, sm.T, sm)
    g2, _ = coherence_function_g2(Hb, np.diag([1.0, 0.0]), TAU, cb, sm)
    assert corr.shape == (2, 41) and S.shape == (2, 3) and g2.shape == (2, 41)
    for k in range(2):
        np.testing.assert_allclose(corr[k], correlation_2op_1t(Hb[k], None, TAU, cb, sm.T, sm), atol=1e-14)
        np.testing.assert_allclose(S[k], spectrum(Hb[k], [-3.0, 0.0, 3.0], cb, sm.T, sm), rtol=1e-12)
        np.testing.assert_allclose(
            g2[k], coherence_function_g2(Hb[k], np.diag([1.0, 0.0]), TAU, cb, sm)[0], atol=1e-12
        )


def test_spectrum_accepts_its_steady_state():
    H, c_ops, sm = fluorescence()
    rho = qutip.steadystate(H, c_ops)
    w = [-1.0, 0.0, 2.0]
    np.testing.assert_allclose(
        spectrum(H, w, c_ops, sm.dag(), sm, state0=rho), spectrum(H, w, c_ops, sm.dag(), sm), rtol=1e-10
    )


def test_spectrum_of_a_driven_kerr_cavity_matches_qutip_and_its_steady_state():
    """A larger generator with many complex eigenvalue pairs (2×2 blocks of the real Schur form):
    the real-basis Schur path agrees with QuTiP's eigen-expansion (its eigenvectors are well enough
    conditioned here) and the steady state it takes from the Schur vectors is QuTiP's."""
    a = qutip.destroy(10)
    H = 0.4 * a.dag() * a + 0.15 * a.dag() * a.dag() * a * a + 0.8 * (a + a.dag())
    c_ops = [np.sqrt(1.2) * a, np.sqrt(0.2) * a.dag(), np.sqrt(0.05) * a.dag() * a]
    w = np.linspace(-6.0, 6.0, 241)
    for A, B in ((a.dag(), a), (a.dag() * a, a.dag() * a), (a + a.dag(), 1j * (a.dag() - a))):
        ref = qutip.spectrum(H, w, c_ops, A, B)
        ours = spectrum(H, w, c_ops, A, B)
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    rho = qutip.steadystate(H, c_ops)
    np.testing.assert_allclose(spectrum(H, w, c_ops, a.dag(), a, state0=rho), spectrum(H, w, c_ops, a.dag(), a),
                               rtol=1e-10, atol=1e-13)


def test_spectrum_of_a_defective_liouvillian_is_exact():
    """A pumped three-level cycle 0 → 2 → 1 → 0 (rates P = 1, γ21 = 4, γ10 = 1, H = 0): the population
    generator M has the double eigenvalue -3 with a single eigenvector (a Jordan block; the
    eigenvector matrix of L has condition 1e8 in floating point), the worst case for an eigen-
    expansion (QuTiP 5.3's spectrum returns NaN here). The population-noise spectrum of |1><1| is
    the 3×3 resolvent S(ω) = 2 Re e₁ᵀ(iω - M + 3 p eᵀ)⁻¹(p₁e₁ - p₁p), p = (1, 1, 1/4)/(9/4)."""
    k = [qutip.basis(3, i) for i in range(3)]
    c_ops = [k[2] * k[0].dag(), 2.0 * k[1] * k[2].dag(), k[0] * k[1].dag()]
    P1 = k[1] * k[1].dag()
    w = np.linspace(-6.0, 6.0, 121)
    M = np.array([[-1.0, 1.0, 0.0], [0.0, -1.0, 4.0], [1.0, 0.0, -4.0]])
    p = np.array([1.0, 1.0, 0.25]) / 2.25
    np.testing.assert_allclose(M @ p, 0.0, atol=1e-15)
    b = p[1] * (np.eye(3)[1] - p)
    Mp = M - 3.0 * np.outer(p, np.ones(3))  # any shift of the zero mode: b is traceless
    exact = np.array([2 * np.linalg.solve(1j * x * np.eye(3) - Mp, b)[1].real for x in w])
    S = spectrum(0 * qutip.qeye(3), w, c_ops, P1, P1)
    np.testing.assert_allclose(S, exact, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 32])
def test_spectrum_back_substitution_keeps_2x2_blocks_whole(monkeypatch, block):
    """The quasi-triangular solve against dense solves, for block sizes that would cut 2×2 blocks."""
    import scipy.linalg

    from nephlab.quantum import correlation

    rng = np.random.default_rng(3)
    T, _ = scipy.linalg.schur(rng.normal(size=(23, 23)) - 3.0 * np.eye(23))
    assert np.count_nonzero(np.diagonal(T, -1)) >= 6  # several 2x2 blocks
    bz, az = rng.normal(size=(2, 23)) + 1j * rng.normal(size=(2, 23))
    w = np.linspace(-4.0, 4.0, 17)
    exact = [2 * (az @ np.linalg.solve(1j * x * np.eye(23) - T, bz)).real for x in w]
    monkeypatch.setattr(correlation, "_SPECTRUM_BLOCK", block)
    np.testing.assert_allclose(correlation._spectrum_core(T, bz, az, w), exact, rtol=1e-12, atol=1e-13)


def test_hermitian_coordinates_of_any_matrix():
    """The propagation's change of basis: X -> x -> X is the identity for a non-Hermitian X, the
    coordinates of a Hermitian matrix are real, Tr(A X) = dual(A)·x, and the basis is orthonormal
    (‖x‖ = ‖X‖_F), which the real Schur path relies on."""
    from nephlab.quantum._engine import HermitianBasis
    from nephlab.quantum.correlation import _coords, _dual_coords, _from_coords

    rng = np.random.default_rng(5)
    basis = HermitianBasis(4)
    X = rng.normal(size=(2, 4, 4)) + 1j * rng.normal(size=(2, 4, 4))
    A = rng.normal(size=(2, 4, 4)) + 1j * rng.normal(size=(2, 4, 4))
    x = _coords(basis, X)
    np.testing.assert_allclose(_from_coords(basis, x), X, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), np.linalg.norm(X, axis=(-2, -1)), rtol=1e-15)
    np.testing.assert_allclose(np.sum(_dual_coords(basis, A) * x, axis=-1), np.trace(A @ X, axis1=-2, axis2=-1),
                               rtol=1e-14)
    Hm = X[0] + X[0].conj().T
    assert np.abs(_coords(basis, Hm).imag).max() == 0.0


@pytest.mark.parametrize("state0", [None, np.diag([1.0, 0.0])])
def test_spectrum_rejects_a_non_unique_steady_state(state0):
    """Pure dephasing (H ∝ σz, c_ops = [σz]) keeps both populations: two zero eigenvalues."""
    sz = np.diag([1.0, -1.0])
    sm = np.asarray(sigmam())
    with pytest.raises(RuntimeError, match=r"steady state is not unique: the Liouvillian has 2 \(near-\)zero"):
        spectrum(0.3 * sz, [0.0, 1.0], [sz], sm.T, sm, state0=state0)
    Hb = np.stack([0.5 * sigmax(), 0.3 * sz])  # the second system of a batch
    with pytest.raises(RuntimeError, match=r"not unique at batch index \(1,\)"):
        spectrum(Hb, [0.0], [np.stack([sm, sz])], sm.T, sm)


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda H, c, s: spectrum(H, [0.0, np.nan], c, s.T, s), ValueError, "wlist must be finite"),
        (lambda H, c, s: spectrum(H, [[0.0, 1.0]], c, s.T, s), ValueError, "wlist must be 1-D"),
        (lambda H, c, s: spectrum(H, "abc", c, s.T, s), TypeError, "wlist"),
        (lambda H, c, s: spectrum(H, [0.0], c, np.eye(3), s), ValueError, "a_op has shape"),
        (lambda H, c, s: spectrum(H, [0.0], c, s.T, s, state0=np.diag([1.0, 0.0])), ValueError,
         "state0 is not a steady state"),
        (lambda H, c, s: spectrum(H, [0.0], [], s.T, s), ValueError, "c_ops is empty"),
        (lambda H, c, s: correlation_2op_1t(H, None, [0.0, np.inf], c, s.T, s), ValueError, "taulist must be finite"),
        (lambda H, c, s: correlation_2op_1t(H, None, np.zeros((2, 2)), c, s.T, s), ValueError, "taulist must be 1-D"),
        (lambda H, c, s: correlation_2op_1t(H, None, [-1.0, 0.0], c, s.T, s), ValueError, "taulist must hold times >= 0"),
        (lambda H, c, s: correlation_2op_1t(H, None, [0.0, 2.0, 1.0], c, s.T, s), ValueError,
         "taulist must be strictly increasing"),
        (lambda H, c, s: correlation_2op_2t(H, None, [1.0, 0.5], [0.0], c, s.T, s), ValueError,
         "tlist must be strictly increasing"),
        (lambda H, c, s: correlation_2op_1t(H, None, [0.0], c, s.T, np.eye(3)), ValueError, "b_op has shape"),
        (lambda H, c, s: correlation_2op_1t(H, np.eye(2), [0.0], c, s.T, s), ValueError, "state0 has trace"),
        (lambda H, c, s: coherence_function_g2([H, [s + s.T, lambda t: t]], None, [0.0], c, s), ValueError,
         "H must be a constant operator"),
        (lambda H, c, s: spectrum(lambda t: H, [0.0], c, s.T, s), ValueError, "H must be a constant operator"),
        (lambda H, c, s: correlation_2op_1t(H, None, [0.0], c, s.T, s, reverse=1), TypeError, "reverse"),
        (lambda H, c, s: correlation_2op_1t(H, None, [0.0], c, s.T, s, args=[1.0]), TypeError, "args must be a dict"),
        (lambda H, c, s: coherence_function_g2(H, None, [0.0], [], s), ValueError, "state0=None"),
        (lambda H, c, s: coherence_function_g1(H, None, [0.0], c, np.eye(4)), ValueError, "a_op has shape"),
    ],
)
def test_bad_input(call, exc, match):
    sm = np.asarray(sigmam())
    with pytest.raises(exc, match=match):
        call(0.5 * np.asarray(sigmax()), [sm], sm)


def test_spectrum_frequency_chunks_equal_one_chunk(monkeypatch):
    from nephlab.quantum import correlation

    H, c_ops, sm = fluorescence(Omega=20.0)
    w = np.linspace(-30.0, 30.0, 1001)
    whole = spectrum(H, w, c_ops, sm.dag(), sm)
    monkeypatch.setattr(correlation, "_SPECTRUM_CHUNK_ELEMENTS", 4 * 300)  # 300 per chunk, last one padded
    np.testing.assert_array_equal(spectrum(H, w, c_ops, sm.dag(), sm), whole)
