"""The task registry: :class:`Task`, :func:`register`, :func:`get_task`, :func:`run_task`,
:func:`run_batch` and :func:`estimate`.

One path from a parameter set to a result: validate against the spec, call the task's
function (or its vectorised ``batch_fn`` for many points), convert to an ``xarray.Dataset`` and
attach provenance attributes (task, params as JSON, nephlab version, device, wall time).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import device_kind as _device  # the name recorded in results (also used by tasks.lindblad)
from ._spec import TaskSpec

__all__ = ["Task", "register", "get_task", "task_names", "run_task", "run_batch", "estimate",
           "recommend_executor", "EXECUTORS"]

EXECUTORS: tuple[str, ...] = ("in-process", "local", "cluster")
"""Executors that :func:`estimate` recommends: this Python process, a Dask ``LocalCluster``, or
a cluster (dask-jobqueue / batch job)."""

_REGISTRY: dict[str, Task] = {}


def _no_resources(params: dict) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class Task:
    """A named capability: a spec, a function and a result converter.

    Attributes:
        spec: the :class:`~nephlab.tasks.TaskSpec` (name, doc, parameters).
        fn: ``fn(params) -> {name: np.ndarray}`` on validated params; real dtypes only.
        to_dataset: ``to_dataset(outputs, params) -> xarray.Dataset`` (real dtypes; complex
            values stored as ``*_real``/``*_imag``), with coordinates and ``units`` attrs.
        batch_fn: ``batch_fn([params, ...]) -> [outputs, ...]``: many points in ONE vectorised
            solve; all points passed share the same :attr:`batch_key`.
        batch_key: ``batch_key(params) -> hashable``; points with equal keys may share a
            ``batch_fn`` call (None: every point may share).
        resources: ``resources(params) -> {"GPU": 1, ...}``: Dask worker resources a point needs.
        estimate: ``estimate(params) -> {"memory_bytes", "seconds", "executor", "device"}``.

    Example:
        >>> import numpy as np, xarray as xr
        >>> from nephlab.tasks import Param, TaskSpec
        >>> t = Task(TaskSpec("square", "x squared", (Param("x", "float", 2.0, "input"),)),
        ...          fn=lambda p: {"y": np.array(p["x"] ** 2)},
        ...          to_dataset=lambda out, p: xr.Dataset({"y": ((), out["y"])}))
        >>> float(run_task(t, x=3).y)
        9.0
    """

    spec: TaskSpec
    fn: Callable[[dict], dict[str, np.ndarray]]
    to_dataset: Callable[[dict, dict], Any]
    batch_fn: Callable[[list[dict]], list[dict]] | None = None
    batch_key: Callable[[dict], Hashable] | None = None
    resources: Callable[[dict], dict[str, float]] = field(default=_no_resources)
    estimate: Callable[[dict], dict] | None = None

    @property
    def name(self) -> str:
        """The task name (``spec.name``)."""
        return self.spec.name


def register(task: Task) -> Task:
    """Add ``task`` to the registry under ``task.spec.name``; ValueError on a duplicate name.

    Returns the task, so a module registers its capability in one line:
    ``LINDBLAD = register(Task(SPEC, fn, to_dataset, ...))``.

    Example:
        >>> "lindblad" in task_names()
        True
    """
    if not isinstance(task, Task):
        raise TypeError(f"register expects a nephlab.tasks.Task, got {type(task).__name__}")
    name = task.spec.name
    if name in _REGISTRY:
        raise ValueError(f"a task named {name!r} is already registered; task names must be unique")
    _REGISTRY[name] = task
    return task


def task_names() -> list[str]:
    """Names of all registered tasks, sorted.

    Example:
        >>> {"lindblad", "steadystate"} <= set(task_names())
        True
    """
    return sorted(_REGISTRY)


def get_task(name: str | Task) -> Task:
    """The registered task called ``name`` (a :class:`Task` is returned as is).

    Raises ValueError ``unknown task 'x'; available: ...``.

    Example:
        >>> get_task("lindblad").spec.param("gamma").units
        '1/time'
    """
    if isinstance(name, Task):
        return name
    if not isinstance(name, str):
        raise TypeError(f"task must be a task name (str) or a Task, got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(task_names())}") from None


def _merge(task: Task, params: Mapping | None, overrides: Mapping) -> dict:
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"task {task.name!r}: params must be a mapping of name -> value, got {type(params).__name__}")
    merged = dict(params or {})
    merged.update(overrides)
    return task.spec.validate(merged)


def _version() -> str:
    from .. import __version__

    return str(__version__)


def _finish(task: Task, outputs: dict, params: dict, wall: float) -> Any:
    if not isinstance(outputs, dict):
        raise TypeError(f"task {task.name!r}: fn must return a dict of named arrays, got {type(outputs).__name__}")
    for k, v in outputs.items():
        if np.iscomplexobj(v):
            raise TypeError(f"task {task.name!r}: output {k!r} is complex; tasks return real arrays (store *_real/*_imag)")
    ds = task.to_dataset(outputs, params)
    ds.attrs.update(
        task=task.name,
        params=json.dumps(params, sort_keys=True),
        nephlab_version=_version(),
        device=_device(params.get("device", "auto"), f"task {task.name!r}: parameter 'device'"),
        wall_time_s=float(wall),
    )
    return ds


def run_task(task: str | Task, params: Mapping | None = None, /, **overrides: Any):
    """Run one point of ``task``: validate, call ``fn``, convert to an ``xarray.Dataset``.

    Args:
        task: registered task name or a :class:`Task`.
        params: parameter values (missing ones take their defaults).
        **overrides: more values; they win over ``params``.

    Returns:
        ``xarray.Dataset`` with attrs ``task``, ``params`` (JSON string of the validated
        params), ``nephlab_version``, ``device`` (``"cpu"``/``"gpu"``) and ``wall_time_s`` (s).

    Example:
        >>> ds = run_task("lindblad", n=4, t_max=1.0, n_times=3)
        >>> ds.n_mean.dims, ds.attrs["task"]
        (('time',), 'lindblad')
    """
    t = get_task(task)
    p = _merge(t, params, overrides)
    t0 = time.perf_counter()
    out = t.fn(p)
    wall = time.perf_counter() - t0
    return _finish(t, out, p, wall)


def run_batch(task: str | Task, points: Sequence[Mapping]) -> list:
    """Run many points of ``task``; one Dataset per point, in the order given.

    All points are validated first (an error names the point's index). Points with equal
    ``batch_key`` go through one ``batch_fn`` call (one vectorised solve); tasks without
    ``batch_fn`` run ``fn`` point by point. Each Dataset carries the same attrs as
    :func:`run_task`; ``wall_time_s`` is the group's wall time divided by its size.

    Example:
        >>> dss = run_batch("lindblad", [{"F": 0.1, "n": 4, "n_times": 3}, {"F": 0.2, "n": 4, "n_times": 3}])
        >>> [round(float(d.n_mean[0]), 12) for d in dss]
        [0.0, 0.0]
    """
    t = get_task(task)
    if isinstance(points, Mapping) or not isinstance(points, Sequence):
        raise TypeError(f"run_batch: points must be a sequence of parameter mappings, got {type(points).__name__}")
    validated = []
    for i, pt in enumerate(points):
        try:
            validated.append(_merge(t, pt, {}))
        except (TypeError, ValueError) as err:
            raise type(err)(f"points[{i}]: {err}") from None
    results: list = [None] * len(validated)
    if t.batch_fn is None:
        for i, p in enumerate(validated):
            t0 = time.perf_counter()
            out = t.fn(p)
            results[i] = _finish(t, out, p, time.perf_counter() - t0)
        return results
    groups: dict[Hashable, list[int]] = {}
    for i, p in enumerate(validated):
        key = t.batch_key(p) if t.batch_key is not None else None
        groups.setdefault(key, []).append(i)
    for idx in groups.values():
        pts = [validated[i] for i in idx]
        t0 = time.perf_counter()
        outs = t.batch_fn(pts)
        wall = (time.perf_counter() - t0) / len(idx)
        if len(outs) != len(idx):
            raise RuntimeError(f"task {t.name!r}: batch_fn returned {len(outs)} results for {len(idx)} points")
        for i, p, out in zip(idx, pts, outs):
            results[i] = _finish(t, out, p, wall)
    return results


def recommend_executor(memory_bytes: float, seconds: float, n_points: int = 1) -> str:
    """Where to run ``n_points`` points of a task that each need ``memory_bytes`` and ``seconds``.

    ``"in-process"`` when the whole job takes under a minute and under 1 GB; ``"cluster"``
    when one point needs more than 16 GB or the job would take more than an hour on the
    cores of this machine; ``"local"`` (a Dask ``LocalCluster``) otherwise.

    Args:
        memory_bytes: memory of one point in bytes, a finite real number >= 0.
        seconds: wall time of one point in seconds, a finite real number >= 0.
        n_points: number of points, an integer >= 1.

    Raises:
        TypeError: ``memory_bytes`` or ``seconds`` is not a real number (a bool, a string, ...).
        ValueError: a negative, NaN or infinite ``memory_bytes``/``seconds``, or ``n_points``
            not an integer >= 1.

    Example:
        >>> recommend_executor(1e6, 0.1), recommend_executor(1e6, 10.0, n_points=100)
        ('in-process', 'local')
        >>> recommend_executor(-1.0, 0.1)
        Traceback (most recent call last):
        ...
        ValueError: memory_bytes must be >= 0, got -1.0
    """
    import os

    from .._validate import integer, real_number

    memory_bytes = real_number(memory_bytes, "memory_bytes", nonneg=True)
    seconds = real_number(seconds, "seconds", nonneg=True)
    n_points = integer(n_points, "n_points", minimum=1)
    total = seconds * n_points
    if memory_bytes > 16e9 or total / max(1, os.cpu_count() or 1) > 3600:
        return "cluster"
    if total < 60 and memory_bytes < 1e9:
        return "in-process"
    return "local"


def estimate(task: str | Task, params: Mapping | None = None, /, **overrides: Any) -> dict:
    """Resource estimate of one point: ``memory_bytes`` (int), ``seconds`` (float, rough, on
    this machine's kind of device, compilation excluded), ``executor`` (one of
    :data:`EXECUTORS`) and ``device`` (``"cpu"``/``"gpu"``), plus the validated ``params``.

    Raises ValueError for a task that declares no estimate.

    Example:
        >>> e = estimate("lindblad", n=10)
        >>> e["executor"], e["memory_bytes"] > 0
        ('in-process', True)
    """
    t = get_task(task)
    p = _merge(t, params, overrides)
    if t.estimate is None:
        raise ValueError(f"task {t.name!r} does not provide an estimate")
    est = dict(t.estimate(p))
    missing = {"memory_bytes", "seconds", "executor", "device"} - set(est)
    if missing:
        raise RuntimeError(f"task {t.name!r}: estimate() lacks {sorted(missing)}")
    est["params"] = p
    return est
