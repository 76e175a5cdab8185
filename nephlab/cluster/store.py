"""The zarr store of a sweep: results, written incrementally, that survive a killed process.

Layout (zarr format 3, written through xarray and zarr; ``nephlab_sweep_format = 1``):

- one coordinate per swept parameter (the grid values), in grid order: the *grid dims*;
- one variable per task output with dims ``(grid dims..., the output's own dims...)``, NaN
  (the zarr fill value) where a point has not been written; zarr chunks of up to 64 grid
  points (trailing grid axes first) with the own dims whole; only the sweep's driving process
  writes, so no two writers ever touch one chunk;
- the coordinates of a point's own dims (e.g. ``time``) stored per point as ``_coord_<name>``
  with dims ``(grid dims..., own dims...)``; :func:`open_sweep` turns them back into ordinary
  coordinates (a 1-D index coordinate when every point agrees, else a coordinate
  ``<name>_values`` over the grid dims too);
- bookkeeping over the grid dims: ``status`` (int8: 0 pending, 1 done, 2 failed),
  ``attempts`` (int32: computations of the point, counting each isolated retry),
  ``error`` (string: the error of a failed point, ``""`` otherwise) and ``wall_time_s``;
- attrs: ``nephlab_sweep_format``, ``task``, ``params`` (JSON of the fixed, validated
  parameters), ``grid`` (JSON of the validated grid), ``nephlab_version``.

A point whose own dims are smaller than the largest seen so far (a grid over ``n``) is padded
with NaN; arrays grow (zarr ``resize``) when a larger point arrives.

Only one process writes a store at a time: the writer holds an ``fcntl.flock`` lock on the
store directory (released by the kernel when the process dies, even by SIGKILL).

Crash safety: the store is created in a temporary directory and renamed into place; zarr
writes every chunk file atomically (temporary file + rename); a point's data are written
before its bookkeeping, and ``status`` last. A process killed at any moment therefore leaves a
readable store in which every point marked done has its data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "PENDING",
    "DONE",
    "FAILED",
    "SweepStore",
    "open_sweep",
]

FORMAT = 1
"""Value of the ``nephlab_sweep_format`` attribute that marks a sweep store."""
PENDING, DONE, FAILED = 0, 1, 2
_BOOK = ("status", "attempts", "error", "wall_time_s")
_COORD = "_coord_"


def _version() -> str:
    from nephlab._version import __version__

    return str(__version__)


def _coord_array(values: Sequence) -> np.ndarray:
    if all(isinstance(v, str) for v in values):
        return np.array(list(values), dtype=object)
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=np.float64)


def _fill(dtype: np.dtype) -> Any:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "b":
        return False
    if dtype.kind in "iu":
        return 0
    raise TypeError(f"sweep outputs must have real numeric or bool dtypes, got {dtype}")


class SweepStore:
    """A sweep's zarr store on disk (see the module docstring for the layout).

    Use :meth:`create` for a new store and :meth:`open` for an existing one; the sweep driver
    (:func:`nephlab.cluster.sweep`) is the only writer.

    Example:
        >>> import tempfile, os, numpy as np, xarray as xr
        >>> d = tempfile.mkdtemp()
        >>> s = SweepStore.create(os.path.join(d, "s.zarr"), "demo", {"a": 1.0}, {"x": [0.0, 1.0]})
        >>> s.write([1], [xr.Dataset({"y": ("t", np.array([2.0, 3.0]))})], attempts=[1])
        >>> s.status().tolist()
        [0, 1]
        >>> open_sweep(s.path).y.values.tolist()
        [[nan, nan], [2.0, 3.0]]
    """

    def __init__(self, path: str | os.PathLike, task: str, fixed: dict, grid: dict[str, list]):
        self.path = Path(path)
        self.task = task
        self.fixed = fixed
        self.grid = grid
        self.dims = tuple(grid)
        self.shape = tuple(len(v) for v in grid.values())

    # -- creation and opening ---------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike, task: str, fixed: Mapping[str, Any], grid: Mapping[str, Sequence]) -> SweepStore:
        """Create a new, empty store at ``path`` (atomically); FileExistsError if it exists."""
        import xarray as xr

        path = Path(path)
        if path.exists():
            raise FileExistsError(f"store={str(path)!r} already exists; pass resume=True to continue it, or choose another path")
        grid = {k: list(v) for k, v in grid.items()}
        fixed = dict(fixed)
        shape = tuple(len(v) for v in grid.values())
        dims = tuple(grid)
        ds = xr.Dataset(
            {
                "status": (dims, np.zeros(shape, np.int8), {"doc": "0 pending, 1 done, 2 failed"}),
                "attempts": (dims, np.zeros(shape, np.int32), {"doc": "computations of the point"}),
                "error": (dims, np.full(shape, "", dtype=object), {"doc": "error text of a failed point"}),
                "wall_time_s": (dims, np.full(shape, np.nan), {"units": "s", "doc": "compute time per point"}),
            },
            coords={k: (k, _coord_array(v)) for k, v in grid.items()},
            attrs={
                "nephlab_sweep_format": FORMAT,
                "task": task,
                "params": json.dumps(fixed, sort_keys=True),
                "grid": json.dumps(grid),
                "nephlab_version": _version(),
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.creating-{uuid.uuid4().hex}"
        try:
            ds.to_zarr(tmp, mode="w-", zarr_format=3, consolidated=False)
            os.rename(tmp, path)  # atomic; fails if path appeared meanwhile (non-empty dir)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return cls(path, task, fixed, grid)

    @classmethod
    def open(cls, path: str | os.PathLike) -> SweepStore:
        """Open an existing sweep store read-only for checking; ValueError if it is not one.

        Nothing is written: a foreign or unreadable store is refused untouched.
        """
        import zarr

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"store={str(path)!r} does not exist")
        try:
            g = zarr.open_group(zarr.storage.LocalStore(path, read_only=True), mode="r")
            attrs = dict(g.attrs)
        except Exception as err:  # noqa: BLE001 - any failure to read means: not a store we know
            raise ValueError(f"store={str(path)!r} is not a readable zarr store ({type(err).__name__}: {err}); refusing to resume") from None
        if attrs.get("nephlab_sweep_format") != FORMAT:
            raise ValueError(
                f"store={str(path)!r} is not a nephlab sweep store (attribute nephlab_sweep_format="
                f"{attrs.get('nephlab_sweep_format')!r}, expected {FORMAT}); refusing to resume"
            )
        try:
            grid = json.loads(attrs["grid"])
            fixed = json.loads(attrs["params"])
            task = str(attrs["task"])
            for name in ("status", "attempts", "error"):
                g[name]
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"store={str(path)!r} is a damaged nephlab sweep store ({type(err).__name__}: {err}); refusing to resume") from None
        return cls(path, task, fixed, grid)

    def check_matches(self, task: str, fixed: Mapping[str, Any], grid: Mapping[str, Sequence]) -> None:
        """ValueError naming what differs if this store holds another task, params or grid."""
        if task != self.task:
            raise ValueError(f"store={str(self.path)!r} holds a sweep of task {self.task!r}, not {task!r}; refusing to resume")
        grid = json.loads(json.dumps({k: list(v) for k, v in grid.items()}))
        if grid != self.grid:
            if list(grid) != list(self.grid):
                detail = f"swept parameters {list(self.grid)} in the store vs {list(grid)} now"
            else:
                detail = "values of " + ", ".join(k for k in grid if grid[k] != self.grid[k]) + " differ"
            raise ValueError(f"store={str(self.path)!r} was made with another grid ({detail}); refusing to resume")
        fixed = json.loads(json.dumps(dict(fixed), sort_keys=True))
        if fixed != self.fixed:
            diff = sorted(k for k in set(fixed) | set(self.fixed) if fixed.get(k, "<absent>") != self.fixed.get(k, "<absent>"))
            detail = ", ".join(f"{k}: store {self.fixed.get(k, '<absent>')!r} vs now {fixed.get(k, '<absent>')!r}" for k in diff)
            raise ValueError(f"store={str(self.path)!r} was made with other fixed params ({detail}); refusing to resume")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the store while writing (``fcntl.flock`` on the store
        directory itself, so nothing is added to it); ValueError if another process holds it.

        The kernel releases the lock when the holder exits, even by SIGKILL.
        """
        import fcntl

        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(
                    f"store={str(self.path)!r} is being written by another sweep right now; "
                    "wait for it to finish or stop it before resuming"
                ) from None
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- bookkeeping ------------------------------------------------------------------------

    def _group(self, mode: str = "r+"):
        import zarr

        return zarr.open_group(self.path, mode=mode, zarr_format=3)

    def status(self) -> np.ndarray:
        """Status of every point, shape = grid shape (0 pending, 1 done, 2 failed)."""
        return np.asarray(self._group("r")["status"][...])

    def attempts(self) -> np.ndarray:
        """Attempts of every point, shape = grid shape."""
        return np.asarray(self._group("r")["attempts"][...])

    # -- writing ----------------------------------------------------------------------------
    # This process is the only writer of the store while it writes, so the arrays' metadata
    # and the bookkeeping arrays are cached in memory between writes.

    def _writer(self) -> None:
        if getattr(self, "_g", None) is not None:
            return
        g = self._group()
        self._g = g
        self._arrays: dict[str, Any] = {name: g[name] for name in g.array_keys()}
        self._sizes: dict[str, int] = {}
        for arr in self._arrays.values():
            for d, n in zip(arr.metadata.dimension_names or (), arr.shape):
                self._sizes[d] = max(self._sizes.get(d, 0), n)
        self._bk = {name: np.asarray(self._arrays[name][...]) for name in _BOOK}
        self._bk["error"] = self._bk["error"].astype(object)

    def _ensure_outputs(self, ds) -> None:
        """Create arrays for outputs and own-dim coords of ``ds`` not yet in the store; grow dims."""
        import dask.array as da
        import xarray as xr

        grid_dims, grid_shape = self.dims, self.shape
        wanted: dict[str, Any] = {}
        for name, var in list(ds.data_vars.items()) + [(_COORD + str(k), c) for k, c in ds.coords.items()]:
            if name in self.grid or name in _BOOK:
                raise ValueError(
                    f"task output {name!r} clashes with a swept parameter or a bookkeeping variable "
                    f"({', '.join(_BOOK)}); cannot store it"
                )
            clash = set(var.dims) & set(grid_dims)
            if clash:
                raise ValueError(f"task output {name!r} has dims {var.dims} that clash with swept parameters {sorted(clash)}")
            wanted[name] = var
        sizes = self._sizes
        if all(n in self._arrays for n in wanted) and all(
            s <= sizes.get(d, 0) for v in wanted.values() for d, s in v.sizes.items()
        ):
            return
        grow = {}
        for var in wanted.values():
            for d, n in var.sizes.items():
                if d in sizes and n > sizes[d]:
                    grow[d] = max(grow.get(d, 0), n)
        if grow:
            for name, arr in self._arrays.items():
                dn = arr.metadata.dimension_names or ()
                if any(d in grow for d in dn):
                    arr.resize(tuple(grow.get(d, n) for d, n in zip(dn, arr.shape)))
            sizes.update(grow)
        new = {}
        for name, var in wanted.items():
            if name in self._arrays:
                continue
            own = tuple(max(sizes.get(d, 0), var.sizes[d]) for d in var.dims)
            for d, n in zip(var.dims, own):
                sizes[d] = n
            per_point = int(np.prod(own, dtype=np.int64)) * var.dtype.itemsize
            chunks = _grid_chunks(grid_shape, per_point) + own
            data = da.full(grid_shape + own, _fill(var.dtype), dtype=var.dtype, chunks=chunks)
            new[name] = xr.Variable(grid_dims + tuple(var.dims), data, attrs=dict(var.attrs))
        if new:
            # xarray rewrites the group's attributes on append: give it the same ones (one
            # atomic write of zarr.json), so the format marker is never missing
            template = xr.Dataset(new, attrs=dict(self._g.attrs))
            template.to_zarr(self.path, mode="a", compute=False, zarr_format=3, consolidated=False)
            g = self._group()
            self._g = g
            for name in new:
                self._arrays[name] = g[name]
        if grow:  # reopen the resized arrays
            for name in list(self._arrays):
                self._arrays[name] = self._g[name]

    def write(self, indices: Sequence[int], datasets: Sequence, attempts: Sequence[int], wall_times: Sequence[float] | None = None) -> None:
        """Write finished points (flat C-order grid indices) and only then mark them done.

        ``datasets[i]`` is the task's Dataset of point ``indices[i]``; ``attempts[i]`` is added
        to the point's attempt count; ``wall_times[i]`` (s) is stored in ``wall_time_s``.
        """
        if len(indices) == 0:
            return
        if not (len(indices) == len(datasets) == len(attempts)):
            raise ValueError(f"indices, datasets and attempts must have equal lengths, got {len(indices)}, {len(datasets)}, {len(attempts)}")
        self._writer()
        for ds in _distinct_templates(datasets):
            self._ensure_outputs(ds)
        idx = np.array(np.unravel_index(np.asarray(indices, dtype=np.int64), self.shape)).T  # (P, ndim)
        # group points whose variables have the same shapes, to write each group in one call
        by_shape: dict[tuple, list[int]] = {}
        for i, ds in enumerate(datasets):
            key = tuple((k, v.shape) for k, v in ds.variables.items())
            by_shape.setdefault(key, []).append(i)
        for members in by_shape.values():
            ds0 = datasets[members[0]]
            for name in list(ds0.data_vars) + [_COORD + str(k) for k in ds0.coords]:
                src = name[len(_COORD):] if name.startswith(_COORD) else name
                values = np.stack([np.asarray(datasets[i][src].values) for i in members])
                _vset(self._arrays[name], idx[members], values)
        wall = np.array([np.nan if w is None else w for w in (wall_times or [None] * len(indices))], dtype=float)
        self._book(idx, attempts=np.asarray(attempts), status=DONE, wall=wall)

    def fail(self, indices: Sequence[int], errors: Sequence[str], attempts: Sequence[int]) -> None:
        """Record failed points with their error text; their data stay as they were."""
        if len(indices) == 0:
            return
        self._writer()
        idx = np.array(np.unravel_index(np.asarray(indices, dtype=np.int64), self.shape)).T
        self._book(idx, attempts=np.asarray(attempts), status=FAILED, errors=[str(e) for e in errors])

    def _book(self, idx: np.ndarray, *, attempts: np.ndarray, status: int, errors: list[str] | None = None, wall: np.ndarray | None = None) -> None:
        sel = tuple(idx.T)
        bk, arrs = self._bk, self._arrays

        def put(name: str) -> None:  # write only the zarr chunks that hold these points
            arrs[name].vindex[sel] = bk[name][sel]

        if wall is not None:
            bk["wall_time_s"][sel] = wall
            put("wall_time_s")
        if errors is not None or (bk["error"][sel] != "").any():
            bk["error"][sel] = errors if errors is not None else ""
            put("error")
        np.add.at(bk["attempts"], sel, attempts.astype(bk["attempts"].dtype))
        put("attempts")
        bk["status"][sel] = status
        put("status")  # last: a point is done only once everything else is on disk


def _grid_chunks(grid_shape: tuple[int, ...], per_point_bytes: int, max_points: int = 64, max_bytes: int = 2**21) -> tuple[int, ...]:
    """Zarr chunk shape over the grid dims: trailing axes first, at most ``max_points`` points
    and ``max_bytes`` per chunk (the client is the only writer, so chunks need not match tasks).

    Example:
        >>> _grid_chunks((50, 20), 800), _grid_chunks((4, 3, 5), 8), _grid_chunks((10,), 10**7)
        ((3, 20), (4, 3, 5), (1,))
    """
    budget = max(1, min(max_points, max_bytes // max(1, per_point_bytes)))
    out = []
    for n in reversed(grid_shape):
        c = max(1, min(n, budget))
        out.append(c)
        budget = budget // n if c == n else 1
    return tuple(reversed(out))


def _distinct_templates(datasets: Sequence) -> list:
    seen: dict[tuple, Any] = {}
    for ds in datasets:
        key = tuple((k, v.dims, v.shape, str(v.dtype)) for k, v in ds.variables.items())
        seen.setdefault(key, ds)
    return list(seen.values())


def _vset(arr, idx: np.ndarray, values: np.ndarray) -> None:
    """``arr[idx[p], :s1, :s2, ...] = values[p]`` for every point p, in one zarr call."""
    P, nd = idx.shape
    own = values.shape[1:]
    if not own:
        arr.vindex[tuple(idx.T)] = values
        return
    full = (P,) + own
    coords = [np.broadcast_to(idx[:, k].reshape((P,) + (1,) * len(own)), full) for k in range(nd)]
    for j, s in enumerate(own):
        shape = [1] * (1 + len(own))
        shape[1 + j] = s
        coords.append(np.broadcast_to(np.arange(s).reshape(shape), full))
    arr.vindex[tuple(coords)] = values


def open_sweep(store: str | os.PathLike):
    """Open a sweep store as an ``xarray.Dataset`` (lazy, dask-backed variables).

    Dims: the swept parameters (coordinates = grid values) followed by each output's own dims.
    Variables: the task's outputs (NaN where not done), ``status``, ``attempts``, ``error``,
    ``wall_time_s``; attrs as stored (``task``, ``params``, ``grid``, ...). Own-dim
    coordinates come back as index coordinates when every done point agrees on them.

    Raises ValueError if ``store`` is not a nephlab sweep store.

    Example:
        >>> import tempfile, os, numpy as np, xarray as xr
        >>> s = SweepStore.create(os.path.join(tempfile.mkdtemp(), "s.zarr"), "demo", {}, {"x": [1, 2]})
        >>> s.write([0, 1], [xr.Dataset({"y": ("t", [1.0, 2.0])}, coords={"t": [0.0, 0.5]})] * 2, attempts=[1, 1])
        >>> ds = open_sweep(s.path)
        >>> ds.y.dims, ds.t.values.tolist(), ds.status.values.tolist()
        (('x', 't'), [0.0, 0.5], [1, 1])
    """
    import xarray as xr

    s = SweepStore.open(store)
    ds = xr.open_zarr(s.path, consolidated=False, zarr_format=3)
    status = ds["status"].values
    done = status == DONE
    for name in [k for k in ds.data_vars if str(k).startswith(_COORD)]:
        cname = str(name)[len(_COORD):]
        var = ds[name]
        own = var.dims[len(s.dims):]
        vals = var.values
        picked = vals[done] if done.any() else vals.reshape((-1,) + vals.shape[len(s.dims):])[:0]
        ds = ds.drop_vars(name)
        same = picked.shape[0] > 0 and bool(np.all(_equal_nan(picked, picked[0])))
        if same and (cname not in ds.dims or own == (cname,)):
            ds = ds.assign_coords({cname: (own, picked[0])})
        else:
            target = f"{cname}_values" if cname in ds.dims or cname in ds.variables else cname
            ds = ds.assign_coords({target: (var.dims, vals)})
    outputs = sorted(str(k) for k in ds.data_vars if k not in _BOOK)
    return ds[outputs + list(_BOOK)]


def _equal_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b
