"""The one SCGF sign convention of :mod:`nephlab.largedev` as code: the strings stored in every
Dataset, and the deprecated ``k=`` alias of the old diffusion convention.

The convention itself is documented once, in the docstring of :mod:`nephlab.largedev`.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable

import numpy as np

SCGF_CONVENTION = "theta(s) = lim (1/t) ln <exp(-s A_t)>"
"""``attrs["convention"]`` of every SCGF Dataset."""

RATE_FUNCTION_CONVENTION = "I(x) = sup_s [-s x - theta(s)], " + SCGF_CONVENTION
"""``attrs["convention"]`` of a rate-function Dataset."""


def s_from_k(k: Any) -> Any:
    """The bias ``s = -k`` of the old diffusion convention ``lambda(k) = lim (1/t) ln <exp(+k A_t)>``.

    Exact (a sign flip): ``theta(-k) = lambda(k)`` to the last bit. Scalars stay Python floats.

    Example:
        >>> s_from_k(0.5), s_from_k([1.0, -2.0]).tolist()
        (-0.5, [-1.0, 2.0])
    """
    try:
        arr = np.asarray(k, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"k must be a real number or array, got {k!r}") from None
    return float(-arr) if arr.ndim == 0 else -arr


def accepts_deprecated_k(fn: Callable) -> Callable:
    """Let ``fn(..., s, ...)`` also be called with the deprecated keyword ``k=`` (as ``s = -k``).

    A ``DeprecationWarning`` is emitted; passing both ``s`` and ``k`` is a ``TypeError``.

    Example:
        >>> @accepts_deprecated_k
        ... def theta(s):
        ...     return s
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     theta(k=0.25)
        -0.25
    """
    pos = list(inspect.signature(fn).parameters).index("s")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "k" in kwargs:
            if "s" in kwargs or len(args) > pos:
                raise TypeError(f"{fn.__name__}: pass s or the deprecated k (= -s), not both")
            warnings.warn(
                f"{fn.__name__}(k=...) is deprecated: nephlab.largedev uses one convention, "
                "theta(s) = lim (1/t) ln <exp(-s A_t)>; pass s = -k", DeprecationWarning, stacklevel=2)
            kwargs["s"] = s_from_k(kwargs.pop("k"))
        return fn(*args, **kwargs)

    return wrapper
