"""Issue 14 item 6: ``wigner`` against ``qutip.wigner`` (1e-10) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import qutip as qt
from scipy.special import eval_laguerre

from nephlab.quantum import wigner

N = 40
X = np.linspace(-7.0, 7.0, 41)
P = np.linspace(-6.0, 6.0, 37)

STATES = {
    "fock_0": qt.fock(N, 0),
    "fock_17": qt.fock(N, 17),
    "fock_39": qt.fock(N, 39),
    "coherent": qt.coherent(N, 2.0 + 1.0j),
    "cat": (qt.coherent(N, 2.5) + qt.coherent(N, -2.5)).unit(),
    "thermal": qt.thermal_dm(N, 3.0),
    "random_dm": qt.rand_dm(N, seed=3),
}


@pytest.mark.parametrize("name", sorted(STATES))
def test_matches_qutip(name):
    s = STATES[name]
    W = wigner(s, X, P)
    assert W.shape == (len(P), len(X)) and W.dtype == np.float64
    np.testing.assert_allclose(W, qt.wigner(s, X, P), atol=1e-10, rtol=0)


@pytest.mark.parametrize("g", [1.0, 2.0])
def test_other_g_matches_qutip(g):
    s = STATES["cat"]
    np.testing.assert_allclose(wigner(s.full(), X, P, g=g), qt.wigner(s, X, P, g=g), atol=1e-10, rtol=0)


def test_fock_closed_form_and_normalisation():
    """W_n = (-1)^n e^{-r²} L_n(2r²)/π for g = √2; and ∫∫ W = 1 on a wide grid (trapezoid
    on a Gaussian-tailed integrand: exponentially accurate)."""
    XX, PP = np.meshgrid(X, P)
    r2 = XX**2 + PP**2
    for n in (0, 1, 5, 12):
        exact = (-1) ** n * np.exp(-r2) * eval_laguerre(n, 2 * r2) / np.pi
        np.testing.assert_allclose(wigner(qt.fock(N, n).full()[:, 0], X, P), exact, atol=1e-12)
    x = np.linspace(-10.0, 10.0, 101)
    for s in (STATES["cat"], STATES["thermal"], STATES["fock_17"]):
        assert abs(wigner(s, x, x).sum() * (x[1] - x[0]) ** 2 - 1.0) < 1e-10


def test_batched_kets_and_density_matrices_equal_the_loop():
    kets = np.stack([qt.coherent(10, a).full() for a in (0.5, 1.0j, -1.5)])  # (3, 10, 1)
    W = wigner(kets, X, P)
    assert W.shape == (3, len(P), len(X))
    dms = np.einsum("bi,bj->bij", kets[..., 0], kets[..., 0].conj()).reshape(3, 1, 10, 10)
    Wd = wigner(dms, X, P)
    assert Wd.shape == (3, 1, len(P), len(X))
    for k in range(3):
        np.testing.assert_allclose(W[k], wigner(kets[k, :, 0], X, P), atol=1e-14)
        np.testing.assert_allclose(Wd[k, 0], W[k], atol=1e-14)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: wigner(np.eye(2) / 2, [0.0, np.inf], [0.0]), ValueError, "xvec must be finite"),
    (lambda: wigner(np.eye(2) / 2, [0.0], [[0.0]]), ValueError, "pvec must be 1-D"),
    (lambda: wigner(np.eye(2) / 2, [0.0], [0.0], g=-1.0), ValueError, "g must be a finite number > 0"),
    (lambda: wigner(np.array([[0.5, 0.5], [0.0, 0.5]]), [0.0], [0.0]), ValueError, "rho must be Hermitian"),
    (lambda: wigner(np.ones((2, 3)), [0.0], [0.0]), ValueError, "rho must be a ket"),
    (lambda: wigner("psi", [0.0], [0.0]), TypeError, "rho must be"),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value)
