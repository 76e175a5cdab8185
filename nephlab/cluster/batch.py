"""One-off batch jobs: ``nephlab run TASK`` submitted through sbatch, qsub (PBS), bsub or qsub (SGE).

:func:`submit` validates the parameters against the task's spec, writes them as a JSON file
next to a generated batch script, and submits the script. The script runs
``python -m nephlab run TASK --params PARAMS.json --out RESULT`` with the submitting Python
(``sys.executable``, so the job uses the same environment), which writes the result atomically
(:func:`nephlab._io.write_dataset`), and records the exit code. An existing ``RESULT`` is
refused, at submission and again by the job, unless ``overwrite=True`` (``--overwrite``): the
job never deletes anything it did not create. A submission that the scheduler refuses leaves no
job record behind. A :class:`Job` record is
kept as JSON in the jobs directory (``$NEPHLAB_JOBS_DIR``, default ``~/.cache/nephlab/jobs``), so
:func:`status`, :func:`cancel` and :func:`fetch` work from a later process, by scheduler job id
or by the record's local id.

Quoting and injection safety:

- parameter values never appear in the script: they travel in the JSON file;
- every path and the task name in the script body are quoted with :func:`shlex.quote`;
- directive values are validated: ``time``, ``cpus``, ``gpus``, ``mem`` and ``partition`` have
  strict formats, and paths that appear in directives (the log file) may only hold
  ``[A-Za-z0-9._/+,=@~:-]``;
- a job name containing a newline or any other control character is rejected with a
  ``ValueError``; in the directive, every other character outside ``[A-Za-z0-9._-]`` is written as
  ``_`` (the record keeps the name as given). So ``'x $(touch /tmp/x); `y`'`` becomes the
  scheduler job name ``x___touch__tmp_x____y_`` and nothing is executed.

Example:
    >>> script = submit("lindblad", {"n": 4}, scheduler="slurm", time="00:05:00", dry_run=True)
    >>> "#SBATCH --time=00:05:00" in script and "-m nephlab" in script
    True
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time as _time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nephlab._io import staged_path

__all__ = [
    "JOB_STATES",
    "SCHEDULERS",
    "Job",
    "JobFinished",
    "cancel",
    "fetch",
    "jobs_dir",
    "list_jobs",
    "load_job",
    "prepare",
    "render_script",
    "status",
    "submit",
]

SCHEDULERS: tuple[str, ...] = ("slurm", "pbs", "lsf", "sge")
#: normalised job states returned by :func:`status`
JOB_STATES: tuple[str, ...] = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "UNKNOWN")
_CMD_TIMEOUT_S = 60.0
_PATH_SAFE = re.compile(r"[A-Za-z0-9._/+,=@~:-]+")
_NAME_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_PARTITION = re.compile(r"[A-Za-z0-9._@-]+")
_MEM = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)", re.IGNORECASE)


@dataclass(frozen=True)
class Job:
    """A submitted (or prepared) batch job; persisted as ``<jobs_dir>/<local_id>/job.json``.

    ``id`` is the scheduler's job id (``""`` until submitted); ``out`` is where the result file
    appears when the job succeeds; ``log`` is the job's stdout/stderr; ``directory`` holds the
    script, the parameters and ``exit_code`` (written by the script when it ends).

    >>> Job.from_json(Job("7", "slurm", "/j/job.sh", "/j/r.nc", "lindblad", "/j/p.json",
    ...     "/j/job.log", "x", "abc", "/j", 0.0).to_json()).id
    '7'
    """

    id: str
    scheduler: str
    script: str
    out: str
    task: str
    params_file: str
    log: str
    job_name: str
    local_id: str
    directory: str
    submitted: float

    def to_json(self) -> str:
        """The record as a JSON string."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Job:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def save(self) -> Path:
        """Write the record to ``<directory>/job.json`` (atomically); return that path."""
        path = Path(self.directory) / "job.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, path)
        return path


class JobFinished(RuntimeError):
    """Raised by :func:`cancel` for a job that has already finished (``.state`` says how).

    Example:
        >>> JobFinished("job 7 has already finished (COMPLETED); nothing to cancel", "COMPLETED").state
        'COMPLETED'
    """

    def __init__(self, message: str, state: str):
        super().__init__(message)
        self.state = state


_FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")


# --- validation of directive values ------------------------------------------------------------


def jobs_dir() -> Path:
    """The jobs directory: ``$NEPHLAB_JOBS_DIR`` or ``~/.cache/nephlab/jobs``."""
    return Path(os.environ.get("NEPHLAB_JOBS_DIR") or "~/.cache/nephlab/jobs").expanduser().absolute()


def _check_scheduler(scheduler: Any) -> str:
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
    return scheduler


def _job_name(name: Any) -> str:
    """The scheduler-safe spelling of ``name`` (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"job_name must be a non-empty string, got {name!r}")
    bad = [c for c in name if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise ValueError(
            f"job_name {name!r} contains the control character {bad[0]!r}; newlines and other "
            "control characters are not allowed in job names"
        )
    if len(name) > 200:
        raise ValueError(f"job_name must have at most 200 characters, got {len(name)}")
    return _NAME_SAFE.sub("_", name)


def _seconds(time: Any) -> int | None:
    """Walltime in seconds from ``'[D-]HH:MM:SS'`` or a whole number of minutes (int or digits)."""
    if time is None:
        return None
    if isinstance(time, bool):
        raise TypeError(f"time must be '[D-]HH:MM:SS' or whole minutes, got {time!r}")
    if isinstance(time, int) or (isinstance(time, str) and time.strip().isdigit()):
        minutes = int(time)
        if minutes <= 0:
            raise ValueError(f"time must be a positive number of minutes, got {time!r}")
        return 60 * minutes
    from .profiles import parse_walltime

    return parse_walltime(time, what="time")


def _hms(seconds: int) -> str:
    h, rem = divmod(seconds, 3600)
    return f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}"


def _mem_mb(mem: Any) -> int | None:
    """Megabytes (2**20 bytes, rounded up) from ``'4G'``, ``'4GB'``, ``'512MiB'``, ``'2000M'``."""
    if mem is None:
        return None
    if isinstance(mem, bool) or not isinstance(mem, str | int):
        raise TypeError(f"mem must be a size such as '4G' or '512MB', got {mem!r}")
    m = _MEM.fullmatch(str(mem).strip())
    if m is None:
        raise ValueError(f"mem must be a size such as '4G', '4GB', '512MiB' or '2000M', got {mem!r}")
    factor = {"": 2**20, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[m.group(2).upper()]
    nbytes = float(m.group(1)) * factor
    if nbytes <= 0:
        raise ValueError(f"mem must be positive, got {mem!r}")
    return max(1, math.ceil(nbytes / 2**20))


def _count(value: Any, what: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _partition(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _PARTITION.fullmatch(value):
        raise ValueError(f"partition must match [A-Za-z0-9._@-]+ (a queue/partition name), got {value!r}")
    return value


def _directive_path(path: Path, what: str) -> str:
    s = str(path)
    if not _PATH_SAFE.fullmatch(s):
        raise ValueError(
            f"{what} {s!r} cannot appear in a job directive: only [A-Za-z0-9._/+,=@~:-] are allowed "
            "(set NEPHLAB_JOBS_DIR to a directory whose path has no spaces or special characters)"
        )
    return s


def _nephlab_command() -> list[str]:
    """``[sys.executable, "-m", "nephlab"]`` (``-m nephlab.cli`` while nephlab has no __main__)."""
    main = "nephlab" if importlib.util.find_spec("nephlab.__main__") is not None else "nephlab.cli"
    return [sys.executable, "-m", main]


# --- scripts -----------------------------------------------------------------------------------


def render_script(
    scheduler: str,
    *,
    task: str,
    params_file: str | Path,
    out: str | Path,
    log: str | Path,
    workdir: str | Path,
    job_name: str,
    time: str | int | None = None,
    cpus: int | None = None,
    gpus: int | None = None,
    mem: str | None = None,
    partition: str | None = None,
    python: list[str] | None = None,
    overwrite: bool = False,
) -> str:
    """The batch script text for ``scheduler`` (validates every directive value).

    Paths must be absolute. ``python`` defaults to ``[sys.executable, "-m", "nephlab"]``.
    The job runs ``nephlab run`` with ``--out out`` (and ``--overwrite`` if ``overwrite``):
    the result appears atomically, and an existing ``out`` is replaced only with ``overwrite``.

    >>> s = render_script("pbs", task="lindblad", params_file="/j/p.json", out="/j/r.nc",
    ...     log="/j/job.log", workdir="/j", job_name="a;b", cpus=2, mem="1G", time=30)
    >>> [l for l in s.splitlines() if l.startswith("#PBS")]
    ['#PBS -N a_b', '#PBS -o /j/job.log', '#PBS -j oe', '#PBS -l walltime=00:30:00', '#PBS -l select=1:ncpus=2:mem=1024mb']
    """
    _check_scheduler(scheduler)
    name = _job_name(job_name)
    seconds = _seconds(time)
    cpus = _count(cpus, "cpus", 1)
    gpus = _count(gpus, "gpus", 0)
    mb = _mem_mb(mem)
    partition = _partition(partition)
    logp = _directive_path(Path(log), "log path")
    for what, p in (("params_file", params_file), ("out", out), ("log", log), ("workdir", workdir)):
        if not Path(p).is_absolute():
            raise ValueError(f"{what} must be an absolute path, got {str(p)!r}")

    d: list[str] = []
    if scheduler == "slurm":
        d += [f"--job-name={name}", f"--output={logp}", "--ntasks=1"]
        if seconds is not None:
            days, rest = divmod(seconds, 86400)
            d.append(f"--time={days}-{_hms(rest)}" if days else f"--time={_hms(rest)}")
        if cpus is not None:
            d.append(f"--cpus-per-task={cpus}")
        if gpus:
            d.append(f"--gres=gpu:{gpus}")
        if mb is not None:
            d.append(f"--mem={mb}M")
        if partition is not None:
            d.append(f"--partition={partition}")
        prefix = "#SBATCH"
    elif scheduler == "pbs":
        d += [f"-N {name}", f"-o {logp}", "-j oe"]
        if seconds is not None:
            d.append(f"-l walltime={_hms(seconds)}")
        select = [f"ncpus={cpus}"] if cpus is not None else []
        if gpus:
            select.append(f"ngpus={gpus}")
        if mb is not None:
            select.append(f"mem={mb}mb")
        if select:
            d.append("-l select=1:" + ":".join(select))
        if partition is not None:
            d.append(f"-q {partition}")
        prefix = "#PBS"
    elif scheduler == "lsf":
        d += [f"-J {name}", f"-o {logp}"]
        if seconds is not None:
            minutes = math.ceil(seconds / 60)
            d.append(f"-W {minutes // 60:02d}:{minutes % 60:02d}")
        if cpus is not None:
            d += [f"-n {cpus}", '-R "span[hosts=1]"']
        if gpus:
            d.append(f'-gpu "num={gpus}"')
        if mb is not None:
            d += [f"-M {mb}MB", f'-R "rusage[mem={mb}MB]"']
        if partition is not None:
            d.append(f"-q {partition}")
        prefix = "#BSUB"
    else:  # sge
        d += [f"-N {name}", f"-o {logp}", "-j y", "-S /bin/bash"]
        if seconds is not None:
            d.append(f"-l h_rt={_hms(seconds)}")
        if cpus is not None:
            d.append(f"-pe smp {cpus}")
        if gpus:
            d.append(f"-l gpu={gpus}")
        if mb is not None:  # h_vmem is per slot
            d.append(f"-l h_vmem={math.ceil(mb / (cpus or 1))}M")
        if partition is not None:
            d.append(f"-q {partition}")
        prefix = "#$"

    q = shlex.quote
    exit_file = Path(workdir) / "exit_code"
    cmd = " ".join(q(c) for c in (python or _nephlab_command()))
    lines = ["#!/bin/bash", *(f"{prefix} {x}" for x in d), ""]
    lines += [
        "# generated by nephlab.cluster.batch: runs one task; parameters are in the JSON file",
        "set -u",
        f"cd {q(str(workdir))} || exit 1",
        f"{cmd} run {q(task)} --params {q(str(params_file))} --out {q(str(out))}" + (" --overwrite" if overwrite else ""),
        "rc=$?",
        f"printf '%s\\n' \"$rc\" > {q(str(exit_file))}",
        'exit "$rc"',
        "",
    ]
    return "\n".join(lines)


# --- submit ------------------------------------------------------------------------------------


def _validated_params(task: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    from nephlab.tasks import get_task

    t = get_task(task)
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of parameter names to values, got {type(params).__name__}")
    return t.spec.name, t.spec.validate(dict(params or {}))


def prepare(
    task: str,
    params: Mapping[str, Any] | None = None,
    *,
    scheduler: str = "slurm",
    job_name: str | None = None,
    time: str | int | None = None,
    cpus: int | None = None,
    gpus: int | None = None,
    mem: str | None = None,
    partition: str | None = None,
    out: str | os.PathLike[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Job:
    """Write the parameters, the script and the record of a job, without submitting it.

    Returns the :class:`Job` with ``id == ""``. ``directory`` defaults to a new folder in
    :func:`jobs_dir`; ``out`` (``.nc`` or ``.zarr``) defaults to ``<directory>/result.nc``.
    Arguments as in :func:`submit`. Running the script with ``bash`` runs the task locally.

    >>> job = prepare("lindblad", {"n": 4}, scheduler="sge")  # doctest: +SKIP
    """
    _check_scheduler(scheduler)
    name, values = _validated_params(task, params)
    job_name = f"nephlab-{name}" if job_name is None else job_name
    _job_name(job_name)  # reject bad names before anything is written
    local_id = _time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    d = Path(directory).expanduser().absolute() if directory is not None else jobs_dir() / local_id
    res = _result_path(out, d, overwrite)
    log = d / "job.log"
    params_file = d / "params.json"
    script = render_script(
        scheduler, task=name, params_file=params_file, out=res, log=log, workdir=d,
        job_name=job_name, time=time, cpus=cpus, gpus=gpus, mem=mem, partition=partition, overwrite=overwrite,
    )
    d.mkdir(parents=True, exist_ok=directory is not None)  # a new record folder is ours alone
    res.parent.mkdir(parents=True, exist_ok=True)
    params_file.write_text(json.dumps(values, indent=2, sort_keys=True), encoding="utf-8")
    (d / "job.sh").write_text(script, encoding="utf-8")
    job = Job("", scheduler, str(d / "job.sh"), str(res), name, str(params_file), str(log),
              job_name, d.name, str(d), _time.time())
    job.save()
    return job


def _result_path(out: str | os.PathLike[str] | None, directory: Path, overwrite: bool) -> Path:
    """The absolute result path; ValueError for a bad suffix or an existing result without ``overwrite``."""
    from nephlab._io import check_target

    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
    res = Path(out).expanduser().absolute() if out is not None else directory / "result.nc"
    if res.suffix not in (".nc", ".zarr"):
        raise ValueError(f"out must end in .nc or .zarr, got {str(res)!r}")
    return check_target(res, overwrite=overwrite, argname="out")


def _run(cmd: list[str], *, stdin: str | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    if shutil.which(cmd[0]) is None:
        raise RuntimeError(f"'{cmd[0]}' not found on PATH: is this a login node of the cluster?")
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=_CMD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"'{' '.join(cmd)}' did not answer within {_CMD_TIMEOUT_S:.0f} s") from None


def _said(proc: subprocess.CompletedProcess) -> str:
    """What a scheduler command printed (stderr, else stdout), on one line."""
    text = proc.stderr.strip() or proc.stdout.strip()
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _parse_job_id(scheduler: str, stdout: str) -> str:
    text = stdout.strip()
    if scheduler == "slurm":
        m = re.search(r"^(\d+)(?:;\S+)?$", text, re.MULTILINE)
    elif scheduler == "lsf":
        m = re.search(r"Job <(\d+)>", text)
    elif scheduler == "pbs":
        m = re.search(r"^(\d+(?:\[\])?(?:\.\S+)?)$", text, re.MULTILINE)
    else:
        m = re.search(r"^(\d+)", text, re.MULTILINE) or re.search(r"Your job (\d+)", text)
    if m is None:
        raise RuntimeError(f"could not read a job id from the {scheduler} submit output: {text!r}")
    return m.group(1)


def submit(
    task: str,
    params: Mapping[str, Any] | None = None,
    *,
    scheduler: str = "slurm",
    job_name: str | None = None,
    time: str | int | None = None,
    cpus: int | None = None,
    gpus: int | None = None,
    mem: str | None = None,
    partition: str | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    dry_run: bool = False,
) -> Job | str:
    """Submit ``nephlab run TASK`` as a batch job; return its :class:`Job` (or the script).

    Args:
        task: task name (see ``nephlab tasks``).
        params: parameter values; validated against the task's spec before anything is written.
        scheduler: ``"slurm"`` (sbatch), ``"pbs"`` (qsub), ``"lsf"`` (bsub) or ``"sge"`` (qsub).
        job_name: scheduler job name (default ``nephlab-TASK``); control characters are refused,
            other unsafe characters become ``_`` in the directive.
        time: walltime, ``"[D-]HH:MM:SS"`` or whole minutes.
        cpus, gpus: CPU cores and GPUs for the job. mem: memory such as ``"4G"`` (MiB granularity).
        partition: partition (SLURM) or queue (PBS/LSF/SGE).
        out: result path (``.nc`` or ``.zarr``); default ``<jobs_dir>/<local_id>/result.nc``.
            An existing ``out`` is refused (ValueError) unless ``overwrite``.
        overwrite: let the job replace an existing ``out`` (only that file or store).
        dry_run: return the script text; nothing is written or submitted.

    >>> job = submit("lindblad", {"F": 0.3}, time="00:05:00")  # doctest: +SKIP
    >>> status(job)  # doctest: +SKIP
    'RUNNING'
    """
    _check_scheduler(scheduler)
    if not isinstance(dry_run, bool):
        raise TypeError(f"dry_run must be a bool, got {dry_run!r}")
    if dry_run:
        name, _ = _validated_params(task, params)
        d = jobs_dir() / "LOCAL_ID"  # placeholder: prepare() picks the real folder
        res = _result_path(out, d, overwrite)
        return render_script(
            scheduler, task=name, params_file=d / "params.json", out=res, log=d / "job.log",
            workdir=d, job_name=f"nephlab-{name}" if job_name is None else job_name,
            time=time, cpus=cpus, gpus=gpus, mem=mem, partition=partition, overwrite=overwrite,
        )
    job = prepare(task, params, scheduler=scheduler, job_name=job_name, time=time, cpus=cpus,
                  gpus=gpus, mem=mem, partition=partition, out=out, overwrite=overwrite)
    cmd = {
        "slurm": ["sbatch", "--parsable", job.script],
        "pbs": ["qsub", job.script],
        "lsf": ["bsub"],
        "sge": ["qsub", "-terse", job.script],
    }[scheduler]
    stdin = Path(job.script).read_text(encoding="utf-8") if scheduler == "lsf" else None
    try:
        proc = _run(cmd, stdin=stdin, cwd=job.directory)
    except RuntimeError:
        shutil.rmtree(job.directory, ignore_errors=True)  # the record folder prepare() just made
        raise
    if proc.returncode != 0:  # refused: no job, so no record (the folder is ours, made above)
        shutil.rmtree(job.directory, ignore_errors=True)
        raise RuntimeError(f"{cmd[0]} failed (exit {proc.returncode}): {_said(proc)}")
    job = Job(**{**asdict(job), "id": _parse_job_id(scheduler, proc.stdout)})
    job.save()
    return job


# --- records -----------------------------------------------------------------------------------


def list_jobs() -> list[Job]:
    """Every job record in :func:`jobs_dir`, oldest first."""
    root = jobs_dir()
    jobs = []
    for p in root.glob("*/job.json") if root.is_dir() else ():
        try:
            jobs.append(Job.from_json(p.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a foreign or half-written file is not a job record
    return sorted(jobs, key=lambda j: j.submitted)


def load_job(ref: Job | str, scheduler: str | None = None) -> Job:
    """The record for ``ref``: a :class:`Job`, a local id, or a scheduler job id.

    A scheduler id that several records share (e.g. after the scheduler was reinstalled) resolves
    to the most recent one; ``scheduler`` narrows the search.
    """
    if isinstance(ref, Job):
        return ref
    if not isinstance(ref, str | int) or isinstance(ref, bool) or not str(ref):
        raise TypeError(f"job must be a Job, a local id or a scheduler job id, got {ref!r}")
    ref = str(ref)
    if scheduler is not None:
        _check_scheduler(scheduler)
    if "/" not in ref and ref not in (".", ".."):
        path = jobs_dir() / ref / "job.json"
        if path.is_file():
            return Job.from_json(path.read_text(encoding="utf-8"))
    matches = [j for j in list_jobs() if j.id == ref and scheduler in (None, j.scheduler)]
    if not matches:
        raise ValueError(f"no job record for {ref!r} in {jobs_dir()} (set NEPHLAB_JOBS_DIR if the jobs live elsewhere)")
    return matches[-1]


def _exit_code(job: Job) -> int | None:
    try:
        return int((Path(job.directory) / "exit_code").read_text().strip())
    except (OSError, ValueError):
        return None


def _scheduler_state(job: Job) -> str | None:
    """The scheduler's view, normalised; None when the scheduler no longer knows the job."""
    if job.scheduler == "slurm":
        p = _run(["squeue", "-h", "-j", job.id, "-o", "%T"])
        raw = p.stdout.strip().splitlines()[0] if p.returncode == 0 and p.stdout.strip() else ""
        if not raw:
            p = _run(["scontrol", "-o", "show", "job", job.id])
            m = re.search(r"JobState=(\S+)", p.stdout) if p.returncode == 0 else None
            raw = m.group(1) if m else ""
        if not raw:
            return None
        raw = raw.upper()
        table = {"PENDING": "PENDING", "CONFIGURING": "PENDING", "REQUEUED": "PENDING",
                 "RUNNING": "RUNNING", "COMPLETING": "RUNNING", "SUSPENDED": "RUNNING",
                 "COMPLETED": "COMPLETED", "CANCELLED": "CANCELLED", "TIMEOUT": "TIMEOUT",
                 "FAILED": "FAILED", "NODE_FAIL": "FAILED", "OUT_OF_MEMORY": "FAILED",
                 "BOOT_FAIL": "FAILED", "DEADLINE": "TIMEOUT", "PREEMPTED": "CANCELLED"}
        return table.get(raw, "UNKNOWN")
    if job.scheduler == "pbs":
        p = _run(["qstat", "-x", "-f", job.id])
        if p.returncode != 0:
            p = _run(["qstat", "-f", job.id])
        m = re.search(r"job_state\s*=\s*(\w)", p.stdout) if p.returncode == 0 else None
        if m is None:
            return None
        s = m.group(1)
        return {"Q": "PENDING", "H": "PENDING", "W": "PENDING", "T": "PENDING", "R": "RUNNING",
                "E": "RUNNING", "S": "RUNNING", "F": "DONE", "C": "DONE"}.get(s, "UNKNOWN")
    if job.scheduler == "lsf":
        p = _run(["bjobs", "-noheader", "-o", "stat", job.id])
        raw = p.stdout.strip().upper() if p.returncode == 0 else ""
        if not raw or "NOT FOUND" in raw:
            return None
        return {"PEND": "PENDING", "PSUSP": "PENDING", "RUN": "RUNNING", "USUSP": "RUNNING",
                "SSUSP": "RUNNING", "DONE": "COMPLETED", "EXIT": "FAILED"}.get(raw.split()[0], "UNKNOWN")
    p = _run(["qstat"])  # SGE: finished jobs leave the list
    for line in p.stdout.splitlines() if p.returncode == 0 else ():
        cols = line.split()
        if cols and cols[0] == job.id and len(cols) > 4:
            s = cols[4]
            if "E" in s:
                return "FAILED"
            if "d" in s:
                return "CANCELLED"
            return "PENDING" if "q" in s or "h" in s else "RUNNING"
    return None


def status(job: Job | str, scheduler: str | None = None) -> str:
    """Normalised state of a job: one of :data:`JOB_STATES`.

    The scheduler is asked first; for a job it no longer lists, the ``exit_code`` file the script
    writes decides (``COMPLETED`` for 0, ``FAILED`` otherwise); ``UNKNOWN`` when there is neither.
    """
    job = load_job(job, scheduler)
    if not job.id:
        raise ValueError(f"job {job.local_id!r} was prepared but never submitted")
    state = _scheduler_state(job)
    code = _exit_code(job)
    if state in (None, "DONE", "COMPLETED", "FAILED") and code is not None:
        return "COMPLETED" if code == 0 else "FAILED"
    if state == "DONE":
        return "UNKNOWN"
    return state or "UNKNOWN"


def cancel(job: Job | str, scheduler: str | None = None) -> Job:
    """Cancel a job (scancel, qdel, bkill) and return its record.

    Raises :class:`JobFinished` when the job has already finished (COMPLETED, FAILED,
    CANCELLED or TIMEOUT; nothing is sent to the scheduler), RuntimeError when the scheduler
    refuses to cancel a job that is still pending or running.
    """
    job = load_job(job, scheduler)
    if not job.id:
        raise ValueError(f"job {job.local_id!r} was prepared but never submitted")

    def finished() -> JobFinished | None:
        state = status(job)
        if state in _FINISHED:
            return JobFinished(f"{job.scheduler} job {job.id} ({job.task}) has already finished ({state}); nothing to cancel", state)
        return None

    done = finished()
    if done is not None:
        raise done
    cmd = {"slurm": ["scancel"], "pbs": ["qdel"], "lsf": ["bkill"], "sge": ["qdel"]}[job.scheduler]
    p = _run([*cmd, job.id])
    if p.returncode != 0:
        done = finished()  # it may have ended meanwhile
        if done is not None:
            raise done
        raise RuntimeError(f"{cmd[0]} {job.id} failed (exit {p.returncode}): {_said(p)}")
    return job


def fetch(job: Job | str, to: str | os.PathLike[str] | None = None, *, scheduler: str | None = None,
          overwrite: bool = False) -> Path:
    """Copy the result of a finished job to ``to``; return the destination path.

    ``to`` defaults to ``./<task>-<id><suffix>`` in the current directory; an existing directory
    receives the file under that name. An existing destination file or store is refused unless
    ``overwrite=True`` (``--overwrite``); then only that one file or store is replaced, after the
    copy is complete, so an interrupted fetch never leaves a partial result at ``to``.
    RuntimeError (with the job's state and log path) when the job has not produced its result.

    Example:
        >>> # fetch("12345", "results/", overwrite=False)  -> Path("results/lindblad-12345.nc")
    """
    job = load_job(job, scheduler)
    src = Path(job.out)
    if not src.exists():
        state = status(job) if job.id else "NOT SUBMITTED"
        raise RuntimeError(
            f"job {job.id or job.local_id} ({state}) has no result at {src} yet; log: {job.log}"
        )
    default_name = f"{job.task}-{job.id or job.local_id}{src.suffix}"
    dest = Path(to).expanduser() if to is not None else Path.cwd() / default_name
    if dest.is_dir() and not (src.is_dir() and dest.suffix == ".zarr"):
        dest = dest / default_name
    dest = dest.absolute()
    if dest == src.absolute():
        return dest
    if (dest.exists() or dest.is_symlink()) and not overwrite:
        raise ValueError(f"--to {str(dest)!r} exists; pass --overwrite (overwrite=True) to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with staged_path(dest) as staged:
        if src.is_dir():
            shutil.copytree(src, staged)
        else:
            shutil.copy2(src, staged)
    return dest
