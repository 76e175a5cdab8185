"""Two-time correlation functions and power spectra through the quantum regression theorem.

Names and call order follow QuTiP 5 (``qutip.correlation_2op_1t``, ``correlation_2op_2t``,
``coherence_function_g1``, ``coherence_function_g2``, ``spectrum``). Units: ħ = 1; ``H`` in
energy units, times in inverse energy units, frequencies in energy units (angular frequency),
collapse operators in sqrt(rate).

**Quantum regression theorem.** For the Lindblad generator ``L`` (row-major vectorisation of
:mod:`nephlab.quantum.superop`; the result does not depend on the convention),

    <A(t+τ) B(t)> = Tr[A e^{Lτ}(B ρ(t))],     <A(t) B(t+τ)> = Tr[B e^{Lτ}(ρ(t) A)]   (reverse),

with ``ρ(t) = e^{Lt} state0``. The non-Hermitian operator ``B ρ`` is propagated with the
Liouvillian itself, not through ``mesolve`` (which only accepts density matrices): on a uniform
grid one ``e^{L dτ}`` (scaling and squaring, matrix products only) is applied step by step in a
``lax.scan``; on a non-uniform grid each step has its own exponential. Both are exact up to
round-off (no time-stepping error).

**Time origin.** ``state0`` is the state at ``t = 0`` and ``tlist``/``taulist`` hold absolute
times ``t ≥ 0``, delays ``τ ≥ 0``, increasing. QuTiP documents the same ("must be positive and
contain the element 0") but in fact starts its solver at the first entry; the two agree whenever
the first entry is 0.

**Spectrum.** QuTiP's convention: the Fourier transform of the stationary *connected* correlation
function (the coherent part ``<A><B>``, a δ-function at ω = 0, is removed),

    S(ω) = ∫ dτ e^{-iωτ} [<A(τ)B(0)>_ss - <A>_ss <B>_ss] = 2 Re ∫_0^∞ dτ e^{-iωτ} [...]
         = 2 Re Tr[A (iω - L)⁻¹ (Bρ_ss - <B>_ss ρ_ss)],

so that ``∫ S dω / 2π = <AB>_ss - <A>_ss<B>_ss``. It is computed from the resolvent: one complex
Schur decomposition ``L' = Z T Z†`` (of ``L`` with its zero mode shifted away, which leaves the
traceless subspace untouched), then a triangular solve per ω, vectorised over ω: O(n⁶) once plus
O(n⁴) per frequency, backward stable even where the Liouvillian's eigenvectors are ill-conditioned.

Batching: leading axes of ``H``, every ``c_ops[k]``, ``state0``, ``a_op`` and ``b_op`` are batch
axes that broadcast; results carry them in front.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (enables float64)
from .._validate import broadcast_batch, real_array, time_grid
from ._convert import as_density_matrix, as_operator, check_dims, is_qobj, to_jax
from ._linalg import expm
from .steadystate import _rate_scale, steadystate
from .superop import _as_c_ops, _liouvillian_core

__all__ = [
    "coherence_function_g1",
    "coherence_function_g2",
    "correlation_2op_1t",
    "correlation_2op_2t",
    "spectrum",
]

_UNIFORM_RTOL = 1e-10  # steps equal to this relative tolerance share one e^{L dτ}
_STEADY_TOL = 1e-8  # relative residual ‖L(ρ)‖/(s‖ρ‖) below which a given state counts as steady
_SPECTRUM_CHUNK_ELEMENTS = 2**22  # frequencies per chunk × n²: 64 MB of complex128 workspace


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _constant_operator(x: Any, name: str, *, hermitian: bool = False, kind: str | None = None) -> np.ndarray:
    """A constant operator (..., n, n); the time-dependent forms are a ValueError naming ``name``."""
    timedep = callable(x) and not is_qobj(x) and not isinstance(x, (np.ndarray, jax.Array))
    timedep = timedep or type(x).__name__ == "QobjEvo"
    if isinstance(x, (list, tuple)) and not timedep:
        try:
            arr = np.asarray(x)
            timedep = arr.dtype == object or not np.issubdtype(arr.dtype, np.number)
        except (TypeError, ValueError):
            timedep = True
    if timedep:
        raise ValueError(
            f"{name} must be a constant operator (an (..., n, n) NumPy/JAX array or Qobj); the correlation "
            f"functions do not support a time-dependent {name} (QuTiP list format, QobjEvo or a callable), "
            f"got {type(x).__name__}"
        )
    if is_qobj(x) and getattr(x, "issuper", False):
        raise ValueError(f"{name} must be an operator on the Hilbert space, got a superoperator Qobj of shape {x.shape}")
    return as_operator(x, name, hermitian=hermitian, kind=kind)


def _times(x: Any, name: str) -> np.ndarray:
    """A 1-D, finite, non-negative, strictly increasing float64 array of at least one time."""
    if isinstance(x, jax.core.Tracer):
        raise TypeError(f"{name} must be concrete (a NumPy/JAX array), not a traced value")
    t = real_array(x, name, ndim=1, min_size=1)
    if t.size > 1:
        time_grid(t, name)  # strictly increasing
    if t[0] < 0:
        raise ValueError(f"{name} must hold times >= 0 (measured from the initial state), but {name}[0]={t[0]}")
    return t


def _system(H: Any, c_ops: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    Hn = _constant_operator(H, "H", hermitian=True, kind="Hamiltonian")
    n = Hn.shape[-1]
    if c_ops is not None and isinstance(c_ops, (list, tuple)):
        for k, c in enumerate(c_ops):
            _constant_operator(c, f"c_ops[{k}]")
    return Hn, _as_c_ops(c_ops, n)


def _operator(x: Any, name: str, n: int) -> np.ndarray:
    arr = _constant_operator(x, name)
    check_dims(arr, n, name, "H")
    return arr


def _broadcast(named: list[tuple[str, np.ndarray]], n: int) -> tuple[tuple[int, ...], list[np.ndarray]]:
    bshape = broadcast_batch([(k, v.shape[:-2]) for k, v in named])
    return bshape, [np.broadcast_to(v, bshape + (n, n)).reshape((-1, n, n)) for _, v in named]


def _stack_c(cs: list[np.ndarray], bshape: tuple, n: int) -> np.ndarray:
    m = int(np.prod(bshape, dtype=np.int64))
    if not cs:
        return np.zeros((m, 0, n, n), np.complex128)
    return np.stack([np.broadcast_to(c, bshape + (n, n)).reshape((m, n, n)) for c in cs], axis=1)


# --------------------------------------------------------------------------------------------
# propagation of vec(X) with the Liouvillian (flat batch axis in front)
# --------------------------------------------------------------------------------------------


def _vec(X):
    """Row-major vec of (..., n, n) -> (..., n²)."""
    return X.reshape(X.shape[:-2] + (X.shape[-1] ** 2,))


def _record_state(Y, aux):
    """Y (B, N, 1) -> the vectorised states (B, N)."""
    return Y[..., 0]


def _record_trace(Y, mvec):
    """Y (B, N, m) -> Tr(M X_j) = vec(Mᵀ)·vec(X_j), (B, m); ``mvec`` = vec(Mᵀ) (B, N)."""
    return jnp.einsum("bi,bim->bm", mvec, Y)


@jax.jit
def _liouvillian_batch(H, C):
    """Row-major Liouvillians (B, N, N) and rate scales (B,) of H (B, n, n), C (B, K, n, n)."""
    return jax.vmap(_liouvillian_core)(H, C), jax.vmap(_rate_scale)(H, C)


@jax.jit
def _expm_apply(Lm, dt, Y):
    """e^{L dt} Y (one program per shape, whatever dt) and e^{L dt} itself."""
    P = expm(Lm * dt)
    return P @ Y, P


@partial(jax.jit, static_argnames=("length", "record"))
def _scan_uniform(P, Y, aux, length, record):
    """``record(P^k Y, aux)`` for k = 0..length-1; recompiles per length, which is cheap."""

    def body(Y, _):
        return P @ Y, record(Y, aux)

    return jax.lax.scan(body, Y, None, length=length)[1]


@partial(jax.jit, static_argnames=("record",))
def _scan_steps(Lm, Y, aux, steps, record):
    """``record(Y_k, aux)`` with Y_k = e^{L steps[k]} Y_{k-1} (non-uniform grids)."""

    def body(Y, dt):
        Y = expm(Lm * dt) @ Y
        return Y, record(Y, aux)

    return jax.lax.scan(body, Y, steps)[1]


def _propagate(Lm, Y0, times, record, aux=None) -> np.ndarray:
    """``record(e^{L t_k} Y0, aux)`` stacked over the times t_k (K,) in front.

    Lm (B, N, N), Y0 (B, N, m). Uniform grids (steps equal to a relative 1e-10 after the first)
    apply one ``e^{L dτ}`` per step in a ``lax.scan``; others compute one exponential per step.
    Exact up to round-off: there is no time-stepping error.
    """
    d = np.diff(np.concatenate([[0.0], times]))
    rest = d[1:]
    uniform = rest.size == 0 or bool(np.all(np.abs(rest - rest[0]) <= _UNIFORM_RTOL * rest[0]))
    if not uniform:
        return np.asarray(_scan_steps(Lm, Y0, aux, jnp.asarray(d), record))
    Y = _expm_apply(Lm, d[0], Y0)[0] if d[0] != 0 else Y0
    P = _expm_apply(Lm, rest[0] if rest.size else 0.0, Y0)[1]
    return np.asarray(_scan_uniform(P, Y, aux, len(times), record))


def _correlation_3op(Lm, rho_t, left, right, meas, taus) -> np.ndarray:
    """Tr[meas e^{Lτ}(right ρ(t) left)] for ρ(t) (B, T, n, n) -> (B, T, len(taus))."""
    X0 = right[:, None] @ rho_t @ left[:, None]
    Y0 = jnp.swapaxes(_vec(to_jax(X0)), -1, -2)  # (B, N, T)
    mvec = _vec(to_jax(np.swapaxes(meas, -1, -2)))
    return np.moveaxis(_propagate(Lm, Y0, taus, _record_trace, mvec), 0, -1)


def _prepare(H, state0, c_ops, ops: list[tuple[str, Any]]):
    """Validate and broadcast; returns the batch shape, the Liouvillians (B, N, N), ρ0 (B, n, n) and the ops."""
    Hn, cs = _system(H, c_ops)
    n = Hn.shape[-1]
    opn = [(name, _operator(op, name, n)) for name, op in ops]
    if state0 is None and not cs:
        raise ValueError(
            "state0=None asks for the steady state, which needs dissipation: c_ops is empty, so give "
            "state0 or at least one collapse operator"
        )
    given = None
    if state0 is not None:
        given = as_density_matrix(state0, "state0")
        check_dims(given, n, "state0", "H")
    named = [("H", Hn)] + [(f"c_ops[{k}]", c) for k, c in enumerate(cs)] + opn
    if given is not None:
        named.append(("state0", given))
    bshape, flat = _broadcast(named, n)
    Hf, opf = flat[0], flat[1 + len(cs): 1 + len(cs) + len(opn)]
    C = _stack_c(cs, bshape, n)
    if state0 is None:
        rho = np.asarray(steadystate(Hf, [C[:, k] for k in range(C.shape[1])]))
    else:
        rho = flat[-1]
    Lm = _liouvillian_batch(to_jax(Hf), to_jax(C))[0]
    return bshape, Lm, rho, opf


def _rho_t(Lm, rho, tlist, steady):
    """ρ(t) (B, T, n, n): the steady state repeated, or the evolution of state0 to every t."""
    if steady:
        return np.broadcast_to(rho[:, None], (rho.shape[0], len(tlist)) + rho.shape[1:])
    n = rho.shape[-1]
    out = _propagate(Lm, _vec(to_jax(rho))[..., None], tlist, _record_state)  # (T, B, N)
    return np.moveaxis(out, 0, 1).reshape((rho.shape[0], len(tlist), n, n))


def _check_reverse(reverse: Any) -> bool:
    if not isinstance(reverse, (bool, np.bool_)):
        raise TypeError(f"reverse must be True or False, got {reverse!r}")
    return bool(reverse)


def _check_args(args: Any) -> None:
    if args not in (None, {}):
        raise ValueError(
            f"args={args!r} is only used by a time-dependent H, which the correlation functions do not "
            "support; pass args=None"
        )


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------


def correlation_2op_2t(
    H: Any,
    state0: Any,
    tlist: Any,
    taulist: Any,
    c_ops: Sequence[Any] | None,
    a_op: Any,
    b_op: Any,
    *,
    reverse: bool = False,
    args: dict | None = None,
) -> np.ndarray:
    """Two-time correlation ``<A(t+τ) B(t)>`` (``reverse=True``: ``<A(t) B(t+τ)>``).

    Quantum regression theorem with the Lindblad generator ``L`` of ``H`` and ``c_ops``:
    ``<A(t+τ)B(t)> = Tr[A e^{Lτ}(B ρ(t))]``, ``ρ(t) = e^{Lt} state0``.

    Args:
        H: constant Hermitian Hamiltonian (..., n, n), energy units (ħ = 1); array or ``Qobj``.
            A time-dependent H (list format, callable) is a ValueError.
        state0: density matrix (..., n, n) or ket (n,) at ``t = 0``; ``None``: the steady state
            (then ρ(t) = ρ_ss for every t).
        tlist: times t (T,), ``>= 0`` and strictly increasing (inverse energy units).
        taulist: delays τ (K,), ``>= 0`` and strictly increasing.
        c_ops: list of collapse operators (..., n, n), units sqrt(rate).
        a_op, b_op: operators A, B (..., n, n).
        reverse: compute ``<A(t) B(t+τ)> = Tr[B e^{Lτ}(ρ(t) A)]`` instead.
        args: must be None (only a time-dependent H would use it).

    Returns:
        complex128 NumPy array of shape batch + (T, K).

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import destroy
        >>> a = destroy(2)
        >>> c = correlation_2op_2t(np.zeros((2, 2)), np.diag([0.0, 1.0]), [0.0, 1.0], [0.0, 1.0],
        ...                        [a], a.conj().T, a)          # <a†(t+τ) a(t)> = e^{-t} e^{-τ/2}
        >>> np.allclose(c, [[1, np.exp(-0.5)], [np.exp(-1), np.exp(-1.5)]])
        True
    """
    _check_args(args)
    reverse = _check_reverse(reverse)
    tl = _times(tlist, "tlist")
    taus = _times(taulist, "taulist")
    bshape, Lm, rho, (A, B) = _prepare(H, state0, c_ops, [("a_op", a_op), ("b_op", b_op)])
    rho_t = _rho_t(Lm, rho, tl, state0 is None)
    eye = np.broadcast_to(np.eye(A.shape[-1], dtype=np.complex128), A.shape)
    if reverse:
        out = _correlation_3op(Lm, rho_t, A, eye, B, taus)
    else:
        out = _correlation_3op(Lm, rho_t, eye, B, A, taus)
    return out.reshape(bshape + out.shape[1:])


def correlation_2op_1t(
    H: Any,
    state0: Any,
    taulist: Any,
    c_ops: Sequence[Any] | None,
    a_op: Any,
    b_op: Any,
    *,
    reverse: bool = False,
    args: dict | None = None,
) -> np.ndarray:
    """One-time correlation ``<A(τ) B(0)>`` (``reverse=True``: ``<A(0) B(τ)>``).

    ``<A(τ)B(0)> = Tr[A e^{Lτ}(B ρ0)]`` by the quantum regression theorem; ``state0=None`` uses
    the steady state, giving the stationary correlation function.

    Args:
        H: constant Hermitian Hamiltonian (..., n, n), energy units (ħ = 1); array or ``Qobj``.
        state0: density matrix (..., n, n) or ket (n,), or None for the steady state.
        taulist: delays τ (K,), ``>= 0`` and strictly increasing (inverse energy units).
        c_ops: list of collapse operators (..., n, n), units sqrt(rate).
        a_op, b_op: operators A, B (..., n, n).
        reverse: compute ``<A(0) B(τ)> = Tr[B e^{Lτ}(ρ0 A)]`` instead.
        args: must be None (only a time-dependent H would use it).

    Returns:
        complex128 NumPy array of shape batch + (K,).

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import sigmam, sigmap
        >>> tau = np.linspace(0, 2, 3)
        >>> c = correlation_2op_1t(np.zeros((2, 2)), np.diag([1.0, 0.0]), tau, [sigmam()], sigmap(), sigmam())
        >>> np.allclose(c, np.exp(-tau / 2))                     # <σ+(τ)σ-(0)> from the excited state
        True
    """
    return correlation_2op_2t(H, state0, [0.0], taulist, c_ops, a_op, b_op, reverse=reverse, args=args)[..., 0, :]


def _photon_number(Lm, rho, N, taus, steady):
    """<N>(0) (B,) and <N>(τ) (B, K) for the initial state (steady: constant)."""
    n0 = np.einsum("bij,bji->b", N, rho)
    if steady:
        return n0, np.broadcast_to(n0[:, None], (n0.shape[0], len(taus)))
    rho_tau = _rho_t(Lm, rho, taus, False)
    return n0, np.einsum("bij,btji->bt", N, rho_tau)


def _coherence(order, H, state0, taulist, c_ops, a_op, args):
    """(g, G) of first (G1 = <A†(τ)A(0)>) or second order (G2 = <A†(0)A†(τ)A(τ)A(0)>)."""
    _check_args(args)
    taus = _times(taulist, "taulist")
    bshape, Lm, rho, (A,) = _prepare(H, state0, c_ops, [("a_op", a_op)])
    Ad = np.conj(np.swapaxes(A, -1, -2))
    if order == 1:
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=np.complex128), A.shape)
        G = _correlation_3op(Lm, rho[:, None], eye, A, Ad, taus)[:, 0]
    else:
        G = _correlation_3op(Lm, rho[:, None], Ad, A, Ad @ A, taus)[:, 0]
    n0, nt = _photon_number(Lm, rho, Ad @ A, taus, state0 is None)
    norm = n0[:, None] * nt
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN where <A†A> = 0: g undefined
        g = G / (np.sqrt(norm) if order == 1 else norm)
    return g.reshape(bshape + g.shape[1:]), G.reshape(bshape + G.shape[1:])


def coherence_function_g1(
    H: Any, state0: Any, taulist: Any, c_ops: Sequence[Any] | None, a_op: Any, *, args: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """First-order coherence ``g1(τ) = <A†(τ)A(0)> / sqrt(<A†A>(τ) <A†A>(0))`` and ``G1(τ)``.

    ``G1(τ) = <A†(τ) A(0)>`` is the unnormalised function. In the steady state (``state0=None``)
    the denominator is ``<A†A>_ss``. (QuTiP's code divides by ``<A†A>(0)`` alone, contrary to its
    own docstring; the two agree in the steady state.)

    Args:
        H: constant Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        state0: density matrix or ket at τ = 0, or None for the steady state.
        taulist: delays τ (K,), ``>= 0``, strictly increasing.
        c_ops: list of collapse operators (..., n, n), units sqrt(rate).
        a_op: operator A (..., n, n), e.g. the field operator ``a``.
        args: must be None.

    Returns:
        ``(g1, G1)``: complex128 arrays of shape batch + (K,); g1 is NaN where ``<A†A>`` vanishes.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import destroy
        >>> a = destroy(10)
        >>> g1, G1 = coherence_function_g1(a.T @ a + 0.5 * (a + a.T), None, [0.0, 1.0], [a], a)
        >>> np.allclose(np.abs(g1), 1.0)                         # coherent steady state
        True
    """
    return _coherence(1, H, state0, taulist, c_ops, a_op, args)


def coherence_function_g2(
    H: Any, state0: Any, taulist: Any, c_ops: Sequence[Any] | None, a_op: Any, *, args: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Second-order coherence ``g2(τ) = <A†(0)A†(τ)A(τ)A(0)> / (<A†A>(0) <A†A>(τ))`` and ``G2(τ)``.

    ``G2(τ) = Tr[A†A e^{Lτ}(A ρ0 A†)]`` is the unnormalised function (as in QuTiP).

    Args:
        H: constant Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        state0: density matrix or ket at τ = 0, or None for the steady state.
        taulist: delays τ (K,), ``>= 0``, strictly increasing.
        c_ops: list of collapse operators (..., n, n), units sqrt(rate).
        a_op: operator A (..., n, n), e.g. ``a`` or ``σ-``.
        args: must be None.

    Returns:
        ``(g2, G2)``: complex128 arrays of shape batch + (K,); g2 is NaN where ``<A†A>`` vanishes.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import sigmam, sigmax
        >>> g2, G2 = coherence_function_g2(sigmax(), None, [0.0, 1.0], [sigmam()], sigmam())
        >>> bool(abs(g2[0]) < 1e-12)                             # antibunching of resonance fluorescence
        True
    """
    return _coherence(2, H, state0, taulist, c_ops, a_op, args)


# --------------------------------------------------------------------------------------------
# spectrum
# --------------------------------------------------------------------------------------------


_SPECTRUM_BLOCK = 32  # rows per block of the back substitution (one GEMM per block)


def _spectrum_core(T: np.ndarray, bz: np.ndarray, az: np.ndarray, w: np.ndarray) -> np.ndarray:
    """2 Re[az · (iω - T)⁻¹ bz] for upper-triangular T (N, N), vectorised over ω (W,).

    Blocked back substitution: each block of rows takes the contribution of the rows already
    solved as one matrix product ``T[block, below] @ Y[below]`` (BLAS 3), then solves its own
    rows one by one with each column's shift iω. Row-by-row substitution streams the whole
    (N, W) workspace once per row and is memory bound (7x slower at N = 400, W = 1000).
    """
    N = T.shape[-1]
    diag = 1j * w[None, :] - np.diagonal(T)[:, None]  # (N, W)
    Y = np.zeros((N, w.shape[0]), np.complex128)
    for r1 in range(N, 0, -_SPECTRUM_BLOCK):
        r0 = max(0, r1 - _SPECTRUM_BLOCK)
        R = np.broadcast_to(bz[r0:r1, None], (r1 - r0, w.shape[0])).copy()
        if r1 < N:
            R += T[r0:r1, r1:] @ Y[r1:]
        for i in range(r1 - 1, r0 - 1, -1):
            # einsum, not @: a BLAS gemv this small spawns threads, which stall on a busy machine
            Y[i] = (R[i - r0] + np.einsum("j,jw->w", T[i, i + 1:r1], Y[i + 1:r1])) / diag[i]
    return 2.0 * np.real(az @ Y)


def spectrum(
    H: Any,
    wlist: Any,
    c_ops: Sequence[Any] | None,
    a_op: Any,
    b_op: Any,
    *,
    state0: Any = None,
) -> np.ndarray:
    """Stationary power spectrum ``S(ω) = ∫ dτ e^{-iωτ} (<A(τ)B(0)>_ss - <A>_ss<B>_ss)``.

    QuTiP's convention and normalisation (``qutip.spectrum``): two-sided, the coherent part
    ``<A><B>`` (a δ-peak at ω = 0) removed, so ``∫ S(ω) dω/2π = <AB>_ss - <A>_ss<B>_ss``. With
    ``a_op = a†``, ``b_op = a`` in a frame rotating at ω_L, ω is the detuning from ω_L. Computed
    from the Liouvillian resolvent (``2 Re Tr[A (iω - L)⁻¹ (Bρ_ss - <B>ρ_ss)]``, one Schur
    decomposition per system, then O(n⁴) per ω by blocked back substitution), not from an FFT; see the module docstring.

    Args:
        H: constant Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        wlist: angular frequencies ω (W,), finite, energy units (any order).
        c_ops: list of collapse operators (..., n, n), units sqrt(rate); the steady state must
            be unique.
        a_op, b_op: operators A, B (..., n, n).
        state0: optional steady state (..., n, n) to use instead of computing it; it must be
            stationary (relative residual ``‖L(ρ)‖/(s‖ρ‖) ≤ 1e-8``), else a ValueError.

    Returns:
        float64 NumPy array batch + (W,), units of (units of A)(units of B) × time.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import destroy
        >>> a, kappa, nth = destroy(12), 1.0, 0.1       # thermal cavity: Lorentzian of FWHM κ
        >>> S = spectrum(np.zeros((12, 12)), [0.0, 0.5], [np.sqrt(kappa * (1 + nth)) * a,
        ...              np.sqrt(kappa * nth) * a.T], a.T, a)
        >>> np.allclose(S, nth * kappa / ((kappa / 2) ** 2 + np.array([0.0, 0.5]) ** 2))
        True
    """
    w = real_array(wlist, "wlist", ndim=1, min_size=1)
    Hn, cs = _system(H, c_ops)
    n = Hn.shape[-1]
    if not cs:
        raise ValueError("c_ops is empty: the spectrum needs a unique steady state, so give at least one collapse operator")
    A = _operator(a_op, "a_op", n)
    B = _operator(b_op, "b_op", n)
    named = [("H", Hn)] + [(f"c_ops[{k}]", c) for k, c in enumerate(cs)] + [("a_op", A), ("b_op", B)]
    if state0 is not None:
        rho_given = as_density_matrix(state0, "state0")
        check_dims(rho_given, n, "state0", "H")
        named.append(("state0", rho_given))
    bshape, flat = _broadcast(named, n)
    Hf, Af, Bf = flat[0], flat[1 + len(cs)], flat[2 + len(cs)]
    C = _stack_c(cs, bshape, n)
    Lm, s = _liouvillian_batch(to_jax(Hf), to_jax(C))
    Lm, s = np.asarray(Lm), np.asarray(s)
    if state0 is None:
        rho = np.asarray(steadystate(Hf, [C[:, k] for k in range(C.shape[1])]))
    else:
        rho = flat[-1]
        res = np.linalg.norm(np.einsum("bij,bj->bi", Lm, rho.reshape(rho.shape[0], -1)), axis=-1)
        res = res / (s * np.linalg.norm(rho.reshape(rho.shape[0], -1), axis=-1))
        if np.any(res > _STEADY_TOL):
            i = int(np.argmax(res))
            raise ValueError(
                f"state0 is not a steady state of H and c_ops: its relative residual ‖L(ρ)‖/(s‖ρ‖) is "
                f"{res[i]:.3g} (> {_STEADY_TOL:g})"
                + (f" at batch index {tuple(int(j) for j in np.unravel_index(i, bshape))}" if bshape else "")
                + "; pass state0=None to compute the steady state"
            )
    import scipy.linalg

    N = n * n
    vec_id = np.eye(n).reshape(N)
    chunk = min(w.size, max(256, _SPECTRUM_CHUNK_ELEMENTS // N))
    out = np.empty((Hf.shape[0], w.size))
    for k in range(Hf.shape[0]):  # one host LAPACK Schur decomposition per system
        r = rho[k].reshape(N)
        Lp = Lm[k] - s[k] * np.outer(r, vec_id)  # zero mode -> -s; traceless subspace unchanged
        Br = Bf[k] @ rho[k]
        b = Br.reshape(N) - np.trace(Br) * r  # connected: remove <B> ρ_ss
        a = Af[k].T.reshape(N)  # Tr(A X) = vec(Aᵀ)·vec(X)
        T, Z = scipy.linalg.schur(Lp, output="complex")
        bz, az = Z.conj().T @ b, Z.T @ a
        for j in range(0, w.size, chunk):  # (N, chunk) workspace
            out[k, j:j + chunk] = _spectrum_core(T, bz, az, w[j:j + chunk])
    return out.reshape(bshape + (w.size,))
