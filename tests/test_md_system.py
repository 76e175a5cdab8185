"""nephlab.md system construction and ShearResult (cheap)."""

import math

import numpy as np
import pytest

from nephlab.md import MDSystem, ShearResult, block_stderr, lennard_jones, wca


def test_fcc_system_invariants():
    s = lennard_jones(256, 0.8442, 0.722, seed=3)
    assert isinstance(s, MDSystem)
    assert s.n_particles == 256 and s.positions.dtype == np.float64
    assert math.isclose(s.volume * s.rho, 256, rel_tol=1e-12)
    assert np.all((s.positions >= 0) & (s.positions < s.box))
    np.testing.assert_allclose(s.velocities.sum(0), 0, atol=1e-12)
    assert math.isclose(np.sum(s.velocities**2) / (3 * 256 - 3), 0.722, rel_tol=1e-12)
    # perfect FCC: nearest neighbour a/sqrt(2), a = L/4
    d = s.positions[:, None] - s.positions[None]
    d -= s.box * np.round(d / s.box)
    r = np.sqrt((d**2).sum(-1) + np.eye(256) * 1e9)
    assert math.isclose(r.min(), s.box / 4 / math.sqrt(2), rel_tol=1e-12)


def test_non_cubic_number_fills_lattice_and_wca():
    s = wca(100, 0.5, 1.0, seed=1)
    assert s.n_particles == 100 and s.potential == "wca" and s.r_cut == 2 ** (1 / 6)
    assert lennard_jones(108, 0.8, 1.0).potential == "lj"


def test_random_lattice_removes_overlaps():
    s = lennard_jones(128, 0.7, 1.0, lattice="random", seed=2, r_cut=2.0)
    d = s.positions[:, None] - s.positions[None]
    d -= s.box * np.round(d / s.box)
    r = np.sqrt((d**2).sum(-1) + np.eye(128) * 1e9)
    assert r.min() >= 0.9


@pytest.mark.parametrize("kw, match", [
    (dict(N=32, rho=0.8442, T=1.0), "N=32 is too small for r_cut"),
    (dict(N=256, rho=1.5, T=1.0), "rho must be < sqrt"),
    (dict(N=256, rho=-1.0, T=1.0), "rho must be finite and > 0"),
    (dict(N=256, rho=0.8, T=0.0), "T must be finite and > 0"),
    (dict(N=256, rho=0.8, T=1.0, r_cut=1.0), "r_cut must be >= 2"),
    (dict(N=256, rho=0.8, T=1.0, dtype="float16"), "dtype must be one of"),
    (dict(N=256, rho=0.8, T=1.0, lattice="bcc"), "lattice must be one of"),
])
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        lennard_jones(**kw)


def test_random_placement_too_dense_is_refused():
    with pytest.raises(ValueError, match="rho=1.4 is too dense for lattice='random'"):
        lennard_jones(64, 1.4, 1.0, lattice="random", r_cut=1.5)


def test_block_stderr_correlated_series():
    # AR(1) with phi=0.9: SE of the mean = sigma_x sqrt((1+phi)/(1-phi)/n)
    rng = np.random.default_rng(0)
    phi, n = 0.9, 2**16
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    exact = math.sqrt(1 / (1 - phi**2) * (1 + phi) / (1 - phi) / n)
    assert abs(block_stderr(x) / exact - 1) < 0.15   # error of a blocked SE with >= 16 blocks


def test_shear_result_properties_and_xarray():
    t = np.arange(64.0) * 0.04
    rng = np.random.default_rng(1)
    pxy = -1.0 + 0.1 * rng.normal(size=64)
    r = ShearResult(times=t, pxx=6 + 0 * t, pyy=5.5 + 0 * t, pzz=5 + 0 * t, pxy=pxy, pxz=0 * t, pyz=0 * t,
                    temperature=0.722 + 0 * t, potential_energy=-5 + 0 * t, kinetic_energy=1.08 + 0 * t,
                    profile_y=np.array([1.0, 3.0]), profile_vx=np.array([0.5, 1.5]), shear_rate=0.5,
                    dt=0.004, n_particles=108, rho=0.8442, T=0.722, r_cut=2.5, thermostat="isokinetic",
                    backend="jax", seed=0)
    assert math.isclose(r.viscosity, -pxy.mean() / 0.5)
    assert r.stderr >= pxy.std(ddof=1) / 8 / 0.5 - 1e-15
    assert math.isclose(r.n1, 0.5) and math.isclose(r.n2, 0.5)
    ds = r.to_xarray()
    assert ds.pxy.dims == ("time",) and ds.profile_vx.dims == ("y",)
    assert float(ds.viscosity) == r.viscosity and ds.attrs["backend"] == "jax"
    assert "positions" not in ds
