"""Resumable parameter sweeps of a task on Dask: :func:`sweep` and :func:`connect`.

A sweep is the cartesian product of a grid of named parameters. Pending points are grouped
into chunks of points that share the task's ``batch_key`` (so a chunk is ONE vectorised
``batch_fn`` call through :func:`nephlab.tasks.run_batch`), the chunks run on Dask workers,
and this process writes each finished chunk into a zarr store (:mod:`nephlab.cluster.store`)
as soon as it arrives, marking its points done only after their data are on disk. A killed
sweep resumes with ``resume=True``: only pending and failed points are computed again.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import traceback
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .grid import MAX_GRID_POINTS, validate_grid
from .store import DONE, StoreRepairWarning, SweepStore, existing_store_message, open_sweep

__all__ = ["sweep", "connect", "local_cluster", "default_chunk", "MAX_DEFAULT_CHUNK"]

MAX_DEFAULT_CHUNK = 64
"""Upper bound of the automatic chunk size (points per Dask task)."""


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def local_cluster(n_workers: int | None = None, **kwargs: Any):
    """A Dask ``LocalCluster`` sized to this machine, bound to 127.0.0.1 (dashboard included).

    One single-threaded worker process per CPU core (``n_workers`` overrides), TCP on
    127.0.0.1 (also with ``processes=False``, so another process can connect by address);
    extra keyword arguments go to ``distributed.LocalCluster``.

    Example:
        >>> with local_cluster(1) as lc:  # doctest: +SKIP
        ...     print(lc.scheduler_address)
        tcp://127.0.0.1:...
    """
    from distributed import LocalCluster

    n = _cpu_count() if n_workers is None else int(n_workers)
    if n < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers!r}")
    opts: dict[str, Any] = dict(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        protocol="tcp://",  # also with processes=False, so other processes can connect
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=40,  # logging.ERROR
    )
    opts.update(kwargs)
    return LocalCluster(**opts)


@contextlib.contextmanager
def connect(cluster: Any = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster``; closes whatever it started on exit.

    Args:
        cluster: ``None`` or ``"local"``: an embedded :func:`local_cluster` (127.0.0.1, sized
            to the machine); a scheduler address (``"tcp://host:8786"``, any ``scheme://``):
            connect to it; another string: a dask-jobqueue profile name: the cluster that
            ``nephlab cluster start PROFILE`` keeps running if there is one, else one started
            with :func:`nephlab.cluster.profiles.make_cluster` (and closed on exit); a ``distributed.Client``: used as
            is and left open; a ``distributed`` cluster object: a client for it.

    Example:
        >>> with connect("local") as client:  # doctest: +SKIP
        ...     client.submit(sum, [1, 2]).result()
        3
    """
    from distributed import Client

    if isinstance(cluster, Client):
        yield cluster
        return
    if cluster is None or cluster == "local":
        with local_cluster() as lc, Client(lc) as client:
            yield client
        return
    if isinstance(cluster, str):
        if "://" in cluster:
            with Client(cluster) as client:
                yield client
            return
        from . import _clusters, profiles  # lazily: dask-jobqueue is only needed for profiles

        running = _clusters.running_address(cluster)  # kept by `nephlab cluster start PROFILE`
        if running is not None:
            with Client(running) as client:
                yield client
            return
        jq = profiles.make_cluster(cluster)
        try:
            with Client(jq) as client:
                yield client
        finally:
            jq.close()
        return
    _check_cluster(cluster)
    with Client(cluster) as client:  # a distributed cluster object (has scheduler_address)
        yield client


def default_chunk(n_points: int, n_workers: int) -> int:
    """Points per chunk: about 4 chunks per worker, at most :data:`MAX_DEFAULT_CHUNK`.

    Example:
        >>> default_chunk(1000, 2), default_chunk(3, 2), default_chunk(10**6, 2)
        (64, 1, 64)
    """
    return max(1, min(MAX_DEFAULT_CHUNK, math.ceil(n_points / (4 * max(1, n_workers)))))


def _error_text(err: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(err), err)).strip()


def _run_chunk(task_ref: Any, points: list[dict], retries: int) -> list[tuple]:
    """Worker side: run ``points`` as one batch; if that raises, isolate the failing points.

    Returns one ``(ok, dataset_or_error_text, attempts)`` per point. In isolation each point
    is tried up to ``1 + retries`` times; the failed batch call itself is not counted.
    """
    from nephlab.tasks import get_task, run_batch, run_task

    task = get_task(task_ref)
    if len(points) > 1:
        try:
            return [(True, ds, 1) for ds in run_batch(task, points)]
        except Exception:  # noqa: BLE001 - isolate the point(s) that fail below
            pass
    out: list[tuple] = []
    for p in points:
        err_text = ""
        for attempt in range(1, retries + 2):
            try:
                out.append((True, run_task(task, p), attempt))
                break
            except Exception as err:  # noqa: BLE001 - recorded in the store
                err_text = _error_text(err)
        else:
            out.append((False, err_text, retries + 1))
    return out


def _chunks(pending: Sequence[int], points: Sequence[dict], task: Any, size: int) -> list[list[int]]:
    groups: dict[Hashable, list[int]] = {}
    for i in pending:
        key = task.batch_key(points[i]) if (task.batch_key is not None and task.batch_fn is not None) else None
        res = tuple(sorted((task.resources(points[i]) or {}).items()))  # one resource request per chunk
        groups.setdefault((key, res), []).append(i)
    out = []
    for members in groups.values():
        out.extend(members[k:k + size] for k in range(0, len(members), size))
    return out


def sweep(
    task: Any,
    grid: Mapping[str, Sequence],
    params: Mapping[str, Any] | None = None,
    *,
    store: str | os.PathLike,
    cluster: Any = None,
    resume: bool = False,
    retries: int = 0,
    chunk: int | None = None,
    progress: bool = True,
    max_points: int = MAX_GRID_POINTS,
):
    """Run ``task`` over the cartesian product of ``grid`` on Dask, writing to a zarr store.

    Args:
        task: a registered task name or a :class:`nephlab.tasks.Task`.
        grid: ``{parameter: [values, ...]}``, e.g. from :func:`nephlab.cluster.parse_grid`;
            one dimension per key, in order.
        params: fixed values of the other parameters (the rest take their defaults).
        store: path of the zarr store (created; must not exist unless ``resume=True``).
        cluster: where to run: see :func:`connect` (default: an embedded ``LocalCluster``).
        resume: continue an existing store: compute only its pending and failed points. The
            store must hold a sweep of the same task, fixed params and grid, else ValueError
            and the store is left untouched. A missing store starts a new sweep. Every chunk
            of the store is verified first; each damaged chunk is reported in one
            :class:`~nephlab.cluster.store.StoreRepairWarning` line, and exactly the points it
            affects are computed again; damaged metadata raises
            :class:`~nephlab.cluster.store.StoreDamaged` (a ValueError).
        retries: Dask ``retries=`` of each chunk, and extra tries of a point that raises.
        chunk: points per Dask task (default :func:`default_chunk`: ~4 chunks per worker).
        progress: show a tqdm progress bar on stderr.
        max_points: largest allowed number of grid points (the product of the axis lengths,
            checked before any point is built; default :data:`nephlab.cluster.grid.MAX_GRID_POINTS`).

    Returns:
        ``xarray.Dataset`` opened from the store (see :func:`nephlab.cluster.open_sweep`):
        one dimension per swept parameter plus each output's own dims, and ``status``
        (0 pending, 1 done, 2 failed), ``attempts``, ``error`` and ``wall_time_s``.

    A point whose computation raises is recorded as failed with its error text; the other
    points go on. If a batched chunk raises, its points are re-run one by one to find the
    failing ones.

    Example:
        >>> ds = sweep("lindblad", {"F": [0.1, 0.2]}, {"n": 4, "n_times": 3},
        ...            store="/tmp/doc.zarr", progress=False)  # doctest: +SKIP
        >>> ds.n_mean.dims  # doctest: +SKIP
        ('F', 'time')
    """
    from nephlab.tasks import get_task

    t = get_task(task)
    if not isinstance(retries, (int, np.integer)) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries={retries!r} is not allowed; allowed: an integer >= 0")
    if chunk is not None and (not isinstance(chunk, (int, np.integer)) or isinstance(chunk, bool) or chunk < 1):
        raise ValueError(f"chunk={chunk!r} is not allowed; allowed: None (automatic) or an integer >= 1")
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store={store!r} has type {type(store).__name__}; allowed: a path (str or os.PathLike)")
    _check_cluster(cluster)
    grid_v, fixed = validate_grid(t.spec, grid, params, max_points=max_points)
    names = list(grid_v)
    points = []
    for combo in (dict(zip(names, c)) for c in itertools.product(*grid_v.values())):
        try:
            points.append(t.spec.validate({**fixed, **combo}))
        except (TypeError, ValueError) as err:
            raise type(err)(f"grid point {combo}: {err}") from None

    path = Path(store)
    resuming = path.exists()
    if resuming and not resume:
        raise FileExistsError(existing_store_message(path))
    if resuming:
        old = SweepStore.open(path)
        old.check_matches(t.name, fixed, grid_v)
        guard = old.lock()
    else:  # locked from the moment it appears: a racing second sweep is told so
        guard = SweepStore.creating(path, t.name, fixed, grid_v)
    with guard as st:
        if resuming:
            _repair(st)
        status = st.status().reshape(-1)
        pending = [i for i in range(len(points)) if status[i] != DONE]
        if not pending:
            return open_sweep(path)
        # a registered task travels by name (workers import nephlab); another Task travels pickled
        registered = isinstance(task, str) or _is_registered(t)
        task_ref = t.name if registered else t
        with connect(cluster) as client:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            size = chunk if chunk is not None else default_chunk(len(pending), n_workers)
            chunks = _chunks(pending, points, t, int(size))
            _drive(client, st, t, task_ref, points, chunks, retries=int(retries), progress=progress)
    return open_sweep(path)


def _repair(st: SweepStore) -> None:
    """Verify a store being resumed; repair its damaged chunks (one warning line each), so that
    exactly the points they affect are computed again. StoreDamaged if it cannot be repaired."""
    damage = st.verify()
    for d in damage:
        todo = "recomputing them" if d.points else "rewriting it"
        warnings.warn(f"store={str(st.path)!r}: {d}; {todo}", StoreRepairWarning, stacklevel=3)
    st.repair(damage)


def _check_cluster(cluster: Any) -> None:
    from distributed import Client

    if cluster is None or isinstance(cluster, (str, Client)) or hasattr(cluster, "scheduler_address"):
        return
    raise TypeError(
        f"cluster={cluster!r} has type {type(cluster).__name__}; allowed: None or 'local', a scheduler "
        "address 'tcp://...', a profile name, or a distributed.Client"
    )


def _is_registered(t: Any) -> bool:
    from nephlab.tasks import get_task

    try:
        return get_task(t.name) is t
    except ValueError:
        return False


def _drive(client, st: SweepStore, t, task_ref, points, chunks, *, retries: int, progress: bool) -> None:
    """Submit the chunks and write results as they complete.

    Every chunk that has completed when the previous write ends goes into the next write (one
    zarr call per array for all of them), so the writing keeps pace with many workers.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = {}
    for c in chunks:
        pts = [points[i] for i in c]
        res = t.resources(pts[0]) or None
        fut = client.submit(_run_chunk, task_ref, pts, retries, retries=retries, pure=False, resources=res)
        futures[fut] = c
    bar = tqdm(total=sum(map(len, chunks)), desc=f"sweep {t.name}", unit="pt", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    try:
        for batch in as_completed(futures).batches():
            ok: list[tuple[int, Any, int]] = []
            bad: list[tuple[int, str, int]] = []
            for fut in batch:
                c = futures.pop(fut)
                try:
                    results = fut.result()
                except Exception as err:  # noqa: BLE001 - the chunk itself failed (e.g. KilledWorker)
                    bad.extend((i, _error_text(err), 1) for i in c)
                else:
                    for i, (success, value, attempts) in zip(c, results):
                        (ok if success else bad).append((i, value, attempts))
                fut.release()
            st.write([i for i, _, _ in ok], [d for _, d, _ in ok], [a for _, _, a in ok],
                     [float(d.attrs.get("wall_time_s", np.nan)) for _, d, _ in ok])
            st.fail([i for i, _, _ in bad], [e for _, e, _ in bad], [a for _, _, a in bad])
            bar.update(len(ok) + len(bad))
    finally:
        bar.close()
        for fut in futures:
            fut.cancel()
