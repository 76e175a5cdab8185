"""Scalar argument checks shared by every public function of nephlab.

Each raises ``TypeError`` or ``ValueError`` whose message names the argument, the value and what
is allowed, so that bad input fails at the public boundary and never deep inside JAX.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive_float(x: Any, name: str) -> float:
    """``x`` as a float, which must be finite and > 0.

    Example:
        >>> positive_float(2, "T")
        2.0
    """
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number, got {x!r}") from None
    if isinstance(x, bool) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {x!r}")
    return v


def integer(x: Any, name: str, minimum: int = 1) -> int:
    """``x`` as an int, which must be an integer value >= ``minimum``.

    Example:
        >>> integer(3.0, "n_slices")
        3
    """
    ok = not isinstance(x, bool) and isinstance(x, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(float(x)) or int(x) != x or int(x) < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {x!r}")
    return int(x)


def finite_float(x: Any, name: str) -> float:
    """``x`` as a finite float.

    Example:
        >>> finite_float(-1, "a")
        -1.0
    """
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {x!r}") from None
    if isinstance(x, bool) or not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return v
