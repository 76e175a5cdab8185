"""Quantum thermodynamics: entropies, baths, heat currents, entropy production, TPM work."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
import qutip as qt
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import nephlab._config  # noqa: F401
from nephlab.quantum.operators import destroy, sigmam, sigmax, sigmay, sigmaz
from nephlab.quantum.steadystate import steadystate
from nephlab.quantum.thermo import (
    WorkStatistics,
    entropy_production_rate,
    entropy_vn,
    heat_currents,
    purity,
    relative_entropy,
    thermal_bath,
    tpm_work,
)


def rand_dm(rng, n, *batch, rank=None):
    k = n if rank is None else rank
    A = rng.normal(size=batch + (n, k)) + 1j * rng.normal(size=batch + (n, k))
    r = A @ np.conj(np.swapaxes(A, -1, -2))
    return r / np.trace(r, axis1=-2, axis2=-1)[..., None, None]


def gibbs(H, beta):
    E, V = np.linalg.eigh(np.asarray(H))
    p = np.exp(-beta * (E - E.min()))
    return (V * (p / p.sum())) @ V.conj().T


# ------------------------------------------------------------------------------------- entropies


def test_entropy_vn_values_and_qutip():
    rng = np.random.default_rng(0)
    assert abs(float(entropy_vn(np.eye(3) / 3)) - math.log(3)) < 1e-14
    assert abs(float(entropy_vn(np.eye(4) / 4, base=2)) - 2.0) < 1e-14
    pure = rand_dm(rng, 4, rank=1)
    assert abs(float(entropy_vn(pure))) < 1e-12
    rank2 = rand_dm(rng, 5, rank=2)  # exact zero eigenvalues: 0 log 0 = 0
    np.testing.assert_allclose(float(entropy_vn(rank2)), qt.entropy_vn(qt.Qobj(rank2)), atol=1e-12)
    rhos = rand_dm(rng, 4, 3)
    S = np.asarray(entropy_vn(rhos))
    assert S.shape == (3,)
    for i in range(3):
        np.testing.assert_allclose(S[i], qt.entropy_vn(qt.Qobj(rhos[i])), atol=1e-12)
    assert abs(float(entropy_vn(qt.basis(3, 1)))) < 1e-14  # kets / Qobj accepted


def test_purity():
    rng = np.random.default_rng(1)
    rhos = rand_dm(rng, 3, 2)
    P = np.asarray(purity(rhos))
    for i in range(2):
        np.testing.assert_allclose(P[i], np.trace(rhos[i] @ rhos[i]).real, atol=1e-14)
    assert abs(float(purity(rand_dm(rng, 3, rank=1))) - 1) < 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_relative_entropy_vs_logm_and_nonnegative(seed):
    rng = np.random.default_rng(seed)
    rho, sigma = rand_dm(rng, 3), rand_dm(rng, 3)
    expected = np.trace(rho @ (scipy.linalg.logm(rho) - scipy.linalg.logm(sigma))).real
    val = float(relative_entropy(rho, sigma))
    np.testing.assert_allclose(val, expected, atol=1e-9)
    assert val >= -1e-12
    assert abs(float(relative_entropy(rho, rho))) < 1e-10


def test_relative_entropy_support_and_batch():
    rng = np.random.default_rng(3)
    pure = rand_dm(rng, 3, rank=1)
    mixed = rand_dm(rng, 3)
    assert float(relative_entropy(mixed, pure)) == math.inf
    assert math.isfinite(float(relative_entropy(pure, mixed)))
    assert abs(float(relative_entropy(pure, pure))) < 1e-10  # same support: finite
    np.testing.assert_allclose(float(relative_entropy(pure, mixed, base=2)), float(relative_entropy(pure, mixed)) / math.log(2), rtol=1e-13)
    np.testing.assert_allclose(float(relative_entropy(mixed, mixed)), 0, atol=1e-12)
    rhos, sig = rand_dm(rng, 3, 4), rand_dm(rng, 3)
    out = np.asarray(relative_entropy(rhos, sig))
    assert out.shape == (4,)
    np.testing.assert_allclose(out[2], float(relative_entropy(rhos[2], sig)), atol=1e-13)
    np.testing.assert_allclose(float(relative_entropy(pure, mixed)), qt.entropy_relative(qt.Qobj(pure), qt.Qobj(mixed)), atol=1e-10)


def test_entropy_bad_inputs():
    with pytest.raises(ValueError, match="trace"):
        entropy_vn(np.eye(2))
    with pytest.raises(ValueError, match="positive semidefinite"):
        purity(np.diag([1.5, -0.5]))
    with pytest.raises(ValueError, match="base"):
        entropy_vn(np.eye(2) / 2, base=1)
    with pytest.raises(ValueError, match="base"):
        entropy_vn(np.eye(2) / 2, base=-2.0)
    with pytest.raises(ValueError, match="sigma"):
        relative_entropy(np.eye(2) / 2, np.eye(3) / 3)


# ------------------------------------------------------------------------------------- baths


def test_thermal_bath():
    a = destroy(4)
    ops = thermal_bath(a, 0.2, 0.5)
    np.testing.assert_allclose(np.asarray(ops[0]), np.sqrt(0.2 * 1.5) * np.asarray(a))
    np.testing.assert_allclose(np.asarray(ops[1]), np.sqrt(0.2 * 0.5) * np.asarray(a).conj().T)
    assert len(thermal_bath(a, 0.2)) == 1 and len(thermal_bath(a, 0.2, 0.0)) == 1
    ops_b = thermal_bath(a, 0.2, beta=0.7, omega=1.3)
    nth = 1 / np.expm1(0.7 * 1.3)
    for x, y in zip(ops_b, thermal_bath(a, 0.2, nth)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-14)
    # detailed balance: the Gibbs state is the fixed point
    H = 1.3 * np.asarray(destroy(6)).conj().T @ np.asarray(destroy(6))
    rho = np.asarray(steadystate(H, thermal_bath(destroy(6), 0.3, beta=0.7, omega=1.3)))
    np.testing.assert_allclose(rho, gibbs(H, 0.7), atol=1e-12)


def test_thermal_bath_bad_inputs():
    with pytest.raises(ValueError, match="negative rate gamma"):
        thermal_bath(destroy(3), -0.1)
    with pytest.raises(ValueError, match="n_th"):
        thermal_bath(destroy(3), 0.1, -0.5)
    with pytest.raises(ValueError, match="together"):
        thermal_bath(destroy(3), 0.1, beta=1.0)
    with pytest.raises(ValueError, match="not both"):
        thermal_bath(destroy(3), 0.1, 0.3, beta=1.0, omega=1.0)
    with pytest.raises(ValueError, match="beta"):
        thermal_bath(destroy(3), 0.1, beta=-1.0, omega=1.0)
    with pytest.raises(ValueError, match="gamma"):
        thermal_bath(destroy(3), float("nan"))
    with pytest.raises(TypeError, match="gamma"):
        thermal_bath(destroy(3), 1j)


# ----------------------------------------------------------------------- currents and entropy production

W, G1, G2, B_HOT, B_COLD = 1.0, 0.4, 0.9, 0.3, 2.0
HQ = 0.5 * W * np.asarray(sigmaz())
BATHS = [thermal_bath(sigmam(), G1, beta=B_HOT, omega=W), thermal_bath(sigmam(), G2, beta=B_COLD, omega=W)]


def test_two_bath_qubit_currents_closed_form():
    rho = np.asarray(steadystate(HQ, BATHS[0] + BATHS[1]))
    J = np.asarray(heat_currents(HQ, BATHS, rho))
    assert J.shape == (2,)
    n1, n2 = 1 / np.expm1(B_HOT * W), 1 / np.expm1(B_COLD * W)
    pe, pg = rho[0, 0].real, rho[1, 1].real  # basis(2, 0) is the excited state
    expected = [W * G1 * (n1 * pg - (n1 + 1) * pe), W * G2 * (n2 * pg - (n2 + 1) * pe)]
    np.testing.assert_allclose(J, expected, atol=1e-14)
    assert abs(J.sum()) < 1e-13  # first law at steady state
    assert J[0] > 0 > J[1]  # heat flows from the hot bath, through the system, into the cold one
    sigma = float(entropy_production_rate(HQ, BATHS, rho, betas=[B_HOT, B_COLD]))
    np.testing.assert_allclose(sigma, -(B_HOT * J[0] + B_COLD * J[1]), rtol=1e-10)
    assert sigma > 0
    # Spohn with computed bath steady states equals the Gibbs form for thermal baths
    np.testing.assert_allclose(float(entropy_production_rate(HQ, BATHS, rho)), sigma, rtol=1e-9)


def test_equilibrium_zero_entropy_production():
    n, w, beta = 6, 0.8, 1.1
    a = destroy(n)
    H = w * np.asarray(a).conj().T @ np.asarray(a)
    bath = [thermal_bath(a, 0.5, beta=beta, omega=w)]
    g = gibbs(H, beta)
    assert abs(float(entropy_production_rate(H, bath, g))) < 1e-12
    assert abs(float(entropy_production_rate(H, bath, g, betas=[beta]))) < 1e-12
    assert abs(float(heat_currents(H, bath, g)[0])) < 1e-13


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_entropy_production_nonnegative_random_states(seed):
    rng = np.random.default_rng(seed)
    rho_q = rand_dm(rng, 2)
    s_gibbs = float(entropy_production_rate(HQ, BATHS, rho_q, betas=[B_HOT, B_COLD]))
    s_spohn = float(entropy_production_rate(HQ, BATHS, rho_q))
    assert s_gibbs >= -1e-12
    np.testing.assert_allclose(s_spohn, s_gibbs, rtol=1e-8, atol=1e-12)
    # oscillator with two thermal baths and a random state
    a = destroy(4)
    H = 1.2 * np.asarray(a).conj().T @ np.asarray(a)
    baths = [thermal_bath(a, 0.3, beta=0.5, omega=1.2), thermal_bath(a, 0.7, beta=2.5, omega=1.2)]
    assert float(entropy_production_rate(H, baths, rand_dm(rng, 4), betas=[0.5, 2.5])) >= -1e-12


def test_entropy_production_singular_and_batch():
    excited = np.diag([1.0, 0.0]).astype(complex)
    # a pure state under thermal noise: entropy production diverges
    assert float(entropy_production_rate(HQ, BATHS, excited, betas=[B_HOT, B_COLD])) == math.inf
    # batch of states gives one value each
    rng = np.random.default_rng(5)
    rhos = rand_dm(rng, 2, 3)
    s = np.asarray(entropy_production_rate(HQ, BATHS, rhos, betas=[B_HOT, B_COLD]))
    J = np.asarray(heat_currents(HQ, BATHS, rhos))
    assert s.shape == (3,) and J.shape == (3, 2)
    for i in range(3):
        np.testing.assert_allclose(s[i], float(entropy_production_rate(HQ, BATHS, rhos[i], betas=[B_HOT, B_COLD])), rtol=1e-12)


def test_entropy_production_bad_inputs():
    rho = np.eye(2) / 2
    with pytest.raises(ValueError, match="betas"):
        entropy_production_rate(HQ, BATHS, rho, betas=[1.0])
    with pytest.raises(ValueError, match="betas"):
        entropy_production_rate(HQ, BATHS, rho, betas=[1.0, -2.0])
    with pytest.raises(TypeError, match=r"c_ops_per_bath\[0\]"):
        heat_currents(HQ, [sigmam()], rho)
    with pytest.raises(TypeError, match="c_ops_per_bath"):
        heat_currents(HQ, [], rho)
    with pytest.raises(ValueError, match="Hermitian"):
        heat_currents(np.asarray(sigmam()), BATHS, rho)
    with pytest.raises(ValueError, match="rho"):
        heat_currents(HQ, BATHS, np.eye(3) / 3)
    with pytest.raises(ValueError, match="no unique steady state"):
        entropy_production_rate(HQ, [[np.asarray(sigmaz())]], rho)


# ------------------------------------------------------------------------------------- TPM work


def assert_jarzynski(ws: WorkStatistics):
    assert abs(float(np.sum(ws.probabilities)) - 1) < 1e-13
    assert abs(ws.exp_avg / ws.jarzynski_ratio - 1) < 1e-12
    np.testing.assert_allclose(ws.free_energy_difference, -math.log(ws.jarzynski_ratio) / ws.beta, rtol=1e-12)


def test_driven_qubit_list_format():
    H = [0.5 * sigmaz(), [0.4 * sigmax(), lambda t, args: args["A"] * np.sin(args["w"] * t)], [0.2 * sigmaz(), lambda t: t / 3.0]]
    ws = tpm_work(H, None, np.linspace(0, 3.0, 7), beta=0.9, args={"A": 1.2, "w": 2.0})
    assert ws.work.shape == (4,) and ws.probabilities.shape == (4,)
    assert_jarzynski(ws)  # holds for ANY unitary: the propagator itself is checked below
    # the propagator against QuTiP's (tol = 1e-10 gives an error ~1e-11; QuTiP at rtol 1e-12)
    Hq = [0.5 * qt.sigmaz(), [0.4 * qt.sigmax(), lambda t, A, w: A * np.sin(w * t)],
          [0.2 * qt.sigmaz(), lambda t: t / 3.0]]
    Uq = qt.propagator(Hq, 3.0, args={"A": 1.2, "w": 2.0}, options={"atol": 1e-13, "rtol": 1e-12}).full()
    np.testing.assert_allclose(np.asarray(ws.unitary), Uq, atol=1e-9)
    assert ws.error_estimate < 1e-9
    # and the TPM probabilities are p_k |<m_f|U|k_i>|^2 with that U (W = E^f_m - E^i_k, m major)
    Hi = 0.5 * np.asarray(sigmaz())
    Hf = Hi + 1.2 * np.sin(6.0) * 0.4 * np.asarray(sigmax()) + 0.2 * np.asarray(sigmaz())
    Ei, Vi = np.linalg.eigh(Hi)
    Ef, Vf = np.linalg.eigh(Hf)
    pk = np.exp(-0.9 * Ei) / np.exp(-0.9 * Ei).sum()
    P = np.abs(Vf.conj().T @ Uq @ Vi) ** 2 * pk[None, :]
    np.testing.assert_allclose(np.asarray(ws.probabilities), P.reshape(-1), atol=1e-9)
    np.testing.assert_allclose(np.asarray(ws.work), (Ef[:, None] - Ei[None, :]).reshape(-1), atol=1e-12)
    assert "WorkStatistics" in str(ws)
    mass, edges = ws.histogram(5)
    assert abs(mass.sum() - 1) < 1e-13 and len(edges) == 6


def test_landau_zener_sweep_vs_qutip_propagator():
    delta, v, T = 0.5, 2.0, 4.0

    def H(t):
        return 0.5 * v * (t - T / 2) * sigmaz() + 0.5 * delta * sigmax()

    tlist = np.linspace(0, T, 41)
    ws = tpm_work(H, None, tlist, beta=2.0)
    assert_jarzynski(ws)
    Hq = [0.5 * delta * qt.sigmax(), [0.5 * v * qt.sigmaz(), lambda t: t - T / 2]]
    Uq = qt.propagator(Hq, T, options={"atol": 1e-12, "rtol": 1e-12}).full()
    np.testing.assert_allclose(np.asarray(ws.unitary), Uq, atol=1e-8)
    # a non-thermal initial state still gives a normalised distribution
    ws2 = tpm_work(H, np.eye(2) / 2, tlist, beta=2.0)
    assert abs(float(np.sum(ws2.probabilities)) - 1) < 1e-13


def test_driven_oscillator_callable_with_args():
    n = 8
    a = jnp.asarray(destroy(n))
    ad = a.conj().T

    def H(t, args):
        return args["w"] * ad @ a + args["F"] * jnp.sin(t) * (a + ad)

    ws = tpm_work(H, None, np.linspace(0, 2.0, 5), beta=0.5, args={"w": 1.0, "F": 0.3})
    assert ws.work.shape == (n * n,)
    assert_jarzynski(ws)
    # H(t_f) != H(t_0) only through the drive term; ⟨W⟩ is the energy change from thermal
    rho_i = gibbs(np.asarray(H(0.0, {"w": 1.0, "F": 0.3})), 0.5)
    U = np.asarray(ws.unitary)
    Hf = np.asarray(H(2.0, {"w": 1.0, "F": 0.3}))
    np.testing.assert_allclose(ws.mean_work, np.trace(U @ rho_i @ U.conj().T @ Hf).real - np.trace(rho_i @ np.asarray(H(0.0, {"w": 1.0, "F": 0.3}))).real, atol=1e-12)


def test_sudden_quench_formula():
    Hi = 0.5 * np.asarray(sigmaz())
    Hf = 0.7 * np.asarray(sigmax()) + 0.2 * np.asarray(sigmay())
    tau, beta = 1e-10, 1.3
    ws = tpm_work(lambda t: Hi + (t / tau) * (Hf - Hi), None, [0.0, tau], beta)
    Ei, Vi = np.linalg.eigh(Hi)
    Ef, Vf = np.linalg.eigh(Hf)
    p = np.exp(-beta * Ei) / np.exp(-beta * Ei).sum()
    P = np.abs(Vf.conj().T @ Vi) ** 2 * p[None, :]
    np.testing.assert_allclose(np.asarray(ws.probabilities), P.reshape(-1), atol=1e-9)
    np.testing.assert_allclose(np.asarray(ws.work), (Ef[:, None] - Ei[None, :]).reshape(-1), atol=1e-14)
    np.testing.assert_allclose(ws.mean_work, np.trace(gibbs(Hi, beta) @ (Hf - Hi)).real, atol=1e-9)
    assert_jarzynski(ws)


def test_degenerate_initial_levels_use_projectors():
    # H0 has a doubly degenerate level; ρ has coherence inside it. The TPM probabilities must
    # equal Tr[P_m U P_k ρ P_k U†] summed over the degenerate block.
    H0 = np.diag([0.0, 0.0, 1.0]).astype(complex)
    H1 = np.array([[0, 0.3, 0.2], [0.3, 0, 0.5], [0.2, 0.5, 0]], complex)
    rho = np.array([[0.4, 0.2, 0], [0.2, 0.4, 0], [0, 0, 0.2]], complex)
    ws = tpm_work([H0, [H1, lambda t: t]], rho, np.linspace(0, 1, 5), beta=1.0)
    U = np.asarray(ws.unitary)
    Ef, Vf = np.linalg.eigh(H0 + H1)
    P_block = np.diag([1.0, 1.0, 0.0])
    prob = np.asarray(ws.probabilities).reshape(3, 3)
    for m in range(3):
        Pm = np.outer(Vf[:, m], Vf[:, m].conj())
        exact = np.trace(Pm @ U @ P_block @ rho @ P_block @ U.conj().T).real
        np.testing.assert_allclose(prob[m, :2].sum(), exact, atol=1e-13)
        # and each entry is a genuine (non-negative) probability
    assert prob.min() > -1e-15


def test_tpm_dt_convergence():
    H = [0.5 * sigmaz(), [0.8 * sigmax(), lambda t: np.cos(3 * t)]]
    u1 = np.asarray(tpm_work(H, None, [0.0, 2.0], 1.0, dt=0.01).unitary)
    u2 = np.asarray(tpm_work(H, None, [0.0, 2.0], 1.0, dt=0.005).unitary)
    np.testing.assert_allclose(u1, u2, atol=1e-9)


def test_tpm_bad_inputs():
    H = 0.5 * sigmaz()
    with pytest.raises(ValueError, match="beta"):
        tpm_work(H, None, [0, 1], 0.0)
    with pytest.raises(ValueError, match="beta"):
        tpm_work(H, None, [0, 1], math.inf)
    with pytest.raises(ValueError, match="strictly increasing"):
        tpm_work(H, None, [0, 1, 1], 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        tpm_work(H, None, [0.0], 1.0)
    with pytest.raises(ValueError, match="dt"):
        tpm_work(H, None, [0, 1], 1.0, dt=-0.1)
    with pytest.raises(TypeError, match="string"):
        tpm_work([H, [sigmax(), "sin(t)"]], None, [0, 1], 1.0)
    with pytest.raises(ValueError, match="rho_thermal"):
        tpm_work(H, np.eye(3) / 3, [0, 1], 1.0)
    with pytest.raises(TypeError, match="args"):
        tpm_work(H, None, [0, 1], 1.0, args=[1])
    with pytest.raises(ValueError, match="Hermitian"):
        tpm_work(lambda t: np.asarray(sigmam()), None, [0, 1], 1.0)
    with pytest.raises(ValueError, match="Magnus steps"):
        tpm_work(H, None, [0, 1e3], 1.0, dt=1e-4)


def test_non_traceable_callable_falls_back_to_python_loop():
    Hs = [0.5 * np.asarray(sigmaz()), 0.5 * np.asarray(sigmaz()) + 0.3 * np.asarray(sigmax())]

    def H(t):  # Python control flow on t: not JAX-traceable
        return Hs[0] if t < 0.5 else Hs[1]

    ws = tpm_work(H, None, [0.0, 0.5, 1.0], beta=1.0)
    assert_jarzynski(ws)
    expected = scipy.linalg.expm(-1j * 0.5 * Hs[1]) @ scipy.linalg.expm(-1j * 0.5 * Hs[0])
    np.testing.assert_allclose(np.asarray(ws.unitary), expected, atol=1e-12)
