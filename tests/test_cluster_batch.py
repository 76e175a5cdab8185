"""Batch submission: generated scripts for SLURM/PBS/LSF/SGE, quoting, records, status/cancel/fetch.

PBS, LSF and SGE have no server here: their scripts are checked as text, run for real with
``bash`` (the quoting test), and their submit/status/cancel commands are exercised against small
fake ``qsub``/``bsub``/``qstat``/... executables that record their arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nephlab.cluster import batch

ECHO_TASK = '''
"""Test-only task with a free-form string parameter (loaded through sitecustomize)."""
import numpy as np
import xarray as xr
from nephlab.tasks import Param, Task, TaskSpec, register, task_names

SPEC = TaskSpec("echo_label", "returns the length of a label and a number", (
    Param("label", "str", "x", "any text"),
    Param("value", "float", 1.0, "a number"),
))
if "echo_label" not in task_names():
    register(Task(SPEC,
        fn=lambda p: {"value": np.array([p["value"]]), "label_len": np.array(len(p["label"]))},
        to_dataset=lambda out, p: xr.Dataset({"value": (("i",), out["value"]),
                                              "label_len": ((), out["label_len"])})))
'''


@pytest.fixture
def jobs(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "jobs"
    monkeypatch.setenv("NEPHLAB_JOBS_DIR", str(d))
    return d


@pytest.fixture(scope="module")
def echo_task(tmp_path_factory) -> Path:
    """A directory to put on PYTHONPATH so that child processes know the ``echo_label`` task."""
    d = tmp_path_factory.mktemp("echo_site")
    (d / "sitecustomize.py").write_text(ECHO_TASK)
    exec(compile(ECHO_TASK, str(d / "sitecustomize.py"), "exec"), {})  # and this process too
    yield d
    from nephlab.tasks import _registry

    _registry._REGISTRY.pop("echo_label", None)  # other test modules must not see it


def directives(script: str, prefix: str) -> list[str]:
    return [line[len(prefix) + 1 :] for line in script.splitlines() if line.startswith(prefix + " ")]


# --- generated scripts -------------------------------------------------------------------------

OPTS = dict(time="1-02:03:04", cpus=4, gpus=2, mem="3G", partition="gpu-q")
EXPECTED = {
    "slurm": ("#SBATCH", ["--job-name=nephlab-lindblad", "--ntasks=1", "--time=1-02:03:04",
                          "--cpus-per-task=4", "--gres=gpu:2", "--mem=3072M", "--partition=gpu-q"]),
    "pbs": ("#PBS", ["-N nephlab-lindblad", "-j oe", "-l walltime=26:03:04",
                     "-l select=1:ncpus=4:ngpus=2:mem=3072mb", "-q gpu-q"]),
    "lsf": ("#BSUB", ["-J nephlab-lindblad", "-W 26:04", "-n 4", '-R "span[hosts=1]"', '-gpu "num=2"',
                      "-M 3072MB", '-R "rusage[mem=3072MB]"', "-q gpu-q"]),
    "sge": ("#$", ["-N nephlab-lindblad", "-j y", "-S /bin/bash", "-l h_rt=26:03:04", "-pe smp 4",
                   "-l gpu=2", "-l h_vmem=768M", "-q gpu-q"]),
}


@pytest.mark.parametrize("scheduler", list(EXPECTED))
def test_dry_run_scripts(scheduler, jobs):
    script = batch.submit("lindblad", {"n": 4, "F": 0.2}, scheduler=scheduler, dry_run=True, **OPTS)
    prefix, want = EXPECTED[scheduler]
    d = directives(script, prefix)
    for w in want:
        assert w in d, (w, d)
    assert any(x.endswith(str(jobs / "LOCAL_ID" / "job.log")) for x in d)
    # every directive line uses this scheduler's prefix only
    assert all(l.startswith(prefix) or not l.startswith("#") or l.startswith(("#!", "# generated")) for l in script.splitlines())
    run_line = next(l for l in script.splitlines() if " run lindblad " in l)
    assert run_line.startswith(f"{sys.executable} -m nephlab")
    assert "--params " + str(jobs / "LOCAL_ID" / "params.json") in run_line
    assert not jobs.exists()  # a dry run writes nothing


def test_dry_run_minimal_has_no_optional_directives(jobs):
    script = batch.submit("lindblad", scheduler="slurm", dry_run=True)
    assert directives(script, "#SBATCH") == [
        "--job-name=nephlab-lindblad", f"--output={jobs / 'LOCAL_ID' / 'job.log'}", "--ntasks=1"
    ]


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"scheduler": "htcondor"}, ValueError, r"scheduler must be one of slurm, pbs, lsf, sge, got 'htcondor'"),
        ({"job_name": "a\nb"}, ValueError, r"job_name 'a\\nb' contains the control character '\\n'"),
        ({"job_name": "a\x1bb"}, ValueError, r"control character"),
        ({"job_name": ""}, TypeError, r"job_name must be a non-empty string"),
        ({"time": "90 minutes"}, ValueError, r"time must look like 'HH:MM:SS'"),
        ({"time": 0}, ValueError, r"time must be a positive number of minutes, got 0"),
        ({"cpus": 0}, ValueError, r"cpus must be an integer >= 1, got 0"),
        ({"gpus": -1}, ValueError, r"gpus must be an integer >= 0, got -1"),
        ({"gpus": True}, ValueError, r"gpus must be an integer"),
        ({"mem": "lots"}, ValueError, r"mem must be a size such as '4G'"),
        ({"mem": "4G\n#SBATCH --uid=0"}, ValueError, r"mem must be a size"),
        ({"partition": "a b"}, ValueError, r"partition must match"),
        ({"partition": "q\n#SBATCH -A x"}, ValueError, r"partition must match"),
        ({"out": "result.csv"}, ValueError, r"out must end in .nc or .zarr"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_bad_arguments_raise_before_anything_is_written(kw, exc, match, dry_run, jobs):
    with pytest.raises(exc, match=match):
        batch.submit("lindblad", {"n": 4}, **{"scheduler": "slurm", **kw}, dry_run=dry_run)
    assert not jobs.exists() or not any(jobs.iterdir())


def test_bad_task_and_params_raise(jobs):
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        batch.submit("nope", dry_run=True)
    with pytest.raises(ValueError, match="foo"):
        batch.submit("lindblad", {"foo": 1}, dry_run=True)
    with pytest.raises(ValueError, match="gamma"):
        batch.submit("lindblad", {"gamma": -1.0}, scheduler="pbs", dry_run=False)
    assert not jobs.exists()


def test_unsafe_jobs_dir_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NEPHLAB_JOBS_DIR", str(tmp_path / "my jobs"))
    with pytest.raises(ValueError, match=r"cannot appear in a job directive.*NEPHLAB_JOBS_DIR"):
        batch.submit("lindblad", dry_run=True)


def test_job_name_is_made_safe_in_directives(jobs):
    evil = "x $(touch /tmp/x); `id` 'q' \"d\" #SBATCH --uid=0"
    for sched, prefix in (("slurm", "#SBATCH --job-name="), ("pbs", "#PBS -N "), ("lsf", "#BSUB -J "), ("sge", "#$ -N ")):
        script = batch.submit("lindblad", scheduler=sched, job_name=evil, dry_run=True)
        (line,) = [l for l in script.splitlines() if l.startswith(prefix)]
        assert line == prefix + "x___touch__tmp_x____id___q___d___SBATCH_--uid_0"
        assert "$(" not in script and "`" not in script


# --- quoting: run the generated scripts for real -----------------------------------------------

EVIL = "a $(touch {m}); touch {m} `touch {m}` | touch {m} && touch {m}\n touch {m} ' \" \\ $HOME"


def test_quoting_nothing_executes(tmp_path, jobs, echo_task):
    """Section 5: a job name and a string parameter full of shell syntax; run the scripts with bash.

    The four scheduler scripts run concurrently (each starts a Python that imports JAX).
    """
    import xarray as xr

    marker = tmp_path / "pwned"
    evil = EVIL.format(m=marker)
    # a relative marker in the name (kept short): it would land in the job or current directory
    name = "j $(touch PWNED); `touch PWNED` | touch PWNED && touch PWNED"
    env = {**os.environ, "PYTHONPATH": f"{echo_task}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    procs = {}
    for scheduler in ("slurm", "pbs", "lsf", "sge"):
        with pytest.raises(ValueError, match="control character"):
            batch.prepare("echo_label", {"label": evil}, scheduler=scheduler, job_name=name + "\ntouch PWNED")
        job = batch.prepare("echo_label", {"label": evil, "value": 2.5}, scheduler=scheduler, job_name=name)
        assert job.id == "" and json.loads(Path(job.params_file).read_text())["label"] == evil
        assert "$(" not in Path(job.script).read_text().split("# generated")[0]  # directives
        procs[job] = subprocess.Popen(["bash", job.script], env=env, cwd=tmp_path, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for job, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, (job.scheduler, out)
        assert Path(job.directory, "exit_code").read_text().strip() == "0"
        with xr.open_dataset(job.out) as ds:
            assert float(ds.value[0]) == 2.5
            assert int(ds.label_len) == len(evil)
            assert json.loads(ds.attrs["params"])["label"] == evil
    assert not marker.exists()
    assert not list(tmp_path.rglob("PWNED"))


# --- submit / status / cancel / fetch against fake schedulers ----------------------------------

FAKES = {
    # command -> shell body; each records "$0 $@" in $FAKE_LOG
    "sbatch": 'echo "4242;nephlab"',
    "squeue": 'if [ -f "$FAKE_DIR/running" ]; then echo RUNNING; fi',
    "scontrol": 'if [ -f "$FAKE_DIR/cancelled" ]; then echo "JobId=4242 JobState=CANCELLED Reason=None"; else exit 1; fi',
    "scancel": 'touch "$FAKE_DIR/cancelled"; rm -f "$FAKE_DIR/running"',
    "qsub": 'case " $* " in *" -terse "*) echo 77;; *) echo 77.pbsserver;; esac',
    "qstat": 'if [ "$1" = "-x" ]; then echo "Job Id: 77.pbsserver"; echo "    job_state = R"; else [ -f "$FAKE_DIR/running" ] && echo "77 0.5 nephlab root r 01/01/2026 all.q 1"; fi; true',
    "qdel": 'true',
    "bsub": 'cat > "$FAKE_DIR/bsub_stdin"; echo "Job <555> is submitted to queue <normal>."',
    "bjobs": 'echo PEND',
    "bkill": 'echo "Job <555> is being terminated"',
}


@pytest.fixture
def fakes(tmp_path, monkeypatch) -> Path:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    for name, body in FAKES.items():
        p = bindir / name
        p.write_text(f'#!/bin/bash\necho "{name} $*" >> "$FAKE_DIR/calls"\n{body}\n')
        p.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    return tmp_path


def calls(fakes: Path) -> list[str]:
    return (fakes / "calls").read_text().splitlines()


def test_slurm_record_status_cancel_fetch_with_fakes(fakes, jobs, monkeypatch, tmp_path):
    (fakes / "running").touch()
    job = batch.submit("lindblad", {"n": 4}, scheduler="slurm", time=5)
    assert job.id == "4242" and calls(fakes)[0] == f"sbatch --parsable {job.script}"
    rec = json.loads(Path(job.directory, "job.json").read_text())
    assert rec["id"] == "4242" and rec["scheduler"] == "slurm" and rec["out"] == job.out
    # a later "process": look the job up by scheduler id and by local id
    assert batch.load_job("4242") == job == batch.load_job(job.local_id)
    assert batch.status("4242") == "RUNNING"
    with pytest.raises(RuntimeError, match=r"job 4242 \(RUNNING\) has no result"):
        batch.fetch("4242")
    batch.cancel("4242")
    assert calls(fakes)[-1] == "scancel 4242"
    assert batch.status("4242") == "CANCELLED"
    # the scheduler forgot the job; the script's exit code decides
    (fakes / "cancelled").unlink()
    assert batch.status("4242") == "UNKNOWN"
    Path(job.directory, "exit_code").write_text("0\n")
    assert batch.status("4242") == "COMPLETED"
    Path(job.directory, "exit_code").write_text("3\n")
    assert batch.status("4242") == "FAILED"
    Path(job.out).write_bytes(b"netcdf-bytes")
    monkeypatch.chdir(tmp_path)
    dest = batch.fetch("4242")
    assert dest == tmp_path / "lindblad-4242.nc" and dest.read_bytes() == b"netcdf-bytes"
    (tmp_path / "sub").mkdir()
    assert batch.fetch(job, tmp_path / "sub") == tmp_path / "sub" / "lindblad-4242.nc"
    with pytest.raises(ValueError, match=r"no job record for '999'"):
        batch.status("999")


def test_pbs_lsf_sge_submit_and_status_with_fakes(fakes, jobs):
    pbs = batch.submit("lindblad", scheduler="pbs", cpus=2)
    assert pbs.id == "77.pbsserver" and f"qsub {pbs.script}" in calls(fakes)
    assert batch.status(pbs) == "RUNNING"
    lsf = batch.submit("lindblad", scheduler="lsf")
    assert lsf.id == "555"
    assert (fakes / "bsub_stdin").read_text() == Path(lsf.script).read_text()  # bsub reads stdin
    assert batch.status("555") == "PENDING"
    batch.cancel("555")
    assert calls(fakes)[-1] == "bkill 555"
    sge = batch.submit("lindblad", scheduler="sge")
    assert sge.id == "77" and calls(fakes)[-1] == f"qsub -terse {sge.script}"
    (fakes / "running").touch()
    assert batch.status("77", scheduler="sge") == "RUNNING"
    (fakes / "running").unlink()
    assert batch.status("77", scheduler="sge") == "UNKNOWN"


def test_missing_scheduler_binary(jobs, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"'bsub' not found on PATH"):
        batch.submit("lindblad", scheduler="lsf")


def test_cli_submit_status_fetch_with_fakes(fakes, jobs, capsys, tmp_path, monkeypatch):
    from nephlab.cli import main

    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"n": 4, "F": 0.1}))
    assert main(["submit", "lindblad", "F=0.3", "--params", str(pfile), "--scheduler", "slurm",
                 "--job-name", "cli test", "--time", "00:02:00"]) == 0
    out = capsys.readouterr().out
    assert "submitted slurm job 4242" in out
    (rec,) = batch.list_jobs()
    params = json.loads(Path(rec.params_file).read_text())
    assert params["F"] == 0.3 and params["n"] == 4  # key=value overrides the file
    assert "#SBATCH --job-name=cli_test" in Path(rec.script).read_text()
    (fakes / "running").touch()
    assert main(["status", "4242"]) == 0 and "RUNNING" in capsys.readouterr().out
    assert main(["fetch", "4242"]) == 2 and "has no result" in capsys.readouterr().err
    Path(rec.out).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert main(["fetch", "4242", "--to", "got.nc"]) == 0
    assert capsys.readouterr().out.strip() == f"result: {tmp_path / 'got.nc'}"
    # fetching again onto the user's file is refused; --overwrite replaces only that file
    (tmp_path / "got.nc").write_bytes(b"the user's own")
    assert main(["fetch", "4242", "--to", "got.nc"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "got.nc").read_bytes() == b"the user's own"
    assert main(["fetch", "4242", "--to", "got.nc", "--overwrite"]) == 0
    assert (tmp_path / "got.nc").read_bytes() == b"x" and not list(tmp_path.glob(".got.nc*"))  # no staging left
    assert main(["cancel", "4242"]) == 0
    assert main(["submit", "lindblad", "gamma=-1", "--scheduler", "slurm"]) == 2
    assert "gamma" in capsys.readouterr().err
    assert main(["submit", "lindblad", "n=4", "--scheduler", "pbs", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("#!/bin/bash\n#PBS -N nephlab-lindblad\n")


# --- existing outputs, refused submissions, finished jobs --------------------------------------


def test_submit_refuses_an_existing_out_and_deletes_nothing(fakes, jobs, tmp_path, capsys):
    from nephlab.cli import main

    folder = tmp_path / "mine.zarr"  # a user's folder holding another file
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"out '.*mine.zarr' exists; pass overwrite=True \(--overwrite\)"):
        batch.submit("lindblad", {"n": 4}, scheduler="slurm", out=folder)
    with pytest.raises(ValueError, match="exists"):
        batch.submit("lindblad", {"n": 4}, scheduler="slurm", out=folder, dry_run=True)
    assert main(["submit", "lindblad", "n=4", "--scheduler", "slurm", "--out", str(folder)]) == 2
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "keep me" and batch.list_jobs() == []
    assert not (fakes / "calls").exists()  # nothing was submitted
    # no script removes anything; --overwrite is passed on to `nephlab run` in the job
    for overwrite in (False, True):
        script = batch.submit("lindblad", scheduler="slurm", out=tmp_path / "new.nc", overwrite=overwrite, dry_run=True)
        assert "rm " not in script and "mv " not in script
        assert script.rstrip().count("--overwrite") == int(overwrite)
    assert main(["submit", "lindblad", "n=4", "--scheduler", "slurm", "--out", str(folder), "--overwrite"]) == 0
    assert "--overwrite" in Path(batch.list_jobs()[0].script).read_text()


def test_job_refuses_an_out_that_appeared_after_submission(tmp_path, jobs):
    out = tmp_path / "r.nc"
    job = batch.prepare("lindblad", {"n": 3, "n_times": 2}, scheduler="slurm", out=out)
    out.write_text("the user's file, written while the job waited")
    proc = subprocess.run(["bash", job.script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and Path(job.directory, "exit_code").read_text().strip() == "2"
    assert out.read_text() == "the user's file, written while the job waited"
    assert "exists; pass --overwrite" in proc.stderr + proc.stdout  # (bash: the log is stdout)


def test_refused_submission_leaves_no_record(fakes, jobs, capsys):
    from nephlab.cli import main

    refuse = fakes / "fakebin" / "sbatch"
    refuse.write_text('#!/bin/bash\necho "sbatch: error: invalid partition specified: nosuch" >&2\nexit 1\n')
    with pytest.raises(RuntimeError, match="sbatch failed .*invalid partition"):
        batch.submit("lindblad", scheduler="slurm", partition="nosuch")
    assert main(["submit", "lindblad", "--scheduler", "slurm", "--partition", "nosuch"]) == 2
    assert "invalid partition" in capsys.readouterr().err
    assert batch.list_jobs() == [] and not list(jobs.glob("*/job.json"))


def test_cancel_of_a_finished_job_says_so(fakes, jobs, capsys):
    from nephlab.cli import main

    job = batch.submit("lindblad", {"n": 4}, scheduler="slurm")
    Path(job.directory, "exit_code").write_text("0\n")  # the scheduler forgot it; it completed
    with pytest.raises(batch.JobFinished, match=r"slurm job 4242 \(lindblad\) has already finished \(COMPLETED\)") as info:
        batch.cancel(job)
    assert info.value.state == "COMPLETED"
    assert main(["cancel", "4242"]) == 1
    out = capsys.readouterr()
    assert out.out.strip() == "slurm job 4242 (lindblad) has already finished (COMPLETED); nothing to cancel"
    assert out.err == "" and not any(c.startswith("scancel") for c in calls(fakes))
