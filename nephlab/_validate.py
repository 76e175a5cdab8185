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


# --- large deviations ---
# Rate matrices, increments, grids, index sets, regions A/B, points, seeds and JAX-traceable
# callables of nephlab.largedev. JAX is imported inside the functions that trace, so that this
# module stays cheap to import.


def rate_matrix(x: Any, name: str = "rates") -> np.ndarray:
    """``x`` as a dense float ``(n, n)`` jump-rate matrix, ``n >= 2``, zero diagonal.

    Off-diagonal entries must be finite and >= 0 with at least one > 0; the diagonal is ignored
    (set to zero).

    Example:
        >>> rate_matrix([[5.0, 1.0], [2.0, 7.0]]).tolist()
        [[0.0, 1.0], [2.0, 0.0]]
        >>> rate_matrix([[0.0, -1.0], [1.0, 0.0]])
        Traceback (most recent call last):
        ...
        ValueError: rates must have non-negative off-diagonal entries, got rates[0, 1] = -1.0
    """
    try:
        W = np.array(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a square array of jump rates, got {type(x).__name__}") from None
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 2:
        raise ValueError(f"{name} must be a square (n, n) matrix with n >= 2, got shape {W.shape}")
    np.fill_diagonal(W, 0.0)
    bad = np.argwhere(~np.isfinite(W))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"{name} must be finite, got {name}[{i}, {j}] = {float(W[i, j])!r}")
    bad = np.argwhere(W < 0)
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"{name} must have non-negative off-diagonal entries, got {name}[{i}, {j}] = "
                         f"{float(W[i, j])!r}")
    if not np.any(W > 0):
        raise ValueError(f"{name} must have at least one positive off-diagonal entry, got all zeros")
    return W


def jump_increments(x: Any, name: str, n: int) -> np.ndarray:
    """Increments ``g[i, j]`` of a counting observable as a dense ``(n, n)`` array, zero diagonal.

    ``x`` is ``"activity"`` (every jump counts 1) or an ``(n, n)`` dense or scipy.sparse matrix.

    Example:
        >>> jump_increments("activity", "observable", 2).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    allowed = f"'activity' or an ({n}, {n}) increments matrix"
    if isinstance(x, str):
        if x != "activity":
            raise ValueError(f"{name} must be {allowed}, got {x!r}")
        g = np.ones((n, n))
    else:
        if hasattr(x, "toarray") and hasattr(x, "nnz"):  # scipy.sparse
            x = x.toarray()
        try:
            g = np.array(x, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be {allowed}, got {type(x).__name__}") from None
        if g.shape != (n, n):
            raise ValueError(f"{name} must have the shape of rates {(n, n)}, got shape {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError(f"{name} must be finite, got a non-finite increment")
    np.fill_diagonal(g, 0.0)
    return g


def vectorised_callable(fn: Any, name: str) -> Any:
    """``fn``, which must be callable (a function of NumPy arrays).

    Example:
        >>> vectorised_callable(abs, "V") is abs
        True
    """
    if not callable(fn):
        raise TypeError(f"{name} must be a vectorised callable, got {type(fn).__name__}")
    return fn


def uniform_grid(x: Any, name: str) -> tuple[np.ndarray, float]:
    """``(x, h)``: ``x`` as a uniform increasing 1D float grid of >= 3 points, and its spacing h.

    Example:
        >>> uniform_grid([0.0, 0.5, 1.0], "x")[1]
        0.5
    """
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1D array of grid points, got {type(x).__name__}") from None
    if x.ndim != 1 or x.size < 3:
        raise ValueError(f"{name} must be a 1D array of >= 3 points, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite, got non-finite entries")
    d = np.diff(x)
    h = float(d.mean())
    if h <= 0 or np.max(np.abs(d - h)) > 1e-9 * abs(h) * 10:
        raise ValueError(f"{name} must be uniform and increasing (e.g. np.linspace), got spacings "
                         f"in [{d.min():g}, {d.max():g}]")
    return x, h


def index_mask(x: Any, name: str, n: int) -> np.ndarray:
    """A non-empty set of states ``0..n-1`` (integer indices or a boolean mask) as a bool ``(n,)`` mask.

    Example:
        >>> index_mask([0, 2], "A", 3).tolist()
        [True, False, True]
    """
    s = np.asarray(x)
    if s.dtype == bool:
        if s.shape != (n,):
            raise ValueError(f"{name} as a mask must have shape ({n},), got {s.shape}")
        m = s.copy()
    else:
        if s.size and not np.issubdtype(s.dtype, np.integer):
            raise TypeError(f"{name} must be integer indices or a boolean mask, got dtype {s.dtype}")
        s = s.ravel()
        if s.size and (s.min() < 0 or s.max() >= n):
            raise ValueError(f"{name} has indices outside [0, {n}), got {s.tolist()}")
        m = np.zeros(n, bool)
        m[s] = True
    if not m.any():
        raise ValueError(f"{name} must be non-empty, got {x!r}")
    return m


def points(x: Any, name: str) -> np.ndarray:
    """Finite points as a float ``(m, d)`` array: scalar -> (1, 1), (m,) -> (m, 1), (m, d) stays.

    Example:
        >>> points([0.0, 1.0], "x0").shape
        (2, 1)
    """
    what = f"{name} must be a real array of points, shape (m,) or (m, d), got {x!r}"
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(what)
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(what) from None
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(f"{name} must have shape (m,) (1D) or (m, d), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must contain at least one point, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return arr


def jax_callable(fn: Any, name: str, d: int, *, shapes: tuple[tuple[int, ...], ...], returns: str,
                 coords: bool = False, boolean: bool = False) -> Any:
    """``fn``, checked to be traceable by JAX on one point of dimension ``d``.

    ``fn`` is called as ``fn(x)`` with ``x`` of shape ``(d,)`` or, with ``coords=True``, as
    ``fn(x_1, ..., x_d)`` on scalar coordinates; its result must have one of ``shapes`` (and a bool
    dtype if ``boolean``). ``returns`` describes the result in messages. Nothing is computed:
    ``jax.eval_shape`` traces abstract values only.

    Example:
        >>> import jax.numpy as jnp
        >>> f = jax_callable(lambda x, y: x * y, "V", 2, shapes=((),), returns="a scalar", coords=True)
        >>> jax_callable(lambda x: x, "V", 2, shapes=((),), returns="a scalar energy")
        Traceback (most recent call last):
        ...
        ValueError: V must return shape () (a scalar energy) for one point of dimension d=2, got shape (2,)
    """
    import jax
    import jax.numpy as jnp

    args = f"{d} coordinate(s)" if coords else f"x with shape ({d},)"
    if not callable(fn):
        raise TypeError(f"{name} must be a JAX-traceable callable of {args} returning {returns}, "
                        f"got {type(fn).__name__}")
    call = (lambda x: fn(*[x[i] for i in range(d)])) if coords else fn
    try:
        out = jax.eval_shape(lambda x: jnp.asarray(call(x)), jax.ShapeDtypeStruct((d,), jnp.float64))
    except Exception as err:  # noqa: BLE001 - any failure means "not traceable"
        raise TypeError(f"{name} must be a JAX-traceable callable of {args} (use jax.numpy, not numpy) "
                        f"returning {returns}; calling it on a traced value failed: "
                        f"{type(err).__name__}: {str(err)[:200]}") from None
    shape = tuple(out.shape)
    if shape not in shapes or (boolean and out.dtype != jnp.bool_):
        want = " or ".join(str(s) for s in shapes)
        got = f"shape {shape}" + (f", dtype {out.dtype}" if boolean else "")
        raise ValueError(f"{name} must return shape {want} ({returns}) for one point of dimension d={d}, got {got}")
    return fn


def region(x: Any, name: str, d: int, *, traced: bool = True) -> tuple:
    """A closed region (A or B) in ``d`` dimensions in canonical, hashable form.

    ``x`` is a boolean function ``f(x_1, ..., x_d)`` -> ``('callable', f)`` (checked to be
    JAX-traceable if ``traced``), a ball ``((c_1, ..., c_d), radius)`` -> ``('ball', c, r)``, or in
    1D an interval ``(lo, hi)`` (``-inf``/``inf`` allowed) -> ``('interval', lo, hi)``.

    Example:
        >>> region(((0, 1), 0.5), "A", 2)
        ('ball', (0.0, 1.0), 0.5)
        >>> region((-float("inf"), -1), "A", 1)
        ('interval', -inf, -1.0)
    """
    if callable(x):
        if traced:
            jax_callable(x, name, d, shapes=((),), returns="one boolean per point", coords=True, boolean=True)
        return ("callable", x)
    allowed = (f"a boolean function f(x, ...), a ball ((c_1, ..., c_{d}), radius)"
               + (", or an interval (lo, hi)" if d == 1 else ""))
    try:
        first, second = x
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {allowed}, got {x!r}") from None
    if np.ndim(first) == 1 or isinstance(first, (tuple, list)):
        try:
            c = tuple(float(v) for v in np.asarray(first, dtype=float).ravel())
            r = float(second)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be {allowed}, got {x!r}") from None
        if len(c) != d:
            raise ValueError(f"{name}: ball centre must have {d} coordinate(s), got {len(c)} in {x!r}")
        if not all(math.isfinite(v) for v in c) or not (math.isfinite(r) and r > 0):
            raise ValueError(f"{name}: ball needs a finite centre and a finite radius > 0, got {x!r}")
        return ("ball", c, r)
    if d != 1:
        raise TypeError(f"{name} must be {allowed} in d={d}, got {x!r}")
    try:
        lo, hi = float(first), float(second)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {allowed}, got {x!r}") from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise ValueError(f"{name}: interval (lo, hi) needs lo < hi (inf allowed, no NaN), got {x!r}")
    return ("interval", lo, hi)


def disjoint_regions(a: tuple, b: tuple, names: tuple[str, str] = ("A", "B")) -> None:
    """Raise if two canonical regions (see :func:`region`) of the same kind overlap.

    Intervals and balls are compared exactly; callables cannot be compared here (test them on a
    grid or along trajectories).

    Example:
        >>> disjoint_regions(("interval", 0.0, 1.0), ("interval", 0.5, 2.0))
        Traceback (most recent call last):
        ...
        ValueError: A = [0.0, 1.0] and B = [0.5, 2.0] overlap; they must be disjoint
    """
    na, nb = names
    if a[0] == "interval" and b[0] == "interval" and max(a[1], b[1]) <= min(a[2], b[2]):
        raise ValueError(f"{na} = [{a[1]}, {a[2]}] and {nb} = [{b[1]}, {b[2]}] overlap; they must be disjoint")
    if a[0] == "ball" and b[0] == "ball" and math.dist(a[1], b[1]) <= a[2] + b[2]:
        raise ValueError(f"balls {na}={a[1:]} and {nb}={b[1:]} overlap; they must be disjoint")


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
        if a.ndim == 0:
            raise ValueError(f"{name} must be finite, got {x!r}")
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
