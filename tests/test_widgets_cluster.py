"""ClusterPanel: status of a Dask client, a sweep from the launcher (numbers equal run_task),
resume of an interrupted sweep, the results browser, exports and validation.

An in-process Dask client (threads) keeps these tests fast; the embedded process-based
LocalCluster is exercised by the browser test of the served app.
"""

from __future__ import annotations

import numpy as np
import panel as pn
import pytest
import xarray as xr
from bokeh.document import Document
from distributed import Client

from nephlab.cluster import SweepStore, open_sweep
from nephlab.cluster.store import StoreDamaged, StoreRepairWarning
from nephlab.tasks import run_task
from nephlab.widgets import ClusterPanel
from nephlab.widgets.cluster import cluster_status


@pytest.fixture(scope="module")
def client():
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        yield c


def _panel(client, tmp_path, **kw) -> ClusterPanel:
    cp = ClusterPanel(client=client, store=str(tmp_path / "s.zarr"), **kw)
    cp._controls["n"].value = 4
    cp._controls["n_times"].value = 6
    cp._controls["t_max"].value = 2.0
    return cp


def test_cluster_status(client):
    s = cluster_status(client)
    assert s["workers"] == 1 and s["threads"] == 1 and s["gpus"] == 0
    assert s["memory_bytes"] > 0 and s["scheduler"]
    cp = ClusterPanel(client=client)
    assert cp.refresh()["workers"] == 1


def test_sweep_from_the_launcher_matches_run_task(client, tmp_path):
    cp = _panel(client, tmp_path, grid="F=linspace(0.1, 0.3, 3)\ngamma=[0.2, 0.5]")
    ds = cp.run_sweep().wait(timeout=600)
    assert cp.points_done == cp.points_total == 6 and cp.status == "done" and cp.progress == 1.0
    assert ds.n_mean.dims == ("F", "gamma", "time")
    assert (ds.status.values == 1).all()
    F1 = float(ds.F[1])
    assert abs(F1 - 0.2) < 1e-12
    ref = run_task("lindblad", n=4, n_times=6, t_max=2.0, F=F1, gamma=0.5)
    np.testing.assert_allclose(ds.n_mean.isel(F=1, gamma=1), ref.n_mean, rtol=0, atol=1e-12)
    # the browser shows it: a heatmap over (F, gamma) at a chosen time index
    assert cp.variable in cp.param.variable.objects
    cp.variable = "n_mean"
    cp.x_dim, cp.y_dim = "F", "gamma"
    cp._set_index("time", 5)
    sel = cp.selection()
    assert sel.dims == ("F", "gamma")
    np.testing.assert_allclose(sel.isel(F=1, gamma=1), ref.n_mean[5], atol=1e-12)
    cp.y_dim = None
    assert cp.selection().dims == ("F",)


def test_resume_reads_the_sweep_from_the_store(client, tmp_path):
    cp = _panel(client, tmp_path, grid="F=[0.1, 0.2]\ngamma=[0.3]")
    full = cp.run_sweep().wait(timeout=600)
    # simulate an interruption: mark one point pending again and corrupt its data to NaN
    import zarr

    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    st = g["status"][...]
    st[1, 0] = 0
    g["status"][...] = st
    nm = g["n_mean"][...]
    nm[1, 0] = np.nan
    g["n_mean"][...] = nm
    assert np.isnan(g["n_mean"][1, 0]).all() and np.isfinite(g["n_mean"][0, 0]).all()
    assert int(np.count_nonzero(SweepStore.open(tmp_path / "s.zarr").status() == 1)) == 1
    cp2 = ClusterPanel(client=client, store=str(tmp_path / "s.zarr"))
    ds = cp2.resume_sweep().wait(timeout=600)
    assert (ds.status.values == 1).all() and cp2.points_done == 2
    xr.testing.assert_allclose(ds.n_mean, full.n_mean)  # the NaN point was recomputed
    assert np.isfinite(ds.n_mean.values).all()
    assert ds.attempts.values.tolist() == [[1], [2]]  # only the pending point was recomputed
    # a point marked done whose data were overwritten with NaN is damage (its checksum no longer
    # matches): the store refuses to return it as data, and a resume recomputes exactly that point
    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    nm = g["n_mean"][...]
    nm[0, 0] = np.nan
    g["n_mean"][...] = nm
    damage = SweepStore.open(tmp_path / "s.zarr").verify()
    assert damage and all(d.points for d in damage), damage
    with pytest.raises(StoreDamaged):
        open_sweep(tmp_path / "s.zarr")
    cp3 = ClusterPanel(client=client, store=str(tmp_path / "s.zarr"))
    with pytest.warns(StoreRepairWarning, match="does not match the checksums"):
        ds = cp3.resume_sweep().wait(timeout=600)
    assert (ds.status.values == 1).all() and np.isfinite(ds.n_mean.values).all()
    xr.testing.assert_allclose(ds.n_mean, full.n_mean)
    assert ds.attempts.values.tolist() == [[2], [2]]


def test_bad_inputs_are_refused_before_any_work(client, tmp_path):
    cp = _panel(client, tmp_path, grid="bogus=[1, 2]")
    with pytest.raises(ValueError, match="bogus"):
        cp.run_sweep()
    cp.grid = "F=__import__('os').system('true')"
    with pytest.raises(ValueError):
        cp.run_sweep()
    cp.grid = ""
    with pytest.raises(ValueError, match="grid is empty"):
        cp.run_sweep()
    cp.grid = "F=[0.1]"
    cp._controls["gamma"].value = -1.0
    with pytest.raises(ValueError, match="gamma"):
        cp.run_sweep()
    (tmp_path / "foreign.zarr").mkdir()
    cp.store = str(tmp_path / "foreign.zarr")
    with pytest.raises(ValueError, match="refusing"):
        cp.resume_sweep()
    assert not cp.running
    with pytest.raises(TypeError, match="client"):
        ClusterPanel(client="tcp://x")


def test_exports_and_rendering(client, tmp_path):
    cp = _panel(client, tmp_path, grid="F=[0.1, 0.2]\ngamma=[0.2, 0.4]")
    cp.run_sweep().wait(timeout=600)
    png = cp.export(tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = xr.load_dataset(cp.export(tmp_path / "r.nc"), engine="h5netcdf")
    np.testing.assert_allclose(back.n_mean, open_sweep(tmp_path / "s.zarr").n_mean)
    root = pn.panel(cp).get_root(Document())
    assert root is not None
    # opening the store from disk gives the same browser state
    cp2 = ClusterPanel(client=client, store=str(tmp_path / "s.zarr"))
    cp2.load_results()
    assert set(cp2.param.variable.objects) >= {"n_mean", "entropy", "purity"}


def test_cancel_then_resume_completes_the_sweep(client, tmp_path):
    from nephlab.widgets._base import Cancelled

    cp = _panel(client, tmp_path, grid="F=linspace(0.05, 1.0, 16)", chunk=1)
    cp._controls["model"].value = "spin_chain"
    cp._controls["n"].value = 5
    cp._controls["n_times"].value = 50
    cp._controls["t_max"].value = 20.0
    cp._controls["method"].value = "tsit5"
    job = cp.run_sweep()
    while cp.points_done == 0 and not job.done:
        job._finished.wait(0.05)
    cp.cancel()
    with pytest.raises(Cancelled):
        job.wait(timeout=600)
    status = SweepStore.open(tmp_path / "s.zarr").status()
    assert cp.status == "cancelled" and not cp.running
    assert 0 < int(np.count_nonzero(status == 1)) < 16  # interrupted midway
    ds = ClusterPanel(client=client, store=str(tmp_path / "s.zarr")).resume_sweep().wait(timeout=600)
    assert (ds.status.values == 1).all()
    ref = run_task("lindblad", model="spin_chain", n=5, n_times=50, t_max=20.0, method="tsit5", F=float(ds.F[-1]))
    np.testing.assert_allclose(ds.n_mean.isel(F=-1), ref.n_mean, rtol=0, atol=1e-10)
