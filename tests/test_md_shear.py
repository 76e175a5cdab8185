"""NEMD shear, NVE, Green-Kubo and flow curves of nephlab.md (small N, few thousand steps)."""

import dataclasses
import math
import sys
import types

import numpy as np
import pytest

from nephlab.md import (FlowCurveResult, ShearResult, flow_curve, green_kubo_viscosity, lennard_jones,
                        nemd_shear, wca, zero_shear_fit)
from nephlab.md.shear import _Run
from nephlab.md.system import _maxwell_boltzmann


@pytest.mark.slow
def test_nve_energy_drift_and_momentum():
    # LJ at the triple point, N=256, r_c=2.5, float64, dt=0.002, 1e4 steps (~15 s on a quiet core;
    # measured drift 2e-6)
    s = lennard_jones(256, 0.8442, 0.722)
    run = _Run(s, 0.0, 0.002, "nve", 0, 1)
    buf, _, _ = run.sample(100, 100)
    H = buf[:, 9]
    assert abs(H[-1] - H[0]) / abs(H[0]) < 1e-4
    assert np.max(np.abs(H - H[0])) / abs(H[0]) < 1e-4
    assert np.abs(np.asarray(run.state.p).sum(0)).max() < 1e-11   # momentum stays zero


def test_shear_profile_linear_and_isokinetic_temperature():
    s = lennard_jones(256, 0.8442, 0.722)
    rate = 1.0
    r = nemd_shear(s, rate, 2000, 0.004, equilibrate=500, n_bins=8)
    assert isinstance(r, ShearResult) and r.backend == "jax"
    np.testing.assert_allclose(r.temperature, 0.722, rtol=1e-10, atol=0)
    slope, icpt = np.polyfit(r.profile_y, r.profile_vx, 1)
    pred = slope * r.profile_y + icpt
    r2 = 1 - np.sum((r.profile_vx - pred) ** 2) / np.sum((r.profile_vx - r.profile_vx.mean()) ** 2)
    assert r2 > 0.99
    assert abs(slope / rate - 1) < 0.05
    # the fluid resists shear: P_xy < 0 (eta > 0), many standard errors away from zero
    assert r.viscosity > 5 * r.stderr > 0
    assert r.positions.shape == (256, 3) and np.all((r.positions >= 0) & (r.positions < s.box))


def _brute_forces(pos, L, rc):
    d = pos[:, None] - pos[None]
    d -= L * np.round(d / L)
    r2 = (d**2).sum(-1)
    np.fill_diagonal(r2, np.inf)
    m = r2 < rc * rc
    ir6 = np.where(m, 1 / r2**3, 0.0)
    fr = np.where(m, 24 * (2 * ir6**2 - ir6) / np.where(m, r2, 1.0), 0.0)
    u = np.where(m, 4 * (ir6**2 - ir6) - 4 * (rc**-12 - rc**-6), 0.0)
    return (fr[..., None] * d).sum(1), 0.5 * u.sum()


def _zhang(p, f, h):
    k = np.sum(p * p)
    a, b = np.sum(f * p) / k, np.sum(f * f) / k
    bt = math.sqrt(b)
    sf = a / b * (math.cosh(bt * h) - 1) + math.sinh(bt * h) / bt
    sd = a / bt * math.sinh(bt * h) + math.cosh(bt * h)
    return (p + sf * f) / sd


def test_sllod_zero_rate_is_isokinetic_nvt():
    """Independent NumPy isokinetic velocity Verlet (Zhang's exact force flow) vs nemd_shear(rate=0)."""
    s0 = wca(108, 0.8442, 1.0)
    rng = np.random.default_rng(7)    # a disordered start, so that forces act from the first step
    s = dataclasses.replace(s0, positions=np.mod(s0.positions + rng.uniform(-0.1, 0.1, (108, 3)), s0.box))
    dt, n = 0.004, 40
    r = nemd_shear(s, 0.0, n, dt, sample_every=1, equilibrate=0, seed=5)
    L = s.box
    x = s.positions.copy()
    p = _maxwell_boltzmann(108, 1.0, np.random.default_rng(5))
    f, _ = _brute_forces(x, L, s.r_cut)
    pe = []
    for _ in range(n):
        p = _zhang(p, f, dt / 2)
        x = x + dt * p
        f, u = _brute_forces(x, L, s.r_cut)
        p = _zhang(p, f, dt / 2)
        pe.append(u / 108)
    np.testing.assert_allclose(r.potential_energy, pe, rtol=1e-10)
    np.testing.assert_allclose(r.positions, np.mod(x, L), atol=1e-9)
    assert np.all(np.abs(r.pxy) > 0) and math.isnan(r.viscosity)


def test_nose_hoover_and_float32_run():
    s = lennard_jones(256, 0.8442, 0.722, dtype="float32")
    r = nemd_shear(s, 0.5, 1000, 0.004, thermostat="nose-hoover", equilibrate=0)
    assert np.all(np.isfinite(r.pxy)) and abs(np.mean(r.temperature) / 0.722 - 1) < 0.1
    r = nemd_shear(s, 0.5, 200, 0.004, equilibrate=0)
    np.testing.assert_allclose(r.temperature, 0.722, rtol=1e-5)   # float32 rounding


@pytest.mark.parametrize("kw, err, match", [
    (dict(shear_rate=float("nan")), ValueError, "shear_rate must be finite"),
    (dict(shear_rate=float("inf")), ValueError, "shear_rate must be finite"),
    (dict(dt=-0.001), ValueError, "dt must be finite and > 0"),
    (dict(n_steps=105), ValueError, "n_steps must be a multiple of sample_every=10"),
    (dict(thermostat="berendsen"), ValueError, "thermostat must be one of"),
    (dict(thermostat="nve"), ValueError, "thermostat='nve' heats a sheared fluid"),
    (dict(backend="hoomd"), ValueError, "backend must be one of"),
    (dict(system="lj"), TypeError, "system must be an MDSystem"),
])
def test_bad_input(kw, err, match):
    args = dict(system=wca(108, 0.8442, 1.0), shear_rate=0.5, n_steps=100, dt=0.004)
    args.update(kw)
    with pytest.raises(err, match=match):
        nemd_shear(args.pop("system"), args.pop("shear_rate"), args.pop("n_steps"), args.pop("dt"), **args)


def test_box_too_small_for_cutoff_under_shear():
    s = lennard_jones(108, 0.8442, 0.722, r_cut=2.4)      # L = 5.04 >= 2 r_c, but not when tilted
    with pytest.raises(ValueError, match="N=108 is too small for r_cut=2.4 .* under shear"):
        nemd_shear(s, 0.5, 100, 0.004)


def test_cell_list_holds_a_melting_lattice():
    """WCA, N = 256 at the triple-point density: the cell-list path (4 cells per side). A perfect
    lattice holds exactly 4 particles per cell; cells sized from it overflowed as soon as the
    lattice melted, and the run was refused as a blow-up. Sized for the density, it runs, and the
    isokinetic thermostat holds T."""
    from nephlab.md.engine import SKIN, use_cell_list

    s = wca(256, 0.8442, 0.722)
    assert use_cell_list(s.box, s.r_cut + SKIN)
    r = nemd_shear(s, 0.0, 1000, 0.004, equilibrate=0, sample_every=10)
    assert np.all(np.isfinite(r.potential_energy)) and np.allclose(r.temperature, 0.722, rtol=1e-10, atol=0)
    assert r.potential_energy[-1] > 10 * r.potential_energy[0]  # the lattice melted (its energy rose)


def test_blow_up_names_dt():
    with pytest.raises(ValueError, match="dt=0.5 is too large: the integration blew up"):
        nemd_shear(wca(108, 0.8442, 1.0), 0.5, 100, 0.5, equilibrate=0)


def test_lammps_backend_dispatch(monkeypatch):
    seen = {}

    def lammps_shear(system, shear_rate, n_steps, dt, **kw):
        seen.update(system=system, shear_rate=shear_rate, n_steps=n_steps, dt=dt, **kw)
        return "lammps-result"

    monkeypatch.setitem(sys.modules, "nephlab.md.lammps", types.SimpleNamespace(lammps_shear=lammps_shear))
    s = wca(108, 0.8442, 1.0)
    assert nemd_shear(s, 0.25, 200, 0.005, seed=3, sample_every=20, n_bins=5, equilibrate=40,
                      backend="lammps") == "lammps-result"
    assert seen == dict(system=s, shear_rate=0.25, n_steps=200, dt=0.005, thermostat="isokinetic", seed=3,
                        sample_every=20, n_bins=5, equilibrate=40)


def test_green_kubo_small_run():
    s = lennard_jones(108, 0.8442, 0.722, r_cut=2.0)
    g = green_kubo_viscosity(s, 4000, 0.004, sample_every=5, t_max=0.2, n_blocks=4, equilibrate=200)
    assert g.acf.shape == (3, 11) and g.eta_running[0] == 0
    assert np.all(g.acf[:, 0] > 0) and np.isfinite(g.viscosity) and g.stderr > 0
    assert abs(g.energy_drift) < 1e-3
    ds = g.to_xarray()
    assert ds.acf.dims == ("component", "lag") and ds.attrs["viscosity"] == g.viscosity
    with pytest.raises(ValueError, match="n_steps=400 is too short for t_max=0.2"):
        green_kubo_viscosity(s, 400, 0.004, t_max=0.2)


def test_zero_shear_fit_recovers_quadratic():
    g = np.array([0.1, 0.2, 0.4, 0.8])
    eta0, err, a = zero_shear_fit(g, 3.24 - 0.7 * g**2, np.full(4, 0.02))
    assert abs(eta0 - 3.24) < 1e-12 and abs(a + 0.7) < 1e-12
    # the error of eta0 from the weighted fit: sqrt([(A^T W A)^-1]_00)
    A = np.stack([np.ones(4), g**2], -1)
    assert math.isclose(err, math.sqrt(np.linalg.inv(A.T @ A / 0.02**2)[0, 0]), rel_tol=1e-12)


def test_flow_curve_and_from_results():
    s = wca(108, 0.8442, 1.0)
    fc = flow_curve(s, [1.0, 0.5], 400, 0.004, equilibrate=100)
    assert isinstance(fc, FlowCurveResult) and list(fc.shear_rate) == [0.5, 1.0]
    assert np.all(np.isfinite(fc.viscosity)) and np.isfinite(fc.zero_shear_viscosity)
    ds = fc.to_xarray()
    assert ds.viscosity.dims == ("shear_rate",) and "zero_shear_viscosity" in ds.attrs
    with pytest.raises(ValueError, match=r"shear_rates must be nonzero .* shear_rates\[1\] = 0"):
        flow_curve(s, [0.5, 0.0], 400, 0.004)
    with pytest.raises(ValueError, match=r"shear_rates\[0\] must be finite"):
        flow_curve(s, [float("nan")], 400, 0.004)
