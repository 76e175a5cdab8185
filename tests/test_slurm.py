"""Against the real one-node SLURM of ci/start-slurm.sh (marker ``slurm``; skipped without ``sinfo``).

(a) a sweep through a ``SLURMCluster`` profile, read back and compared with ``run_task``;
(b) ``nephlab submit`` through sbatch, ``status`` until done, ``fetch``; ``cancel`` of a long job;
    the quoting test of issue 5 section 5 through sbatch;
(c) a sweep running as a batch job, killed by ``scancel`` midway, then resumed: every point is
    present and equal to ``run_task``, and the points finished before the kill were not recomputed;
(d) ``nephlab cluster start|status|stop`` with a profile.

Every test is bounded in time (pytest-timeout plus explicit polling deadlines) and cancels the
jobs it submitted, found by a job name unique to the test run.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nephlab.cluster import batch

pytestmark = [pytest.mark.slurm]

TAG = f"nltest-{secrets.token_hex(3)}"  # every job this module submits has a name starting with TAG


def squeue_ids(name_prefix: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True, timeout=30).stdout
    return [line.split()[0] for line in out.splitlines() if len(line.split()) == 2 and line.split()[1].startswith(name_prefix)]


@pytest.fixture(autouse=True)
def cancel_leftovers():
    yield
    ids = squeue_ids(TAG)
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


@pytest.fixture
def jobs(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "jobs"
    monkeypatch.setenv("NEPHLAB_JOBS_DIR", str(d))
    return d


def _processes_naming(text: str) -> list[int]:
    """PIDs of this machine's processes whose command line contains ``text`` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if text in fh.read().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry))
        except OSError:  # exited meanwhile
            continue
    return pids


def wait_for(pred, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def assert_same(ds, ref) -> None:
    for v in ("n_mean", "entropy", "purity", "rho_final_real", "rho_final_imag"):
        np.testing.assert_allclose(np.asarray(ds[v]), np.asarray(ref[v]), rtol=1e-10, atol=1e-12, err_msg=v)


def write_profiles(tmp_path: Path, monkeypatch, name: str) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(
        "nephlab:\n  profiles:\n"
        f"    {name}:\n"
        "      scheduler: slurm\n      cores: 1\n      processes: 1\n      memory: 2GB\n"
        '      walltime: "00:05:00"\n      jobs: 1\n      host: 127.0.0.1\n'
        '      worker_extra_args: ["--host", "127.0.0.1"]\n      death_timeout: 30\n'
        f"      job_name: {TAG}-{name}\n      log_directory: {tmp_path / 'worker-logs'}\n"
    )
    monkeypatch.setenv("NEPHLAB_PROFILES", str(path))
    return path


SMALL = {"n": 4, "t_max": 1.0, "n_times": 5}


# --- (a) sweep through a SLURMCluster profile ---------------------------------------------------


@pytest.mark.timeout(150)
def test_sweep_through_slurmcluster_profile(tmp_path, monkeypatch):
    from nephlab.cluster import sweep
    from nephlab.tasks import run_task

    write_profiles(tmp_path, monkeypatch, "sweep")
    grid = {"F": [0.1, 0.3], "model": ["oscillator", "qubit"]}
    ds = sweep("lindblad", grid, SMALL, store=tmp_path / "s.zarr", cluster="sweep", progress=False, chunk=2)
    assert (ds["status"].values == 1).all()
    for F in grid["F"]:
        for model in grid["model"]:
            ref = run_task("lindblad", F=F, model=model, **SMALL)
            point = ds.sel(F=F, model=model)
            np.testing.assert_allclose(point.n_mean.values, ref.n_mean.values, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(point.purity.values, ref.purity.values, rtol=1e-10, atol=1e-12)
    # the workers really ran as SLURM jobs: dask-jobqueue wrote their logs
    logs = list((tmp_path / "worker-logs").glob("*.err")) + list((tmp_path / "worker-logs").glob("*.out"))
    assert logs and any("Starting Worker" in p.read_text() or "Start worker" in p.read_text() for p in logs)


# --- (b) submit / status / fetch / cancel -------------------------------------------------------


@pytest.mark.timeout(120)
def test_cli_submit_status_fetch_and_cancel(tmp_path, jobs, capsys):
    import xarray as xr

    from nephlab.cli import main
    from nephlab.tasks import run_task

    assert main(["submit", "lindblad", "n=4", "F=0.35", "t_max=1.0", "n_times=5", "--scheduler", "slurm",
                 "--job-name", f"{TAG}-run", "--time", "00:05:00", "--cpus", "1", "--mem", "2G"]) == 0
    out = capsys.readouterr().out
    job_id = out.split("submitted slurm job ")[1].split()[0]

    # a second, long job (100k RK4 steps on a 40-level oscillator) to cancel
    long = batch.submit("lindblad", {"n": 40, "t_max": 1000.0, "n_times": 11, "method": "rk4", "dt": 1e-3},
                        scheduler="slurm", job_name=f"{TAG}-long", time="00:05:00")
    assert batch.status(long) in ("PENDING", "RUNNING")
    assert main(["cancel", long.id]) == 0
    wait_for(lambda: batch.status(long.id) == "CANCELLED", 30, "the long job to be CANCELLED")
    with pytest.raises(RuntimeError, match=r"\(CANCELLED\) has no result"):
        batch.fetch(long.id)
    capsys.readouterr()
    assert main(["cancel", long.id]) == 1  # cancelling it again: it has already finished
    assert capsys.readouterr().out.strip() == f"slurm job {long.id} (lindblad) has already finished (CANCELLED); nothing to cancel"

    def finished():
        assert main(["status", job_id]) == 0
        line = capsys.readouterr().out
        return "COMPLETED" in line or "FAILED" in line

    wait_for(finished, 90, f"job {job_id} to finish")
    rec = batch.load_job(job_id)
    assert batch.status(job_id) == "COMPLETED", Path(rec.log).read_text()
    dest = tmp_path / "fetched.nc"
    assert main(["fetch", job_id, "--to", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == f"result: {dest}"
    with xr.open_dataset(dest) as ds:
        assert ds.attrs["task"] == "lindblad"
        assert json.loads(ds.attrs["params"])["F"] == 0.35
        assert_same(ds, run_task("lindblad", F=0.35, **SMALL))
    assert main(["cancel", job_id]) == 1
    assert "has already finished (COMPLETED); nothing to cancel" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_refused_sbatch_leaves_no_record(jobs, capsys):
    from nephlab.cli import main

    assert main(["submit", "lindblad", "n=4", "--scheduler", "slurm", "--partition", "nosuch",
                 "--job-name", f"{TAG}-refused", "--time", "1"]) == 2
    err = capsys.readouterr().err
    assert "sbatch failed" in err and err.count("\n") == 1, err
    assert batch.list_jobs() == [] and not list(jobs.glob("*/job.json"))
    assert squeue_ids(f"{TAG}-refused") == []


ECHO_TASK = '''
import numpy as np
import xarray as xr
from nephlab.tasks import Param, Task, TaskSpec, register, task_names

if "echo_label" not in task_names():
    register(Task(TaskSpec("echo_label", "length of a label", (Param("label", "str", "x", "any text"),)),
        fn=lambda p: {"label_len": np.array(len(p["label"]))},
        to_dataset=lambda out, p: xr.Dataset({"label_len": ((), out["label_len"])})))
'''


@pytest.fixture
def echo_registered():
    exec(compile(ECHO_TASK, "echo", "exec"), {})
    yield
    from nephlab.tasks import _registry

    _registry._REGISTRY.pop("echo_label", None)  # other test modules must not see it


@pytest.mark.timeout(90)
def test_submit_quoting_through_sbatch(tmp_path, jobs, monkeypatch, echo_registered):
    """Section 5 through sbatch: shell syntax in the job name and a string parameter runs nothing."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(ECHO_TASK)
    monkeypatch.setenv("PYTHONPATH", f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")  # sbatch exports it
    marker = tmp_path / "pwned"
    m = shlex.quote(str(marker))
    label = f"$(touch {m}); touch {m} `touch {m}`\ntouch {m} ' \" \\"
    with pytest.raises(ValueError, match="control character"):
        batch.submit("echo_label", {"label": label}, job_name=f"{TAG}\n$(touch {m})")
    job = batch.submit("echo_label", {"label": label}, job_name=f"{TAG}-q $(touch {m}); `touch {m}`", time=5)
    wait_for(lambda: batch.status(job) not in ("PENDING", "RUNNING"), 60, "the quoting job to finish")
    assert batch.status(job) == "COMPLETED", Path(job.log).read_text()
    assert not marker.exists()
    import xarray as xr

    with xr.open_dataset(job.out) as ds:
        assert int(ds.label_len) == len(label) and json.loads(ds.attrs["params"])["label"] == label
    name = subprocess.run(["scontrol", "-o", "show", "job", job.id], capture_output=True, text=True).stdout
    assert f"JobName={TAG}-q___touch_" in name


# --- (c) a sweep batch job killed by scancel, then resumed --------------------------------------

# ~0.3 s of CPU per point (40k RK4 steps, 16 levels): slow enough that the job is killed midway
SLOW = {"n": 16, "t_max": 10.0, "n_times": 6, "method": "rk4", "dt": 2.5e-4}
N_POINTS = 10


@pytest.mark.timeout(180)
def test_sweep_job_scancelled_then_resumed(tmp_path):
    from distributed import Client, LocalCluster

    from nephlab.cluster import open_sweep, sweep
    from nephlab.cluster.store import SweepStore
    from nephlab.tasks import run_task

    store = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", batch._nephlab_command()[2], "sweep", "lindblad",
           *[f"{k}={v}" for k, v in SLOW.items()], "--grid", f"F=linspace(0.1,1.0,{N_POINTS})",
           "--store", str(store), "--cluster", "local", "--chunk", "1", "--no-progress"]
    script = tmp_path / "sweep.sh"
    script.write_text("#!/bin/bash\n" + shlex.join(cmd) + "\n")
    sub = subprocess.run(["sbatch", "--parsable", f"--job-name={TAG}-sweep", f"--output={tmp_path / 'sweep.log'}",
                          "--time=00:05:00", "--cpus-per-task=2", str(script)],
                         capture_output=True, text=True, timeout=30)
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().split(";")[0]

    def n_done() -> int:
        try:
            return int((SweepStore.open(store).status() == 1).sum())
        except Exception:  # noqa: BLE001 - the store may not exist yet
            return 0

    def some_done() -> bool:
        if n_done() >= 2:
            return True
        if not squeue_ids(f"{TAG}-sweep"):
            raise AssertionError(f"the sweep job ended early:\n{(tmp_path / 'sweep.log').read_text()}")
        return False

    wait_for(some_done, 120, "2 points of the batch sweep", interval=0.2)
    subprocess.run(["scancel", job_id], check=True, timeout=30)
    wait_for(lambda: not squeue_ids(f"{TAG}-sweep"), 30, "the sweep job to leave the queue")
    # the job's processes die after it leaves the queue: wait until no process names the store
    # (the sweep process, the only writer, has it on its command line), not for a fixed time
    wait_for(lambda: not _processes_naming(str(store)), 60, "the killed sweep process to exit")
    st = SweepStore.open(store)
    status_before = st.status().copy()
    attempts_before = st.attempts().copy()
    n_before = int((status_before == 1).sum())
    assert 2 <= n_before < N_POINTS, f"the job was not killed midway ({n_before} of {N_POINTS} done)"
    with open_sweep(store) as z:
        wall_before = np.asarray(z["wall_time_s"]).copy()
        before = np.asarray(z["n_mean"]).copy()

    # in-process workers (inproc:// transport: nothing listens on the network)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as lc, Client(lc) as client:
        ds = sweep("lindblad", {"F": list(np.linspace(0.1, 1.0, N_POINTS))}, SLOW, store=store,
                   cluster=client, resume=True, progress=False)
    assert (ds["status"].values == 1).all()
    was_done = status_before == 1
    # points finished before the kill were not recomputed: attempts, wall time, values unchanged
    np.testing.assert_array_equal(ds["attempts"].values[was_done], attempts_before[was_done])
    np.testing.assert_array_equal(ds["wall_time_s"].values[was_done], wall_before[was_done])
    np.testing.assert_array_equal(ds["n_mean"].values[was_done], before[was_done])
    for i in (int(np.argmax(was_done)), int(np.argmin(was_done))):  # one done before the kill, one after
        F = float(ds.F.values[i])
        ref = run_task("lindblad", F=F, **SLOW)
        np.testing.assert_allclose(ds["n_mean"].values[i], ref.n_mean.values, rtol=1e-10, atol=1e-12)


# --- (d) nephlab cluster start / status / stop --------------------------------------------------


@pytest.mark.timeout(120)
def test_cluster_start_status_stop(tmp_path, jobs, monkeypatch, capsys):
    from nephlab.cli import main

    write_profiles(tmp_path, monkeypatch, "cli")

    def nephlab(*args: str) -> tuple[int, str, str]:
        rc = main(list(args))
        out = capsys.readouterr()
        return rc, out.out, out.err

    assert nephlab("cluster", "status", "cli")[0] == 1  # not running yet
    rc, out, err = nephlab("cluster", "start", "cli")  # a detached process keeps the cluster
    try:
        assert rc == 0, err
        assert "scheduler tcp://127.0.0.1:" in out
        rc, out, err = nephlab("cluster", "start", "cli")
        assert rc == 2 and "already running" in err
        wait_for(lambda: squeue_ids(f"{TAG}-cli"), 30, "the worker job to be queued")

        def one_worker():
            rc, out, err = nephlab("cluster", "status", "cli")
            assert rc == 0, err
            return "1 worker(s)" in out

        wait_for(one_worker, 60, "the SLURM worker to join", interval=1.0)
    finally:
        rc, out, err = nephlab("cluster", "stop", "cli")
    assert rc == 0 and "stopped" in out, err
    wait_for(lambda: not squeue_ids(f"{TAG}-cli"), 30, "the worker job to be cancelled")
    assert nephlab("cluster", "status", "cli")[1].strip() == "cluster cli: not running"
