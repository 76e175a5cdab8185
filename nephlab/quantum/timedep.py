"""Time-dependent operators in QuTiP's list format, parsed once at the public boundary.

An operator argument (``H`` or one entry of ``c_ops``) may be

* a constant operator: NumPy/JAX array or QuTiP ``Qobj`` of shape (..., n, n);
* a list ``[O0, [O1, f1], [O2, f2], ...]`` meaning ``O0 + f1(t) O1 + f2(t) O2``, where each
  coefficient ``f`` is a callable (see the rule below), an array of values sampled on ``tlist``
  (interpolated by a not-a-knot cubic spline, as QuTiP does for array coefficients), or a plain
  number;
* for ``H`` only: a callable ``H(t)`` or ``H(t, args)`` returning the full (n, n) matrix.

The one rule for time functions (coefficients and callable ``H``), used by ``mesolve``,
``tpm_work`` and :func:`hamiltonian_function` alike (:func:`time_function`, :func:`sample`):

* **Signature**: decided by inspecting the signature, never by trial calls. A function with one
  positional parameter is called ``f(t)`` (QuTiP's plain style, also ``jnp.sin``/``np.cos``); one
  with two positional parameters (or ``*args``) is called ``f(t, args)``, ``args`` being the dict
  given to the solver. Anything else (no parameter, more than two required ones, required
  keyword-only ones) is a TypeError naming the coefficient.
* **Tracing**: ``mesolve`` evaluates time functions inside compiled JAX code, so they must be
  written with ``jax.numpy``; a function that calls NumPy on ``t``, branches on ``t`` with
  ``if`` or calls ``float(t)`` is refused up front with a TypeError naming it.
  ``tpm_work`` samples H on the host and also accepts such functions (slower: one Python call
  per time).

The parsed form is an :class:`OperatorSum`: a tuple of :class:`Term` objects (operator plus
coefficient) or a :class:`CallableOperator`. Coefficient arrays are turned into spline
coefficients here, so the engine only ever evaluates pure JAX functions.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from ._convert import as_operator, check_finite, is_qobj, to_numpy

__all__ = [
    "CallableOperator", "Coefficient", "OperatorSum", "Term", "hamiltonian_function", "function_name", "parse_operator",
    "sample", "time_function",
]


# ---------------------------------------------------------------------------------------------
# the one rule for time functions: signature and tracing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TimeOnly:
    """A one-argument ``f(t)`` called as ``f(t, args)``.

    Equal (and hashing equal) for the same ``f``, so that a program compiled for a coefficient
    is reused when the same function is passed again.
    """

    func: Callable

    def __call__(self, t, args):
        return self.func(t)


def function_name(f: Callable) -> str:
    """The name messages use for a user's function (``<lambda>`` for a lambda).

    Example:
        >>> function_name(time_function(abs, "f"))
        'abs'
    """
    inner = f.func if isinstance(f, _TimeOnly) else f
    return getattr(inner, "__name__", type(inner).__name__)


def time_function(f: Callable, name: str) -> Callable:
    """``f`` as a function of ``(t, args)``: ``f(t)`` and ``f(t, args)`` are both accepted.

    The choice is made from the signature (see the module docstring), never by calling ``f``.

    Args:
        f: the user's callable.
        name: how messages name it, e.g. ``"H[1][1] (the coefficient `drive`)"``.

    Raises:
        TypeError: the signature fits neither form.

    Example:
        >>> import jax.numpy as jnp
        >>> float(time_function(jnp.cos, "c")(0.0, {}))
        1.0
        >>> time_function(lambda t, args: args["w"] * t, "c")(2.0, {"w": 3.0})
        6.0
    """
    if isinstance(f, np.ufunc):  # np.cos(x, /, out=None, ...): the arity is nin
        if f.nin == 1:
            return _TimeOnly(f)
        raise TypeError(f"{name} must be a function f(t) or f(t, args), but the NumPy ufunc {f.__name__!r} takes {f.nin} inputs")
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}: cannot read the signature of {function_name(f)!r}; wrap it as lambda t: ... or lambda t, args: ..."
        ) from None
    pos = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in pos if p.default is p.empty]
    kw_required = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    var_pos = any(p.kind == p.VAR_POSITIONAL for p in params)
    if kw_required or len(required) > 2 or not (pos or var_pos):
        raise TypeError(
            f"{name} must be a function f(t) or f(t, args) (args: the dict given to the solver), "
            f"but {function_name(f)!r} has signature {inspect.signature(f)}"
        )
    if len(pos) == 1 and not var_pos:
        return _TimeOnly(f)
    return f


_TRACE_ERRORS = (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError,
                 jax.errors.TracerIntegerConversionError)


def _untraceable(name: str, err: Exception) -> TypeError:
    if isinstance(err, jax.errors.TracerArrayConversionError):
        why = "it calls NumPy on a traced value"
    elif isinstance(err, jax.errors.TracerBoolConversionError):
        why = "it branches on a traced value with Python `if`/`and`/`or`; use jnp.where or jax.lax.cond"
    else:
        why = "it converts a traced value to a Python number, e.g. with float(t) or math.sin(t)"
    return TypeError(
        f"{name} cannot be traced by JAX ({why}); write it with jax.numpy (jnp.sin, jnp.exp, jnp.where, ...) "
        "as f(t) or f(t, args)"
    )


@partial(jax.jit, static_argnums=0)
def _on_grid(f, ts, args):
    return jax.vmap(lambda t: jnp.asarray(f(t, args)))(ts)


def sample(f: Callable, ts: Any, args: Any, name: str, *, traced: bool = True) -> np.ndarray:
    """Values of a time function ``f(t, args)`` at every time of ``ts``, as a NumPy array.

    One vectorised, compiled evaluation (cached per function and grid length). With
    ``traced=True`` (what ``mesolve`` needs) a function JAX cannot trace is refused with a
    TypeError naming it; with ``traced=False`` (host-side users such as ``tpm_work``) it is
    evaluated once per time in Python instead.

    Args:
        f: a function of ``(t, args)`` (see :func:`time_function`).
        ts: (T,) times.
        args: the dict passed as ``args``.
        name: how messages name ``f``.

    Returns:
        array of shape (T,) + the shape of ``f``'s output.

    Raises:
        TypeError: untraceable with ``traced=True``, or ``f`` raised (its error is quoted).

    Example:
        >>> import jax.numpy as jnp, numpy as np
        >>> sample(lambda t, a: jnp.sin(a["w"] * t), np.array([0.0, np.pi / 2]), {"w": 1.0}, "f").round(12)
        array([0., 1.])
    """
    ts = np.asarray(ts, dtype=float)
    try:
        return np.asarray(_on_grid(f, jnp.asarray(ts), args))
    except _TRACE_ERRORS as err:
        if traced:
            raise _untraceable(name, err) from None
    except Exception:  # noqa: BLE001 - not vmappable or args not JAX types: one call per time
        pass
    out = []
    for t in ts:
        try:
            out.append(np.asarray(f(jnp.asarray(t) if traced else float(t), args)))
        except Exception as err:  # noqa: BLE001 - report the user's error at the boundary
            raise TypeError(f"{name} failed at t={t:g}: {type(err).__name__}: {err}") from err
    return np.stack(out)


@dataclass(frozen=True, eq=False)
class Coefficient:
    """A scalar coefficient ``c(t)``: a callable ``f(t, args)`` or a cubic spline through samples.

    ``kind`` is ``"func"`` or ``"spline"``. For splines ``knots`` (T,) and ``coeffs`` (4, T-1)
    hold the piecewise cubic (NumPy, complex128). ``name`` is how messages name it, e.g.
    ``"H[1][1] (the coefficient `drive`)"``.
    """

    kind: str
    func: Callable | None = None
    knots: np.ndarray | None = None
    coeffs: np.ndarray | None = None
    name: str = "coefficient"


def spline_eval(knots, coeffs, t):
    """Evaluate a piecewise cubic (scipy ``PPoly`` layout) at scalar ``t`` inside JAX."""
    idx = jnp.clip(jnp.searchsorted(knots, t, side="right") - 1, 0, knots.shape[0] - 2)
    dt = t - knots[idx]
    c = coeffs[:, idx]
    return ((c[0] * dt + c[1]) * dt + c[2]) * dt + c[3]


def _spline(values: np.ndarray, tlist: np.ndarray, name: str) -> Coefficient:
    from scipy.interpolate import CubicSpline

    if values.ndim != 1 or values.shape[0] != tlist.shape[0]:
        raise ValueError(
            f"{name}: an array coefficient must have one value per time in tlist "
            f"(shape ({tlist.shape[0]},)), got shape {values.shape}"
        )
    check_finite(values, name)
    if tlist.shape[0] < 2:
        raise ValueError(f"{name}: an array coefficient needs at least 2 samples")
    bc = "not-a-knot" if tlist.shape[0] >= 4 else "natural"
    pp = CubicSpline(tlist, values, bc_type=bc)
    return Coefficient("spline", knots=np.asarray(tlist, float), coeffs=np.asarray(pp.c, np.complex128))


@dataclass(frozen=True, eq=False)
class Term:
    """``coeff(t) * op``; ``coeff`` None means a constant term. ``op`` is (..., n, n) complex."""

    op: np.ndarray
    coeff: Coefficient | None = None


@dataclass(frozen=True, eq=False)
class CallableOperator:
    """A plain callable ``H(t, args) -> (n, n)``; ``n`` is found by one evaluation at ``t0``."""

    func: Callable
    n: int


OperatorSum = tuple  # tuple[Term, ...] | CallableOperator


def _coefficient(c: Any, tlist: np.ndarray | None, name: str) -> Coefficient | complex:
    if isinstance(c, str):
        raise TypeError(
            f"{name}: string coefficients are not supported; pass a JAX-traceable callable "
            "f(t) or f(t, args) (e.g. lambda t, args: jnp.cos(args['w'] * t)) or an array sampled on tlist"
        )
    if callable(c) and not isinstance(c, (np.ndarray, jax.Array)):
        label = f"{name} (the coefficient `{function_name(c)}`)"
        return Coefficient("func", func=time_function(c, label), name=label)
    if isinstance(c, (int, float, complex, np.number)) and not isinstance(c, bool):
        if not np.isfinite(c):
            raise ValueError(f"{name}: coefficient {c!r} is not finite")
        return complex(c)
    arr = to_numpy(c, name)
    if arr.ndim == 0:
        return _coefficient(complex(arr), tlist, name)
    if tlist is None:
        raise ValueError(f"{name}: an array coefficient needs tlist")
    return _spline(arr, tlist, name)


def _is_operator_like(x) -> bool:
    return is_qobj(x) or sp.issparse(x) or (isinstance(x, (np.ndarray, jax.Array)) and np.ndim(x) >= 2)


def _dense_operator(x: Any, name: str) -> np.ndarray:
    return as_operator(x.toarray() if sp.issparse(x) else x, name)


def _is_coefficient_like(c) -> bool:
    if is_qobj(c):  # a Qobj is callable, but it is an operator, never a coefficient
        return False
        return False
    if isinstance(c, str) or (callable(c) and not isinstance(c, (np.ndarray, jax.Array))):
        return True
    if isinstance(c, (int, float, complex, np.number)) and not isinstance(c, bool):
        return True
    return isinstance(c, (np.ndarray, jax.Array)) and np.ndim(c) == 1


def parse_operator(x: Any, name: str, tlist: np.ndarray | None = None, *, allow_callable: bool = True,
                   sparse: bool = False):
    """Parse an operator argument into a tuple of :class:`Term` or a :class:`CallableOperator`.

    With ``sparse`` every operator is kept as a complex128 ``scipy.sparse`` CSR matrix (see
    :func:`nephlab.quantum.sparse.as_sparse`; never densified) and a callable ``H`` is refused;
    otherwise operators are dense NumPy arrays (``scipy.sparse`` inputs are converted).
    Raises TypeError/ValueError naming ``name`` (e.g. ``"H"`` or ``"c_ops[1]"``) on bad input.

    Example:
        >>> import numpy as np
        >>> terms = parse_operator([np.eye(2), [np.diag([1., -1.]), lambda t, a: t]], "H")
        >>> len(terms), terms[1].coeff.kind
        (2, 'func')
    """
    if sparse:
        from .sparse import as_sparse as convert
    else:
        convert = _dense_operator
    if is_qobj(x) or sp.issparse(x) or isinstance(x, (np.ndarray, jax.Array)):
        return (Term(convert(x, name)),)
    if type(x).__name__ == "QobjEvo":
        raise TypeError(
            f"{name} is a QuTiP QobjEvo; pass its list form [H0, [H1, f1], ...] with "
            "JAX-traceable coefficients f(t) or f(t, args) instead"
        )
    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise ValueError(f"{name} is an empty list; give at least one operator")
        if len(x) == 2 and _is_operator_like(x[0]) and _is_coefficient_like(x[1]):
            x = [x]  # a single pair [O, f], as QuTiP accepts it
        # A nested list of numbers is a plain matrix, not the list format.
        if all(isinstance(e, (list, tuple)) and e and all(isinstance(v, (int, float, complex, np.number)) for v in e) for e in x):
            return (Term(convert(x, name)),)
        terms = []
        for i, item in enumerate(x):
            iname = f"{name}[{i}]"
            if isinstance(item, (list, tuple)):
                if len(item) != 2:
                    raise ValueError(f"{iname} must be an operator or a pair [operator, coefficient], got a sequence of length {len(item)}")
                op = convert(item[0], f"{iname}[0]")
                coeff = _coefficient(item[1], tlist, f"{iname}[1]")
                if isinstance(coeff, complex):
                    terms.append(Term(op * coeff))
                else:
                    terms.append(Term(op, coeff))
            else:
                terms.append(Term(convert(item, iname)))
        n = terms[0].op.shape[-1]
        for i, t in enumerate(terms):
            if t.op.shape[-1] != n:
                raise ValueError(f"{name}[{i}] has shape {t.op.shape}, which does not match the dimension n={n} of {name}[0]")
        return tuple(terms)
    if callable(x):
        if sparse:
            raise TypeError(
                f"{name} is a callable returning dense matrices, which the sparse format cannot take; write it "
                "in the list format [H0, [H1, f1], ...] with sparse H_j, or use format='dense'"
            )
        if not allow_callable:
            raise TypeError(f"{name} must be an operator or a list [O0, [O1, f1], ...]; a plain callable is only allowed for H")
        return CallableOperator(time_function(x, name), -1)
    raise TypeError(
        f"{name} must be an array, a Qobj, a list [O0, [O1, f1], ...]"
        f"{' or a callable H(t, args)' if allow_callable else ''}; got {type(x).__name__}"
    )


def eval_coefficient(c: Coefficient | None, t, args):
    """Value of a coefficient at time ``t`` (1 for a constant term)."""
    if c is None:
        return 1.0
    if c.kind == "func":
        return c.func(t, args)
    return spline_eval(jnp.asarray(c.knots), jnp.asarray(c.coeffs), t)


def hamiltonian_function(H: Any, args: dict | None = None, tlist=None) -> Callable[[Any], jnp.ndarray]:
    """Return ``t -> H(t)`` (an (..., n, n) complex JAX array) for any supported form of ``H``.

    Example:
        >>> import numpy as np
        >>> Hf = hamiltonian_function([np.diag([1., -1.]), [np.eye(2), lambda t, a: 2 * t]])
        >>> float(Hf(1.0)[0, 0].real)
        3.0
    """
    args = {} if args is None else args
    tl = None if tlist is None else np.asarray(tlist, float)
    parsed = parse_operator(H, "H", tl)
    if isinstance(parsed, CallableOperator):
        return lambda t: jnp.asarray(parsed.func(t, args), dtype=jnp.complex128)

    def h_of_t(t):
        return sum(eval_coefficient(term.coeff, t, args) * jnp.asarray(term.op) for term in parsed)

    return h_of_t
