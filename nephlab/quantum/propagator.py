"""Propagators: the public :func:`propagator` (QuTiP's call order) and the unitary building blocks
shared by the Magnus integrator and two-point-measurement statistics.

The fourth-order Magnus step uses the two Gauss–Legendre nodes ``t + (1/2 ∓ √3/6) h``:

    K = (h/2)(H1 + H2) - i (√3 h² / 12) [H2, H1],      U = exp(-i K)

``K`` is Hermitian, and ``U`` is computed through ``eigh`` so that it is unitary to machine
precision (every step is exactly norm preserving).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401

__all__ = ["GAUSS_NODES", "adaptive_propagator", "expm_hermitian", "magnus4_exponent", "propagator"]

GAUSS_NODES = (0.5 - np.sqrt(3.0) / 6.0, 0.5 + np.sqrt(3.0) / 6.0)


def magnus4_exponent(H1: jnp.ndarray, H2: jnp.ndarray, h) -> jnp.ndarray:
    """Hermitian exponent ``K`` of one 4th-order Magnus step, ``U = exp(-i K)``.

    Args:
        H1, H2: Hamiltonians (..., n, n) at the Gauss nodes ``t + GAUSS_NODES[0]*h`` and
            ``t + GAUSS_NODES[1]*h`` (energy units, ħ = 1).
        h: step (time units); a scalar or an array broadcasting against the batch axes.

    Returns:
        (..., n, n) Hermitian matrix.

    Example:
        >>> from nephlab.quantum.operators import sigmax
        >>> K = magnus4_exponent(sigmax(), sigmax(), 0.1)
        >>> round(float(K[0, 1].real), 12)
        0.1
    """
    h = jnp.asarray(h)[..., None, None]
    comm = H2 @ H1 - H1 @ H2
    return 0.5 * h * (H1 + H2) - 1j * (np.sqrt(3.0) / 12.0) * h**2 * comm


def expm_hermitian(K: jnp.ndarray) -> jnp.ndarray:
    """``exp(-i K)`` for Hermitian ``K`` (..., n, n), through an eigendecomposition.

    The result is unitary to machine precision.

    Example:
        >>> import jax.numpy as jnp
        >>> U = expm_hermitian(jnp.zeros((2, 2), complex))
        >>> float(jnp.abs(U - jnp.eye(2)).max())
        0.0
    """
    K = 0.5 * (K + jnp.conj(jnp.swapaxes(K, -1, -2)))
    w, v = jnp.linalg.eigh(K)
    return (v * jnp.exp(-1j * w)[..., None, :]) @ jnp.conj(jnp.swapaxes(v, -1, -2))


@jax.jit
def _step_unitaries(H1, H2, h):
    return expm_hermitian(magnus4_exponent(H1, H2, h))


def _magnus_steps(Hs: Callable[[np.ndarray], np.ndarray], t0: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One 4th-order Magnus step from each ``t0[j]`` of length ``h[j]``: (m, n, n) unitaries."""
    m = len(t0)
    pad = 1 << max(0, int(m - 1).bit_length())  # bucket the batch size: few compilations
    Hn = Hs(np.concatenate([t0 + GAUSS_NODES[0] * h, t0 + GAUSS_NODES[1] * h]))
    n = Hn.shape[-1]
    H1 = np.zeros((pad, n, n), np.complex128)
    H2 = np.zeros((pad, n, n), np.complex128)
    H1[:m], H2[:m] = Hn[:m], Hn[m:]
    hp = np.zeros(pad)
    hp[:m] = h
    return np.asarray(_step_unitaries(H1, H2, hp))[:m]


def _ordered_product(Us: np.ndarray) -> np.ndarray:
    """``U_{m-1} ... U_1 U_0`` of (m, n, n) matrices, by pairwise products (log2 m rounds)."""
    while len(Us) > 1:
        if len(Us) % 2:
            Us = np.concatenate([Us, np.eye(Us.shape[-1], dtype=Us.dtype)[None]])
        Us = Us[1::2] @ Us[0::2]
    return Us[0]


def adaptive_propagator(
    Hs: Callable[[np.ndarray], np.ndarray],
    tlist: np.ndarray,
    steps: np.ndarray,
    tol: float,
    max_steps: int,
) -> tuple[np.ndarray, int, float]:
    """Propagator ``U(tlist[-1], tlist[0])`` of ``i dU/dt = H(t) U`` by error-controlled Magnus steps.

    Every interval of ``tlist`` starts with ``steps[i]`` equal steps. Each step of length h is
    compared with two steps of length h/2 (step doubling); the difference ``e = ‖U_h - U_{h/2}²‖_F``
    estimates the error of the single step, and the two half steps, which are about 15 times
    more accurate (4th order), are kept when ``e ≤ tol · h / (t_f - t_0)`` (or ``e`` is at the
    rounding level ``100 n ε``); otherwise the step is halved and tried again. The estimates of
    the kept steps therefore sum to at most ``tol``, and since products of unitaries add their
    errors, ``‖U - U_exact‖ ≲ tol / 15`` in the operator norm once the steps are in the
    asymptotic regime; the factor 15 is the safety margin for steps that are not. The product
    is finally replaced by its nearest unitary (polar factor), a change at the rounding level
    that keeps probabilities summing to 1 over many steps.

    Args:
        Hs: ``Hs(ts) -> (len(ts), n, n)`` Hermitian Hamiltonians (energy units, ħ = 1), NumPy.
        tlist: (T,) increasing times; steps never cross them.
        steps: (T-1,) initial number of steps per interval (>= 1).
        tol: error target (> 0), dimensionless (U is unitary).
        max_steps: refuse (ValueError) to use more steps than this.

    Returns:
        ``(U, n_steps, error_estimate)``: the (n, n) unitary, the number of steps kept and
        ``Σ e / 15`` over the kept steps.

    Example:
        >>> import numpy as np
        >>> Hs = lambda ts: np.cos(40 * ts)[:, None, None] * np.array([[0, 1], [1, 0]], complex)
        >>> U, m, err = adaptive_propagator(Hs, np.array([0.0, 1.0]), np.array([4]), 1e-10, 10**6)
        >>> exact = np.sin(40.0) / 40.0     # U = exp(-i σx ∫cos(40t)dt), H commutes with itself
        >>> bool(abs(U[0, 1] - (-1j * np.sin(exact))) < 1e-10), err < 1e-10
        (True, True)
    """
    span = float(tlist[-1] - tlist[0])
    t0 = np.concatenate([tlist[i] + np.arange(m) * (tlist[i + 1] - tlist[i]) / m for i, m in enumerate(steps)])
    h = np.repeat(np.diff(tlist) / steps, steps)
    U_full = _magnus_steps(Hs, t0, h)
    n = U_full.shape[-1]
    floor = 100.0 * n * np.finfo(np.float64).eps
    kept_t, kept_U, kept_e = [], [], []
    while len(t0):
        half = 0.5 * h
        both = _magnus_steps(Hs, np.concatenate([t0, t0 + half]), np.concatenate([half, half]))
        Ua, Ub = both[: len(t0)], both[len(t0):]
        U_two = Ub @ Ua
        err = np.linalg.norm(U_two - U_full, axis=(-2, -1))
        ok = (err <= tol * h / span) | (err <= floor)
        kept_t.append(t0[ok])
        kept_U.append(U_two[ok])
        kept_e.append(err[ok])
        bad = ~ok
        if not bad.any():
            break
        total = sum(len(k) for k in kept_t) + 2 * int(bad.sum())
        if total > max_steps or np.any(half[bad] <= 1e-13 * span):
            raise ValueError(
                f"the propagator needs more than {min(total, max_steps)} Magnus steps (smallest "
                f"{half[bad].min():.3g} time units) to reach tol={tol:g}; loosen tol, or check that H(t) "
                "is smooth (a jump inside an interval of tlist should be a point of tlist)"
            )
        t0 = np.concatenate([t0[bad], t0[bad] + half[bad]])
        h = np.concatenate([half[bad], half[bad]])
        U_full = np.concatenate([Ua[bad], Ub[bad]])
    t_all = np.concatenate(kept_t)
    order = np.argsort(t_all, kind="stable")
    U = _ordered_product(np.concatenate(kept_U)[order])
    W, _, Vh = np.linalg.svd(U)  # nearest unitary (polar factor): removes rounding drift of many products
    return W @ Vh, int(len(t_all)), float(np.concatenate(kept_e).sum() / 15.0)


def propagator(
    H: Any,
    t: Any,
    c_ops: Any = None,
    *,
    args: dict | None = None,
    method: Any = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    dt: float | None = None,
    max_steps: int | None = None,
) -> Any:
    """The propagator of ``i dψ/dt = H(t) ψ`` (closed) or of the Lindblad equation (with ``c_ops``).

    Closed systems: the unitary ``U(t)`` (n, n) with ``ψ(t) = U(t) ψ(t0)``. With ``c_ops``: the
    superoperator ``S(t)`` (n², n²) with ``vec(ρ(t)) = S(t) vec(ρ(t0))`` in QuTiP's
    column-stacking convention (``vec(ρ) = ρ.reshape(-1, order="F")``), as ``qutip.propagator``
    returns it. Units: ħ = 1, times in inverse energy units.

    Args:
        H: Hamiltonian in any form :func:`nephlab.mesolve` accepts (array or ``Qobj``
            (..., n, n), QuTiP list format with JAX-traceable or sampled coefficients, callable
            ``H(t, args)``); Hermitian. Leading axes are batch axes.
        t: a positive time (the propagator from 0 to t), or strictly increasing times (T,) (the
            propagators from ``t[0]`` to each, stacked; the first is the identity), as QuTiP.
            Array coefficients of ``H`` are sampled on these times.
        c_ops: collapse operators (a list, or one operator), each (..., n, n) or in the list format.
        args: dict for coefficients ``f(t, args)``.
        method: ``"auto"`` (``"expm"`` for a constant generator, else ``"tsit5"``),
            ``"expm"`` (constant H and c_ops: exact eigendecomposition of H when closed, matrix
            exponential of the Liouvillian when open), ``"magnus4"`` (closed systems, fixed
            step ``dt``, unitary to machine precision), ``"tsit5"``, ``"dopri5"``,
            ``"kvaerno5"``, ``"rk4"``, or a method object such as ``Tsit5(rtol=1e-10)``.
        rtol, atol: tolerances of the adaptive methods (default 1e-6, 1e-8 per entry).
        dt: step of ``rk4`` and ``magnus4``.
        max_steps: step limit of the adaptive methods.

    Returns:
        batch + (n, n) (closed) or batch + (n², n²) (open) complex NumPy array for a scalar
        ``t``; batch + (T, ., .) for a list of times. When ``H`` or a collapse operator is a
        ``Qobj``: a ``Qobj`` (``super`` type with ``c_ops``), or a list of them over the times.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import propagator, sigmax
        >>> U = propagator(sigmax(), np.pi / 2)          # exp(-i σx π/2) = -i σx
        >>> np.round(U, 12)
        array([[0.+0.j, 0.-1.j],
               [0.-1.j, 0.+0.j]])
        >>> propagator([sigmax(), [sigmax(), lambda t: t]], [0.0, 0.5, 1.0], method="magnus4", dt=0.01).shape
        (3, 2, 2)
    """
    from .. import _validate
    from . import _linear
    from ._convert import check_dims, qobj_dims, to_qobj
    from .mesolve import _c_list, _eval_callable_h
    from .methods import Problem, check_keywords, get_method
    from .sesolve import check_method, not_reached, parse_hamiltonian
    from .timedep import parse_operator

    scalar = np.ndim(t) == 0 and not isinstance(t, (list, tuple))
    if scalar:
        t_val = _validate.real_number(t, "t", positive=True)
        tl = np.array([0.0, t_val])
    else:
        tl = _validate.time_grid(t, "t")
    args = _validate.args_dict(args)
    keywords = check_keywords(rtol=rtol, atol=atol, max_steps=max_steps, dt=dt)
    meth = get_method(method)
    h_terms, h_callable = parse_hamiltonian(H, None, tl, args, ref="H")
    n = h_terms[0].op.shape[-1] if h_callable is None else _eval_callable_h(h_callable, tl[0], args).shape[-1]
    c_list = _c_list(c_ops)
    c_parsed = [parse_operator(c, f"c_ops[{i}]", tl, allow_callable=False) for i, c in enumerate(c_list)]
    shapes = [("H" if len(h_terms) == 1 else f"H[{i}]", term.op.shape[:-2]) for i, term in enumerate(h_terms)]
    for i, terms in enumerate(c_parsed):
        for j, term in enumerate(terms):
            name = f"c_ops[{i}]" if len(terms) == 1 else f"c_ops[{i}][{j}]"
            check_dims(term.op, n, name, "H")
            shapes.append((name, term.op.shape[:-2]))
    from .mesolve import _check_coefficients

    _check_coefficients((), c_parsed, tl, args)
    batch_shape = _validate.broadcast_batch(shapes)
    closed = not c_parsed
    problem = Problem(n=n, n_times=len(tl), n_c_ops=len(c_parsed),
                      time_dependent_h=h_callable is not None or any(x.coeff is not None for x in h_terms),
                      time_dependent_c_ops=any(x.coeff is not None for ts in c_parsed for x in ts),
                      callable_h=h_callable is not None)
    meth = check_method(meth, problem, closed=closed).configure(**keywords)
    splines: list = []
    specs, ops, func = _linear.assemble(closed, h_terms, h_callable, c_parsed, splines)
    N = n if closed else n * n
    uniform = bool(np.allclose(np.diff(tl), tl[1] - tl[0], rtol=1e-12, atol=0.0))
    st = _linear.Structure(method=meth.static(), closed=closed, specs=specs, func=func, n_eops=0, store_states=True,
                           uniform=uniform)
    saved, _, stats = _linear.run(st, ops, np.eye(N, dtype=np.complex128), tl, args, splines,
                                  np.zeros((0, N, N), np.complex128), meth, tuple(batch_shape))
    if not bool(np.all(stats["success"])):
        raise RuntimeError(not_reached("propagator", meth, tl))
    out = saved["state"]  # batch + (T, N, N)
    out = out[..., -1, :, :] if scalar else out
    dims = qobj_dims([("H", H), ("c_ops", c_ops)])
    if dims is None:
        return out
    return to_qobj(out, dims if closed else [dims, dims])
