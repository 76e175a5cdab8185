"""Sweeps on Dask: results equal run_task, failures recorded, resume after SIGKILL of the sweep
process, a killed worker loses nothing, foreign stores refused untouched, the zarr layout.

The fault-injection tests use a small task defined here (``decay_probe``: the exact decay
exp(-gamma t), with an optional pause per point so that kills land mid-sweep, a log file that
counts computations, and a threshold above which the point raises). It is not registered; the
sweep ships it to the workers pickled by value.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import xarray as xr
import zarr

from nephlab.cluster import SweepStore, local_cluster, open_sweep, sweep
from nephlab.cluster.store import DONE, FAILED, PENDING
from nephlab.tasks import Param, Task, TaskSpec, get_task, run_task

cloudpickle.register_pickle_by_value(sys.modules[__name__])

HERE = Path(__file__).resolve().parent

# --- the probe task ------------------------------------------------------------------------

PROBE_SPEC = TaskSpec(
    "decay_probe",
    "exact decay exp(-gamma t) on n_times points of [0, t_max] (test task)",
    (
        Param("gamma", "float", 1.0, "decay rate", units="1/time", minimum=0.0, exclusive_minimum=True),
        Param("t_max", "float", 1.0, "final time", units="time", minimum=0.0, exclusive_minimum=True),
        Param("n_times", "int", 5, "saved times", minimum=2),
        Param("fail_above", "float", 1e9, "points with gamma above this raise FloatingPointError"),
        Param("sleep", "float", 0.0, "pause per point, to pace kills", units="s", minimum=0.0),
        Param("log", "str", "", "file that gets one line per computed point ('' = none)"),
        Param("hold_after", "int", 10**9, "a point that starts when the log has this many lines or more "
              "waits for the file `gate` (fault injection)", minimum=0),
        Param("gate", "str", "", "file whose existence releases held points; `gate`.started marks a held point"),
    ),
)


def _probe_log(p: dict) -> None:
    if p["log"]:
        fd = os.open(p["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{p['gamma']!r} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


def _probe_hold(p: dict) -> None:
    """Fault-injection hook: once the log has ``hold_after`` lines, a starting point writes
    ``gate.started`` and waits until the test creates ``gate`` (at most 10 min)."""
    if not p["gate"] or not p["log"] or not os.path.exists(p["log"]):
        return
    with open(p["log"]) as fh:
        if sum(1 for _ in fh) < p["hold_after"]:
            return
    Path(p["gate"] + ".started").touch()
    deadline = time.monotonic() + 600
    while not os.path.exists(p["gate"]) and time.monotonic() < deadline:
        time.sleep(0.01)


def _probe_many(points: list[dict]) -> list[dict]:
    out = []
    for p in points:  # pace and log per point, then one vectorised evaluation
        time.sleep(p["sleep"])
        _probe_hold(p)
        _probe_log(p)
        if p["gamma"] > p["fail_above"]:
            raise FloatingPointError(f"gamma={p['gamma']!r} is above fail_above={p['fail_above']!r}")
    t = np.linspace(0.0, points[0]["t_max"], points[0]["n_times"])
    g = np.array([p["gamma"] for p in points])
    pop = np.exp(-g[:, None] * t[None, :])
    return [{"time": t, "pop": pop[i]} for i in range(len(points))]


def _probe_dataset(out: dict, p: dict) -> xr.Dataset:
    return xr.Dataset({"pop": ("time", out["pop"], {"units": ""})}, coords={"time": out["time"]})


PROBE = Task(
    PROBE_SPEC,
    fn=lambda p: _probe_many([p])[0],
    to_dataset=_probe_dataset,
    batch_fn=_probe_many,
    batch_key=lambda p: (p["t_max"], p["n_times"]),
)


def _exact(gammas, t_max=1.0, n_times=5) -> np.ndarray:
    t = np.linspace(0.0, t_max, n_times)
    return np.exp(-np.asarray(gammas)[:, None] * t[None, :])


def _log_counts(path: Path) -> dict[float, int]:
    counts: dict[float, int] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            g = float(line.split()[0])
            counts[g] = counts.get(g, 0) + 1
    return counts


def _snapshot(path: Path) -> dict:
    out = {}
    for f in sorted(path.rglob("*")):
        st = f.stat()
        out[str(f.relative_to(path))] = (
            f.is_dir(), st.st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else None
        )
    return out


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    with local_cluster(2) as lc, Client(lc) as c:
        c.wait_for_workers(2)
        yield c


# --- correctness -----------------------------------------------------------------------------


def test_lindblad_sweep_equals_run_task(client, tmp_path):
    fixed = {"n": 4, "n_times": 5, "t_max": 2.0, "kerr": 0.1}
    grid = {"F": [0.1, 0.3], "gamma": [0.2, 0.5, 1.0]}
    ds = sweep("lindblad", grid, fixed, store=tmp_path / "s.zarr", cluster=client, chunk=3, progress=False)
    assert ds.n_mean.dims == ("F", "gamma", "time")
    assert ds.rho_final_real.dims == ("F", "gamma", "row", "col")
    assert ds.F.values.tolist() == grid["F"] and ds.gamma.values.tolist() == grid["gamma"]
    assert ds.attrs["task"] == "lindblad" and ds.attrs["nephlab_sweep_format"] == 2
    assert json.loads(ds.attrs["grid"]) == grid
    assert json.loads(ds.attrs["params"]) == {k: v for k, v in get_task("lindblad").spec.validate(fixed).items()
                                              if k not in grid}
    assert (ds.status.values == DONE).all() and (ds.attempts.values == 1).all()
    assert (ds.error.values == "").all() and np.all(ds.wall_time_s.values >= 0)
    for F in grid["F"]:
        for g in grid["gamma"]:
            ref = run_task("lindblad", fixed, F=F, gamma=g)
            got = ds.sel(F=F, gamma=g)
            np.testing.assert_array_equal(got.time.values, ref.time.values)
            for v in ("n_mean", "entropy", "purity", "rho_final_real", "rho_final_imag"):
                np.testing.assert_allclose(got[v].values, ref[v].values, rtol=1e-12, atol=1e-12, err_msg=v)
    # zarr chunks: up to 64 grid points (here all 6), own dims whole
    g = zarr.open_group(tmp_path / "s.zarr", mode="r")
    assert g["n_mean"].chunks == (2, 3, 5) and g["rho_final_real"].chunks == (2, 3, 4, 4)


def test_cli_sweep_and_resume(client, tmp_path, capsys):
    from nephlab.cli import main

    store = str(tmp_path / "cli.zarr")
    args = ["sweep", "lindblad", "n=3", "n_times=3", "t_max=1", "--grid", "F=linspace(0.1,0.2,2)",
            "--grid", "model=[oscillator]", "--store", store, "--cluster", client.scheduler.address, "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 of 2 points done, 0 failed" in out and store in out
    ds = open_sweep(store)
    ref = run_task("lindblad", n=3, n_times=3, t_max=1.0, F=0.2)
    np.testing.assert_allclose(ds.n_mean.sel(F=0.2, model="oscillator").values, ref.n_mean.values, rtol=1e-12, atol=1e-14)
    assert main(args) == 2  # exists, no --resume
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0  # nothing left to do: nothing recomputed
    assert (open_sweep(store).attempts.values == 1).all()
    assert main(["sweep", "lindblad", "--grid", "F=[0.1]", "--grid", "gamma=__import__('os')", "--store", store]) == 2
    assert "not allowed" in capsys.readouterr().err


def test_failed_points_recorded_and_retried_on_resume(client, tmp_path):
    log = tmp_path / "log.txt"
    grid = {"gamma": [0.5, 1.0, 2.0, 3.0]}
    params = {"fail_above": 1.5, "log": str(log)}
    ds = sweep(PROBE, grid, params, store=tmp_path / "f.zarr", cluster=client, chunk=4, retries=1, progress=False)
    assert ds.status.values.tolist() == [DONE, DONE, FAILED, FAILED]
    assert ds.attempts.values.tolist() == [1, 1, 2, 2]  # failing points tried 1 + retries times
    assert ds.error.values[0] == "" and ds.error.values[1] == ""
    assert ds.error.values[2] == "FloatingPointError: gamma=2.0 is above fail_above=1.5"
    np.testing.assert_allclose(ds.pop.values[:2], _exact([0.5, 1.0]), rtol=1e-15, atol=0)
    assert np.isnan(ds.pop.values[2:]).all()
    before = _log_counts(log)
    ds = sweep(PROBE, grid, params, store=tmp_path / "f.zarr", cluster=client, resume=True, retries=1, progress=False)
    after = _log_counts(log)
    assert {g: after[g] - before.get(g, 0) for g in after if after[g] != before.get(g, 0)} == {2.0: 2, 3.0: 2}
    assert ds.attempts.values.tolist() == [1, 1, 4, 4]
    assert ds.status.values.tolist() == [DONE, DONE, FAILED, FAILED]


# --- resume refusals (no cluster needed: they fail before one starts) ---------------------------


def test_resume_refuses_foreign_and_mismatched_stores(tmp_path):
    foreign = tmp_path / "foreign.zarr"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_zarr(foreign, zarr_format=3, consolidated=False)
    junk = tmp_path / "junk.zarr"
    junk.mkdir()
    (junk / "notes.txt").write_text("not zarr")
    plainfile = tmp_path / "file.zarr"
    plainfile.write_text("hello")
    other = tmp_path / "other.zarr"
    SweepStore.create(other, "decay_probe", {k: v for k, v in PROBE_SPEC.validate({}).items() if k != "gamma"},
                      {"gamma": [0.5, 1.0]})
    cases = [
        (foreign, "lindblad", {"F": [0.1]}, None, "not a nephlab sweep store"),
        (junk, "lindblad", {"F": [0.1]}, None, "not a readable zarr store"),
        (plainfile, "lindblad", {"F": [0.1]}, None, "not a readable zarr store"),
        (other, "lindblad", {"F": [0.1]}, None, "holds a sweep of task 'decay_probe', not 'lindblad'"),
        (other, PROBE, {"gamma": [0.5, 2.0]}, None, "another grid (values of gamma differ)"),
        (other, PROBE, {"t_max": [1.0]}, None, "another grid (swept parameters"),
        (other, PROBE, {"gamma": [0.5, 1.0]}, {"t_max": 2.0}, "other fixed params (t_max: store 1.0 vs now 2.0)"),
    ]
    for path, task, grid, params, fragment in cases:
        snap = _snapshot(path) if path.is_dir() else path.read_bytes()
        with pytest.raises(ValueError) as info:
            sweep(task, grid, params, store=path, resume=True, progress=False, cluster="tcp://127.0.0.1:9")
        assert fragment in str(info.value), str(info.value)
        assert "refusing to resume" in str(info.value) and repr(str(path)) in str(info.value)
        assert (_snapshot(path) if path.is_dir() else path.read_bytes()) == snap
    with SweepStore.open(other).lock():  # a sweep writing the store right now
        with pytest.raises(ValueError, match="being written by another sweep right now"):
            sweep(PROBE, {"gamma": [0.5, 1.0]}, store=other, resume=True, progress=False, cluster="tcp://127.0.0.1:9")
    snap = _snapshot(other)
    with pytest.raises(FileExistsError, match="already exists; pass resume=True"):
        sweep(PROBE, {"gamma": [0.5, 1.0]}, store=other, progress=False, cluster="tcp://127.0.0.1:9")
    assert _snapshot(other) == snap


def test_sweep_argument_errors(tmp_path):
    store = tmp_path / "never.zarr"
    for kwargs, exc, fragment in [
        ({"retries": -1}, ValueError, "retries=-1"),
        ({"chunk": 0}, ValueError, "chunk=0"),
        ({"store": 3}, TypeError, "store=3"),
    ]:
        kw = {"store": store, "progress": False} | kwargs
        with pytest.raises(exc, match=fragment):
            sweep(PROBE, {"gamma": [1.0]}, **kw)
    with pytest.raises(ValueError, match="grid point .*'gamma': 1.0.*n_times"):
        bad = Task(TaskSpec("checked", "x", PROBE_SPEC.params, check=lambda p: _raise("n_times too small for gamma")),
                   fn=PROBE.fn, to_dataset=_probe_dataset)
        sweep(bad, {"gamma": [1.0]}, store=store, progress=False)
    with pytest.raises(TypeError, match="cluster=3"):
        sweep(PROBE, {"gamma": [1.0]}, store=store, cluster=3, progress=False)
    assert not store.exists()  # every argument is checked before the store is created


def _raise(msg):
    raise ValueError(msg)


# --- store layout ----------------------------------------------------------------------------


def test_store_grows_dims_and_keeps_varying_coords(tmp_path):
    s = SweepStore.create(tmp_path / "g.zarr", "demo", {}, {"n": [2, 3], "t_max": [1.0, 2.0]})

    def point(n, t_max):
        t = np.linspace(0, t_max, 3)
        return xr.Dataset({"rho": (("row", "col"), np.full((n, n), float(n))), "x": ("time", t * n)},
                          coords={"time": t})

    s.write([0], [point(2, 1.0)], attempts=[1])
    s.write([3, 1], [point(3, 2.0), point(2, 2.0)], attempts=[1, 1])
    ds = open_sweep(s.path)
    assert ds.sizes["row"] == 3 and ds.status.values.tolist() == [[DONE, DONE], [PENDING, DONE]]
    np.testing.assert_array_equal(ds.rho.values[0, 0], [[2, 2, np.nan], [2, 2, np.nan], [np.nan] * 3])
    np.testing.assert_array_equal(ds.rho.values[1, 1], np.full((3, 3), 3.0))
    assert np.isnan(ds.rho.values[1, 0]).all()
    # time differs with t_max: kept per point as time_values(n, t_max, time)
    assert ds.time_values.dims == ("n", "t_max", "time")
    np.testing.assert_array_equal(ds.time_values.values[1, 1], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="clashes with a swept parameter"):
        s.write([2], [xr.Dataset({"n": ("time", [1.0])})], attempts=[1])


# --- fault injection -------------------------------------------------------------------------

KILL_GRID = {"gamma": np.round(np.linspace(0.1, 2.0, 40), 12).tolist()}


def _kill_params(log: Path) -> dict:
    """The first 5 points logged run; every later one waits at the gate ``log``.gate."""
    return {"log": str(log), "hold_after": 5, "gate": str(log) + ".gate"}


def _wait_until(cond, what: str, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep process ended (rc={proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _n_done(store: Path) -> int:
    return int((SweepStore.open(store).status() == DONE).sum()) if (store / "status").exists() else 0


def _kill_target(store: str, address: str, log: str) -> None:
    """Run in a subprocess: the sweep that the test kills with SIGKILL."""
    sweep(PROBE, KILL_GRID, _kill_params(Path(log)), store=store, cluster=address, chunk=1, progress=False)


def _start_kill_target(store: Path, address: str, log: Path) -> subprocess.Popen:
    """Start :func:`_kill_target` in a new process (its own session, so it can be SIGKILLed)."""
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_cluster_sweep as m; " \
           f"m._kill_target({str(store)!r}, {address!r}, {str(log)!r})"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def test_sigkill_of_sweep_process_then_resume(client, tmp_path):
    store, log = tmp_path / "k.zarr", tmp_path / "log.txt"
    params = _kill_params(log)
    gate = Path(params["gate"])
    proc = _start_kill_target(store, client.scheduler.address, log)
    try:
        # hooks, not timing: the first points are in the store and a later one is held at the
        # gate, so the sweep cannot have finished when the kill lands
        _wait_until(lambda: _n_done(store) >= 5 and Path(str(gate) + ".started").exists(),
                    "5 points done and one held", proc=proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        gate.touch()  # release the dead client's held tasks on the workers
    assert proc.returncode == -signal.SIGKILL
    killed = SweepStore.open(store)
    status = killed.status()
    done_before = np.flatnonzero(status == DONE)
    assert 5 <= len(done_before) < len(KILL_GRID["gamma"]), len(done_before)
    # every point marked done has its data
    partial = open_sweep(store)
    gam = np.array(KILL_GRID["gamma"])
    np.testing.assert_allclose(partial.pop.values[done_before], _exact(gam[done_before]), rtol=1e-15, atol=0)
    # orphaned tasks of the dead client may still log lines, but only for points not done
    counts_before = _log_counts(log)

    ds = sweep(PROBE, KILL_GRID, params, store=store, cluster=client, resume=True, progress=False)
    assert (ds.status.values == DONE).all()
    # points done before the kill were computed once; a point killed after its data and attempts
    # were written but before its status may honestly count a second computation
    assert (ds.attempts.values[done_before] == 1).all() and (ds.attempts.values >= 1).all()
    counts = _log_counts(log)
    for i in done_before:  # completed points were not recomputed by the resume
        assert counts[gam[i]] == counts_before[gam[i]] == 1
    # equal to an uninterrupted run
    full = sweep(PROBE, KILL_GRID, {"log": ""}, store=tmp_path / "full.zarr", cluster=client,
                 progress=False)
    np.testing.assert_array_equal(ds.pop.values, full.pop.values)
    np.testing.assert_allclose(ds.pop.values, _exact(gam), rtol=1e-15, atol=0)


def test_killed_worker_loses_nothing(client, tmp_path):
    store = tmp_path / "w.zarr"
    grid = {"gamma": np.round(np.linspace(0.1, 2.0, 30), 12).tolist()}
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()
    params = {"log": str(tmp_path / "log.txt"), "hold_after": 2, "gate": str(tmp_path / "gate")}

    def killer():
        try:  # hooks: two points done and a later one held at the gate, so the sweep is still running
            _wait_until(lambda: _n_done(store) >= 2 and (tmp_path / "gate.started").exists(),
                        "2 points done and one held")
            os.kill(victim, signal.SIGKILL)
            killed.set()
        finally:
            (tmp_path / "gate").touch()

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    ds = sweep(PROBE, grid, params, store=store, cluster=client, chunk=1, progress=False)
    th.join(timeout=5)
    assert killed.is_set()
    assert (ds.status.values == DONE).all(), ds.error.values
    np.testing.assert_allclose(ds.pop.values, _exact(grid["gamma"]), rtol=1e-15, atol=0)
    client.wait_for_workers(2, timeout=300)
    assert victim not in client.run(os.getpid).values()  # the worker really died (and was replaced)


def test_local_default_binds_to_loopback(client):
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert "127.0.0.1" in client.dashboard_link
    from nephlab.cluster import connect
    from nephlab.cluster.sweep import _cpu_count

    with connect("local") as c:  # the embedded default: sized to the machine, on 127.0.0.1
        info = c.scheduler_info()
        assert c.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in info["workers"])
        assert "127.0.0.1" in c.dashboard_link
        assert len(info["workers"]) == _cpu_count()
        assert all(w["nthreads"] == 1 for w in info["workers"].values())
        assert c.submit(sum, [1, 2]).result() == 3
    assert c.status == "closed"


# --- integrity: damaged stores are reported, never returned, and repaired on resume ------------------

DAMAGE_GRID = {"gamma": np.round(np.linspace(0.1, 2.0, 100), 12).tolist()}  # pop: zarr chunks [0:64], [64:100]


@pytest.fixture(scope="module")
def finished_store(client, tmp_path_factory):
    d = tmp_path_factory.mktemp("finished")
    log = d / "log.txt"
    params = {"log": str(log)}
    ds = sweep(PROBE, DAMAGE_GRID, params, store=d / "base.zarr", cluster=client, progress=False)
    assert (ds.status.values == DONE).all() and (ds.attempts.values == 1).all()
    assert zarr.open_group(d / "base.zarr", mode="r")["pop"].chunks == (64, 5)
    return d / "base.zarr", params, log


def _damage(path: Path, how: str) -> None:
    if how == "rm":
        path.unlink()
    elif how == "truncate":  # `truncate -s 10`
        os.truncate(path, 10)
    elif how == "garbage":
        path.write_bytes(b"\x28\xb5\x2f\xfd garbage that is not a zstd frame")
    else:  # "swap": replace a chunk by another valid chunk of the same array: it decodes fine
        other = path.parents[1] / ("1" if path.parent.name == "0" else "0") / path.name  # pop/c/1/0 for pop/c/0/0
        path.write_bytes(other.read_bytes())


LAST = tuple(range(64, 100))
FIRST = tuple(range(64))
ALL = tuple(range(100))


@pytest.mark.parametrize(
    "key, how, problem, points",
    [
        ("pop/c/1/0", "rm", "is missing", LAST),
        ("pop/c/1/0", "truncate", "cannot be decoded (RuntimeError: Zstd", LAST),
        ("pop/c/0/0", "swap", "does not match the checksums of its points", FIRST),
        ("_coord_time/c/0/0", "rm", "is missing", FIRST),
        ("_checksum_pop/c/1", "garbage", "cannot be decoded", LAST),
        ("status/c/0", "garbage", "cannot be decoded", ALL),
        ("status/c/0", "rm", "is missing", ALL),
        ("attempts/c/0", "truncate", "cannot be decoded", ALL),
    ],
)
def test_damaged_chunk_is_reported_and_exactly_its_points_recomputed(finished_store, client, tmp_path, key, how, problem, points):
    from nephlab.cluster.store import StoreDamaged, StoreRepairWarning

    base, params, log = finished_store
    store = tmp_path / "s.zarr"
    shutil.copytree(base, store)
    _damage(store / key, how)
    # open_sweep never returns the damaged data: one line naming the chunk and its points
    with pytest.raises(StoreDamaged) as info:
        open_sweep(store)
    msg = str(info.value)
    assert "\n" not in msg and f"chunk {key} {problem}" in msg, msg
    assert f"affecting {len(points)} points (gamma=" in msg and "--resume" in msg
    assert info.value.repairable and [d.points for d in info.value.damage] == [points]
    # resume recomputes exactly those points, once each, and reports the chunk in one line
    before = _log_counts(log)
    with pytest.warns(StoreRepairWarning) as rec:
        ds = sweep(PROBE, DAMAGE_GRID, params, store=store, cluster=client, resume=True, progress=False)
    lines = [str(w.message) for w in rec if issubclass(w.category, StoreRepairWarning)]
    assert len(lines) == 1 and f"chunk {key} {problem}" in lines[0] and "\n" not in lines[0], lines
    after = _log_counts(log)
    gam = np.array(DAMAGE_GRID["gamma"])
    recomputed = {g: after[g] - before.get(g, 0) for g in after if after[g] != before.get(g, 0)}
    assert recomputed == {float(gam[i]): 1 for i in points}
    assert (ds.status.values == DONE).all()
    np.testing.assert_allclose(ds.pop.values, _exact(gam), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(ds.time.values, np.linspace(0.0, 1.0, 5))
    fresh = key.startswith("attempts")  # a damaged attempts chunk restarts its counts
    expected = np.ones(100, int) + (np.isin(np.arange(100), points) & (not fresh))
    np.testing.assert_array_equal(ds.attempts.values, expected)
    assert SweepStore.open(store).verify() == []


def test_nan_results_and_grown_dims_verify_clean(tmp_path):
    s = SweepStore.create(tmp_path / "n.zarr", "demo", {}, {"x": [1.0, 2.0, 3.0]})
    s.write([0], [xr.Dataset({"y": ("t", [np.nan, np.nan])})], attempts=[1])  # a real all-NaN result
    s.write([1], [xr.Dataset({"y": ("t", [1.0, np.nan, 3.0])})], attempts=[1])  # grows t from 2 to 3
    assert s.verify() == []
    ds = open_sweep(s.path)
    assert ds.status.values.tolist() == [DONE, DONE, PENDING] and np.isnan(ds.y.values[0]).all()
    (s.path / "y" / "c" / "0" / "0").unlink()  # point 1's data gone: detected; point 0 (all NaN) unaffected
    (d,) = s.verify()
    assert d.key == "y/c/0/0" and d.problem == "is missing" and d.points == (1,)


def test_damaged_metadata_cannot_be_repaired(finished_store, tmp_path):
    from nephlab.cluster.store import StoreDamaged

    base, params, _ = finished_store
    store = tmp_path / "m.zarr"
    shutil.copytree(base, store)
    (store / "pop" / "zarr.json").write_text("{ not json")
    snap = _snapshot(store)
    with pytest.raises(StoreDamaged, match="damaged beyond repair: its metadata cannot be read") as info:
        sweep(PROBE, DAMAGE_GRID, params, store=store, resume=True, progress=False, cluster="tcp://127.0.0.1:9")
    assert not info.value.repairable and "\n" not in str(info.value)
    with pytest.raises(StoreDamaged, match="beyond repair"):
        open_sweep(store)
    assert _snapshot(store) == snap  # nothing touched


def test_cli_resume_repairs_garbage_status_in_one_line(client, tmp_path, capsys):
    from nephlab.cli import main

    store = tmp_path / "cli.zarr"
    args = ["sweep", "lindblad", "n=3", "n_times=3", "t_max=1", "--grid", "F=linspace(0.1,0.2,2)",
            "--store", str(store), "--cluster", client.scheduler.address, "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    (store / "status" / "c" / "0").write_bytes(os.urandom(40))
    assert main(args + ["--resume"]) == 0
    cap = capsys.readouterr()
    assert cap.err.count("\n") == 1 and "chunk status/c/0 cannot be decoded" in cap.err, cap.err
    assert "affecting 2 points (F=0.1; F=0.2)" in cap.err and "Traceback" not in cap.err
    assert "2 of 2 points done, 0 failed" in cap.out
    assert (open_sweep(store).attempts.values == 2).all()  # each point computed once more
    # damaged metadata of an array: exit 2, one line
    (store / "n_mean" / "zarr.json").write_bytes(b"\0garbage")
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "damaged beyond repair" in err and "Traceback" not in err


# --- concurrent creation ---------------------------------------------------------------------------


def test_concurrent_create_loser_says_another_sweep_writes(tmp_path):
    for trial in range(4):
        path = tmp_path / f"c{trial}.zarr"
        barrier = threading.Barrier(2)
        release = threading.Event()
        results: list = [None, None]

        def create(k: int) -> None:
            barrier.wait()
            try:
                with SweepStore.creating(path, "demo", {}, {"x": [1.0, 2.0]}):
                    results[k] = "created"
                    release.wait(60)  # keep writing (holding the lock) until the loser has answered
            except Exception as err:  # noqa: BLE001 - checked below
                results[k] = err

        threads = [threading.Thread(target=create, args=(k,)) for k in (0, 1)]
        for th in threads:
            th.start()
        deadline = time.monotonic() + 60
        while None in results and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        for th in threads:
            th.join(60)
        assert sorted(map(type, results), key=str) == sorted([str, FileExistsError], key=str), results
        err = next(r for r in results if isinstance(r, Exception))
        msg = str(err)
        assert "is being written by another sweep right now" in msg and repr(str(path)) in msg, msg
        assert "\n" not in msg and "Errno" not in msg and ".creating-" not in msg
        assert not list(tmp_path.glob(".*creating-*"))  # the loser's temporary store is gone
        assert open_sweep(path).status.values.tolist() == [PENDING, PENDING]


def test_cli_second_sweep_on_a_store_being_written(client, tmp_path, capsys):
    from nephlab.cli import main

    store, log = tmp_path / "busy.zarr", tmp_path / "log.txt"
    proc = _start_kill_target(store, client.scheduler.address, log)
    try:
        # the sweep is held at the gate (hook), so it is still writing when the second one starts
        _wait_until(lambda: store.exists() and Path(_kill_params(log)["gate"] + ".started").exists(),
                    "the store and a held point", proc=proc)
        assert main(["sweep", "lindblad", "--grid", "F=[0.1]", "--store", str(store), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is being written by another sweep right now" in err, err
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        Path(_kill_params(log)["gate"]).touch()  # release the dead client's held tasks
