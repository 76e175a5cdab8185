"""``mcsolve`` from a mixed initial state: each trajectory starts in an eigenvector of the density
matrix, drawn with its eigenvalue as probability, so the averages converge to ``mesolve``."""

from __future__ import annotations

import numpy as np
import pytest

import nephlab
from nephlab.quantum import basis, destroy

A = destroy(2)
SZ = np.diag([1.0, -1.0]).astype(complex)
SX = np.array([[0, 1], [1, 0]], complex)
H = 0.5 * SZ + 0.4 * SX  # driven two-level system
C_OPS = [np.sqrt(0.3) * A, np.sqrt(0.1) * A.T]  # decay and thermal excitation
TL = np.linspace(0.0, 4.0, 9)


def _rho0():
    """A mixed state that is not diagonal in the computational basis: eigenvalues 0.7 and 0.3."""
    th, ph = 0.6, 1.1
    u = np.array([np.cos(th), np.exp(1j * ph) * np.sin(th)])
    v = np.array([-np.exp(-1j * ph) * np.sin(th), np.cos(th)])  # orthogonal to u
    return 0.7 * np.outer(u, u.conj()) + 0.3 * np.outer(v, v.conj())


def test_averages_from_a_mixed_state_converge_to_mesolve():
    rho0 = _rho0()
    ref = nephlab.mesolve(H, rho0, TL, C_OPS, e_ops=[SZ, SX, A], rtol=1e-9, atol=1e-11)
    res = nephlab.mcsolve(H, rho0, TL, C_OPS, e_ops=[SZ, SX, A], ntraj=2000, seed=4, rtol=1e-8, atol=1e-10)
    # at t = 0 the average is over the drawn eigenvectors only: exact up to the draw's binomial error
    for k in range(3):
        se = np.maximum(res.stderr[k], 1e-3)  # stderr 0 where every trajectory agrees (none here)
        z = np.abs(res.expect[k] - ref.expect[k]) / se
        # 9 times x 3 operators, each |z| < 4.5 with probability 1 - 7e-6 for a normal error
        assert z.max() < 4.5, (k, z)
    assert res.initial_kets.shape == (2, 2)
    np.testing.assert_allclose(res.initial_weights, [0.7, 0.3], atol=1e-12)
    # each eigenvector reproduces its part of rho0
    rebuilt = np.einsum("k,ki,kj->ij", res.initial_weights, res.initial_kets, res.initial_kets.conj())
    np.testing.assert_allclose(rebuilt, rho0, atol=1e-12)


def test_the_components_are_drawn_with_their_weights():
    res = nephlab.mcsolve(H, _rho0(), TL[:3], C_OPS, ntraj=4000, seed=11)
    frac = np.mean(res.initial_component == 0)
    se = np.sqrt(0.7 * 0.3 / 4000)  # binomial standard error, 0.0072
    assert abs(frac - 0.7) < 4 * se, frac
    assert set(np.unique(res.initial_component).tolist()) == {0, 1}
    ds = res.to_xarray()
    assert ds.initial_component.dims == ("trajectory",)


def test_a_pure_density_matrix_runs_the_trajectories_of_its_ket():
    psi = (basis(2, 0) + 1j * basis(2, 1)) / np.sqrt(2)
    kw = dict(e_ops=[SZ], ntraj=64, seed=2)
    by_ket = nephlab.mcsolve(H, psi, TL, C_OPS, **kw)
    by_dm = nephlab.mcsolve(H, np.outer(psi, psi.conj()), TL, C_OPS, **kw)
    assert by_dm.initial_kets.shape == (1, 2) and np.all(by_dm.initial_component == 0)
    np.testing.assert_array_equal(by_dm.n_jumps, by_ket.n_jumps)
    np.testing.assert_allclose(by_dm.jump_times, by_ket.jump_times, rtol=0, atol=1e-9)
    np.testing.assert_allclose(by_dm.expect[0], by_ket.expect[0], rtol=0, atol=1e-9)


@pytest.mark.parametrize("rho, match", [
    (np.diag([1.2, -0.2]).astype(complex), "positive semidefinite|eigenvalue"),
    (np.diag([1.0, 1.0]).astype(complex), "trace"),
    (np.array([[0.5, 0.5], [0.1, 0.5]], complex), "Hermitian"),
    (np.stack([np.eye(2) / 2] * 2), "does not batch initial states"),
])
def test_bad_density_matrices_are_refused_by_name(rho, match):
    with pytest.raises(ValueError, match=match) as err:
        nephlab.mcsolve(H, rho, TL, C_OPS, ntraj=4, seed=0)
    assert "psi0" in str(err.value)
