"""The sparse operator format of :func:`nephlab.quantum.jax.mesolve` (``format="sparse"``).

The operators are fixed: ``scipy.sparse`` matrices, QuTiP ``Qobj``s with CSR/Dia data or
concrete arrays, in QuTiP's list format ``[H0, [H1, f], ...]`` and ``[C, g]`` with coefficients
``f(t, args)`` written in ``jax.numpy``. They are parsed and laid out exactly as
``nephlab.mesolve(..., format="sparse")`` does (:func:`nephlab.quantum.mesolve._assemble_sparse`:
``A(t) = -i H(t) - ½ Σ_k L_k(t)† L_k(t)`` and every ``L_k(t)`` as one layout of their terms' union
pattern with per-term values), and the vector field is that solver's right-hand side
(:func:`nephlab.quantum._engine.make_rhs`, kernels of :mod:`nephlab.quantum._ops`), so the two
give the same numbers. What may carry a gradient is what enters that right-hand side as data:
the leaves of ``args`` (through the coefficients, e.g. a rate ``[C, lambda t, a: jnp.sqrt(a["gamma"])]``)
and ``rho0``. The operator values are constants (their gradient is stopped); a JAX tracer in an
operator or a constant coefficient is refused with a TypeError that names it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jax
import numpy as np

from . import _engine
from .mesolve import _assemble_sparse, _parse_eops, _sparse_eops
from .timedep import parse_operator


def _reject_tracers(x: Any, name: str) -> None:
    """TypeError if ``x`` (an operator, or a list-format nesting of operators and coefficients)
    holds a JAX tracer where the sparse format needs a concrete value."""
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"{name} is a JAX tracer (a value being differentiated, jitted or vmapped); format='sparse' keeps "
            "operators and constant coefficients fixed: pass the parameter in args and use a coefficient "
            "[op, lambda t, args: ...] (e.g. [C, lambda t, args: jnp.sqrt(args['gamma'])]), or use format='dense'"
        )
    if isinstance(x, (list, tuple)):
        for k, item in enumerate(x):
            _reject_tracers(item, f"{name}[{k}]")


def _terms(x: Any, name: str, tl: np.ndarray, n: int | None, allow_callable: bool) -> tuple:
    """``parse_operator(..., sparse=True)`` with the checks of this namespace: no tracers, no
    sampled coefficients, one dimension ``n``."""
    _reject_tracers(x, name)
    terms = parse_operator(x, name, tl, allow_callable=allow_callable, sparse=True)
    n = terms[0].op.shape[-1] if n is None else n
    for k, term in enumerate(terms):
        where = name if len(terms) == 1 else f"{name}[{k}]"
        if term.coeff is not None and term.coeff.kind != "func":
            raise TypeError(f"{where}[1] is a sampled coefficient; nephlab.quantum.jax takes coefficient functions "
                            "f(t, args) written in jax.numpy")
        if term.op.shape != (n, n):
            raise ValueError(f"{where} has shape {term.op.shape}, which does not match the dimension n={n} of H")
    return terms


def prepare(H: Any, c_list: list, e_ops: Any, tl: np.ndarray, hermitian: bool = False) -> tuple:
    """``(structure, data, e_coords)`` of a sparse problem: the :class:`nephlab.quantum._engine.Structure`
    of ``mesolve``'s sparse format (``n_eops`` set; ``hermitian``: every state the solve sees,
    tangents included, is Hermitian, so ``ρ A†`` is taken as ``(A ρ)†``), its operator data
    ``{"a": ..., "jumps": [...]}`` and the e_ops as one coordinate list (:func:`nephlab.quantum.mesolve._sparse_eops`).

    Raises TypeError/ValueError naming the argument (a callable H, tracers, sampled coefficients,
    mismatched shapes).

    Example:
        >>> import scipy.sparse as sp
        >>> st, data, e = prepare([sp.eye(3), [sp.diags([1.0, 2.0], 1), lambda t, a: a["w"]]], [sp.eye(3)],
        ...                       [sp.eye(3)], np.array([0.0, 1.0]))
        >>> st.fmt, len(st.a_coeffs), st.n_eops, sorted(data)
        ('sparse', 2, 1, ['a', 'jumps'])
    """
    if callable(H) and not isinstance(H, (list, tuple, np.ndarray, jax.Array)) and type(H).__name__ != "Qobj":
        raise TypeError(
            f"H is a callable H(t, args) (`{getattr(H, '__name__', type(H).__name__)}`), which format='sparse' "
            "cannot take (it returns dense matrices); write H in the list format [H0, [H1, f(t, args)], ...] "
            "with fixed sparse H_j, or use format='dense'"
        )
    h_terms = _terms(H, "H", tl, None, allow_callable=False)
    n = h_terms[0].op.shape[-1]
    c_parsed = [_terms(c, f"c_ops[{k}]", tl, n, allow_callable=False) for k, c in enumerate(c_list)]
    _reject_tracers(e_ops, "e_ops")
    e_list, _ = _parse_eops(e_ops, n, sparse=True)
    st, dyn = _assemble_sparse(None, n, h_terms, None, c_parsed, np.zeros((n, n)), [])
    st = replace(st, hermitian=bool(hermitian), n_eops=len(e_list))
    return st, {"a": dyn["a"], "jumps": dyn["jumps"]}, _sparse_eops(e_list)


def field(st, dyn) -> tuple:
    """``(f, p, q)`` as :func:`nephlab.quantum._autodiff._field` returns them: ``f(p, q, t, y)`` is
    ``mesolve``'s sparse right-hand side on the real-split state y (2, n, n); ``p`` holds the
    operator data (gradient stopped inside ``f``) and ``args``; ``q`` is empty (no frame)."""
    p = {"ops": {"a": dyn["a"], "jumps": dyn["jumps"]}, "args": dyn["args"]}

    def f(p, q, t, y):
        ops = jax.lax.stop_gradient(p["ops"])
        return _engine.make_rhs(st, {**ops, "args": p["args"]})(t, y)

    return f, p, {}


def expect(st, coords, states):
    """``expect[k, j] = Tr(E_k ρ(t_j)) = Σ_(r,c) E_k[r, c] ρ_j[c, r]`` (n_eops, T) complex from the
    coordinate list of :func:`prepare` and the states (T, n, n)."""
    vals = coords["w"][:, None] * states[:, coords["c"], coords["r"]].T  # (nnz, T)
    return jax.ops.segment_sum(vals, coords["k"], num_segments=st.n_eops)
