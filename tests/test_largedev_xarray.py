"""Every nephlab.largedev result converts to an xarray.Dataset with coords and units, and the
Dataset stores to netCDF and reads back unchanged (the storage path of nephlab.tasks)."""

import numpy as np
import pytest
import xarray as xr

from nephlab.largedev import (
    activity_phase_diagram,
    cloning,
    cloning_langevin,
    committor_1d,
    committor_2d,
    committor_to_xarray,
    double_well_2d,
    east,
    extrapolate_clones,
    tpt,
    two_state,
)


def roundtrip(ds, tmp_path):
    path = tmp_path / "r.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), ds)


def test_scgf_result(tmp_path):
    p = two_state(1.0, 2.0)
    s = np.linspace(-1, 1, 5)
    r = p.scgf_curve(s, "activity")
    ds = r.to_xarray()
    np.testing.assert_array_equal(ds.s.values, s)
    np.testing.assert_allclose(ds.theta.values, p.scgf(s, "activity"), atol=1e-13)
    np.testing.assert_allclose(ds["mean"].values, -ds.dtheta.values)
    assert ds.theta.attrs["units"] == "1/time" and ds.s.attrs["units"] == "1/[A]"
    assert ds.attrs["observable"] == "activity" and "exp(-s A_t)" in ds.attrs["convention"]
    roundtrip(ds, tmp_path)


def test_rate_function_result(tmp_path):
    r = two_state(1.0, 1.0).rate_function([0.5, 1.0, 2.0], "activity", s_grid=np.linspace(-3, 3, 61))
    ds = r.to_xarray()
    np.testing.assert_array_equal(ds.I.values, r.I)
    np.testing.assert_array_equal(ds.x.values, r.x)
    assert ds.theta.dims == ("s",) and ds.s.size == 61
    assert ds.I.attrs["units"] == "1/time"
    assert ds.attrs["kink"] == 0
    roundtrip(ds, tmp_path)


def test_cloning_results(tmp_path):
    r = cloning([[0, 1], [1, 0]], 1.0, n_clones=20, t_max=3.0, seed=0, n_runs=2)
    ds = r.to_xarray()
    assert ds.trajectories.dims == ("run", "rec_time", "clone")
    assert ds.log_growth.shape == (2, r.times.size)
    assert ds.attrs["scgf"] == r.scgf and ds.time.attrs["units"] == "time"
    roundtrip(ds, tmp_path)
    rl = cloning_langevin(lambda x: -x, 1.0, 0.5, lambda x: x[0], n_clones=16, t_max=1.0, dt=0.05,
                          resample_every=2, seed=0)
    dl = rl.to_xarray()
    assert dl.trajectories.dims == ("run", "rec_time", "clone", "dim")
    assert dl.attrs["convention"] == ds.attrs["convention"] == "theta(s) = lim (1/t) ln <exp(-s A_t)>"
    assert dl.attrs["time_step"] == pytest.approx(0.05)
    roundtrip(dl, tmp_path)


def test_extrapolation(tmp_path):
    e = extrapolate_clones(([10, 100, 1000], [-0.7, -0.637, -0.6327], [0.01, 0.01, 0.01]))
    ds = e.to_xarray()
    np.testing.assert_allclose(ds.x.values, [0.1, 0.01, 0.001])
    np.testing.assert_allclose(ds.fit.values, e.value + e.slope * ds.x.values)
    assert ds.attrs["value"] == e.value
    roundtrip(ds, tmp_path)


def test_tpt_and_committors(tmp_path):
    W = np.diag([2.0, 2.0, 2.0], 1) + np.diag([1.0, 1.0, 1.0], -1)
    r = tpt(W, [0], [3])
    ds = r.to_xarray(states=[0.0, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(ds.q_plus.values, r.q_plus)
    assert ds.flux.dims == ("state", "to") and ds.attrs["rate"] == r.rate
    roundtrip(ds, tmp_path)
    with pytest.raises(ValueError, match="states must have shape"):
        r.to_xarray(states=[0, 1])
    x = np.linspace(-1, 1, 5)
    q1 = committor_1d(lambda v: (v**2 - 1) ** 2, -1.0, 1.0, 3.0, x)
    d1 = committor_to_xarray(q1, x)
    assert d1.q.dims == ("x",) and d1.q.attrs["units"] == "1"
    g = np.linspace(-1.5, 1.5, 21)
    q2 = committor_2d(double_well_2d, lambda X, Y: X <= -1, lambda X, Y: X >= 1, 3.0, g, g)
    d2 = committor_to_xarray(q2, g, g)
    assert d2.q.dims == ("x", "y")
    roundtrip(d2, tmp_path)
    with pytest.raises(ValueError, match="q must have shape"):
        committor_to_xarray(q2, g)


def test_phase_diagram(tmp_path):
    r = activity_phase_diagram(lambda L: east(L, 0.5), [3, 4], np.linspace(0.0, 0.4, 9))
    ds = r.to_xarray()
    np.testing.assert_array_equal(ds.activity.values, r.activity)
    np.testing.assert_array_equal(ds.L.values, [3, 4])
    assert ds.susceptibility.attrs["units"] == "1/time"
    roundtrip(ds, tmp_path)


def test_every_largedev_result_uses_the_result_base(tmp_path):
    """Issue 10, item 13: one base (to_xarray, compact repr, save) for every result class."""
    import dataclasses
    import importlib
    import inspect

    from nephlab._result import ResultBase

    mods = [importlib.import_module(f"nephlab.largedev.{m}")
            for m in ("markov", "models", "committor", "cloning", "shooting", "passage", "rates", "tps")]
    classes = {name: obj for mod in mods
               for name, obj in vars(mod).items()
               if inspect.isclass(obj) and obj.__module__ == mod.__name__ and dataclasses.is_dataclass(obj)
               and name != "Observable"}
    assert set(classes) == {"RateFunctionResult", "ScgfResult", "PhaseDiagramResult", "TPTResult", "CloningResult",
                            "Extrapolation", "ShootingCommittorResult", "FirstPassageResult", "FluxRateResult",
                            "TPSResult"}
    for name, cls in classes.items():
        assert issubclass(cls, ResultBase), name
        assert "__repr__" not in vars(cls) and "save" not in vars(cls), name
    r = two_state(1.0, 2.0).scgf_curve(np.linspace(-1, 1, 3))
    assert repr(r) == "ScgfResult(s=float64(3,), theta=float64(3,), dtheta=float64(3,), d2theta=float64(3,), " \
                      "observable='activity')"
    back = xr.open_dataset(r.save(tmp_path / "scgf.nc"), engine="h5netcdf")
    np.testing.assert_array_equal(back.theta.values, r.theta)
    assert back.attrs["convention"] == r.to_xarray().attrs["convention"]
    back.close()
