"""Subcommands ``submit``, ``status``, ``cancel``, ``fetch`` and ``cluster`` (see ``nephlab.cli``).

- ``nephlab submit TASK [key=value ...] [--params f.json] --scheduler slurm|pbs|lsf|sge
  [--job-name N] [--time T] [--cpus C] [--gpus G] [--mem M] [--partition P] [--out F] [--overwrite]
  [--dry-run]``
- ``nephlab status JOB``, ``nephlab cancel JOB`` (exit 1 when the job has already finished),
  ``nephlab fetch JOB [--to PATH] [--overwrite]``
- ``nephlab cluster start|stop|status PROFILE [--dry-run] [--profiles FILE]``

Example:
    >>> from nephlab.cli import main
    >>> main(["submit", "lindblad", "n=4", "--scheduler", "lsf", "--dry-run"])  # doctest: +ELLIPSIS
    #!/bin/bash
    #BSUB -J nephlab-lindblad
    ...
    0
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from nephlab.cli import Command

from ._clusters import alive as _alive
from ._clusters import read_state as _read_state
from ._clusters import state_file as _state_file


def _err(msg: str) -> int:
    print(f"nephlab: error: {msg}", file=sys.stderr)
    return 2


def _parse_params(task: str, params_file: str | None, assignments: list[str]) -> dict:
    from nephlab.tasks import get_task
    from nephlab.tasks.cli import load_params, parse_assignments

    values = load_params(params_file) if params_file is not None else {}
    values.update(parse_assignments(get_task(task).spec, assignments))
    return values


# --- submit / status / cancel / fetch ----------------------------------------------------------


def _submit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="task name (see `nephlab tasks`)")
    p.add_argument("assignments", nargs="*", metavar="key=value", help="parameter values")
    p.add_argument("--params", default=None, help="JSON file with parameter values")
    p.add_argument("--scheduler", required=True, choices=("slurm", "pbs", "lsf", "sge"))
    p.add_argument("--job-name", default=None)
    p.add_argument("--time", default=None, help="walltime [D-]HH:MM:SS or minutes")
    p.add_argument("--cpus", type=int, default=None)
    p.add_argument("--gpus", type=int, default=None)
    p.add_argument("--mem", default=None, help="memory, e.g. 4G")
    p.add_argument("--partition", default=None, help="partition (SLURM) or queue")
    p.add_argument("--out", default=None, help="result file (.nc or .zarr); an existing one is refused unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="let the job replace an existing --out")
    p.add_argument("--dry-run", action="store_true", help="print the script, submit nothing")


def _submit(args: argparse.Namespace, rest: list[str]) -> int:
    from . import batch

    try:
        params = _parse_params(args.task, args.params, args.assignments)
        if args.out is not None:  # the same check and words as `nephlab run --out`
            from nephlab._io import check_target

            check_target(args.out, overwrite=args.overwrite, argname="--out")
        res = batch.submit(
            args.task, params, scheduler=args.scheduler, job_name=args.job_name, time=args.time,
            cpus=args.cpus, gpus=args.gpus, mem=args.mem, partition=args.partition,
            out=args.out, overwrite=args.overwrite, dry_run=args.dry_run,
        )
    except (ValueError, TypeError, RuntimeError) as exc:
        return _err(str(exc))
    if isinstance(res, str):
        print(res, end="")
        return 0
    print(f"submitted {res.scheduler} job {res.id} (record {res.local_id})")
    print(f"script: {res.script}\nlog: {res.log}\nresult: {res.out}")
    return 0


def _job_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="scheduler job id or local record id")
    p.add_argument("--scheduler", default=None, choices=("slurm", "pbs", "lsf", "sge"))


def _status(args: argparse.Namespace, rest: list[str]) -> int:
    from . import batch

    try:
        job = batch.load_job(args.job, args.scheduler)
        state = batch.status(job)
    except (ValueError, TypeError, RuntimeError) as exc:
        return _err(str(exc))
    print(f"{job.scheduler} job {job.id} ({job.task}): {state}")
    if state == "COMPLETED":
        print(f"result: {job.out}")
    elif state in ("FAILED", "CANCELLED", "TIMEOUT", "UNKNOWN"):
        print(f"log: {job.log}")
    return 0


def _cancel(args: argparse.Namespace, rest: list[str]) -> int:
    from . import batch

    try:
        job = batch.cancel(args.job, args.scheduler)
    except batch.JobFinished as exc:  # nothing to cancel: say so, exit 1 (not an error: 2)
        print(str(exc))
        return 1
    except (ValueError, TypeError, RuntimeError) as exc:
        return _err(str(exc))
    print(f"cancelled {job.scheduler} job {job.id}")
    return 0


def _fetch_args(p: argparse.ArgumentParser) -> None:
    _job_args(p)
    p.add_argument("--to", default=None, help="destination file or directory (default: ./TASK-ID.nc)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination file or store")


def _fetch(args: argparse.Namespace, rest: list[str]) -> int:
    from . import batch

    try:
        dest = batch.fetch(args.job, args.to, scheduler=args.scheduler, overwrite=args.overwrite)
    except (ValueError, TypeError, RuntimeError) as exc:
        return _err(str(exc))
    print(f"result: {dest}")
    return 0


# --- cluster start|stop|status -----------------------------------------------------------------


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", help="profile name (built-in or from the profiles YAML)")
    p.add_argument("--profiles", default=None, help="profiles YAML file (default: $NEPHLAB_PROFILES or ~/.config/dask/nephlab.yaml)")
    p.add_argument("--dry-run", action="store_true", help="print the worker job script only")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the scheduler (start/stop)")


def _cluster_start(args: argparse.Namespace, rest: list[str]) -> int:
    import subprocess

    from .profiles import get_profile, job_script

    try:
        get_profile(args.profile, args.profiles)
        if args.dry_run:
            print(job_script(args.profile, args.profiles), end="")
            return 0
        if _read_state(args.profile) is not None:
            return _err(f"cluster {args.profile!r} is already running (see `nephlab cluster status {args.profile}`)")
        state = _state_file(args.profile, create=True)
    except (ValueError, TypeError) as exc:
        return _err(str(exc))
    log = state.with_suffix(".log")
    cmd = [sys.executable, "-m", "nephlab.cluster._serve_profile", args.profile, str(state)]
    if args.profiles:
        cmd += ["--profiles", str(Path(args.profiles).absolute())]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        info = _read_state(args.profile)
        if info is not None:
            print(f"cluster {args.profile}: scheduler {info['address']} dashboard {info['dashboard']} (pid {info['pid']})")
            return 0
        if proc.poll() is not None:
            return _err(f"cluster {args.profile!r} failed to start (exit {proc.returncode}); log: {log}")
        time.sleep(0.2)
    proc.terminate()
    return _err(f"cluster {args.profile!r} did not start within {args.timeout:g} s; log: {log}")


def _cluster_stop(args: argparse.Namespace, rest: list[str]) -> int:
    import signal

    try:
        info = _read_state(args.profile)
    except ValueError as exc:
        return _err(str(exc))
    if info is None:
        print(f"cluster {args.profile}: not running")
        return 0
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        return _err(f"cluster {args.profile!r} (pid {pid}) did not stop within {args.timeout:g} s")
    print(f"cluster {args.profile}: stopped")
    return 0


def _cluster_status(args: argparse.Namespace, rest: list[str]) -> int:
    try:
        info = _read_state(args.profile)
    except ValueError as exc:
        return _err(str(exc))
    if info is None:
        print(f"cluster {args.profile}: not running")
        return 1
    from distributed import Client

    try:
        with Client(info["address"], timeout=10) as client:
            n = len(client.scheduler_info(n_workers=-1)["workers"])
    except OSError as exc:
        return _err(f"cluster {args.profile!r}: scheduler {info['address']} does not answer: {exc}")
    print(f"cluster {args.profile}: running, scheduler {info['address']}, {n} worker(s), dashboard {info['dashboard']}")
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("submit", "submit `nephlab run TASK` as a batch job (sbatch/qsub/bsub)", _submit, _submit_args),
    Command("status", "state of a submitted batch job", _status, _job_args),
    Command("cancel", "cancel a submitted batch job", _cancel, _job_args),
    Command("fetch", "copy the result of a finished batch job", _fetch, _fetch_args),
    Command(
        "cluster",
        "start, stop or inspect a dask-jobqueue cluster from a named profile",
        handler=lambda args, rest: 2,  # never called: a COMMAND is required
        subcommands=(
            Command("start", "start the cluster of PROFILE in the background (--dry-run: print the job script)",
                    _cluster_start, _cluster_args),
            Command("stop", "stop the cluster of PROFILE (cancels its worker jobs)", _cluster_stop, _cluster_args),
            Command("status", "scheduler address and worker count of PROFILE's cluster", _cluster_status,
                    _cluster_args),
        ),
    ),
)
