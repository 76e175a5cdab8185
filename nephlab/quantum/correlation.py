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
round-off (no time-stepping error). The propagation works in the orthonormal basis of Hermitian
matrices (diagonal entries, √2 Re X_ij, -√2 Im X_ij for i < j), where the generator is a *real*
n² × n² matrix: the real and imaginary parts of the coordinates of ``Bρ`` travel side by side,
and the exponential is a real one (on the CPU a tenth of the time of the complex one at n = 20).

**Time-dependent H and c_ops** (``correlation_2op_1t``/``_2t`` only; the forms ``mesolve``
accepts: list format ``[H0, [H1, f]]`` with callable coefficients, a callable ``H(t, args)``,
and ``args``). As in QuTiP 5, the regression theorem then reads
``<A(t+τ)B(t)> = Tr[A V(t+τ, t)(B ρ(t))]`` with ``V(t+τ, t)`` the evolution *from the absolute
time t* and ``ρ(t) = V(t, 0) state0``. :func:`nephlab.mesolve` solves once over ``tlist`` and
once per ``t`` over ``t + taulist``; since ``mesolve`` evolves density matrices, ``Bρ(t)`` is
written as a combination of four density matrices (Hermitian and anti-Hermitian parts, each
split into positive and negative parts), exact by linearity. Each solve runs in the shifted
time ``s = t_abs - t`` from ``s = 0``, the coefficients being called at ``t + s`` (one compiled
program serves every ``t``). Accuracy is the solver's (``options``: rtol, atol, method); the
steady state (``state0=None``) is undefined and refused. A list whose terms are all constant is
summed and takes the exact path below.

**Time origin.** ``state0`` is the state at ``t = 0`` and ``tlist``/``taulist`` hold absolute
times ``t ≥ 0``, delays ``τ ≥ 0``, increasing. QuTiP documents the same ("must be positive and
contain the element 0") but in fact starts its solver at the first entry; the two agree whenever
the first entry is 0.

**Spectrum.** QuTiP's convention: the Fourier transform of the stationary *connected* correlation
function (the coherent part ``<A><B>``, a δ-function at ω = 0, is removed),

    S(ω) = ∫ dτ e^{-iωτ} [<A(τ)B(0)>_ss - <A>_ss <B>_ss] = 2 Re ∫_0^∞ dτ e^{-iωτ} [...]
         = 2 Re Tr[A (iω - L)⁻¹ (Bρ_ss - <B>_ss ρ_ss)],

so that ``∫ S dω / 2π = <AB>_ss - <A>_ss<B>_ss``. It is computed from the resolvent. In the
orthonormal basis of Hermitian matrices (diagonal entries, √2 Re ρ_ij and -√2 Im ρ_ij for i < j)
the generator is a *real* n² × n² matrix (the change of basis is sparse, O(n⁴)); one real Schur
decomposition ``L = Z T Zᵀ`` (LAPACK dgees, under half the complex one's time) gives the
eigenvalues, hence the uniqueness check (exactly one |λ| ≤ 1e-10 × rate scale), and, once the zero
eigenvalue is reordered to the top (dtrsen), the steady state ``Z[:, 0]``. Shifting the zero mode
to ``-s`` (``L' = L - s ρ_ss ⊗ Tr``, which leaves the traceless subspace untouched) changes only
the first row of ``T``. Then a quasi-triangular solve per ω, vectorised over ω and in real BLAS 3
arithmetic: O(n⁶) once plus O(n⁴) per frequency, backward stable even where the Liouvillian's
eigenvectors are ill-conditioned or it is defective (where an eigen-expansion, QuTiP's ``"es"``,
loses digits or returns NaN).

Batching: leading axes of ``H``, every ``c_ops[k]``, ``state0``, ``a_op`` and ``b_op`` are batch
axes that broadcast; results carry them in front.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (enables float64)
from .._validate import args_dict, broadcast_batch, real_array, time_grid
from ._convert import as_density_matrix, as_operator, check_dims, is_qobj, to_jax
from ._engine import HermitianBasis
from nephlab._blas import single_thread
from ._linalg import expm
from .steadystate import _NULL_TOL, _rate_scale, steadystate
from .superop import _as_c_ops, _liouvillian_core
from .timedep import CallableOperator, function_name, parse_operator

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
_OPTION_KEYS = ("method", "rtol", "atol", "dt", "nsteps", "max_steps")  # mesolve's, for a time-dependent H


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _timedep_form(x: Any) -> bool:
    """Whether ``x`` is written as a time-dependent operator: list format, QobjEvo or a callable."""
    if type(x).__name__ == "QobjEvo":
        return True
    if callable(x) and not is_qobj(x) and not isinstance(x, (np.ndarray, jax.Array)):
        return True
    if isinstance(x, (list, tuple)):
        try:
            arr = np.asarray(x)
            return arr.dtype == object or not np.issubdtype(arr.dtype, np.number)
        except (TypeError, ValueError):
            return True
    return False


def _constant_operator(x: Any, name: str, *, hermitian: bool = False, kind: str | None = None) -> np.ndarray:
    """A constant operator (..., n, n); the time-dependent forms are a ValueError naming ``name``."""
    if _timedep_form(x):
        raise ValueError(
            f"{name} must be a constant operator (an (..., n, n) NumPy/JAX array or Qobj) here, got "
            f"{type(x).__name__}: a time-dependent {name} (QuTiP list format or a callable) is supported "
            "by correlation_2op_1t and correlation_2op_2t (H and c_ops) only"
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
# propagation with the real generator in the Hermitian basis (flat batch axis in front)
# --------------------------------------------------------------------------------------------
#
# In the orthonormal basis of Hermitian matrices of ``HermitianBasis`` (diagonal entries, then
# √2 Re X_ij and -√2 Im X_ij for i < j) the Lindblad generator is a real N × N matrix. Any X,
# Hermitian or not, has complex coordinates x (X = Σ x_k G_k); the propagation acts on their real
# and imaginary parts alike, so a (B, N, m) complex block travels as the real (B, N, 2m) block
# [Re x, Im x]: real matrix exponentials and products throughout (on the CPU, XLA's complex
# 400 x 400 exponential is 10x slower than the real one).


def _coords(basis: HermitianBasis, X: np.ndarray) -> np.ndarray:
    """Coordinates (..., N) complex of any X (..., n, n) in the Hermitian basis: X = Σ_k x_k G_k."""
    v = np.asarray(X).reshape(np.shape(X)[:-2] + (-1,))
    return np.conj(basis.w[0]) * v[..., basis.idx[0]] + np.conj(basis.w[1]) * v[..., basis.idx[1]]


def _dual_coords(basis: HermitianBasis, A: np.ndarray) -> np.ndarray:
    """d (..., N) with Tr(A X) = d · x for the coordinates x of any X (A (..., n, n))."""
    v = np.swapaxes(A, -1, -2).reshape(A.shape[:-2] + (-1,))
    return basis.w[0] * v[..., basis.idx[0]] + basis.w[1] * v[..., basis.idx[1]]


def _from_coords(basis: HermitianBasis, x: np.ndarray) -> np.ndarray:
    """The matrices (..., n, n) with coordinates x (..., N) (Hermitian for real x)."""
    n, m = basis.n, basis.m
    xs, xa = x[..., n:n + m], x[..., n + m:]
    r2 = np.sqrt(0.5)
    upper, lower = r2 * (xs - 1j * xa), r2 * (xs + 1j * xa)  # X_ij, X_ji for i < j
    v = np.concatenate([x[..., :n].astype(np.complex128), upper, lower], axis=-1)[..., basis.inv_perm]
    return v.reshape(x.shape[:-1] + (n, n))


def _split(Y):
    """Complex (..., m) -> real (..., 2m) = [Re, Im]."""
    return jnp.concatenate([jnp.real(Y), jnp.imag(Y)], axis=-1)


def _join(Y):
    """Real (..., 2m) = [Re, Im] -> complex (..., m)."""
    m = Y.shape[-1] // 2
    return Y[..., :m] + 1j * Y[..., m:]


def _record_state(Y, aux):
    """Y (B, N, 2) -> the complex coordinates of the states (B, N)."""
    return _join(Y)[..., 0]


def _record_trace(Y, dual):
    """Y (B, N, 2m) -> Tr(M X_j) = dual·x_j, (B, m); ``dual`` (B, N) from :func:`_dual_coords`."""
    return jnp.einsum("bi,bim->bm", dual, _join(Y))


@partial(jax.jit, static_argnames=("n",))
def _real_liouvillian_batch(H, C, n):
    """Real generators (B, N, N) in the Hermitian basis of ``HermitianBasis(n)`` and rate scales (B,)."""
    basis = HermitianBasis(n)
    return jax.vmap(lambda h, c: basis.real_generator(_liouvillian_core(h, c)))(H, C), jax.vmap(_rate_scale)(H, C)


@jax.jit
def _expm_apply(Lr, dt, Y):
    """e^{L dt} Y (one program per shape, whatever dt) and e^{L dt} itself (real)."""
    P = expm(Lr * dt)
    return P @ Y, P


@partial(jax.jit, static_argnames=("length", "record"))
def _scan_uniform(P, Y, aux, length, record):
    """``record(P^k Y, aux)`` for k = 0..length-1; recompiles per length, which is cheap."""

    def body(Y, _):
        return P @ Y, record(Y, aux)

    return jax.lax.scan(body, Y, None, length=length)[1]


@partial(jax.jit, static_argnames=("record",))
def _scan_steps(Lr, Y, aux, steps, record):
    """``record(Y_k, aux)`` with Y_k = e^{L steps[k]} Y_{k-1} (non-uniform grids)."""

    def body(Y, dt):
        Y = expm(Lr * dt) @ Y
        return Y, record(Y, aux)

    return jax.lax.scan(body, Y, steps)[1]


def _propagate(Lr, Y0, times, record, aux=None) -> np.ndarray:
    """``record(e^{L t_k} Y0, aux)`` stacked over the times t_k (K,) in front.

    Lr (B, N, N) real generators, Y0 (B, N, m) complex coordinates (propagated as the real block
    [Re, Im]). Uniform grids (steps equal to a relative 1e-10 after the first) apply one
    ``e^{L dτ}`` per step in a ``lax.scan``; others compute one exponential per step.
    Exact up to round-off: there is no time-stepping error.
    """
    Y0 = _split(jnp.asarray(Y0))
    d = np.diff(np.concatenate([[0.0], times]))
    rest = d[1:]
    uniform = rest.size == 0 or bool(np.all(np.abs(rest - rest[0]) <= _UNIFORM_RTOL * rest[0]))
    if not uniform:
        return np.asarray(_scan_steps(Lr, Y0, aux, jnp.asarray(d), record))
    Y = _expm_apply(Lr, d[0], Y0)[0] if d[0] != 0 else Y0
    P = _expm_apply(Lr, rest[0] if rest.size else 0.0, Y0)[1]
    return np.asarray(_scan_uniform(P, Y, aux, len(times), record))


def _correlation_3op(Lr, rho_t, left, right, meas, taus) -> np.ndarray:
    """Tr[meas e^{Lτ}(right ρ(t) left)] for ρ(t) (B, T, n, n) -> (B, T, len(taus))."""
    basis = HermitianBasis(rho_t.shape[-1])
    X0 = right[:, None] @ rho_t @ left[:, None]
    Y0 = np.swapaxes(_coords(basis, X0), -1, -2)  # (B, N, T)
    dual = jnp.asarray(_dual_coords(basis, meas))
    return np.moveaxis(_propagate(Lr, Y0, taus, _record_trace, dual), 0, -1)


def _prepare(H, state0, c_ops, ops: list[tuple[str, Any]]):
    """Validate and broadcast; returns the batch shape, the real generators (B, N, N) in the Hermitian
    basis, ρ0 (B, n, n) and the ops."""
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
    Lr = _real_liouvillian_batch(to_jax(Hf), to_jax(C), n)[0]
    return bshape, Lr, rho, opf


def _rho_t(Lm, rho, tlist, steady):
    """ρ(t) (B, T, n, n): the steady state repeated, or the evolution of state0 to every t."""
    if steady:
        return np.broadcast_to(rho[:, None], (rho.shape[0], len(tlist)) + rho.shape[1:])
    basis = HermitianBasis(rho.shape[-1])
    out = _propagate(Lm, _coords(basis, rho)[..., None], tlist, _record_state)  # (T, B, N)
    return _from_coords(basis, np.moveaxis(out, 0, 1))


def _check_reverse(reverse: Any) -> bool:
    if not isinstance(reverse, (bool, np.bool_)):
        raise TypeError(f"reverse must be True or False, got {reverse!r}")
    return bool(reverse)


def _check_args(args: Any) -> dict:
    """``args`` as a dict of numeric leaves (``None`` -> ``{}``); TypeError naming ``args`` otherwise."""
    return args_dict(args)


def _check_options(options: Any) -> dict:
    """The solver options forwarded to :func:`nephlab.mesolve` by the time-dependent path."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict (keys {list(_OPTION_KEYS)}), got {type(options).__name__}")
    unknown = sorted(set(options) - set(_OPTION_KEYS))
    if unknown:
        raise ValueError(f"options has unknown key(s) {unknown}; allowed: {list(_OPTION_KEYS)}")
    return dict(options)


# --------------------------------------------------------------------------------------------
# time-dependent H and c_ops: the quantum regression theorem through mesolve
# --------------------------------------------------------------------------------------------


def _parsed_form(x: Any, name: str, *, allow_callable: bool) -> Any:
    """``x`` parsed by :func:`~nephlab.quantum.timedep.parse_operator`; array coefficients refused."""
    if isinstance(x, (list, tuple)):
        for i, item in enumerate(x):
            if (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], (np.ndarray, jax.Array))
                    and np.ndim(item[1]) == 1):
                raise ValueError(
                    f"{name}[{i}][1] is an array coefficient; the correlation functions solve on the grids "
                    "t + taulist, so sampled coefficients have no single grid: pass a callable f(t) or f(t, args)"
                )
    return parse_operator(x, name, None, allow_callable=allow_callable)


def _split_system(H: Any, c_ops: Any) -> tuple[bool, Any, Any]:
    """``(time_dependent, H, c_ops)``.

    A list-format ``H`` or ``c_ops[k]`` whose terms are all constant (no coefficient, or a number)
    is summed into one array, so that it takes the exact constant path; a time-dependent system
    is returned as given (``mesolve`` parses it again, with the args).
    """
    if c_ops is not None and not isinstance(c_ops, (list, tuple)):
        _as_c_ops(c_ops, None)  # the TypeError that names c_ops
    items = [("H", H, True)] + [(f"c_ops[{k}]", c, False) for k, c in enumerate(c_ops or [])]
    if not any(_timedep_form(x) for _, x, _ in items):
        return False, H, c_ops
    const = []
    for name, x, allow_callable in items:
        if not _timedep_form(x):
            const.append(x)
            continue
        parsed = _parsed_form(x, name, allow_callable=allow_callable)
        if isinstance(parsed, CallableOperator) or any(term.coeff is not None for term in parsed):
            return True, H, list(c_ops or [])
        const.append(sum(term.op for term in parsed))
    return False, const[0], (None if c_ops is None else const[1:])


def _density_parts(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X = Σ_j w_j ρ_j`` for any X (..., n, n): weights (4, ...), density matrices (4, ..., n, n).

    ``X = P + iQ`` with P, Q Hermitian, each split into its positive and negative parts
    (eigendecomposition); a part of zero trace gets weight 0 and ρ = I/n. ``mesolve`` evolves
    density matrices only and the Lindblad map is linear, so evolving the four ρ_j evolves X.
    """
    n = X.shape[-1]
    Xh = np.conj(np.swapaxes(X, -1, -2))
    weights, parts = [], []
    for M, phase in ((0.5 * (X + Xh), 1.0), (-0.5j * (X - Xh), 1j)):
        lam, V = np.linalg.eigh(M)
        for sign in (1.0, -1.0):
            pos = np.maximum(sign * lam, 0.0)  # the positive (sign=1) or negative part's spectrum
            tr = pos.sum(-1)
            R = (V * pos[..., None, :]) @ np.conj(np.swapaxes(V, -1, -2))
            R = 0.5 * (R + np.conj(np.swapaxes(R, -1, -2)))
            safe = np.where(tr > 0, tr, 1.0)[..., None, None]
            parts.append(np.where(tr[..., None, None] > 0, R / safe, np.eye(n) / n))
            weights.append(sign * phase * tr)
    return np.stack(weights), np.stack(parts)


@dataclass(frozen=True)
class _Shifted:
    """``f(t0 + s, args)`` for a time function ``f(t, args)``: the solver's time ``s`` starts at 0.

    ``t0`` and the user's dict travel in the solver's args, ``{"t0": t0, "args": args}``, so one
    compiled program serves every start time (equal, and hashing equal, for the same ``f``).
    """

    func: Callable

    @property
    def __name__(self) -> str:  # messages name the user's function
        return function_name(self.func)

    def __call__(self, s, args):
        return self.func(args["t0"] + s, args["args"])


def _shifted_system(H: Any, c_ops: list) -> tuple[Any, list]:
    """H and c_ops in the list format with every coefficient (or callable H) wrapped in :class:`_Shifted`."""

    def shift(x, name, allow_callable):
        if not _timedep_form(x):
            return x
        parsed = _parsed_form(x, name, allow_callable=allow_callable)
        if isinstance(parsed, CallableOperator):
            return _Shifted(parsed.func)
        return [term.op if term.coeff is None else [term.op, _Shifted(term.coeff.func)] for term in parsed]

    return shift(H, "H", True), [shift(c, f"c_ops[{k}]", False) for k, c in enumerate(c_ops)]


def _correlation_td(H, state0, tl, taus, c_ops, a_op, b_op, reverse, args, options) -> np.ndarray:
    """QRT with a time-dependent generator: ρ(t) from 0, then X = Bρ(t) (ρ(t)A) from t to t + τ.

    Each solve runs in the shifted time s = t_abs - t0 from s = 0 (coefficients get ``t0 + s``),
    which is the evolution from the absolute time t0.
    """
    from .mesolve import mesolve

    if state0 is None:
        raise ValueError(
            "state0=None asks for the steady state, which a time-dependent H or c_ops does not have; give "
            "state0, the state at t = 0 (QuTiP computes a steady state for a constant H only)"
        )
    rho0 = as_density_matrix(state0, "state0")
    n = rho0.shape[-1]
    A = _operator(a_op, "a_op", n)
    B = _operator(b_op, "b_op", n)
    Hs, cs = _shifted_system(H, c_ops)

    def solve(rho, t0, delays):
        """states (..., K, n, n) at t0 + delays (K,), delays >= 0 increasing, from rho at t0."""
        if delays.size == 1 and delays[0] == 0.0:
            return rho[..., None, :, :]
        ext = delays[0] != 0.0
        grid = np.concatenate([[0.0], delays]) if ext else delays
        res = mesolve(Hs, rho, grid, cs, args={"t0": t0, "args": args}, options=options)
        return res.states[..., 1:, :, :] if ext else res.states

    rho_t = solve(rho0, 0.0, tl)
    M = B if reverse else A  # measured at t + τ
    rows = []
    for j, t in enumerate(tl):
        X = rho_t[..., j, :, :] @ A if reverse else B @ rho_t[..., j, :, :]
        w, parts = _density_parts(X)
        row = np.zeros(np.broadcast_shapes(w.shape[1:], M.shape[:-2]) + taus.shape, np.complex128)
        for wk, rk in zip(w, parts):  # one solve per part: the same compiled program as ρ(t)'s batch
            if np.any(wk != 0):
                Y = solve(rk, float(t), taus)  # (..., K, n, n)
                row = row + wk[..., None] * np.sum(M[..., None, :, :] * np.swapaxes(Y, -1, -2), axis=(-2, -1))
        rows.append(row)
    return np.stack(np.broadcast_arrays(*rows), axis=-2)


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
    options: dict | None = None,
) -> np.ndarray:
    """Two-time correlation ``<A(t+τ) B(t)>`` (``reverse=True``: ``<A(t) B(t+τ)>``).

    Quantum regression theorem with the Lindblad generator ``L`` of ``H`` and ``c_ops``:
    ``<A(t+τ)B(t)> = Tr[A e^{Lτ}(B ρ(t))]``, ``ρ(t) = e^{Lt} state0``.

    **Time-dependent H or c_ops** (the forms :func:`nephlab.mesolve` accepts: QuTiP's list
    format ``[H0, [H1, f]]`` with callable coefficients ``f(t)`` / ``f(t, args)`` written with
    ``jax.numpy``, or a callable ``H(t, args)``): as QuTiP 5, ``<A(t+τ)B(t)> = Tr[A V(t+τ, t)(B ρ(t))]``
    with ``V(t+τ, t)`` the evolution from the absolute time ``t`` (not from 0) and
    ``ρ(t) = V(t, 0) state0``. It runs :func:`nephlab.mesolve` once from 0 over ``tlist`` and
    once per ``t`` over ``t + taulist`` (the non-Hermitian ``Bρ(t)`` is evolved as a combination
    of four density matrices, which is exact by linearity), so its accuracy is the solver's
    (``options``). A list whose terms are all constant takes the exact constant-H path.

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1): array or ``Qobj``
            (exact matrix exponentials), or time-dependent as above. ``QobjEvo`` and array
            coefficients (sampled on a grid) are refused.
        state0: density matrix (..., n, n) or ket (n,) at ``t = 0``; ``None``: the steady state
            (then ρ(t) = ρ_ss for every t; constant H and c_ops only, else a ValueError).
        tlist: times t (T,), ``>= 0`` and strictly increasing (inverse energy units).
        taulist: delays τ (K,), ``>= 0`` and strictly increasing.
        c_ops: list of collapse operators (..., n, n), units sqrt(rate); an entry may be in the
            list format (time-dependent rates).
        a_op, b_op: constant operators A, B (..., n, n).
        reverse: compute ``<A(t) B(t+τ)> = Tr[B V(t+τ, t)(ρ(t) A)]`` instead.
        args: dict passed to coefficients ``f(t, args)`` (a TypeError if not a dict).
        options: solver options of the time-dependent path, passed to ``mesolve``: keys
            ``method``, ``rtol``, ``atol``, ``dt``, ``nsteps``/``max_steps`` (defaults those of
            ``mesolve``: rtol 1e-6, atol 1e-8). The constant-H path is exact and has none.

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

        A cosine-driven, damped two-level atom (list format; time-dependent path):

        >>> import jax.numpy as jnp
        >>> from nephlab.quantum import sigmam, sigmax, sigmaz
        >>> H = [0.5 * sigmaz(), [sigmax(), lambda t, args: args["A"] * jnp.cos(args["nu"] * t)]]
        >>> c = correlation_2op_2t(H, np.diag([0.0, 1.0]), [0.0, 1.0], np.linspace(0, 2, 5),
        ...                        [0.5 * sigmam()], sigmam().T, sigmam(), args={"A": 0.3, "nu": 1.0})
        >>> c.shape
        (2, 5)
    """
    args = _check_args(args)
    options = _check_options(options)
    reverse = _check_reverse(reverse)
    tl = _times(tlist, "tlist")
    taus = _times(taulist, "taulist")
    timedep, H, c_ops = _split_system(H, c_ops)
    if timedep:
        return _correlation_td(H, state0, tl, taus, c_ops, a_op, b_op, reverse, args, options)
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
    options: dict | None = None,
) -> np.ndarray:
    """One-time correlation ``<A(τ) B(0)>`` (``reverse=True``: ``<A(0) B(τ)>``).

    ``<A(τ)B(0)> = Tr[A e^{Lτ}(B ρ0)]`` by the quantum regression theorem; ``state0=None`` uses
    the steady state, giving the stationary correlation function. ``correlation_2op_2t`` with
    ``tlist=[0]``: a time-dependent H or c_ops (list format, as in ``mesolve``) is evolved from
    t = 0, as in QuTiP 5 (see :func:`correlation_2op_2t`).

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1): array or ``Qobj``, or
            time-dependent (list format ``[H0, [H1, f]]``, callable ``H(t, args)``).
        state0: density matrix (..., n, n) or ket (n,) at t = 0, or None for the steady state
            (constant H and c_ops only).
        taulist: delays τ (K,), ``>= 0`` and strictly increasing (inverse energy units).
        c_ops: list of collapse operators (..., n, n) (or list format), units sqrt(rate).
        a_op, b_op: constant operators A, B (..., n, n).
        reverse: compute ``<A(0) B(τ)> = Tr[B e^{Lτ}(ρ0 A)]`` instead.
        args: dict passed to coefficients ``f(t, args)``.
        options: solver options of the time-dependent path (see :func:`correlation_2op_2t`).

    Returns:
        complex128 NumPy array of shape batch + (K,).

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import sigmam, sigmap
        >>> tau = np.linspace(0, 2, 3)
        >>> c = correlation_2op_1t(np.zeros((2, 2)), np.diag([1.0, 0.0]), tau, [sigmam()], sigmap(), sigmam())
        >>> np.allclose(c, np.exp(-tau / 2))                     # <σ+(τ)σ-(0)> from the excited state
        True

        Time-dependent H in the list format (a plain coefficient ``f(t)``; tighter tolerances):

        >>> import jax.numpy as jnp
        >>> from nephlab.quantum import sigmax
        >>> c = correlation_2op_1t([np.zeros((2, 2)), [sigmax(), lambda t: 0.0 * jnp.cos(t)]],
        ...                        np.diag([1.0, 0.0]), tau, [sigmam()], sigmap(), sigmam(),
        ...                        options={"rtol": 1e-10, "atol": 1e-12})
        >>> np.allclose(c, np.exp(-tau / 2), atol=1e-8)         # a zero drive: same as above
        True
    """
    return correlation_2op_2t(H, state0, [0.0], taulist, c_ops, a_op, b_op, reverse=reverse, args=args,
                              options=options)[..., 0, :]


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
        args: a dict or None; unused (constant H only).

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
        args: a dict or None; unused (constant H only).

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


def _real_schur(Lr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real Schur form ``Lr = Z T Zᵀ`` (LAPACK dgees, optimal workspace) and the eigenvalues (N,)."""
    from scipy.linalg import lapack

    def no_sort(re, im):
        return None

    lwork = int(lapack.dgees(no_sort, Lr, compute_v=1, lwork=-1)[-2][0].real)
    T, _, wr, wi, Z, _, info = lapack.dgees(no_sort, Lr, compute_v=1, lwork=max(lwork, 3 * Lr.shape[0]))
    if info != 0:
        raise RuntimeError(f"spectrum: the real Schur decomposition (LAPACK dgees) failed, info = {info}")
    return T, Z, wr + 1j * wi


def _stationary_schur(Lr: np.ndarray, s: float, n: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Schur form of the real generator with its zero mode first and shifted to ``-s``.

    Returns ``(T, Z, z)``: ``Zᵀ L' Z = T`` quasi-triangular, where ``L' = L - s ρ_ss ⊗ Tr`` (the
    zero eigenvalue moved to ``-s``; the traceless subspace, where the regression theorem acts, is
    unchanged), and ``z = Z[:, 0]`` spans the kernel of ``L`` (the steady state, up to its
    trace). The shift only changes the first row of the Schur form, since ``Zᵀ ρ_ss ∝ e_0``.
    ``Lr`` is the real generator (N, N) in the Hermitian basis of dimension ``n`` (whose first
    ``n`` coordinates are the diagonal), ``s`` its rate scale, ``where`` a suffix for messages.
    Raises RuntimeError if more than one eigenvalue is ``≤ _NULL_TOL × s`` in modulus (no unique
    steady state), or if the eigenvector of the smallest one is not stationary to ``_STEADY_TOL``.
    """
    from scipy.linalg import lapack

    T, Z, lam = _real_schur(Lr)
    small = np.abs(lam) <= _NULL_TOL * s
    if np.count_nonzero(small) > 1:
        raise RuntimeError(
            f"spectrum: the steady state is not unique{where}: the Liouvillian has {int(np.count_nonzero(small))} "
            f"(near-)zero eigenvalues (|λ| ≤ {_NULL_TOL:g} × rate scale {s:.3g}), so there are as many linearly "
            "independent stationary states (e.g. a part of the system without dissipation, pure dephasing, or a "
            "conserved quantity); add dissipation to c_ops that connects them"
        )
    select = np.zeros(Lr.shape[0], np.int32)
    select[int(np.argmin(np.abs(lam)))] = 1  # a real eigenvalue: a 1x1 block, moved to the top
    T, Z, *_, info = lapack.dtrsen(select, T, Z, job="N")
    if info != 0:
        raise RuntimeError(f"spectrum: reordering the Schur form (LAPACK dtrsen) failed, info = {info}")
    z = Z[:, 0].copy()
    res = np.linalg.norm(Lr @ z) / s  # ‖z‖ = 1
    trace = z[:n].sum()  # Tr ρ: the diagonal coordinates come first in the Hermitian basis
    if not (res <= _STEADY_TOL and abs(trace) > 0):
        raise RuntimeError(
            f"spectrum: no steady state found{where}: the eigenvector of the Liouvillian's smallest eigenvalue "
            f"{lam[select.astype(bool)][0]:.3g} has relative residual {res:.3g} and trace {trace:.3g}"
        )
    tZ = Z[:n].sum(axis=0)  # Tr of each Schur vector
    T[0] -= s * tZ / trace
    return T, Z, z / trace


def _spectrum_core(T: np.ndarray, bz: np.ndarray, az: np.ndarray, w: np.ndarray) -> np.ndarray:
    """2 Re[az · (iω - T)⁻¹ bz] for real quasi-upper-triangular T (N, N), vectorised over ω (W,).

    ``T`` is a real Schur form: upper triangular but for 2×2 diagonal blocks (complex pairs),
    marked by a nonzero subdiagonal entry; ``bz``, ``az`` are complex (N,). Blocked back
    substitution: each block of rows (never splitting a 2×2 block) takes the contribution of the
    rows already solved as one real matrix product ``T[block, below] @ Y[below]`` (BLAS 3 on the
    real and imaginary parts at once: ``Y`` viewed as real (N, 2W)), then solves its own rows one
    by one, a 2×2 block as a 2×2 system per ω. Row-by-row substitution streams the whole (N, W)
    workspace once per row and is memory bound (7x slower at N = 400, W = 1000).
    """
    N, W = T.shape[-1], w.shape[0]
    diag = 1j * w[None, :] - np.diagonal(T)[:, None]  # (N, W)
    Y = np.zeros((N, W), np.complex128)
    Yr = Y.view(np.float64)  # (N, 2W): real and imaginary parts interleaved

    def dot(row: np.ndarray, lo: int, hi: int) -> np.ndarray:
        # einsum, not @: a BLAS gemv this small spawns threads, which stall on a busy machine
        return np.einsum("j,jw->w", row, Yr[lo:hi]).view(np.complex128)

    r1 = N
    while r1 > 0:
        r0 = max(0, r1 - _SPECTRUM_BLOCK)
        if r0 > 0 and T[r0, r0 - 1] != 0.0:
            r0 -= 1  # keep a 2x2 block in one piece
        R = np.broadcast_to(bz[r0:r1, None], (r1 - r0, W)).copy()
        if r1 < N:
            R += (T[r0:r1, r1:] @ Yr[r1:]).view(np.complex128)
        i = r1 - 1
        while i >= r0:
            if i > r0 and T[i, i - 1] != 0.0:  # 2x2 block (i-1, i): a 2x2 system per ω
                ri = R[i - r0] + dot(T[i, i + 1:r1], i + 1, r1)
                rm = R[i - 1 - r0] + dot(T[i - 1, i + 1:r1], i + 1, r1)
                t12, t21 = T[i - 1, i], T[i, i - 1]
                det = diag[i - 1] * diag[i] - t12 * t21
                Y[i - 1] = (diag[i] * rm + t12 * ri) / det
                Y[i] = (diag[i - 1] * ri + t21 * rm) / det
                i -= 2
            else:
                Y[i] = (R[i - r0] + dot(T[i, i + 1:r1], i + 1, r1)) / diag[i]
                i -= 1
        r1 = r0
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
    from the Liouvillian resolvent (``2 Re Tr[A (iω - L)⁻¹ (Bρ_ss - <B>ρ_ss)]``, one real Schur
    decomposition per system, which also gives the steady state, then O(n⁴) per ω by blocked back
    substitution, on one BLAS thread of the calling thread), not from an FFT; see the module docstring.

    Args:
        H: constant Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        wlist: angular frequencies ω (W,), finite, energy units (any order).
        c_ops: list of collapse operators (..., n, n), units sqrt(rate); the steady state must
            be unique (else a RuntimeError: more than one eigenvalue of the Liouvillian with
            ``|λ| ≤ 1e-10 ×`` its rate scale).
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
    basis = HermitianBasis(n)
    Lr, s = _real_liouvillian_batch(to_jax(Hf), to_jax(C), n)
    Lr, s = np.asarray(Lr), np.asarray(s)
    if state0 is not None:
        rho = flat[-1]
        x = _coords(basis, rho).real  # coordinates of Hermitian ρ: real
        res = np.linalg.norm(np.einsum("bij,bj->bi", Lr, x), axis=-1) / (s * np.linalg.norm(x, axis=-1))
        if np.any(res > _STEADY_TOL):
            i = int(np.argmax(res))
            raise ValueError(
                f"state0 is not a steady state of H and c_ops: its relative residual ‖L(ρ)‖/(s‖ρ‖) is "
                f"{res[i]:.3g} (> {_STEADY_TOL:g})"
                + (f" at batch index {tuple(int(j) for j in np.unravel_index(i, bshape))}" if bshape else "")
                + "; pass state0=None to compute the steady state"
            )
    N = n * n
    chunk = min(w.size, max(256, _SPECTRUM_CHUNK_ELEMENTS // N))
    duals = _dual_coords(basis, Af)  # Tr(A X) = duals[k] · coords(X)
    out = np.empty((Hf.shape[0], w.size))
    for k in range(Hf.shape[0]):  # one host LAPACK real Schur decomposition per system
        where = f" at batch index {tuple(int(j) for j in np.unravel_index(k, bshape))}" if bshape else ""
        with single_thread():  # threads slow dgees and the back substitution at this size, see _blas
            T, Z, z = _stationary_schur(Lr[k], float(s[k]), n, where)
            rho_k = _from_coords(basis, z) if state0 is None else rho[k]
            Br = Bf[k] @ rho_k
            b = Br - np.trace(Br) * rho_k  # connected: remove <B> ρ_ss
            bz = Z.T @ _coords(basis, b)
            az = Z.T @ duals[k]
            for j in range(0, w.size, chunk):  # (N, chunk) workspace
                out[k, j:j + chunk] = _spectrum_core(T, bz, az, w[j:j + chunk])
    return out.reshape(bshape + (w.size,))
