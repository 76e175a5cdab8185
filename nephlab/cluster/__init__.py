"""Execution of tasks: sweeps, Dask clusters, dask-jobqueue profiles and batch jobs.

- :func:`parse_grid`: safe parsing of ``name=linspace(a,b,n)``-style grid expressions;
- :func:`sweep`: a resumable sweep of a task over a grid, on Dask, into a zarr store;
- :func:`open_sweep`: the store as an ``xarray.Dataset``;
- :func:`connect`: a ``distributed.Client`` for ``None``/``"local"``, an address or a profile.

Example:
    >>> from nephlab.cluster import parse_grid
    >>> parse_grid(["F=linspace(0.1, 0.2, 2)", "model=[qubit, oscillator]"])
    {'F': [0.1, 0.2], 'model': ['qubit', 'oscillator']}
"""

from .grid import parse_grid, validate_grid
from .store import SweepStore, open_sweep
from .sweep import connect, local_cluster, sweep
from .batch import Job, cancel, fetch, status, submit  # batch jobs (engineer J)
from .profiles import Profile, job_script, load_profiles, make_cluster  # dask-jobqueue profiles (engineer J)

SweepResult = SweepStore
"""The on-disk result of a sweep (an alias of :class:`SweepStore`)."""

__all__ = [
    "parse_grid",
    "validate_grid",
    "sweep",
    "connect",
    "local_cluster",
    "open_sweep",
    "SweepStore",
    "SweepResult",
    "Job",
    "submit",
    "status",
    "cancel",
    "fetch",
    "Profile",
    "load_profiles",
    "make_cluster",
    "job_script",
]
