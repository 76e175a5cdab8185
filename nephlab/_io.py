"""Writing datasets to disk safely: one writer for results, task outputs and exports.

:func:`write_dataset` is the only place where nephlab writes an ``xarray.Dataset`` to a path
the user named. It never deletes or overwrites what the user already has unless asked
(``overwrite=True``), and an interrupted write never leaves a partial file at the target.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SUFFIXES", "check_target", "netcdf_safe_attrs", "staged_path", "write_dataset"]

SUFFIXES = (".nc", ".zarr")
"""File suffixes :func:`write_dataset` accepts: netCDF-4 (h5netcdf) and a zarr folder."""


def netcdf_safe_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes converted to types every netCDF/zarr writer stores.

    ``bool`` becomes ``int``; ``None`` becomes ``""``; dicts and lists of non-numbers become
    JSON text; numeric sequences become 1-D arrays; anything else becomes its ``str``.

    Example:
        >>> netcdf_safe_attrs({"ok": True, "p": {"n": 3}, "v": (1.0, 2.0)})
        {'ok': 1, 'p': '{"n": 3}', 'v': array([1., 2.])}
    """
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = int(v)
        elif v is None:
            out[k] = ""
        elif isinstance(v, (int, float, str, np.integer, np.floating)):
            out[k] = v
        elif isinstance(v, (list, tuple, np.ndarray)) and len(v) and all(
            isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in v
        ):
            out[k] = np.asarray(v)
        elif isinstance(v, (dict, list, tuple)):
            out[k] = json.dumps(v, default=str)
        else:
            out[k] = str(v)
    return out


def check_target(path: str | os.PathLike, *, overwrite: bool = False, argname: str = "path") -> Path:
    """The checks :func:`write_dataset` makes before writing, for callers that must refuse a
    target before they compute (a CLI run, a batch job): suffix, no existing target unless
    ``overwrite``. Returns ``path`` as a ``Path``.

    Example:
        >>> check_target("r.zarr").name
        'r.zarr'
        >>> check_target("r.txt", argname="--out")
        Traceback (most recent call last):
        ...
        ValueError: --out 'r.txt' must end in .nc (netCDF, h5netcdf) or .zarr
    """
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{argname} {str(path)!r} must end in .nc (netCDF, h5netcdf) or .zarr")
    if (target.exists() or target.is_symlink()) and not overwrite:
        hint = "--overwrite" if argname.startswith("--") else "overwrite=True (--overwrite)"
        raise ValueError(f"{argname} {str(path)!r} exists; pass {hint} to replace it")
    return target


def write_dataset(ds, path: str | os.PathLike, *, overwrite: bool = False, argname: str = "path") -> Path:
    """Write ``ds`` to ``path``: ``.nc`` through h5netcdf, ``.zarr`` through ``to_zarr``.

    The data go to a temporary sibling first and are renamed into place, so an interrupted
    write never leaves a partial file at ``path``. An existing ``path`` is refused unless
    ``overwrite=True``; with it, only the one file or store at ``path`` is replaced. Complex
    variables are kept (netCDF through h5netcdf's ``invalid_netcdf`` mode, which h5py and
    xarray read back; zarr natively).

    Args:
        ds: an ``xarray.Dataset``.
        path: target ending in ``.nc`` or ``.zarr``.
        overwrite: replace an existing target.
        argname: the argument's name in error messages (``"--out"`` for the CLI).

    Returns:
        The path written.

    Raises:
        TypeError: ``ds`` is not a Dataset.
        ValueError: bad suffix, missing parent folder, or an existing target without ``overwrite``.

    Example:
        >>> import os, tempfile, xarray as xr
        >>> p = write_dataset(xr.Dataset({"a": ("x", [1.0, 2.0])}), os.path.join(tempfile.mkdtemp(), "r.nc"))
        >>> p.suffix
        '.nc'
    """
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    target = check_target(path, overwrite=overwrite, argname=argname)
    suffix = target.suffix.lower()
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{argname} {str(path)!r}: directory {str(parent)!r} does not exist")
    ds = ds.copy()
    ds.attrs = netcdf_safe_attrs(dict(ds.attrs))
    for v in ds.variables.values():
        v.attrs = netcdf_safe_attrs(dict(v.attrs))
    with staged_path(target) as staged:
        if suffix == ".nc":
            cplx = any(np.iscomplexobj(v.values) for v in ds.variables.values())
            with warnings.catch_warnings():  # complex data: documented above, read back by h5netcdf
                warnings.filterwarnings("ignore", message="You are writing invalid netcdf features")
                ds.to_netcdf(staged, engine="h5netcdf", invalid_netcdf=cplx)
        else:
            ds.to_zarr(staged, mode="w", consolidated=False)
    return target


@contextlib.contextmanager
def staged_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a path in a fresh temporary folder beside ``target``; on success, put it in place.

    Whatever the block writes at the yielded path (a file or a folder) replaces ``target`` by a
    rename once the block returns, so an interrupted write never leaves a partial ``target``;
    only the one file or folder at ``target`` is removed. On error nothing at ``target``
    changes. The caller decides beforehand whether replacing ``target`` is allowed.

    Example:
        >>> import os, tempfile
        >>> t = os.path.join(tempfile.mkdtemp(), "a.txt")
        >>> with staged_path(t) as p:
        ...     _ = p.write_text("done")
        >>> open(t).read()
        'done'
    """
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent if str(target.parent) else "."))
    try:
        staged = tmp / target.name
        yield staged
        if target.exists() or target.is_symlink():
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
