"""Engine forces, energy and virial against a NumPy brute-force reference (all pairs, minimum
image in the tilted box); tolerances are rounding-level (1e-12 relative)."""

import numpy as np
import pytest

from nephlab.md import forces_and_virial, lennard_jones, wca


def brute(pos, L, rc, tilt):
    h = np.array([[L, tilt, 0.0], [0.0, L, 0.0], [0.0, 0.0, L]])
    s = pos @ np.linalg.inv(h).T
    ds = s[:, None] - s[None]
    ds -= np.round(ds)
    d = ds @ h.T
    r2 = (d**2).sum(-1)
    np.fill_diagonal(r2, np.inf)
    m = r2 < rc * rc
    ir6 = np.where(m, 1 / r2**3, 0.0)
    u = np.where(m, 4 * (ir6**2 - ir6) - 4 * (rc**-12 - rc**-6), 0.0)
    fr = np.where(m, 24 * (2 * ir6**2 - ir6) / np.where(m, r2, 1.0), 0.0)
    fv = fr[..., None] * d
    return 0.5 * u.sum(), fv.sum(1), 0.5 * np.einsum("ija,ijb->ab", d, fv)


def disordered(s, seed):
    """The FCC positions of s displaced by uniform noise of +-0.15 sigma (forces of all sizes)."""
    rng = np.random.default_rng(seed)
    return np.mod(s.positions + rng.uniform(-0.15, 0.15, s.positions.shape), s.box)


@pytest.mark.parametrize("make, tilt_frac", [
    (lambda: lennard_jones(256, 0.8442, 0.722), 0.0),
    (lambda: lennard_jones(256, 0.8442, 0.722), 0.37),
    # WCA at N=500: the box holds >= 4 cells per side, so the cell-list build is used
    (lambda: wca(500, 0.8442, 1.0), -0.5),
])
def test_forces_virial_match_brute_force(make, tilt_frac):
    s = make()
    pos = disordered(s, 1)
    tilt = tilt_frac * s.box
    U, F, W = forces_and_virial(pos, s.box, s.r_cut, tilt=tilt)
    Ub, Fb, Wb = brute(pos, s.box, s.r_cut, tilt)
    assert abs(U - Ub) <= 1e-12 * abs(Ub)
    np.testing.assert_allclose(F, Fb, rtol=0, atol=1e-12 * np.abs(Fb).max())
    np.testing.assert_allclose(W, Wb, rtol=0, atol=1e-12 * np.abs(Wb).max())
    np.testing.assert_allclose(F.sum(0), 0, atol=1e-9 * np.abs(Fb).max())


def test_fcc_lattice_energy_matches_lattice_sum():
    # perfect FCC, nearest-neighbour distance a/sqrt(2): compare with the brute force (exact)
    s = lennard_jones(256, 0.8442, 0.722)
    U, F, _ = forces_and_virial(s.positions, s.box, s.r_cut)
    assert np.abs(F).max() < 1e-10          # a perfect lattice feels no force
    assert abs(U - brute(s.positions, s.box, s.r_cut, 0.0)[0]) < 1e-10
