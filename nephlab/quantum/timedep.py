"""Time-dependent operators in QuTiP's list format, parsed once at the public boundary.

An operator argument (``H`` or one entry of ``c_ops``) may be

* a constant operator: NumPy/JAX array or QuTiP ``Qobj`` of shape (..., n, n);
* a list ``[O0, [O1, f1], [O2, f2], ...]`` meaning ``O0 + f1(t) O1 + f2(t) O2``, where each
  coefficient ``f`` is a JAX-traceable callable ``f(t, args)`` (``args`` is the dict passed to the
  solver) or an array of values sampled on ``tlist`` (interpolated by a not-a-knot cubic spline,
  as QuTiP does for array coefficients), or a plain number;
* for ``H`` only: a callable ``H(t, args)`` returning the full (n, n) matrix.

The parsed form is an :class:`OperatorSum`: a tuple of :class:`Term` objects (operator plus
coefficient) or a :class:`CallableOperator`. Coefficient arrays are turned into spline
coefficients here, so the engine only ever evaluates pure JAX functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._convert import as_operator, check_finite, is_qobj, to_numpy

__all__ = ["CallableOperator", "Coefficient", "OperatorSum", "Term", "hamiltonian_function", "parse_operator"]


@dataclass(frozen=True, eq=False)
class Coefficient:
    """A scalar coefficient ``c(t)``: a callable ``f(t, args)`` or a cubic spline through samples.

    ``kind`` is ``"func"`` or ``"spline"``. For splines ``knots`` (T,) and ``coeffs`` (4, T-1)
    hold the piecewise cubic (NumPy, complex128).
    """

    kind: str
    func: Callable | None = None
    knots: np.ndarray | None = None
    coeffs: np.ndarray | None = None


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
            "f(t, args) (e.g. lambda t, args: jnp.cos(args['w'] * t)) or an array sampled on tlist"
        )
    if callable(c) and not isinstance(c, (np.ndarray, jax.Array)):
        return Coefficient("func", func=c)
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
    return is_qobj(x) or (isinstance(x, (np.ndarray, jax.Array)) and np.ndim(x) >= 2)


def _is_coefficient_like(c) -> bool:
    if isinstance(c, str) or (callable(c) and not isinstance(c, (np.ndarray, jax.Array))):
        return True
    if isinstance(c, (int, float, complex, np.number)) and not isinstance(c, bool):
        return True
    return isinstance(c, (np.ndarray, jax.Array)) and np.ndim(c) == 1


def parse_operator(x: Any, name: str, tlist: np.ndarray | None = None, *, allow_callable: bool = True):
    """Parse an operator argument into a tuple of :class:`Term` or a :class:`CallableOperator`.

    Raises TypeError/ValueError naming ``name`` (e.g. ``"H"`` or ``"c_ops[1]"``) on bad input.

    Example:
        >>> import numpy as np
        >>> terms = parse_operator([np.eye(2), [np.diag([1., -1.]), lambda t, a: t]], "H")
        >>> len(terms), terms[1].coeff.kind
        (2, 'func')
    """
    if is_qobj(x) or isinstance(x, (np.ndarray, jax.Array)):
        return (Term(as_operator(x, name)),)
    if type(x).__name__ == "QobjEvo":
        raise TypeError(
            f"{name} is a QuTiP QobjEvo; pass its list form [H0, [H1, f1], ...] with "
            "JAX-traceable coefficients f(t, args) instead"
        )
    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise ValueError(f"{name} is an empty list; give at least one operator")
        if len(x) == 2 and _is_operator_like(x[0]) and _is_coefficient_like(x[1]):
            x = [x]  # a single pair [O, f], as QuTiP accepts it
        # A nested list of numbers is a plain matrix, not the list format.
        if all(isinstance(e, (list, tuple)) and e and all(isinstance(v, (int, float, complex, np.number)) for v in e) for e in x):
            return (Term(as_operator(x, name)),)
        terms = []
        for i, item in enumerate(x):
            iname = f"{name}[{i}]"
            if isinstance(item, (list, tuple)):
                if len(item) != 2:
                    raise ValueError(f"{iname} must be an operator or a pair [operator, coefficient], got a sequence of length {len(item)}")
                op = as_operator(item[0], f"{iname}[0]")
                coeff = _coefficient(item[1], tlist, f"{iname}[1]")
                if isinstance(coeff, complex):
                    terms.append(Term(op * coeff))
                else:
                    terms.append(Term(op, coeff))
            else:
                terms.append(Term(as_operator(item, iname)))
        n = terms[0].op.shape[-1]
        for i, t in enumerate(terms):
            if t.op.shape[-1] != n:
                raise ValueError(f"{name}[{i}] has shape {t.op.shape}, which does not match the dimension n={n} of {name}[0]")
        return tuple(terms)
    if callable(x):
        if not allow_callable:
            raise TypeError(f"{name} must be an operator or a list [O0, [O1, f1], ...]; a plain callable is only allowed for H")
        return CallableOperator(x, -1)
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
