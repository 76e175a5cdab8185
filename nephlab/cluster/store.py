"""The zarr store of a sweep: results, written incrementally, that survive a killed process.

Layout (zarr format 3, written through xarray and zarr; ``nephlab_sweep_format = 2``):

- one coordinate per swept parameter (the grid values), in grid order: the *grid dims*;
- one variable per task output with dims ``(grid dims..., the output's own dims...)``, NaN
  (the zarr fill value) where a point has not been written; zarr chunks of up to 64 grid
  points (trailing grid axes first) with the own dims whole; only the sweep's driving process
  writes, so no two writers ever touch one chunk;
- the coordinates of a point's own dims (e.g. ``time``) stored per point as ``_coord_<name>``
  with dims ``(grid dims..., own dims...)``; :func:`open_sweep` turns them back into ordinary
  coordinates (a 1-D index coordinate when every point agrees, else a coordinate
  ``<name>_values`` over the grid dims too);
- for every array ``X`` of the two kinds above, ``_checksum_X`` (int64 over the grid dims, same
  grid chunks as ``X``, ``-1`` = never written): a 64-bit checksum of each point's values
  (see :func:`point_checksums`);
- bookkeeping over the grid dims: ``status`` (int8: 0 pending, 1 done, 2 failed),
  ``attempts`` (int32: computations of the point, counting each isolated retry),
  ``error`` (string: the error of a failed point, ``""`` otherwise) and ``wall_time_s``;
  every chunk of these exists from the start (zarr ``write_empty_chunks``);
- every chunk is compressed with zstd and its content checksum, so a truncated, cut or
  overwritten chunk fails to decode instead of decoding to wrong numbers;
- attrs: ``nephlab_sweep_format``, ``task``, ``params`` (JSON of the fixed, validated
  parameters), ``grid`` (JSON of the validated grid), ``nephlab_version``.

A point whose own dims are smaller than the largest seen so far (a grid over ``n``) is padded
with NaN; arrays grow (zarr ``resize``) when a larger point arrives.

Only one process writes a store at a time: the writer holds an ``fcntl.flock`` lock on the
store directory (released by the kernel when the process dies, even by SIGKILL). A new store
is built in a temporary directory that is locked *before* it is renamed into place, so a
second sweep that races to create the same store is told that another sweep is writing it.

Crash safety: zarr writes every chunk file atomically (temporary file + rename); a point's
data are written first, then their checksums, then its bookkeeping, and ``status`` last. A
process killed at any moment therefore leaves a readable store in which every point marked
done has its data.

Integrity (what is read back is verified): :meth:`SweepStore.verify` reads every chunk and
reports each damaged one as a :class:`Damage` naming the chunk and the points it affects;
:func:`open_sweep` raises :class:`StoreDamaged` instead of returning such data, and a resumed
sweep (:meth:`SweepStore.repair`) resets exactly those points to pending and recomputes them.
Why per-point checksums rather than a decode-only verify pass: a deleted data chunk reads
back as the fill value (NaN), which no decoder can tell from a real NaN result, and a chunk
replaced by another valid chunk decodes fine. A checksum written after the point's data is
both a "written" marker (``-1`` until then) and a check of the values. It is computed from the
values (not the chunk bytes), skipping fill values and keyed by each element's index, so it
stays valid when a chunk is rewritten with other points or an own dim grows. Stores of format
1 (written before checksums) are still read and resumed, with decode checks only.

What can be repaired, and what not: a damaged (missing, undecodable or mismatching) chunk of
an output, a coordinate, a checksum or a bookkeeping array is repaired by recomputing the
points it affects (a damaged bookkeeping chunk restarts the counts of its points). Damaged
*metadata* (a ``zarr.json`` that cannot be read, a missing array) cannot be repaired: the
store is refused (CLI exit code 2) and should be moved away.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "PENDING",
    "DONE",
    "FAILED",
    "Damage",
    "StoreDamaged",
    "StoreRepairWarning",
    "SweepStore",
    "damage_message",
    "existing_store_message",
    "open_sweep",
    "point_checksums",
]

FORMAT = 2
"""Value of the ``nephlab_sweep_format`` attribute that marks a sweep store written now."""
_FORMATS = (1, 2)  # formats this version reads (1: no checksums)
PENDING, DONE, FAILED = 0, 1, 2
_BOOK = ("status", "attempts", "error", "wall_time_s")
_BOOK_FRESH = {"status": PENDING, "attempts": 0, "error": "", "wall_time_s": np.nan}
_COORD = "_coord_"
_SUM = "_checksum_"
_NO_SUM = -1  # checksum of a point never written
_READ_BYTES = 2**26  # verify reads at most this many bytes of an array at once


@dataclass(frozen=True)
class Damage:
    """One damaged chunk of a sweep store and the grid points it affects.

    ``array`` and ``chunk`` (chunk coordinates) locate it; :attr:`key` is its path inside the
    store (``"n_mean/c/0/0/0"``). ``problem`` says what is wrong (``"is missing"``,
    ``"cannot be decoded (...)"``, ...); ``points`` are the flat C-order grid indices whose
    results are lost with it (to be recomputed); ``where`` names the first of them by their
    parameter values.

    Example:
        >>> str(Damage("n_mean", (0, 0), "is missing", (0, 1), "F=0.1 gamma=0.1; F=0.1 gamma=0.2"))
        'chunk n_mean/c/0/0 is missing, affecting 2 points (F=0.1 gamma=0.1; F=0.1 gamma=0.2)'
    """

    array: str
    chunk: tuple[int, ...]
    problem: str
    points: tuple[int, ...]
    where: str = ""

    @property
    def key(self) -> str:
        """The chunk's path inside the store, e.g. ``"n_mean/c/0/0/0"``."""
        return "/".join([self.array, "c", *map(str, self.chunk)])

    def __str__(self) -> str:
        n = len(self.points)
        if n == 0:
            return f"chunk {self.key} {self.problem}, affecting no finished point"
        return f"chunk {self.key} {self.problem}, affecting {n} point{'s' if n != 1 else ''} ({self.where})"


class StoreDamaged(ValueError):
    """A sweep store with damaged chunks (``.damage``: the :class:`Damage` list) or damaged
    metadata (``.repairable`` is False: the store cannot be resumed).

    Example:
        >>> err = StoreDamaged("store='s.zarr' is damaged", [Damage("status", (0,), "is missing", (0,), "F=1")])
        >>> isinstance(err, ValueError), err.repairable, len(err.damage)
        (True, True, 1)
    """

    def __init__(self, message: str, damage: Sequence[Damage] = (), repairable: bool = True):
        super().__init__(message)
        self.damage = list(damage)
        self.repairable = repairable


class StoreRepairWarning(UserWarning):
    """Emitted by a resumed sweep for every damaged chunk it repairs (one line each)."""


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (wrapping arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def point_checksums(values: np.ndarray) -> np.ndarray:
    """64-bit checksums of points: ``values`` has shape ``(P, own dims...)`` -> int64 ``(P,)``.

    The checksum of a point is the wrapping sum, over its elements that are not the fill value
    (NaN for floats, 0/False otherwise), of a mix of the element's bits and its index tuple.
    It therefore does not change when the own dims grow (padding is fill) and never equals
    ``-1`` (the mark of a point never written); an all-fill point has checksum 0.

    Example:
        >>> a = point_checksums(np.array([[1.0, 2.0]]))
        >>> b = point_checksums(np.array([[1.0, 2.0, np.nan]]))  # the same point, padded
        >>> bool(a[0] == b[0]), bool(a[0] != point_checksums(np.array([[2.0, 1.0]]))[0])
        (True, True)
        >>> point_checksums(np.full((1, 3), np.nan)).tolist()
        [0]
    """
    v = np.ascontiguousarray(values)
    if v.dtype.kind not in "fiub":
        raise TypeError(f"checksums need a real numeric or bool array, got dtype {v.dtype}")
    own = v.shape[1:]
    with np.errstate(over="ignore"):
        weight = np.full((), 0x2545F4914F6CDD1D, np.uint64)  # mixes of the index tuple of each element
        for n in own:
            weight = _mix(weight[..., None] ^ np.arange(n, dtype=np.uint64))
        bits = v.view(np.dtype(f"u{v.dtype.itemsize}")).astype(np.uint64)
        present = ~np.isnan(v) if v.dtype.kind == "f" else v != 0
        parts = np.where(present, _mix(bits ^ weight), np.uint64(0))
        total = parts.reshape(v.shape[0], math.prod(own)).sum(axis=1, dtype=np.uint64)
    total[total == np.uint64(2**64 - 1)] = np.uint64(0)  # keep -1 for "never written"
    return total.view(np.int64)


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


def _compressors() -> tuple:
    """zstd with its content checksum: a damaged chunk fails to decode."""
    import zarr

    return (zarr.codecs.ZstdCodec(level=0, checksum=True),)


def _line(err: BaseException) -> str:
    """The first line of an error's text (codec errors can be long)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".strip()


def _flock(path: Path) -> int:
    """An fd of ``path`` holding ``flock(LOCK_EX)``; BlockingIOError if another holds it."""
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def existing_store_message(path: str | os.PathLike) -> str:
    """Why a sweep cannot create the store at an existing ``path`` (one line): another sweep
    is writing it right now (it holds the lock), or it is there to be resumed.

    Example:
        >>> existing_store_message("/nonexistent/s.zarr")
        "store='/nonexistent/s.zarr' already exists; pass resume=True (CLI: --resume) to continue it, or choose another path"
    """
    path = Path(path)
    try:
        os.close(_flock(path))
    except BlockingIOError:
        return (f"store={str(path)!r} is being written by another sweep right now; wait for it to finish, "
                "then pass resume=True (CLI: --resume) to continue it, or choose another path")
    except OSError:
        pass
    return f"store={str(path)!r} already exists; pass resume=True (CLI: --resume) to continue it, or choose another path"


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

    format: int = FORMAT
    """The store's ``nephlab_sweep_format`` (1: written before checksums)."""

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
        """Create a new, empty store at ``path`` (atomically); FileExistsError if it exists.

        See :meth:`creating` for a store that stays locked for writing.
        """
        with cls.creating(path, task, fixed, grid) as store:
            return store

    @classmethod
    @contextlib.contextmanager
    def creating(cls, path: str | os.PathLike, task: str, fixed: Mapping[str, Any], grid: Mapping[str, Sequence]) -> Iterator[SweepStore]:
        """Create a new store at ``path`` and hold its write lock (see :meth:`lock`) from the
        moment it appears until the ``with`` block ends.

        The store is built in a locked temporary directory and renamed into place. When
        ``path`` exists, or another process creates it first, FileExistsError says whether
        another sweep is writing it right now or it is an old store to resume.

        Example:
            >>> import tempfile, os
            >>> p = os.path.join(tempfile.mkdtemp(), "s.zarr")
            >>> with SweepStore.creating(p, "demo", {}, {"x": [1.0]}) as s:
            ...     SweepStore.create(p, "demo", {}, {"x": [1.0]})
            Traceback (most recent call last):
            ...
            FileExistsError: store=... is being written by another sweep right now; wait for it to finish, then pass resume=True (CLI: --resume) to continue it, or choose another path
        """
        import xarray as xr

        path = Path(path)
        if path.exists() or path.is_symlink():
            raise FileExistsError(existing_store_message(path))
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
        book_chunks = _grid_chunks(shape, 8, max_points=4096)
        encoding = {k: {"compressors": _compressors()} for k in ds.variables}
        encoding.update({k: {"compressors": _compressors(), "chunks": book_chunks} for k in _BOOK})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.creating-{uuid.uuid4().hex}"
        tmp.mkdir()
        fd = _flock(tmp)  # ours alone: nobody else knows the name yet
        try:
            try:
                ds.to_zarr(tmp, mode="w-", zarr_format=3, consolidated=False, encoding=encoding, write_empty_chunks=True)
                os.rename(tmp, path)  # atomic; fails if path appeared meanwhile (a non-empty dir)
            except OSError:
                if path.exists() or path.is_symlink():  # another sweep created it first
                    raise FileExistsError(existing_store_message(path)) from None
                raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            yield cls(path, task, fixed, grid)
        finally:
            os.close(fd)  # releases the lock

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
        if attrs.get("nephlab_sweep_format") not in _FORMATS:
            raise ValueError(
                f"store={str(path)!r} is not a nephlab sweep store (attribute nephlab_sweep_format="
                f"{attrs.get('nephlab_sweep_format')!r}, expected one of {_FORMATS}); refusing to resume"
            )
        try:
            grid = json.loads(attrs["grid"])
            fixed = json.loads(attrs["params"])
            task = str(attrs["task"])
            for name in ("status", "attempts", "error"):
                g[name]
        except Exception as err:  # noqa: BLE001
            raise StoreDamaged(
                f"store={str(path)!r} is a damaged nephlab sweep store that cannot be repaired "
                f"({type(err).__name__}: {_line(err)}); refusing to resume; move it away and start the sweep again",
                repairable=False,
            ) from None
        store = cls(path, task, fixed, grid)
        store.format = int(attrs["nephlab_sweep_format"])
        return store

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
    def lock(self) -> Iterator[SweepStore]:
        """Hold an exclusive lock on the store while writing (``fcntl.flock`` on the store
        directory itself, so nothing is added to it); ValueError if another process holds it.

        The kernel releases the lock when the holder exits, even by SIGKILL.
        """
        try:
            fd = _flock(self.path)
        except BlockingIOError:
            raise ValueError(
                f"store={str(self.path)!r} is being written by another sweep right now; "
                "wait for it to finish or stop it before resuming"
            ) from None
        try:
            yield self
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
        # every chunk written, even one that holds only fill values: a missing chunk is damage
        self._arrays: dict[str, Any] = {name: g[name].with_config({"write_empty_chunks": True}) for name in g.array_keys()}
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
            if name in self.grid or name in _BOOK or str(name).startswith(_SUM):
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
        new, sums = {}, {}
        for name, var in wanted.items():
            if name in self._arrays:
                continue
            own = tuple(max(sizes.get(d, 0), var.sizes[d]) for d in var.dims)
            for d, n in zip(var.dims, own):
                sizes[d] = n
            per_point = int(np.prod(own, dtype=np.int64)) * var.dtype.itemsize
            grid_chunks = _grid_chunks(grid_shape, per_point)
            data = da.full(grid_shape + own, _fill(var.dtype), dtype=var.dtype, chunks=grid_chunks + own)
            new[name] = xr.Variable(grid_dims + tuple(var.dims), data, attrs=dict(var.attrs))
            if self.format >= 2 and _SUM + name not in self._arrays:
                sums[_SUM + name] = xr.Variable(grid_dims, da.full(grid_shape, _NO_SUM, dtype=np.int64, chunks=grid_chunks),
                                                attrs={"doc": f"checksum of each point's values of {name} (-1: not written)"})
        # checksums first: a kill in between leaves a checksum array without its data, never
        # data without checksums
        for part in (sums, new):
            if part:
                # xarray rewrites the group's attributes on append: give it the same ones (one
                # atomic write of zarr.json), so the format marker is never missing
                template = xr.Dataset(part, attrs=dict(self._g.attrs))
                template.to_zarr(self.path, mode="a", compute=False, zarr_format=3, consolidated=False,
                                 encoding={k: {"compressors": _compressors()} for k in part})
                g = self._group()
                self._g = g
                for name in part:
                    self._arrays[name] = g[name].with_config({"write_empty_chunks": True})
        if grow:  # reopen the resized arrays
            for name in list(self._arrays):
                self._arrays[name] = self._g[name].with_config({"write_empty_chunks": True})

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
                arr = self._arrays[name]
                values = np.stack([np.asarray(datasets[i][src].values) for i in members]).astype(arr.dtype, copy=False)
                _vset(arr, idx[members], values)
                if _SUM + name in self._arrays:  # after the data: the point's "written" mark
                    self._arrays[_SUM + name].vindex[tuple(idx[members].T)] = point_checksums(values)
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


    # -- verification and repair ------------------------------------------------------------

    def _irreparable(self, what: str) -> StoreDamaged:
        return StoreDamaged(
            f"store={str(self.path)!r} is damaged beyond repair: {what}; refusing to resume; "
            "move it away and start the sweep again",
            repairable=False,
        )

    def describe_points(self, points: Sequence[int], limit: int = 3) -> str:
        """The first ``limit`` of ``points`` (flat grid indices) by their parameter values.

        Example:
            >>> import tempfile, os
            >>> s = SweepStore.create(os.path.join(tempfile.mkdtemp(), "s.zarr"), "demo", {}, {"F": [0.1, 0.2], "n": [2, 3]})
            >>> s.describe_points([1, 2, 3], limit=2)
            'F=0.1 n=3; F=0.2 n=2; ...'
        """
        names = list(self.grid)
        parts = []
        for i in list(points)[:limit]:
            idx = np.unravel_index(int(i), self.shape)
            parts.append(" ".join(f"{k}={self.grid[k][j]!r}" for k, j in zip(names, idx)))
        return "; ".join(parts) + ("; ..." if len(points) > limit else "")

    def verify(self) -> list[Damage]:
        """Read every chunk of the store and return its damaged chunks (empty: all intact).

        A chunk is damaged when it cannot be decoded, when it is missing although it must exist
        (bookkeeping chunks; the data of a finished point), or when a finished point's values do
        not match their checksum. Each :class:`Damage` lists the points whose results are lost
        with the chunk: finished points for a data chunk, every point of a ``status`` chunk,
        finished points for the other bookkeeping chunks. Raises :class:`StoreDamaged` with
        ``repairable=False`` when metadata is damaged (an unreadable ``zarr.json``, a missing
        array). Memory: at most about 64 MiB of an array at a time.

        Example:
            >>> import tempfile, os, xarray as xr
            >>> s = SweepStore.create(os.path.join(tempfile.mkdtemp(), "s.zarr"), "demo", {}, {"x": [1.0, 2.0]})
            >>> s.write([0], [xr.Dataset({"y": ("t", [2.0, 3.0])})], attempts=[1])
            >>> s.verify()
            []
            >>> os.remove(os.path.join(s.path, "y", "c", "0", "0"))
            >>> [str(d) for d in s.verify()]
            ['chunk y/c/0/0 is missing, affecting 1 point (x=1.0)']
        """
        import zarr

        try:
            g = zarr.open_group(zarr.storage.LocalStore(self.path, read_only=True), mode="r")
            arrays = {str(name): g[name] for name in g.array_keys()}
        except Exception as err:  # noqa: BLE001 - any unreadable metadata
            raise self._irreparable(f"its metadata cannot be read ({_line(err)})") from None
        outputs = [n for n in arrays if n not in _BOOK and n not in self.grid and not n.startswith(_SUM)]
        missing = [n for n in (*_BOOK, *self.grid) if n not in arrays]
        if self.format >= 2:
            missing += [_SUM + n for n in outputs if _SUM + n not in arrays]
        if missing:
            raise self._irreparable(f"array{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")
        found: list[tuple[str, tuple[int, ...], str, np.ndarray]] = []  # (array, chunk, problem, points mask)
        strict = self.format >= 2  # bookkeeping chunks always exist

        # bookkeeping, status first: it says which points are finished
        status = np.full(self.shape, PENDING, np.int8)
        unknown = np.zeros(self.shape, bool)
        for region, values, bad in _read_blocks(arrays["status"], "status", self.path, len(self.dims), strict):
            status[region] = values
            for chunk, problem, creg in bad:
                unknown[creg] = True
                found.append(("status", chunk, problem, _mask(self.shape, creg)))
        status[unknown] = PENDING
        finished = status != PENDING
        done = status == DONE
        for name in _BOOK[1:]:
            for _, _, bad in _read_blocks(arrays[name], name, self.path, len(self.dims), strict):
                found += [(name, chunk, problem, _mask(self.shape, creg) & finished) for chunk, problem, creg in bad]
        for k, values in self.grid.items():
            expected = _coord_array(values)
            for region, got, bad in _read_blocks(arrays[k], k, self.path, 1, False):
                found += [(k, chunk, problem, np.zeros(self.shape, bool)) for chunk, problem, _ in bad]
                if not bad and not np.array_equal(np.asarray(got), expected[region]):
                    found.append((k, (0,), "does not hold the grid values of the store's attributes", np.zeros(self.shape, bool)))

        # outputs and their checksums
        for name in outputs:
            found += self._verify_output(arrays[name], arrays.get(_SUM + name), name, done)
        damage = []
        for array, chunk, problem, mask in found:
            pts = tuple(int(i) for i in np.flatnonzero(mask))
            damage.append(Damage(array, chunk, problem, pts, self.describe_points(pts)))
        return damage

    def _verify_output(self, arr, sums, name: str, done: np.ndarray) -> list:
        nd = len(self.dims)
        found = []
        rows = _block_rows(arr)
        sum_blocks = _read_blocks(sums, _SUM + name, self.path, nd, False, rows) if sums is not None else None
        for region, values, bad in _read_blocks(arr, name, self.path, nd, False, rows):
            lost = np.zeros(self.shape, bool)
            for chunk, problem, creg in bad:
                lost[creg] = True
                found.append((name, chunk, problem, _mask(self.shape, creg) & done))
            if sum_blocks is None:  # format 1, no checksums: a finished point's chunk must exist
                for gc in _chunks_in(region, arr.chunks[:nd]):
                    creg = _chunk_region(gc, arr.chunks[:nd], self.shape)
                    pts = done[creg] & ~lost[creg]
                    if pts.any() and not _chunk_files(self.path, name, gc, arr):
                        found.append((name, gc + (0,) * (arr.ndim - nd), "is missing", _mask(self.shape, creg) & done))
                continue
            _, stored, sbad = next(sum_blocks)  # same grid chunks, same blocks
            for chunk, problem, creg in sbad:
                lost[creg] = True
                found.append((_SUM + name, chunk, problem, _mask(self.shape, creg) & done))
            sub = done[region] & ~lost[region]
            if not sub.any():
                continue
            computed = point_checksums(values.reshape((-1,) + values.shape[nd:])).reshape(stored.shape)
            wrong = np.zeros(self.shape, bool)
            wrong[region] = sub & (computed != stored)
            for gc in _chunks_in(region, arr.chunks[:nd]):
                creg = _chunk_region(gc, arr.chunks[:nd], self.shape)
                if not wrong[creg].any():
                    continue
                mask = _mask(self.shape, creg) & wrong
                files = _chunk_files(self.path, name, gc, arr)
                if not _chunk_path(self.path, _SUM + name, gc).exists():
                    found.append((_SUM + name, gc, "is missing", mask))
                elif len(files) < math.prod(_own_chunk_counts(arr, nd)):
                    first = next(c for c in _own_chunk_coords(arr, gc, nd) if not _chunk_path(self.path, name, c).exists())
                    found.append((name, first, "is missing", mask))
                else:
                    found.append((name, gc + (0,) * (arr.ndim - nd), "does not match the checksums of its points", mask))
        return found

    def repair(self, damage: Sequence[Damage]) -> None:
        """Repair ``damage`` (from :meth:`verify`): the points it affects become pending (to be
        recomputed), damaged bookkeeping chunks are rewritten fresh (status pending, attempts 0,
        no error, no wall time), damaged data and checksum chunks are removed, and the data
        and checksums of the affected points are cleared. Call it while holding :meth:`lock`.

        The affected points are marked pending first, so a process killed during the repair
        never leaves a point marked done without its data.
        """
        if not damage:
            return
        g = self._group()
        nd = len(self.dims)

        def array(name: str):
            return g[name].with_config({"write_empty_chunks": True})

        points = sorted({p for d in damage for p in d.points})
        for d in damage:  # fresh bookkeeping chunks first (partial writes need decodable chunks)
            if d.array in _BOOK:
                arr = array(d.array)
                _chunk_path(self.path, d.array, d.chunk).unlink(missing_ok=True)
                region = _chunk_region(d.chunk, arr.chunks, self.shape)
                shape = tuple(r.stop - r.start for r in region)
                arr[region] = np.full(shape, _BOOK_FRESH[d.array], dtype=object if d.array == "error" else arr.dtype)
            elif d.array in self.grid:
                array(d.array)[...] = _coord_array(self.grid[d.array])
        if points:
            sel = np.unravel_index(np.asarray(points, dtype=np.int64), self.shape)
            array("status").vindex[sel] = np.full(len(points), PENDING, np.int8)
        for d in damage:  # damaged data and checksum chunks go
            if d.array not in _BOOK and d.array not in self.grid and "decoded" in d.problem:
                _chunk_path(self.path, d.array, d.chunk).unlink(missing_ok=True)
        if points:
            idx = np.array(sel).T
            for name in g.array_keys():
                name = str(name)
                if name.startswith(_SUM):
                    array(name).vindex[sel] = np.full(len(points), _NO_SUM, np.int64)
                elif name not in _BOOK and name not in self.grid:
                    arr = array(name)
                    _vset(arr, idx, np.full((len(points),) + arr.shape[nd:], _fill(arr.dtype), dtype=arr.dtype))
        self._g = None  # the writer re-reads everything


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


def _mask(shape: tuple[int, ...], region: tuple[slice, ...]) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[region] = True
    return m


def _chunk_region(chunk: Sequence[int], chunks: Sequence[int], shape: Sequence[int]) -> tuple[slice, ...]:
    """The index region of chunk coordinates ``chunk`` (clipped to ``shape``)."""
    return tuple(slice(c * n, min((c + 1) * n, s)) for c, n, s in zip(chunk, chunks, shape))


def _chunks_in(region: Sequence[slice], chunks: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Chunk coordinates of the chunks that ``region`` (aligned to chunk edges) covers."""
    return itertools.product(*(range(r.start // n, -(-r.stop // n)) for r, n in zip(region, chunks)))


def _own_chunk_counts(arr, nd: int) -> tuple[int, ...]:
    return tuple(-(-s // c) for s, c in zip(arr.shape[nd:], arr.chunks[nd:]))


def _own_chunk_coords(arr, grid_chunk: tuple[int, ...], nd: int) -> Iterator[tuple[int, ...]]:
    for own in itertools.product(*(range(n) for n in _own_chunk_counts(arr, nd))):
        yield tuple(grid_chunk) + own


def _chunk_path(root: Path, name: str, chunk: Sequence[int]) -> Path:
    return root.joinpath(name, "c", *map(str, chunk))


def _chunk_files(root: Path, name: str, grid_chunk: tuple[int, ...], arr) -> list[Path]:
    """The existing chunk files of ``name`` in the grid chunk ``grid_chunk``."""
    nd = len(grid_chunk)
    return [p for c in _own_chunk_coords(arr, grid_chunk, nd) if (p := _chunk_path(root, name, c)).exists()]


def _block_rows(arr) -> int:
    """Rows (along the first axis, whole chunks) of ``arr`` in about :data:`_READ_BYTES`."""
    row_bytes = max(1, math.prod(arr.shape[1:]) * arr.chunks[0] * max(1, arr.dtype.itemsize))
    return max(1, _READ_BYTES // row_bytes) * arr.chunks[0]


def _read_blocks(
    arr, name: str, root: Path, nd: int, must_exist: bool, rows: int | None = None
) -> Iterator[tuple[tuple[slice, ...], np.ndarray, list]]:
    """Read ``arr`` in blocks of ``rows`` (default :func:`_block_rows`) along the first axis.

    Yields ``(grid region, values, bad)`` per block: ``values`` has the fill value where a
    chunk is damaged, and ``bad`` lists ``(chunk coords, problem, grid region)`` of each chunk
    that cannot be decoded, or is missing when ``must_exist``.
    """
    shape, chunks = arr.shape, arr.chunks
    if not shape or any(n == 0 for n in shape):
        yield (), np.asarray(arr[...]), []
        return
    rows = rows or _block_rows(arr)
    for start in range(0, shape[0], rows):
        block = (slice(start, min(start + rows, shape[0])),) + tuple(slice(0, n) for n in shape[1:])
        grid_region = block[:nd]
        bad = []
        if must_exist:
            for c in _chunks_in(block, chunks):
                if not _chunk_path(root, name, c).exists():
                    bad.append((c, "is missing", _chunk_region(c, chunks, shape)[:nd]))
        try:
            values = np.asarray(arr[block])
        except Exception:  # noqa: BLE001 - find the chunks that fail, one by one
            values = np.full(tuple(b.stop - b.start for b in block), _read_fill(arr), dtype=arr.dtype)
            for c in _chunks_in(block, chunks):
                creg = _chunk_region(c, chunks, shape)
                local = tuple(slice(r.start - b.start, r.stop - b.start) for r, b in zip(creg, block))
                try:
                    values[local] = np.asarray(arr[creg])
                except Exception as err:  # noqa: BLE001 - any codec or I/O error
                    bad.append((c, f"cannot be decoded ({_line(err)})", creg[:nd]))
        yield grid_region, values, bad


def _read_fill(arr) -> Any:
    fill = arr.fill_value
    return "" if arr.dtype.kind in "OTU" and fill is None else fill


def damage_message(store: SweepStore, damage: Sequence[Damage], limit: int = 3) -> str:
    """One line naming the damaged chunks (the first ``limit``) and the points they affect.

    Example:
        >>> import tempfile, os
        >>> s = SweepStore.create(os.path.join(tempfile.mkdtemp(), "s.zarr"), "demo", {}, {"x": [1.0]})
        >>> damage_message(s, [Damage("status", (0,), "is missing", (0,), "x=1.0")])  # doctest: +ELLIPSIS
        "store='...s.zarr' is damaged: chunk status/c/0 is missing, affecting 1 point (x=1.0)"
    """
    text = "; ".join(str(d) for d in damage[:limit])
    more = f"; and {len(damage) - limit} more damaged chunks" if len(damage) > limit else ""
    return f"store={str(store.path)!r} is damaged: {text}{more}"


def open_sweep(store: str | os.PathLike):
    """Open a sweep store as an ``xarray.Dataset`` (lazy, dask-backed variables), verified.

    Dims: the swept parameters (coordinates = grid values) followed by each output's own dims.
    Variables: the task's outputs (NaN where not done), ``status``, ``attempts``, ``error``,
    ``wall_time_s``; attrs as stored (``task``, ``params``, ``grid``, ...). Own-dim
    coordinates come back as index coordinates when every done point agrees on them.

    Every chunk is read and checked first (:meth:`SweepStore.verify`): damaged data are never
    returned. (``xarray.open_zarr`` reads a store without any check.)

    Raises:
        ValueError: ``store`` is not a nephlab sweep store.
        StoreDamaged: (a ValueError) naming the damaged chunks and the points they affect, in
            one line; resuming the sweep (``resume=True``, CLI ``--resume``) recomputes them.

    Example:
        >>> import tempfile, os, numpy as np, xarray as xr
        >>> s = SweepStore.create(os.path.join(tempfile.mkdtemp(), "s.zarr"), "demo", {}, {"x": [1, 2]})
        >>> s.write([0, 1], [xr.Dataset({"y": ("t", [1.0, 2.0])}, coords={"t": [0.0, 0.5]})] * 2, attempts=[1, 1])
        >>> ds = open_sweep(s.path)
        >>> ds.y.dims, ds.t.values.tolist(), ds.status.values.tolist()
        (('x', 't'), [0.0, 0.5], [1, 1])
        >>> os.remove(os.path.join(s.path, "y", "c", "0", "0"))
        >>> open_sweep(s.path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nephlab.cluster.store.StoreDamaged: store='...' is damaged: chunk y/c/0/0 is missing, affecting 2 points (x=1; x=2); resume the sweep (resume=True, CLI: --resume) to recompute them
    """
    import xarray as xr

    s = SweepStore.open(store)
    damage = s.verify()
    if damage:
        raise StoreDamaged(damage_message(s, damage) + "; resume the sweep (resume=True, CLI: --resume) to recompute them", damage)
    ds = xr.open_zarr(s.path, consolidated=False, zarr_format=3)
    ds = ds.drop_vars([k for k in ds.data_vars if str(k).startswith(_SUM)])
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
