"""Named dask-jobqueue cluster profiles (SLURM, PBS, LSF, SGE) read from YAML.

A profile says how to start Dask workers as batch jobs: scheduler type, queue/partition,
account, walltime, cores, memory, processes and GPUs per job, extra job directives, and
whether the cluster is adaptive. Profiles live in a YAML file that follows the Dask config
convention (a top-level ``nephlab:`` key; hyphens and underscores in keys are equivalent)::

    # ~/.config/dask/nephlab.yaml   (or the file named by $NEPHLAB_PROFILES)
    nephlab:
      profiles:
        mycluster:
          scheduler: slurm          # slurm | pbs | lsf | sge
          queue: normal             # partition (SLURM) / queue
          account: myproject
          walltime: "02:00:00"      # [D-]HH:MM:SS
          cores: 8                  # per job
          memory: 32GB              # per job
          processes: 2              # Dask worker processes per job
          gpus: 0                   # per job; workers get the Dask resource GPU=gpus/processes
          job-extra-directives: ["--constraint=cpu"]
          adaptive: {minimum_jobs: 0, maximum_jobs: 20}   # adds --lifetime/--lifetime-stagger

Built-in profiles (:data:`BUILTIN_PROFILES`) are always available and can be overridden by a
user profile of the same name: ``local-slurm`` (the one-node SLURM of ``ci/start-slurm.sh``),
``slurm-gpu``, ``pbs``, ``lsf`` and ``sge``.

Example:
    >>> p = load_profiles()["local-slurm"]
    >>> p.scheduler, p.cores, p.host
    ('slurm', 1, '127.0.0.1')
    >>> "#SBATCH --gres=gpu:1" in job_script("slurm-gpu")
    True
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = [
    "BUILTIN_PROFILES",
    "SCHEDULERS",
    "Profile",
    "default_profiles_path",
    "get_profile",
    "job_script",
    "load_profiles",
    "make_cluster",
    "parse_walltime",
]

#: scheduler type -> dask_jobqueue cluster class name
SCHEDULERS: dict[str, str] = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "lsf": "LSFCluster",
    "sge": "SGECluster",
}


def parse_walltime(value: str, *, what: str = "walltime") -> int:
    """Seconds in a walltime ``"[D-]HH:MM:SS"`` (``what`` names the argument in errors).

    >>> parse_walltime("01:30:00"), parse_walltime("1-00:00:10")
    (5400, 86410)
    """
    import re

    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string '[D-]HH:MM:SS', got {value!r}")
    m = re.fullmatch(r"(?:(\d+)-)?(\d{1,3}):(\d{2}):(\d{2})", value.strip())
    if m is None or int(m.group(3)) >= 60 or int(m.group(4)) >= 60:
        raise ValueError(f"{what} must look like 'HH:MM:SS' or 'D-HH:MM:SS', got {value!r}")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    total = ((d * 24 + h) * 60 + mi) * 60 + s
    if total <= 0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return total


def default_log_directory() -> Path:
    """Where worker jobs write their stdout/stderr when a profile sets no ``log_directory``:
    ``$NEPHLAB_LOG_DIR``, else ``~/.cache/nephlab/dask-logs``.

    Example:
        >>> default_log_directory().name in ("dask-logs",) or "NEPHLAB_LOG_DIR" in os.environ
        True
    """
    env = os.environ.get("NEPHLAB_LOG_DIR")
    return Path(env) if env else Path.home() / ".cache" / "nephlab" / "dask-logs"


@dataclass(frozen=True)
class Profile:
    """One cluster profile: how Dask workers are started as batch jobs.

    Sizes are per job: ``cores`` CPU cores, ``memory`` (a Dask byte string such as ``"4GB"``),
    ``processes`` Dask worker processes (each with ``cores/processes`` threads), ``gpus`` GPUs.
    ``walltime`` is ``"[D-]HH:MM:SS"``. With ``gpus > 0`` each worker gets the Dask resource
    ``GPU = gpus // processes`` and the job script requests the GPUs with the scheduler's own
    directive (SLURM ``--gres=gpu:N``, PBS ``ngpus=N`` in the select statement, LSF
    ``-gpu "num=N"``, SGE ``-l gpu=N`` or ``gpu_directive``). ``minimum_jobs``/``maximum_jobs``
    make the cluster adaptive, and workers then retire with ``--lifetime``/``--lifetime-stagger``
    before the walltime kills them (default 85 % and 5 % of the walltime); otherwise ``jobs``
    jobs are started. ``host``/``interface``/``dashboard_address`` control where the scheduler
    listens (``host: 127.0.0.1`` keeps a one-node cluster off the network).

    Build one with :func:`load_profiles` (from YAML) or :meth:`from_mapping`:

    >>> p = Profile.from_mapping("tiny", {"scheduler": "pbs", "cores": 2, "memory": "1GB"})
    >>> p.scheduler, p.cores, p.processes, p.walltime
    ('pbs', 2, 1, '01:00:00')
    """

    name: str
    scheduler: str
    cores: int = 1
    memory: str = "2GB"
    processes: int = 1
    walltime: str = "01:00:00"
    queue: str | None = None
    account: str | None = None
    gpus: int = 0
    gpu_directive: str | None = None
    resource_spec: str | None = None
    job_name: str = "nephlab-worker"
    job_extra_directives: tuple[str, ...] = ()
    job_script_prologue: tuple[str, ...] = ()
    worker_extra_args: tuple[str, ...] = ()
    jobs: int = 1
    minimum_jobs: int | None = None
    maximum_jobs: int | None = None
    lifetime: str | None = None
    lifetime_stagger: str | None = None
    host: str | None = None
    interface: str | None = None
    dashboard_address: str | None = None
    python: str | None = None
    local_directory: str | None = None
    log_directory: str | None = None
    death_timeout: float | None = None

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any]) -> Profile:
        """Validate a YAML mapping into a profile; errors name the profile and the key."""
        if not isinstance(data, Mapping):
            raise TypeError(f"profile {name!r} must be a mapping of keys, got {data!r}")
        known = {f.name for f in fields(cls)} - {"name"}
        values: dict[str, Any] = {}
        for raw_key, val in data.items():
            key = str(raw_key).replace("-", "_")
            if key == "partition":
                key = "queue"
            if key == "adaptive":
                values.update(_adaptive(name, val))
                continue
            if key not in known:
                allowed = ", ".join(sorted(known | {"adaptive", "partition"}))
                raise ValueError(f"profile {name!r}: unknown key {raw_key!r}; allowed keys: {allowed}")
            values[key] = val
        if "scheduler" not in values:
            raise ValueError(
                f"profile {name!r}: missing key 'scheduler' (one of {', '.join(SCHEDULERS)})"
            )
        return cls(name=name, **{k: _check(name, k, v) for k, v in values.items()})._validated()

    def with_overrides(self, **overrides: Any) -> Profile:
        """A copy with some keys replaced (validated like YAML keys).

        >>> Profile.from_mapping("a", {"scheduler": "slurm"}).with_overrides(cores=4).cores
        4
        """
        merged = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}
        merged = {k: v for k, v in merged.items() if v is not None}
        for k, v in overrides.items():
            merged[k] = v
        for k in ("job_extra_directives", "job_script_prologue", "worker_extra_args"):
            merged[k] = list(merged.get(k, ()))
        return Profile.from_mapping(self.name, merged)

    def _validated(self) -> Profile:
        n = self.name
        if self.processes > self.cores:
            raise ValueError(
                f"profile {n!r}: key 'processes' ({self.processes}) must not exceed 'cores' "
                f"({self.cores})"
            )
        if self.gpus and self.gpus % self.processes:
            raise ValueError(
                f"profile {n!r}: key 'gpus' ({self.gpus}) must be a multiple of 'processes' "
                f"({self.processes}) so that every worker gets a whole number of GPUs"
            )
        if (self.minimum_jobs is None) != (self.maximum_jobs is None):
            raise ValueError(f"profile {n!r}: key 'adaptive' needs both minimum_jobs and maximum_jobs")
        if self.adaptive and self.minimum_jobs > self.maximum_jobs:  # type: ignore[operator]
            raise ValueError(
                f"profile {n!r}: key 'adaptive': minimum_jobs ({self.minimum_jobs}) > "
                f"maximum_jobs ({self.maximum_jobs})"
            )
        wall = parse_walltime(self.walltime, what=f"profile {n!r}: key 'walltime'")
        for key in ("lifetime", "lifetime_stagger"):
            val = getattr(self, key)
            if val is not None and _seconds(n, key, val) >= wall:
                raise ValueError(
                    f"profile {n!r}: key {key!r} ({val}) must be shorter than the walltime "
                    f"({self.walltime})"
                )
        return self

    # -- derived -----------------------------------------------------------------------------

    @property
    def adaptive(self) -> bool:
        """True when ``minimum_jobs``/``maximum_jobs`` are set (the cluster scales itself)."""
        return self.minimum_jobs is not None

    @property
    def cluster_class(self) -> str:
        """Name of the ``dask_jobqueue`` class, e.g. ``"SLURMCluster"``."""
        return SCHEDULERS[self.scheduler]

    def worker_args(self) -> list[str]:
        """Extra ``dask worker`` arguments: GPU resources and lifetime options.

        >>> Profile.from_mapping("g", {"scheduler": "slurm", "gpus": 2, "cores": 2,
        ...     "processes": 2}).worker_args()
        ['--resources', 'GPU=1']
        """
        args = list(self.worker_extra_args)
        if self.gpus:
            args += ["--resources", f"GPU={self.gpus // self.processes}"]
        lifetime, stagger = self.lifetime, self.lifetime_stagger
        if self.adaptive and lifetime is None:
            wall = parse_walltime(self.walltime)
            lifetime = f"{math.floor(0.85 * wall)}s"
            stagger = stagger or f"{max(1, math.floor(0.05 * wall))}s"
        if lifetime is not None:
            args += ["--lifetime", lifetime]
        if stagger is not None:
            args += ["--lifetime-stagger", stagger]
        return args

    def directives(self) -> list[str]:
        """``job_extra_directives`` plus the scheduler's GPU request, if any."""
        extra = list(self.job_extra_directives)
        if self.gpus:
            g = self.gpus
            if self.scheduler == "slurm":
                extra.append(f"--gres=gpu:{g}")
            elif self.scheduler == "lsf":
                extra.append(f'-gpu "num={g}"')
            elif self.scheduler == "sge":
                extra.append((self.gpu_directive or "-l gpu={gpus}").replace("{gpus}", str(g)))
            elif self.scheduler == "pbs" and self.gpu_directive:
                extra.append(self.gpu_directive.replace("{gpus}", str(g)))
        return extra

    def job_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the ``dask_jobqueue`` job/cluster class (no scheduler options)."""
        kw: dict[str, Any] = {
            "job_name": self.job_name,
            "cores": self.cores,
            "memory": self.memory,
            "processes": self.processes,
            "walltime": self.walltime,
            "job_extra_directives": self.directives(),
            "job_script_prologue": list(self.job_script_prologue),
            "worker_extra_args": self.worker_args(),
            "python": self.python or sys.executable,
        }
        if self.scheduler == "lsf":
            # LSF wants HH:MM; round the walltime up to whole minutes
            minutes = math.ceil(parse_walltime(self.walltime) / 60)
            kw["walltime"] = f"{minutes // 60:02d}:{minutes % 60:02d}"
        if self.queue is not None:
            kw["queue"] = self.queue
        if self.account is not None:
            kw["account"] = self.account
        if self.scheduler == "sge" and self.account is not None:
            kw["project"] = kw.pop("account")
        if self.resource_spec is not None:
            kw["resource_spec"] = self.resource_spec
        elif self.scheduler == "pbs" and self.gpus and not self.gpu_directive:
            from dask.utils import parse_bytes

            mb = math.ceil(parse_bytes(self.memory) / 2**20)
            kw["resource_spec"] = f"select=1:ncpus={self.cores}:ngpus={self.gpus}:mem={mb}MB"
        for key in ("interface", "local_directory", "log_directory", "death_timeout"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        # worker-job logs go to a cache folder, not to the directory the cluster was started from
        kw.setdefault("log_directory", str(default_log_directory()))
        return kw

    def scheduler_options(self) -> dict[str, Any]:
        """Options of the Dask scheduler the cluster starts (host, interface, dashboard)."""
        opts: dict[str, Any] = {}
        if self.host is not None:
            opts["host"] = self.host
            opts["dashboard_address"] = self.dashboard_address or f"{self.host}:0"
        elif self.dashboard_address is not None:
            opts["dashboard_address"] = self.dashboard_address
        if self.interface is not None and self.host is None:
            opts["interface"] = self.interface
        return opts


# --- validation helpers ------------------------------------------------------------------------

_INT_KEYS = {"cores": 1, "processes": 1, "gpus": 0, "jobs": 0, "minimum_jobs": 0, "maximum_jobs": 1}
_LIST_KEYS = {"job_extra_directives", "job_script_prologue", "worker_extra_args"}


def _clean_str(name: str, key: str, val: Any) -> str:
    if not isinstance(val, str) or not val.strip():
        raise TypeError(f"profile {name!r}: key {key!r} must be a non-empty string, got {val!r}")
    bad = [c for c in val if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise ValueError(
            f"profile {name!r}: key {key!r} contains a control character ({bad[0]!r}) in {val!r}; "
            "newlines could inject job directives and are not allowed"
        )
    return val


def _seconds(name: str, key: str, val: str) -> float:
    from dask.utils import parse_timedelta

    try:
        return float(parse_timedelta(val))
    except (ValueError, KeyError, TypeError):
        raise ValueError(
            f"profile {name!r}: key {key!r} must be a duration such as '55m', '3600s' or '1h', "
            f"got {val!r}"
        ) from None


def _check(name: str, key: str, val: Any) -> Any:
    if key == "scheduler":
        if val not in SCHEDULERS:
            raise ValueError(
                f"profile {name!r}: key 'scheduler' is {val!r}; allowed: {', '.join(SCHEDULERS)}"
            )
        return val
    if key in _INT_KEYS:
        if isinstance(val, bool) or not isinstance(val, int) or val < _INT_KEYS[key]:
            raise ValueError(
                f"profile {name!r}: key {key!r} must be an integer >= {_INT_KEYS[key]}, got {val!r}"
            )
        return val
    if key == "death_timeout":
        if isinstance(val, bool) or not isinstance(val, int | float) or not val > 0:
            raise ValueError(f"profile {name!r}: key 'death_timeout' must be a positive number of seconds, got {val!r}")
        return float(val)
    if key in _LIST_KEYS:
        if isinstance(val, str) or not isinstance(val, list | tuple):
            raise TypeError(f"profile {name!r}: key {key!r} must be a list of strings, got {val!r}")
        return tuple(_clean_str(name, key, v) for v in val)
    val = _clean_str(name, key, val)
    if key == "memory":
        from dask.utils import parse_bytes

        try:
            if parse_bytes(val) <= 0:
                raise ValueError
        except (ValueError, TypeError):
            raise ValueError(
                f"profile {name!r}: key 'memory' must be a size such as '4GB' or '512MiB', got {val!r}"
            ) from None
    elif key == "walltime":
        parse_walltime(val, what=f"profile {name!r}: key 'walltime'")
    elif key in ("lifetime", "lifetime_stagger"):
        _seconds(name, key, val)
    return val


def _adaptive(name: str, val: Any) -> dict[str, Any]:
    if val is None or val is False:
        return {}
    if not isinstance(val, Mapping):
        raise TypeError(
            f"profile {name!r}: key 'adaptive' must be a mapping "
            f"{{minimum_jobs: int, maximum_jobs: int}}, got {val!r}"
        )
    out = {}
    for k, v in val.items():
        k2 = str(k).replace("-", "_")
        k2 = {"minimum": "minimum_jobs", "maximum": "maximum_jobs"}.get(k2, k2)
        if k2 not in ("minimum_jobs", "maximum_jobs"):
            raise ValueError(
                f"profile {name!r}: unknown key 'adaptive.{k}'; allowed: minimum_jobs, maximum_jobs"
            )
        out[k2] = v
    return out


# --- built-in profiles and loading -------------------------------------------------------------

#: Example profiles that are always available (a user profile of the same name replaces one).
BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    # the one-node SLURM of ci/start-slurm.sh: everything on 127.0.0.1, small jobs
    "local-slurm": {
        "scheduler": "slurm",
        "cores": 1,
        "memory": "2GB",
        "processes": 1,
        "walltime": "00:10:00",
        "jobs": 1,
        "host": "127.0.0.1",
        "worker_extra_args": ["--host", "127.0.0.1"],
        "death_timeout": 60,
    },
    "slurm-gpu": {
        "scheduler": "slurm",
        "queue": "gpu",
        "cores": 8,
        "memory": "32GB",
        "processes": 1,
        "gpus": 1,
        "walltime": "02:00:00",
        "adaptive": {"minimum_jobs": 0, "maximum_jobs": 4},
    },
    "pbs": {"scheduler": "pbs", "queue": "workq", "cores": 4, "memory": "8GB", "walltime": "01:00:00"},
    "lsf": {"scheduler": "lsf", "queue": "normal", "cores": 4, "memory": "8GB", "walltime": "01:00:00"},
    "sge": {"scheduler": "sge", "queue": "all.q", "cores": 4, "memory": "8GB", "walltime": "01:00:00"},
}


def default_profiles_path() -> Path:
    """``$NEPHLAB_PROFILES`` if set, else ``$DASK_CONFIG/nephlab.yaml`` or ``~/.config/dask/nephlab.yaml``."""
    env = os.environ.get("NEPHLAB_PROFILES")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("DASK_CONFIG") or os.path.join("~", ".config", "dask")
    return Path(base).expanduser() / "nephlab.yaml"


def load_profiles(path: str | os.PathLike[str] | None = None) -> dict[str, Profile]:
    """All profiles: the built-in ones, replaced/extended by those in the YAML file.

    ``path`` defaults to :func:`default_profiles_path`; a missing default file is fine, a
    missing explicit ``path`` (or ``$NEPHLAB_PROFILES``) is an error. The file holds
    ``nephlab: {profiles: {NAME: {...}}}`` (a bare ``profiles:`` top level is accepted too).

    >>> sorted(load_profiles())  # doctest: +SKIP
    ['local-slurm', 'lsf', 'pbs', 'sge', 'slurm-gpu']
    """
    import yaml

    explicit = path is not None or bool(os.environ.get("NEPHLAB_PROFILES"))
    p = Path(path).expanduser() if path is not None else default_profiles_path()
    raw: dict[str, Any] = dict(BUILTIN_PROFILES)
    if p.exists():
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"profiles file {str(p)!r} is not valid YAML: {exc}") from None
        if doc is not None:
            if not isinstance(doc, Mapping):
                raise ValueError(f"profiles file {str(p)!r} must hold a mapping, got {type(doc).__name__}")
            section = doc.get("nephlab", doc)
            if not isinstance(section, Mapping) or not isinstance(section.get("profiles", {}), Mapping):
                raise ValueError(
                    f"profiles file {str(p)!r} must hold 'nephlab: {{profiles: {{NAME: {{...}}}}}}'"
                )
            raw.update({str(k): v for k, v in (section.get("profiles") or {}).items()})
    elif explicit:
        raise ValueError(f"profiles file {str(p)!r} does not exist")
    return {name: Profile.from_mapping(name, data) for name, data in raw.items()}


def get_profile(name: str, path: str | os.PathLike[str] | None = None, **overrides: Any) -> Profile:
    """The profile ``name`` (with ``overrides``); ValueError listing the known names if absent.

    >>> get_profile("pbs", cores=2).cores
    2
    """
    profiles = load_profiles(path)
    if not isinstance(name, str) or name not in profiles:
        raise ValueError(
            f"unknown cluster profile {name!r}; known profiles: {', '.join(sorted(profiles))} "
            f"(profiles file: {default_profiles_path() if path is None else path})"
        )
    prof = profiles[name]
    return prof.with_overrides(**overrides) if overrides else prof


def _job_class(profile: Profile):
    import dask_jobqueue

    return getattr(dask_jobqueue, profile.cluster_class)


def job_script(name: str | Profile, path: str | os.PathLike[str] | None = None, **overrides: Any) -> str:
    """The batch script one worker job of profile ``name`` would submit (nothing is started).

    The scheduler address in the script is the placeholder
    ``tcp://<insert-scheduler-address-here>:8786``, as in ``dask_jobqueue``.

    >>> print(job_script("local-slurm").splitlines()[0])
    #!/usr/bin/env bash
    """
    prof = name.with_overrides(**overrides) if isinstance(name, Profile) else get_profile(name, path, **overrides)
    job = _job_class(prof).job_cls(
        "tcp://<insert-scheduler-address-here>:8786", name="dummy-name", **prof.job_kwargs()
    )
    return job.job_script()


def make_cluster(name: str | Profile, path: str | os.PathLike[str] | None = None, **overrides: Any):
    """Start the dask-jobqueue cluster of profile ``name`` and its jobs; returns the cluster.

    The cluster is adaptive (``cluster.adapt(minimum_jobs=, maximum_jobs=)``) when the profile
    says so, else ``jobs`` jobs are requested. The caller closes it (``cluster.close()``), or
    uses :func:`nephlab.cluster.connect`.

    >>> cluster = make_cluster("local-slurm")  # doctest: +SKIP
    """
    prof = name.with_overrides(**overrides) if isinstance(name, Profile) else get_profile(name, path, **overrides)
    cls = _job_class(prof)
    cluster = cls(scheduler_options=prof.scheduler_options(), **prof.job_kwargs())
    if prof.adaptive:
        cluster.adapt(minimum_jobs=prof.minimum_jobs, maximum_jobs=prof.maximum_jobs)
    elif prof.jobs:
        cluster.scale(jobs=prof.jobs)
    return cluster

