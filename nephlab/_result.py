"""One base for every result object of nephlab: ``to_xarray``, a compact ``repr``, ``save``.

A result is a frozen dataclass that inherits :class:`ResultBase` and declares, per field, how
the field appears in an ``xarray.Dataset``:

- :func:`var` — a data variable with named dims, units and a long name;
- :func:`coord` — a coordinate (an index when its one dim has the field's name);
- :func:`attr` — a Dataset attribute (scalars, strings, flags, small tuples).

Undeclared fields stay out of the Dataset. A subclass adds derived variables through
:meth:`ResultBase._xarray_extra`, and fixed attributes (a sign convention, say) through the
class variable ``xarray_attrs``. Subclasses use ``@dataclass(frozen=True, repr=False)`` so that
the base's compact ``__repr__`` is kept.

Example:
    >>> from dataclasses import dataclass
    >>> import numpy as np
    >>> @dataclass(frozen=True, repr=False)
    ... class Curve(ResultBase):
    ...     s: np.ndarray = coord("s", units="1/[A]")
    ...     theta: np.ndarray = var("s", units="1/time", long_name="SCGF")
    ...     label: str = attr()
    >>> c = Curve(np.array([0.0, 1.0]), np.array([0.0, -0.5]), "demo")
    >>> c
    Curve(s=float64(2,), theta=float64(2,), label='demo')
    >>> c.to_xarray().theta.attrs["units"]
    '1/time'
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["ResultBase", "attr", "coord", "var", "result_classes"]

_KEY = "nephlab"
_REGISTRY: list[type] = []


def _spec(kind: str, dims: tuple[str, ...], units: str | None, long_name: str | None, name: str | None,
          default: Any, default_factory: Any) -> Any:
    meta = {_KEY: {"kind": kind, "dims": dims, "units": units, "long_name": long_name, "name": name}}
    kw: dict[str, Any] = {"metadata": meta}
    if default is not dataclasses.MISSING:
        kw["default"] = default
    if default_factory is not dataclasses.MISSING:
        kw["default_factory"] = default_factory
    return dataclasses.field(**kw)


def var(*dims: str, units: str | None = None, long_name: str | None = None, name: str | None = None,
        default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING) -> Any:
    """Declare a dataclass field as a data variable over ``dims``.

    Args:
        *dims: the dim names of the field's axes, in order (none for a 0-d variable).
        units: the ``units`` attribute; long_name: the ``long_name`` attribute.
        name: the variable's name in the Dataset (default: the field's name).
        default, default_factory: as for ``dataclasses.field``.

    Example:
        >>> var("s", units="1/time").metadata["nephlab"]["dims"]
        ('s',)
    """
    return _spec("var", tuple(dims), units, long_name, name, default, default_factory)


def coord(*dims: str, units: str | None = None, long_name: str | None = None, name: str | None = None,
          default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING) -> Any:
    """Declare a dataclass field as a coordinate over ``dims`` (see :func:`var`).

    Example:
        >>> coord("x", units="length").metadata["nephlab"]["kind"]
        'coord'
    """
    return _spec("coord", tuple(dims), units, long_name, name, default, default_factory)


def attr(*, name: str | None = None, default: Any = dataclasses.MISSING,
         default_factory: Any = dataclasses.MISSING) -> Any:
    """Declare a dataclass field as a Dataset attribute (stored netCDF-safe on save).

    Example:
        >>> attr(default=0).default
        0
    """
    return _spec("attr", (), None, None, name, default, default_factory)


def result_classes() -> list[type]:
    """Every :class:`ResultBase` subclass defined so far (those of imported modules).

    Example:
        >>> import nephlab.largedev  # doctest: +SKIP
        >>> sorted(c.__name__ for c in result_classes())  # doctest: +SKIP
    """
    return list(_REGISTRY)


def _short(v: Any) -> str:
    """A compact text for one field value."""
    if isinstance(v, (np.ndarray,)) or (hasattr(v, "shape") and hasattr(v, "dtype")):
        shape = tuple(int(s) for s in v.shape)
        if shape == ():
            return _short(np.asarray(v).item())
        return f"{np.dtype(v.dtype).name}{shape}"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (tuple, list)) and len(v) > 4:
        return f"{type(v).__name__}[{len(v)}]"
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(_short(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_short(x)}" for k, x in list(v.items())[:6]) + (", ..." if len(v) > 6 else "") + "}"
    if isinstance(v, str) and len(v) > 60:
        return repr(v[:57] + "...")
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return f"{type(v).__name__}(...)"
    return repr(v)


class ResultBase:
    """Base of nephlab's result dataclasses: ``to_xarray``, compact ``repr`` and ``save``.

    See the module docstring for how a subclass declares its fields.
    """

    xarray_attrs: ClassVar[dict[str, Any]] = {}
    """Attributes every Dataset of this class carries (e.g. a sign convention)."""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _REGISTRY.append(cls)

    # -- xarray ---------------------------------------------------------------------------
    def _xarray_extra(self, ds):
        """Hook: return ``ds`` with derived variables added (default: unchanged)."""
        return ds

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` built from the declared fields.

        Returns:
            ``xarray.Dataset`` with the fields declared by :func:`var` as variables, by
            :func:`coord` as coordinates and by :func:`attr` (plus ``xarray_attrs`` and
            ``result_type``) as attributes.
        """
        import xarray as xr

        data: dict[str, Any] = {}
        coords: dict[str, Any] = {}
        attrs: dict[str, Any] = {"result_type": type(self).__name__, **self.xarray_attrs}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            meta = f.metadata.get(_KEY)
            if meta is None:
                continue
            value = getattr(self, f.name)
            key = meta["name"] or f.name
            if meta["kind"] == "attr":
                attrs[key] = value
                continue
            if value is None:
                continue
            va = {k: meta[k] for k in ("units", "long_name") if meta[k]}
            target = coords if meta["kind"] == "coord" else data
            target[key] = (meta["dims"], np.asarray(value), va)
        ds = xr.Dataset(data, coords=coords, attrs=attrs)
        return self._xarray_extra(ds)

    # -- text -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        parts = [f"{f.name}={_short(getattr(self, f.name))}"
                 for f in dataclasses.fields(self) if f.repr]  # type: ignore[arg-type]
        return f"{type(self).__name__}(" + ", ".join(parts) + ")"

    # -- disk -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False, **to_xarray_kwargs: Any) -> Path:
        """Write :meth:`to_xarray` to ``path`` (``.nc`` or ``.zarr``); returns the path.

        An existing ``path`` is refused unless ``overwrite=True``. Read it back with
        ``xarray.open_dataset(path, engine="h5netcdf")`` or ``xarray.open_zarr(path)``.
        Extra keyword arguments go to :meth:`to_xarray`.
        """
        from ._io import write_dataset

        return write_dataset(self.to_xarray(**to_xarray_kwargs), path, overwrite=overwrite)
