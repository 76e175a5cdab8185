"""Speed limits and shortcuts to adiabaticity (nephlab.control.speedlimits / .shortcuts)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

import nephlab
from nephlab.control.shortcuts import counterdiabatic, counterdiabatic_total, harmonic_cd, two_level_cd
from nephlab.control.speedlimits import (
    bures_angle,
    fidelity,
    mandelstam_tamm,
    margolus_levitin,
    open_system_speed_limit,
    shiraishi_funo_saito,
    thermodynamic_length,
    thermodynamic_length_bound,
)
from nephlab.quantum import basis, destroy, sigmam, sigmax, sigmay, sigmaz

SX, SY, SZ = (np.asarray(o) for o in (sigmax(), sigmay(), sigmaz()))


def _rand_herm(rng, n):
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    return 0.5 * (a + a.conj().T)


def _rand_ket(rng, n):
    v = rng.normal(size=n) + 1j * rng.normal(size=n)
    return v / np.linalg.norm(v)


def _rand_dm(rng, n):
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    r = a @ a.conj().T
    return r / np.trace(r).real


def _unitary_states(H, rho0, t):
    E, V = np.linalg.eigh(H)
    U = np.einsum("ij,tj,kj->tik", V, np.exp(-1j * np.outer(t, E)), V.conj())
    return U @ rho0 @ np.conj(np.swapaxes(U, -1, -2))


# ------------------------------------------------------------------ fidelity / Bures


def test_fidelity_pure_and_mixed_against_closed_forms():
    rng = np.random.default_rng(0)
    psi, phi = _rand_ket(rng, 3), _rand_ket(rng, 3)
    assert np.isclose(fidelity(psi, phi), abs(np.vdot(psi, phi)) ** 2, atol=1e-12)
    # commuting (diagonal) states: classical Bhattacharyya fidelity
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.1, 0.8])
    assert np.isclose(fidelity(np.diag(p), np.diag(q)), np.sum(np.sqrt(p * q)) ** 2, atol=1e-12)
    # qubits: F = Tr ρσ + 2 sqrt(det ρ det σ)
    r, s = _rand_dm(rng, 2), _rand_dm(rng, 2)
    ref = np.trace(r @ s).real + 2 * np.sqrt(np.linalg.det(r).real * np.linalg.det(s).real)
    assert np.isclose(fidelity(r, s), ref, atol=1e-12)
    assert np.isclose(fidelity(s, r), ref, atol=1e-12)  # symmetric
    assert np.isclose(bures_angle(r, r), 0.0, atol=1e-6)
    batch = fidelity(np.stack([r, s]), s)
    assert batch.shape == (2,) and np.isclose(batch[1], 1.0, atol=1e-12)


# ------------------------------------------------------------------ unitary speed limits


def test_qubit_saturates_mt_and_ml_exact_unitary():
    omega = 1.7
    H = 0.5 * omega * SX
    tau = np.pi / omega
    psi_tau = expm(-1j * H * tau) @ np.asarray(basis(2, 0))
    for bound in (mandelstam_tamm, margolus_levitin):
        b = float(bound(basis(2, 0), psi_tau, H))
        assert abs(b - tau) / tau <= 1e-8, (bound.__name__, b, tau)


def test_qubit_mt_saturated_along_mesolve_path():
    omega = 1.7
    H = 0.5 * omega * SX
    t = np.linspace(0.0, np.pi / omega, 41)
    res = nephlab.mesolve(H, basis(2, 0), t, rtol=1e-11, atol=1e-13, method="dopri5")
    mt = np.asarray(mandelstam_tamm(basis(2, 0), res.states, H))
    # L(t) = ωt/2 and ΔE = ω/2: MT equals t along the whole path (loses digits only near F → 0,
    # where arccos √F amplifies the integration error: δL ≈ √δF)
    assert np.max(np.abs(mt[1:-1] - t[1:-1]) / t[1:-1]) < 1e-7
    assert abs(mt[-1] - t[-1]) / t[-1] < 1e-4
    ml = np.asarray(margolus_levitin(basis(2, 0), res.states, H))
    assert np.all(ml <= t * (1 + 1e-9))
    assert abs(ml[-1] - t[-1]) / t[-1] < 1e-4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unitary_bounds_hold_on_random_systems(seed):
    rng = np.random.default_rng(seed)
    n = 4
    H = _rand_herm(rng, n)
    t = np.linspace(0.0, 6.0, 121)
    for rho0 in (np.outer(*(lambda v: (v, v.conj()))(_rand_ket(rng, n))), _rand_dm(rng, n)):
        states = _unitary_states(H, rho0, t)
        mt = np.asarray(mandelstam_tamm(rho0, states, H))
        ml = np.asarray(margolus_levitin(rho0, states, H))
        assert mt.shape == ml.shape == t.shape
        # slack 1e-7: near L = 0, L = arccos √F carries the round-off of F as √(1e-16) ≈ 1e-8
        assert np.all(mt <= t + 1e-7) and np.all(ml <= t + 1e-7)
        assert mt.max() > 0.01  # non-trivial


# ------------------------------------------------------------------ open systems


@pytest.mark.parametrize("seed", [4, 5])
def test_deffner_lutz_bound_holds_on_random_lindblad(seed):
    rng = np.random.default_rng(seed)
    n = 3
    H = _rand_herm(rng, n)
    c_ops = [0.4 * (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) for _ in range(2)]
    psi0 = _rand_ket(rng, n)
    t = np.linspace(0.0, 3.0, 301)
    res = nephlab.mesolve(H, psi0, t, c_ops, rtol=1e-10, atol=1e-12)
    bounds = {nm: np.asarray(open_system_speed_limit(res.states, t, H, c_ops, norm=nm)) for nm in ("operator", "hs", "trace")}
    for nm, b in bounds.items():
        assert b.shape == t.shape and b[0] == 0.0
        assert np.all(b <= t + 1e-6), nm
    assert np.all(bounds["operator"] >= bounds["hs"] - 1e-12)
    assert np.all(bounds["hs"] >= bounds["trace"] - 1e-12)
    assert bounds["operator"][-1] > 0.05


def test_deffner_lutz_closed_qubit_matches_hand_calculation():
    # H = σx from |0⟩: cos L = |cos t| and ‖-i[H, ρ_t]‖_op = 1, so the bound is sin² t (≤ t)
    t = np.linspace(0.0, 1.2, 241)
    res = nephlab.mesolve(SX, basis(2, 0), t, rtol=1e-11, atol=1e-13)
    b = np.asarray(open_system_speed_limit(res.states, t, SX))
    assert np.all(b <= t + 1e-9)
    assert np.max(np.abs(b - np.sin(t) ** 2)) < 1e-7


# ------------------------------------------------------------------ classical SFS


def test_sfs_two_state_relaxation_and_entropy_production():
    k_up, k_down = 0.5, 2.0  # 0 -> 1 at k_up, 1 -> 0 at k_down
    W = np.array([[0.0, k_down], [k_up, 0.0]])
    p0 = np.array([0.1, 0.9])
    t = np.linspace(0.0, 3.0, 61)
    out = shiraishi_funo_saito(W, p0, t)
    assert np.all(out.bound <= out.elapsed + 1e-12)
    assert out.bound[-1] > 0.01
    # exact p(t) and, for detailed-balance rates, Σ_tot = D(p0‖π) − D(p_t‖π)
    pi = np.array([k_down, k_up]) / (k_up + k_down)
    G = W - np.diag(W.sum(axis=0))
    p_exact = np.stack([expm(G * s) @ p0 for s in t])
    assert np.max(np.abs(out.p - p_exact)) < 1e-12
    kl = lambda p: np.sum(p * np.log(p / pi))  # noqa: E731
    sig_exact = kl(p0) - np.array([kl(p) for p in p_exact])
    assert np.max(np.abs(out.entropy_production - sig_exact)) < 1e-9
    act_exact = np.array([k_up * p[0] + k_down * p[1] for p in p_exact])  # A(t)
    # mean activity: trapezoid of the exact A(t) on a fine grid
    tf = np.linspace(0, 3, 30001)
    Af = np.interp(tf, t, act_exact)  # A is smooth; compare loosely
    assert abs(out.mean_activity[-1] - np.trapezoid(Af, tf) / 3.0) < 1e-3


@pytest.mark.parametrize("seed", [6, 7])
def test_sfs_holds_on_random_jump_processes(seed):
    rng = np.random.default_rng(seed)
    n = 4
    t = np.linspace(0.0, 2.0, 41)
    W = rng.exponential(size=(n, n)) * (1 - np.eye(n))
    p0 = rng.dirichlet(np.ones(n))
    out = shiraishi_funo_saito(W, p0, t)
    assert np.all(out.bound <= out.elapsed + 1e-12) and out.bound[-1] > 0
    # time-dependent (piecewise-constant) rates from a start with an empty state
    Wt = W[None] * (1 + 0.8 * np.sin(3 * t[:-1]))[:, None, None]
    p0 = np.array([1.0, 0.0, 0.0, 0.0])
    out = shiraishi_funo_saito(Wt, p0, t)
    assert np.all(np.isfinite(out.bound)) and np.all(out.bound <= out.elapsed + 1e-12)
    assert np.allclose(out.p.sum(axis=1), 1.0, atol=1e-12)


# ------------------------------------------------------------------ thermodynamic length


def test_thermodynamic_length_bound_cauchy_schwarz():
    zeta = lambda lam: 1.0 + lam**2  # noqa: E731
    tau = 2.0
    s = np.linspace(0.0, 1.0, 4001)
    L = float(thermodynamic_length(zeta, 3.0 * s))
    # exact: ∫_0^3 sqrt(1 + λ²) dλ
    exact = 0.5 * (3 * np.sqrt(10) + np.arcsinh(3.0))
    assert abs(L - exact) < 1e-6
    for lam in (3.0 * s, 3.0 * s**2, 3.0 * np.sin(0.5 * np.pi * s)):
        lam_dot = np.gradient(lam, s * tau)
        w_lr = np.trapezoid(lam_dot**2 * zeta(lam), s * tau)
        assert w_lr >= float(thermodynamic_length_bound(L, tau)) * (1 - 1e-4)
    # constant-thermodynamic-speed protocol for constant friction: equality
    assert np.isclose(thermodynamic_length_bound(thermodynamic_length(lambda l: 2.0, [0.0, 5.0]), tau), 2.0 * 25 / tau)
    # vector control with a tensor friction
    Z = np.array([[2.0, 0.5], [0.5, 1.0]])
    path = np.stack([np.linspace(0, 1, 11), np.linspace(0, 2, 11)], axis=1)
    d = np.array([1.0, 2.0])
    assert np.isclose(thermodynamic_length(lambda l: jnp.asarray(Z), path), np.sqrt(d @ Z @ d))


# ------------------------------------------------------------------ counterdiabatic: closed forms


def test_two_level_closed_form_matches_spectral_formula():
    delta = lambda t: 1.0 + 0.3 * jnp.sin(t)  # noqa: E731
    omega = lambda t: 2.0 * jnp.tanh(t)  # noqa: E731
    spectral = counterdiabatic(lambda l: 0.5 * l[0] * sigmaz() + 0.5 * l[1] * sigmax(), lambda t: jnp.stack([delta(t), omega(t)]))
    closed = two_level_cd(delta, omega)
    for t in (-1.3, 0.0, 0.4, 2.0):
        a, b = np.asarray(spectral(t)), np.asarray(closed(t))
        assert np.max(np.abs(a - b)) < 1e-13, t
        assert np.abs(b).max() > 1e-3
    # sign: θ = arctan(Ω/Δ) increasing gives +θ̇σy/2
    th = lambda t: jnp.arctan2(omega(t), delta(t))  # noqa: E731
    assert np.allclose(closed(0.4), 0.5 * jax.grad(th)(0.4) * SY, atol=1e-14)


def test_harmonic_closed_form_matches_spectral_formula():
    N, w_ref = 60, 1.0
    a = np.asarray(destroy(N + 2))
    xb = (a + a.T) / np.sqrt(2 * w_ref)
    pb = 1j * np.sqrt(w_ref / 2) * (a.T - a)
    x, p = xb[:N, :N], pb[:N, :N]
    x2, p2 = (xb @ xb)[:N, :N], (pb @ pb)[:N, :N]  # exact matrix elements of x², p² (no truncation artefact)
    H_of = lambda w: 0.5 * p2 + 0.5 * w**2 * x2  # noqa: E731
    w_of_t = lambda t: 1.0 + 0.3 * jnp.sin(t)  # noqa: E731
    spectral = counterdiabatic(H_of, w_of_t)
    closed = harmonic_cd(w_of_t, x, p)
    k = 12  # compare well inside the truncation
    for t in (0.0, 0.7):
        A, B = np.asarray(spectral(t))[:k, :k], np.asarray(closed(t))[:k, :k]
        assert np.max(np.abs(A - B)) < 1e-8 * np.abs(B).max(), (t, np.max(np.abs(A - B)))


def test_counterdiabatic_is_differentiable():
    def elem(A):
        hcd = counterdiabatic(lambda l: 0.5 * l * sigmaz() + 0.5 * sigmax(), lambda t: A * t)
        return jnp.imag(hcd(jnp.asarray(0.3))[1, 0])

    g = jax.grad(elem)(2.0)
    fd = (elem(2.0 + 1e-6) - elem(2.0 - 1e-6)) / 2e-6
    assert abs(g - fd) < 1e-6 * max(1.0, abs(fd))


# ------------------------------------------------------------------ counterdiabatic through mesolve


def _sweep(T):
    A = 6.0
    lam = lambda t: -A * jnp.cos(jnp.pi * (t + T) / (2 * T))  # noqa: E731  -A -> +A, smooth, λ̇(±T) = 0
    H0 = lambda l: 0.5 * l * sigmaz() + 0.5 * 0.8 * sigmax()  # noqa: E731
    return lam, H0


def test_counterdiabatic_follows_instantaneous_ground_state():
    T = 1.0  # fast: without the term the sweep is strongly non-adiabatic
    lam, H0 = _sweep(T)
    t = np.linspace(-T, T, 21)
    _, v = np.linalg.eigh(H0(lam(-T)))
    psi0 = v[:, 0]
    ground = np.stack([np.linalg.eigh(np.asarray(H0(lam(s))))[1][:, 0] for s in t])

    def infid(states):
        return 1.0 - np.real(np.einsum("ti,tij,tj->t", ground.conj(), states, ground))

    H = counterdiabatic_total(H0, lam, tlist=t)
    res = nephlab.mesolve(H, psi0, t, rtol=1e-10, atol=1e-12)
    err = infid(res.states)
    assert err.max() < 1e-8, err.max()
    res0 = nephlab.mesolve(lambda s, args: H0(lam(s)), psi0, t, rtol=1e-10, atol=1e-12)
    assert infid(res0.states)[-1] > 1e-2


def test_landau_zener_probability():
    # H = (v t/2) σz + (Δ/2) σx from -T to T. Start in the adiabatic ground state at -T and read
    # the adiabatic populations at +T: the first non-adiabatic correction there has amplitude
    # θ̇/gap ≈ Δ/(v² T³) (≈ 2e-6 here), so the finite-T error is far below the 2e-5 tolerance
    # (diabatic populations would oscillate with amplitude ~ Δ/(vT) ≈ 1e-2 instead).
    v, D, T = 1.0, 0.5, 60.0
    H = [0.5 * D * SX, [0.5 * SZ, lambda t, args: v * t]]
    t = np.array([-T, T])
    H_at = lambda s: 0.5 * v * s * SZ + 0.5 * D * SX  # noqa: E731
    psi0 = np.linalg.eigh(H_at(-T))[1][:, 0]
    res = nephlab.mesolve(H, psi0, t, rtol=1e-10, atol=1e-12, method="dopri5")
    excited = np.linalg.eigh(H_at(T))[1][:, 1]
    P = float(np.real(excited.conj() @ res.final_state @ excited))
    P_lz = np.exp(-np.pi * D**2 / (2 * v))
    assert abs(P - P_lz) < 2e-5, (P, P_lz)


# ------------------------------------------------------------------ bad input


def test_errors_name_the_argument():
    H = 0.5 * SX
    with pytest.raises(ValueError, match="rho0"):
        mandelstam_tamm(np.array([[0.5, 0], [0, 0.2]]), basis(2, 1), H)
    with pytest.raises(ValueError, match="H must be Hermitian"):
        mandelstam_tamm(basis(2, 0), basis(2, 1), np.array([[0, 1], [0, 0]]))
    with pytest.raises(ValueError, match="H must be a square"):
        margolus_levitin(basis(2, 0), basis(2, 1), np.ones((2, 3)))
    with pytest.raises(ValueError, match="purity"):
        open_system_speed_limit(np.stack([np.eye(2) / 2] * 2), [0.0, 1.0], H)
    with pytest.raises(ValueError, match="strictly increasing"):
        open_system_speed_limit(np.stack([np.diag([1.0, 0.0])] * 2), [1.0, 1.0], H)
    with pytest.raises(ValueError, match="norm"):
        open_system_speed_limit(np.stack([np.diag([1.0, 0.0])] * 2), [0.0, 1.0], H, norm="frobenius")
    W = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="p0 must sum to 1"):
        shiraishi_funo_saito(W, [0.5, 0.6], [0.0, 1.0])
    with pytest.raises(ValueError, match="negative off-diagonal"):
        shiraishi_funo_saito(np.array([[0.0, -1.0], [1.0, 0.0]]), [0.5, 0.5], [0.0, 1.0])
    with pytest.raises(ValueError, match="one-way"):
        shiraishi_funo_saito(np.array([[0.0, 1.0], [0.0, 0.0]]), [0.5, 0.5], [0.0, 1.0])
    with pytest.raises(ValueError, match="columns do not sum"):
        shiraishi_funo_saito(np.array([[-3.0, 1.0], [1.0, -1.0]]), [0.5, 0.5], [0.0, 1.0])
    with pytest.raises(ValueError, match="rates must be a square"):
        shiraishi_funo_saito(np.ones((2, 3)), [0.5, 0.5], [0.0, 1.0])
    with pytest.raises(ValueError, match="tau must be finite and > 0"):
        thermodynamic_length_bound(1.0, 0.0)
    with pytest.raises(ValueError, match="tau must be finite and > 0"):
        thermodynamic_length_bound(1.0, -2.0)
    with pytest.raises(TypeError, match="friction"):
        thermodynamic_length(3.0, [0.0, 1.0])
    # counterdiabatic: degenerate spectrum, non-Hermitian, non-square, non-callable
    with pytest.raises(ValueError, match="degenerate spectrum at t=0"):
        counterdiabatic(lambda l: l * sigmaz(), lambda t: t, tlist=[-1.0, 0.0, 1.0])
    hcd = counterdiabatic(lambda l: l * sigmaz() + 0.1 * l * sigmax(), lambda t: t)
    with pytest.raises(ValueError, match="degenerate"):
        hcd(0.0)
    assert np.all(np.isnan(np.asarray(jax.jit(hcd)(0.0))))  # traced: NaN, never a finite wrong value
    with pytest.raises(ValueError, match="Hermitian"):
        counterdiabatic(lambda l: jnp.array([[l, 1.0], [0.0, -l]]), lambda t: t, tlist=[0.5])
    with pytest.raises(ValueError, match="square"):
        counterdiabatic(lambda l: jnp.ones((2, 3)) * l, lambda t: t, tlist=[0.5])
    with pytest.raises(TypeError, match="H_of_lambda"):
        counterdiabatic(np.eye(2), lambda t: t)
    with pytest.raises(TypeError, match="omega_of_t"):
        harmonic_cd(1.0, SX, SY)
