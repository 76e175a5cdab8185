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


# --- arrays and operators (quantum) ---


def real_number(x: Any, name: str, *, positive: bool = False, nonneg: bool = False,
                allow_inf: bool = False) -> float:
    """``x`` as a float; strict: only real numbers (no bool, str or complex) are accepted.

    Args:
        x: a Python/NumPy real number or a 0-d real array.
        name: the argument's name, used in the message.
        positive: require ``x > 0``; nonneg: require ``x >= 0``; allow_inf: accept ±inf.

    Raises:
        TypeError: ``x`` is not a real number (the message gives its type).
        ValueError: NaN, inf (unless allowed) or the sign condition fails.

    Example:
        >>> real_number(1e-6, "rtol", positive=True)
        1e-06
    """
    is_real_0d = hasattr(x, "ndim") and hasattr(x, "dtype") and np.ndim(x) == 0 and np.isrealobj(x)
    if isinstance(x, bool) or not (isinstance(x, (int, float, np.integer, np.floating)) or is_real_0d):
        raise TypeError(f"{name} must be a real number, got {x!r} of type {type(x).__name__}")
    v = float(x)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be a finite real number, got {x!r}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    if nonneg and not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return v


def time_grid(x: Any, name: str = "tlist") -> np.ndarray:
    """``x`` as a concrete, real, finite, strictly increasing 1-D float64 array of >= 2 times.

    Raises:
        TypeError: a traced JAX value, complex values, or something that is not an array.
        ValueError: wrong shape, NaN/inf, or two times not increasing (the message gives both).

    Example:
        >>> time_grid([0, 0.5, 1.0])
        array([0. , 0.5, 1. ])
    """
    import jax

    if isinstance(x, jax.core.Tracer):
        raise TypeError(f"{name} must be concrete (a NumPy/JAX array), not a traced value")
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of real times, got {type(x).__name__}") from None
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must hold real times, got complex values (dtype {raw.dtype})")
    try:
        t = raw.astype(float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of real times, got dtype {raw.dtype}") from None
    if t.ndim != 1 or t.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 times, got shape {t.shape}")
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} contains NaN or inf (entry ({i},) is {t[i]}); all entries must be finite")
    d = np.diff(t)
    if np.any(d <= 0):
        i = int(np.argmax(d <= 0))
        raise ValueError(f"{name} must be strictly increasing, but {name}[{i}]={t[i]} >= {name}[{i + 1}]={t[i + 1]}")
    return t


def args_dict(args: Any, name: str = "args") -> Any:
    """The ``args`` dict of time-dependent coefficients, every leaf converted to an array.

    ``None`` gives ``{}``. Leaves must be numbers or numeric arrays, since they are passed
    into JAX-compiled code.

    Raises:
        TypeError: not a dict, or a leaf that is not numeric (the message names its key).

    Example:
        >>> sorted(args_dict({"w": 2.0, "A": [1, 2]}))
        ['A', 'w']
    """
    import jax

    if args is None:
        return {}
    if not isinstance(args, dict):
        raise TypeError(f"{name} must be a dict (passed to coefficients as f(t, args)), got {type(args).__name__}")

    def conv(path, leaf):
        try:
            a = leaf if isinstance(leaf, jax.Array) else np.asarray(leaf)
            if a.dtype.kind not in "biufc":
                raise TypeError
        except (TypeError, ValueError):
            key = "".join(str(p) for p in path)
            raise TypeError(
                f"{name}{key} = {leaf!r} cannot be passed into JAX; {name} values must be numbers or arrays"
            ) from None
        return a

    return jax.tree_util.tree_map_with_path(conv, args)


def broadcast_batch(shapes: Any, name: str = "inputs") -> tuple[int, ...]:
    """The broadcast of the leading batch shapes of several arguments.

    Args:
        shapes: sequence of ``(argument name, batch shape)`` pairs.
        name: what the arguments are, for the message.

    Raises:
        ValueError: the shapes do not broadcast; the message lists every non-empty one.

    Example:
        >>> broadcast_batch([("H", (3,)), ("rho0", ()), ("c_ops[0]", (1,))])
        (3,)
    """
    shapes = [(str(k), tuple(v)) for k, v in shapes]
    try:
        return tuple(np.broadcast_shapes(*[s for _, s in shapes]))
    except ValueError:
        desc = ", ".join(f"{k}: {v}" for k, v in shapes if v)
        raise ValueError(
            f"the batch axes of the {name} do not broadcast against each other ({desc}); leading "
            "batch axes must be equal or 1, as in NumPy broadcasting"
        ) from None
