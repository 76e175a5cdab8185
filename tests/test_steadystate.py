"""Steady states: closed forms, QuTiP, method agreement, batching and input validation."""

import numpy as np
import pytest
import qutip as qt
from hypothesis import given, settings
from hypothesis import strategies as st

import importlib

import nephlab._config  # noqa: F401
from nephlab.quantum.operators import destroy, sigmam, sigmap, sigmax, sigmaz
from nephlab.quantum.steadystate import steadystate
from nephlab.quantum.superop import lindblad_rhs

# the module, not the function that nephlab.quantum re-exports under the same name
ss_mod = importlib.import_module("nephlab.quantum.steadystate")

METHODS = ["direct", "iterative", "eigen", "auto"]


def bose(beta, w):
    return 1.0 / np.expm1(beta * w)


@pytest.mark.parametrize("method", METHODS)
def test_qubit_thermal_bath_gives_gibbs(method):
    w, g, beta = 1.3, 0.7, 0.8
    nth = bose(beta, w)
    H = 0.5 * w * sigmaz()
    c_ops = [np.sqrt(g * (nth + 1)) * sigmam(), np.sqrt(g * nth) * sigmap()]
    rho = np.asarray(steadystate(H, c_ops, method=method))
    gibbs = np.diag(np.exp(-beta * np.array([0.5 * w, -0.5 * w])))
    gibbs /= np.trace(gibbs)
    np.testing.assert_allclose(rho, gibbs, atol=1e-12)


@pytest.mark.parametrize("method", ["direct", "iterative"])
def test_qubit_between_two_baths(method):
    # rates add: Γ↓ = Σ γ_k (n_k + 1), Γ↑ = Σ γ_k n_k, and p_excited = Γ↑ / (Γ↑ + Γ↓)
    w, g1, g2, b1, b2 = 1.0, 0.3, 1.1, 0.5, 3.0
    n1, n2 = bose(b1, w), bose(b2, w)
    H = 0.5 * w * sigmaz()
    c_ops = [np.sqrt(g1 * (n1 + 1)) * sigmam(), np.sqrt(g1 * n1) * sigmap(),
             np.sqrt(g2 * (n2 + 1)) * sigmam(), np.sqrt(g2 * n2) * sigmap()]
    up, down = g1 * n1 + g2 * n2, g1 * (n1 + 1) + g2 * (n2 + 1)
    p = up / (up + down)
    rho = np.asarray(steadystate(H, c_ops, method=method))
    np.testing.assert_allclose(rho, np.diag([p, 1 - p]), atol=1e-12)


@pytest.mark.parametrize("method", ["direct", "iterative"])
def test_driven_damped_oscillator_vs_qutip(method):
    n, delta, F, kappa, nth = 20, 0.4, 0.6, 1.0, 0.2
    a = qt.destroy(n)
    H = delta * a.dag() * a + F * (a + a.dag())
    c_ops = [np.sqrt(kappa * (nth + 1)) * a, np.sqrt(kappa * nth) * a.dag()]
    expected = qt.steadystate(H, c_ops).full()
    rho = steadystate(H, c_ops, method=method)
    # Qobj in, Qobj out (issue 10, item 7)
    assert isinstance(rho, qt.Qobj) and rho.dims == H.dims
    np.testing.assert_allclose(rho.full(), expected, atol=1e-8)


def kerr(n, delta=-1.0, K=0.5, F=1.5, kappa=1.0):
    a = np.asarray(destroy(n))
    ad = a.conj().T
    return delta * ad @ a + K * ad @ ad @ a @ a + F * (a + ad), [np.sqrt(kappa) * a]


def test_kerr_iterative_matches_direct_n40():
    H, c_ops = kerr(40)
    rd = np.asarray(steadystate(H, c_ops, method="direct"))
    ri = np.asarray(steadystate(H, c_ops, method="iterative"))
    np.testing.assert_allclose(ri, rd, atol=1e-8)
    assert np.asarray(steadystate(H, c_ops)).shape == (40, 40)  # auto -> direct at n² = 1600


def test_kerr_iterative_n60():
    H, c_ops = kerr(60)
    rho = np.asarray(steadystate(H, c_ops))  # auto -> iterative
    res = np.abs(np.asarray(lindblad_rhs(H, c_ops, rho))).max()
    assert res < 1e-9
    ref = np.asarray(steadystate(*kerr(30), method="direct"))  # converged in truncation
    np.testing.assert_allclose(rho[:30, :30], ref, atol=1e-8)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_random_generators_valid_state_and_methods_agree(seed):
    # fixed shapes (n=4, two collapse operators) so that each method compiles once
    rng = np.random.default_rng(seed)
    n, k = 4, 2
    A = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    H = A + A.conj().T
    c_ops = [rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)) for _ in range(k)]
    r = {m: np.asarray(steadystate(H, c_ops, method=m)) for m in ("direct", "iterative", "eigen")}
    rho = r["direct"]
    assert abs(np.trace(rho) - 1) < 1e-13
    np.testing.assert_allclose(rho, rho.conj().T, atol=1e-15)
    assert np.linalg.eigvalsh(rho).min() > -1e-10
    np.testing.assert_allclose(r["iterative"], rho, atol=1e-9)
    np.testing.assert_allclose(r["eigen"], rho, atol=1e-9)


@pytest.mark.parametrize("method", ["direct", "iterative"])
def test_batch_equals_loop(method):
    n = 6
    a = np.asarray(destroy(n))
    deltas = np.linspace(-1.0, 1.0, 5)
    H = deltas[:, None, None] * (a.conj().T @ a) + 0.5 * (a + a.conj().T)
    kappas = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    c_ops = [np.sqrt(kappas)[:, None, None] * a, 0.3 * a.conj().T]
    rb = np.asarray(steadystate(H, c_ops, method=method))
    assert rb.shape == (5, n, n)
    for i in range(5):
        ri = np.asarray(steadystate(H[i], [c_ops[0][i], c_ops[1]], method=method))
        np.testing.assert_allclose(rb[i], ri, atol=1e-12)
    if method == "iterative":
        return  # (one more compilation; the reshaping is shared with "direct")
    # two batch axes
    rb2 = np.asarray(steadystate(H[None].repeat(2, 0), c_ops, method=method))
    assert rb2.shape == (2, 5, n, n)
    np.testing.assert_allclose(rb2[1], rb, atol=1e-12)


def test_bad_inputs(monkeypatch):
    H, c = 0.5 * sigmaz(), [sigmam()]
    with pytest.raises(ValueError, match="'auto', 'direct', 'iterative', 'eigen'"):
        steadystate(H, c, method="lu")
    with pytest.raises(ValueError, match="Hermitian"):
        steadystate(sigmap(), c)
    with pytest.raises(ValueError, match="square"):
        steadystate(np.ones((2, 3)), c)
    with pytest.raises(ValueError, match=r"c_ops\[0\]"):
        steadystate(H, [destroy(3)])
    with pytest.raises(ValueError, match="NaN"):
        steadystate(H, [np.array([[0, np.inf], [0, 0]])])
    with pytest.raises(ValueError, match="c_ops is empty"):
        steadystate(H, [])
    with pytest.raises(TypeError, match="list"):
        steadystate(H, sigmam())
    with pytest.raises(ValueError, match="tol"):
        steadystate(H, c, tol=-1.0)
    with pytest.raises(ValueError, match="maxiter"):
        steadystate(H, c, method="iterative", maxiter=0)
    with pytest.raises(ValueError, match="broadcast"):
        steadystate(np.stack([H] * 3), [np.stack([sigmam()] * 2)])


def test_memory_estimate_error(monkeypatch):
    monkeypatch.setattr(ss_mod, "_free_memory_bytes", lambda: (1e3, "available host memory"))
    H, c = kerr(10)
    with pytest.raises(ValueError, match=r"GB.*method='iterative'"):
        steadystate(H, c, method="direct")
    # auto falls back to the matrix-free solver
    rho = np.asarray(steadystate(H, c))
    np.testing.assert_allclose(rho, np.asarray(steadystate(H, c, method="iterative")), atol=1e-14)


@pytest.mark.parametrize("method", ["direct", "eigen"])
def test_non_unique_steady_state_raises(method):
    # pure dephasing: every diagonal state is stationary
    with pytest.raises(RuntimeError, match="not unique|did not reach"):
        steadystate(0.5 * sigmaz(), [sigmaz()], method=method)


def test_non_unique_iterative_returns_a_stationary_state():
    # documented: GMRES cannot detect non-uniqueness; it returns one stationary state
    H, c = 0.5 * sigmaz(), [sigmaz()]
    rho = np.asarray(steadystate(H, c, method="iterative"))
    assert np.abs(np.asarray(lindblad_rhs(H, c, rho))).max() < 1e-12
    assert abs(np.trace(rho) - 1) < 1e-14


def test_iterative_not_converged_raises():
    H, c = kerr(30)
    with pytest.raises(RuntimeError, match="residual"):
        steadystate(H, c, method="iterative", maxiter=1, restart=2)


def test_unitary_limit_hermitian_output():
    # weak dissipation still gives a valid state
    rho = np.asarray(steadystate(sigmax(), [1e-3 * sigmam()]))
    np.testing.assert_allclose(rho, rho.conj().T, atol=0)
    assert abs(np.trace(rho) - 1) < 1e-14
