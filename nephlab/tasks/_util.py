"""Small helpers shared by the task modules (Dataset assembly, entropy and purity of states)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._config import DEVICE_CHOICES, resolve_device


def dataset(variables: dict[str, tuple], coords: dict[str, tuple] | None = None, attrs: dict | None = None):
    """An ``xarray.Dataset`` from ``{name: (dims, values, units, long_name)}`` and
    ``{name: (values, units, long_name)}`` coordinates (1-D, dimension = name).

    Example:
        >>> ds = dataset({"y": (("x",), np.zeros(2), "m", "height")}, {"x": (np.arange(2), "s", "time")})
        >>> ds.y.attrs["units"], ds.x.attrs["long_name"]
        ('m', 'time')
    """
    import xarray as xr

    data = {k: (d, np.asarray(v), {"units": u, "long_name": ln}) for k, (d, v, u, ln) in variables.items()}
    cs = {k: (k, np.asarray(v), {"units": u, "long_name": ln}) for k, (v, u, ln) in (coords or {}).items()}
    return xr.Dataset(data, coords=cs, attrs=attrs or {})


def entropy_purity(rho: Any) -> tuple[np.ndarray, np.ndarray]:
    """Von Neumann entropy (nats) and purity of density matrices (..., n, n) (solver output:
    not re-validated; eigenvalues <= 0 count as 0 in 0 log 0).

    Example:
        >>> S, P = entropy_purity(np.eye(2) / 2)
        >>> round(float(S), 10), float(P)   # ln 2, 1/2
        (0.6931471806, 0.5)
    """
    rho = np.asarray(rho)
    lam = np.linalg.eigvalsh(0.5 * (rho + np.conj(np.swapaxes(rho, -1, -2))))
    pos = lam > 0
    S = -np.sum(np.where(pos, lam * np.log(np.where(pos, lam, 1.0)), 0.0), axis=-1)
    P = np.real(np.einsum("...ij,...ji->...", rho, rho))
    return S, P


def scalar(x: Any) -> np.ndarray:
    """A 0-d float64 array (task outputs are arrays).

    Example:
        >>> scalar(2).shape
        ()
    """
    return np.asarray(float(x), dtype=np.float64)


DEVICES: tuple[str, ...] = DEVICE_CHOICES  # the one list, owned by nephlab._config


def device_param():
    """The ``device`` parameter of the JAX-backed tasks: ``auto`` (nephlab's default device),
    ``cpu`` or ``gpu``. A ``gpu`` point requests the Dask worker resource ``{"GPU": 1}``."""
    from ._spec import Param

    return Param("device", "str", "auto", "where JAX computes: auto (nephlab.device()), cpu or gpu "
                 "(gpu points request the Dask worker resource GPU=1)", choices=DEVICES)


def gpu_resources(params: dict) -> dict[str, float]:
    """``{"GPU": 1}`` for ``device == "gpu"``, else ``{}``.

    Example:
        >>> gpu_resources({"device": "gpu"}), gpu_resources({"device": "auto"})
        ({'GPU': 1}, {})
    """
    return {"GPU": 1} if params.get("device") == "gpu" else {}


class on_device:
    """Context manager: run JAX computations of ``task`` on ``choice`` (``auto``/``cpu``/``gpu``).

    ``auto`` changes nothing. ``cpu``/``gpu`` set JAX's default device, resolved by
    :func:`nephlab._config.resolve_device`: a ValueError names the parameter when JAX has no such
    device here or when ``NEPHLAB_DEVICE`` asks for the other one.

    Example:
        >>> with on_device("cpu", "demo"):
        ...     pass
    """

    def __init__(self, choice: str, task: str) -> None:
        self.choice, self.task = choice, task
        self._ctx = None

    def __enter__(self):
        import jax

        if self.choice == "auto":
            return self
        dev = resolve_device(self.choice, f"task {self.task!r}: parameter 'device'")
        self._ctx = jax.default_device(dev)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
            self._ctx = None
        return False


def check_ordered(task: str, p: dict, lo: str, hi: str) -> None:
    """ValueError naming both parameters unless ``p[lo] < p[hi]`` (a grid's two ends).

    Example:
        >>> check_ordered("scgf", {"s_min": 1.0, "s_max": 0.0}, "s_min", "s_max")
        Traceback (most recent call last):
        ...
        ValueError: task 'scgf': parameters 's_min' = 1.0 and 's_max' = 0.0: allowed: s_min < s_max
    """
    if not p[lo] < p[hi]:
        raise ValueError(f"task {task!r}: parameters {lo!r} = {p[lo]} and {hi!r} = {p[hi]}: allowed: {lo} < {hi}")
