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


# --- stochastic and control ---


def is_traced(x: Any) -> bool:
    """Whether ``x`` is a JAX tracer (an argument of a function being traced by jit/grad/vmap).

    Example:
        >>> import jax
        >>> is_traced(1.0), bool(jax.jit(lambda v: is_traced(v))(1.0))
        (False, True)
    """
    import jax

    return isinstance(x, jax.core.Tracer)


def positive_or_traced(x: Any, name: str) -> Any:
    """:func:`positive_float`, except that a JAX tracer passes unchanged (differentiable
    parameters of pure functions).

    Example:
        >>> positive_or_traced(0.5, "gamma")
        0.5
    """
    return x if is_traced(x) else positive_float(x, name)


def finite_or_traced(x: Any, name: str) -> Any:
    """:func:`finite_float`, except that a JAX tracer passes unchanged.

    Example:
        >>> finite_or_traced(-2, "lam_i")
        -2.0
    """
    return x if is_traced(x) else finite_float(x, name)


def _alternatives(allowed: tuple) -> str:
    items = [repr(a) for a in allowed]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def one_of(x: Any, name: str, allowed: tuple) -> Any:
    """``x``, which must equal one of ``allowed`` (same type; e.g. method or problem names).

    Example:
        >>> one_of("heun", "method", ("euler_maruyama", "heun"))
        'heun'
        >>> one_of("rk4", "method", ("euler_maruyama", "heun"))
        Traceback (most recent call last):
        ...
        ValueError: method must be one of 'euler_maruyama' or 'heun', got 'rk4'
    """
    if not any(type(x) is type(a) and x == a for a in allowed):
        raise ValueError(f"{name} must be one of {_alternatives(tuple(allowed))}, got {x!r}")
    return x


def in_open_interval(x: Any, name: str, low: float, high: float) -> float:
    """``x`` as a float with ``low < x < high`` (e.g. a confidence level in (0, 1)).

    Example:
        >>> in_open_interval(0.95, "confidence", 0, 1)
        0.95
    """
    v = finite_float(x, name)
    if not low < v < high:
        raise ValueError(f"{name} must be in ({low:g}, {high:g}), got {x!r}")
    return v


def function(x: Any, name: str, signature: str) -> Any:
    """``x``, which must be callable; ``signature`` says how it is called, e.g. ``"U(x, lam)"``.

    Example:
        >>> function(3, "U", "U(x, lam) -> energy")
        Traceback (most recent call last):
        ...
        TypeError: U must be a callable U(x, lam) -> energy, got int
    """
    if not callable(x):
        raise TypeError(f"{name} must be a callable {signature}, got {type(x).__name__}")
    return x


def real_array(x: Any, name: str, *, ndim: int | None = None, min_size: int = 0, finite: bool = True,
               promote_scalar: bool = False) -> np.ndarray:
    """``x`` as a float64 NumPy array (numbers, NumPy or JAX arrays; complex only with zero
    imaginary part).

    Args:
        ndim: required number of axes (None: any). promote_scalar: read a 0-d value as an
            array of ``ndim`` axes of length 1 (a scalar ``A`` as the 1x1 matrix).
        min_size: least number of elements. finite: refuse NaN and inf.

    Example:
        >>> real_array([1, 2], "work", ndim=1, min_size=2)
        array([1., 2.])
        >>> real_array(2.0, "A", ndim=2, promote_scalar=True).shape
        (1, 1)
    """
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a real number or array, got {x!r}")
    try:
        a = np.asarray(x)
    except Exception:  # noqa: BLE001 - ragged nests and the like
        raise TypeError(f"{name} must be a real number or array, got {type(x).__name__}") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be a real number or array, got {x!r}")
    if np.iscomplexobj(a):
        if np.any(a.imag != 0):
            raise TypeError(f"{name} must be real, got complex values (dtype {a.dtype})")
        a = a.real
    a = a.astype(np.float64)
    if ndim is not None:
        if promote_scalar and a.ndim == 0:
            a = a.reshape((1,) * ndim)
        if a.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if a.size < min_size:
        raise ValueError(f"{name} needs at least {min_size} values, got {a.size}")
    if finite and not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or inf value(s) among {a.size}")
    return a


def positive_array(x: Any, name: str) -> np.ndarray:
    """:func:`real_array` whose every element is finite and > 0 (a scalar or batch of them).

    Example:
        >>> positive_array([1.0, 2.0], "kBT")
        array([1., 2.])
    """
    a = real_array(x, name)
    if np.any(a <= 0):
        raise ValueError(f"{name} must be > 0, got {x!r}")
    return a


def int_seed(x: Any, name: str = "seed") -> int:
    """``x`` as an int seed, which is required (None is refused).

    Example:
        >>> int_seed(3)
        3
    """
    if x is None or isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an int (a fixed seed is required), got {x!r}")
    return int(x)


def prng_key(x: Any, name: str = "seed") -> Any:
    """``x`` (an int seed or a single ``jax.random`` key, new-style or raw uint32 (2,)) as a key.

    Example:
        >>> prng_key(0).shape
        ()
    """
    import jax
    import jax.numpy as jnp

    if x is None:
        raise TypeError(f"{name} is required: pass an int or a jax.random key ({name}=0, {name}=jax.random.key(0))")
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return jax.random.key(int(x))
    if isinstance(x, jax.Array):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            if x.shape != ():
                raise ValueError(f"{name} must be a single key, got a key array of shape {x.shape}")
            return x
        if x.dtype == jnp.uint32 and x.shape == (2,):
            return jax.random.wrap_key_data(x)
    raise TypeError(f"{name} must be an int or a jax.random key, got {x!r}")
