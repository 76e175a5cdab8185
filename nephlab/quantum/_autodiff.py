"""Differentiable Lindblad solves: the implementation behind :mod:`nephlab.quantum.jax`.

Everything on the traced path is ``jax.numpy``: the right-hand side is nephlab's
:func:`nephlab.quantum.superop._rhs_core` (``-i[H, ρ] + Σ_k D[L_k](ρ)`` on matrices), the exact
propagator is the exponential of :func:`nephlab.quantum.superop._liouvillian_core`, and the time
stepping is nephlab's own adaptive loop (:func:`nephlab.quantum._rk.adaptive_solve`, the
``mesolve`` integrator: Tsit5/Dopri5 with a PI controller) or diffrax (classical RK4 on the grid
of ``nephlab.mesolve(method="rk4")``, and every method with ``gradient="direct"``):

* ``gradient="checkpoint"``: tsit5/dopri5/dop853/vern7 run nephlab's loop, whose reverse mode is the discrete
  adjoint of :mod:`nephlab.quantum._rk_adjoint` (checkpointed states, memory O(√max_steps) states,
  independent of the number of steps taken); for a time-independent problem the transpose of a step
  is written out by hand (:mod:`nephlab.quantum._lindblad_vjp`: the adjoint Lindbladian), else
  it is ``jax.vjp`` of the step. rk4 runs :class:`diffrax.RecursiveCheckpointAdjoint`;
* ``gradient="direct"``: :class:`diffrax.DirectAdjoint` (plain autodiff through the steps;
  supports forward mode, ``jax.jvp``/``jax.jacfwd``);
* ``gradient=None``: nephlab's own adaptive loop without a reverse mode: forward mode only.

``format="sparse"`` swaps the vector field for ``nephlab.mesolve``'s sparse right-hand side on
fixed operators (:mod:`nephlab.quantum._autodiff_sparse`); the time stepping and gradient modes
above are the same, without the hand-written transpose and without the interaction frame.

Validation happens on static information only (shapes, dtypes, names, the concrete ``tlist``),
before anything is traced, so that the parameters themselves may be tracers of ``jax.grad``,
``jax.jacfwd``, ``jax.jit`` or ``jax.vmap``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (enables float64)
from .._validate import one_of, time_grid
from . import _ops
from ._convert import check_finite, is_qobj
from .mesolve import _c_list
from .methods import OPTIONS, check_keywords
from .superop import _heff_core, _liouvillian_core, _rhs_core
from .timedep import function_name, time_function

__all__ = ["GRADIENTS", "METHODS", "MESolveResult", "mesolve"]

GRADIENTS = ("checkpoint", "direct", None)
FORMATS = ("dense", "sparse")  # operator storage (format=None: "dense")


@dataclass(frozen=True)
class _MethodSpec:
    """What a method of this namespace is and supports (declared, checked before tracing)."""

    name: str
    adaptive: bool
    needs_dt: bool
    constant_only: bool
    gradients: tuple
    doc: str
    gradient_note: str = ""  # why a gradient mode is missing


METHODS: dict[str, _MethodSpec] = {
    m.name: m
    for m in (
        _MethodSpec("tsit5", True, False, False, GRADIENTS, "adaptive Tsitouras 5(4), diffrax"),
        _MethodSpec("dopri5", True, False, False, GRADIENTS, "adaptive Dormand–Prince 5(4), diffrax"),
        _MethodSpec("dop853", True, False, False, ("checkpoint", None), "adaptive Hairer 8(5,3), SciPy's tableau",
                    "diffrax has no DOP853, so there is no direct autodiff through its steps"),
        _MethodSpec("vern7", True, False, False, ("checkpoint", None), "adaptive Verner 7(6), QuTiP's tableau",
                    "diffrax has no Verner pair, so there is no direct autodiff through its steps"),
        _MethodSpec("rk4", False, True, False, ("checkpoint", "direct"),
                    "classical fixed-step RK4, ceil(Δt/dt) equal steps per interval of tlist",
                    "the fixed-step rk4 solve runs in diffrax only"),
        _MethodSpec("expm", False, False, True, GRADIENTS,
                    "exact propagator exp(L Δt) of a time-independent Liouvillian"),
    )
}
# nephlab.mesolve methods that have no differentiable kernel here: named in the error message
_NOT_DIFFERENTIABLE = {
    "magnus4": "its Strang-split CPTP step is not implemented on the traced path",
    "kvaerno5": "its implicit solve is not wired to an adjoint here",
    "auto": "a differentiable solve must name its method",
}


class MESolveResult(NamedTuple):
    """Result of :func:`mesolve` (a pytree: it passes through ``jit``/``vmap``/``grad``).

    Attributes:
        states: complex128 (T, n, n), ρ(t) at every time of ``tlist`` (T = len(tlist)).
        expect: complex128 (n_eops, T), ``Tr(E_k ρ(t))``; always complex (whether an operator is
            Hermitian cannot be known under ``jit``), so take ``.real`` for a loss; (0, T) without e_ops.
        tlist: float64 (T,), the times (units 1/energy, ħ = 1).

    Example:
        >>> r = MESolveResult(jnp.zeros((2, 1, 1)), jnp.zeros((0, 2)), jnp.arange(2.0))
        >>> r.states.shape, r.expect.shape
        ((2, 1, 1), (0, 2))
    """

    states: jax.Array
    expect: jax.Array
    tlist: jax.Array


# ---------------------------------------------------------------------------------------------
# static validation (shapes, names), before tracing
# ---------------------------------------------------------------------------------------------


def _array(x: Any, name: str) -> jax.Array:
    """``x`` as a complex128 JAX array without leaving JAX: tracers stay tracers."""
    if is_qobj(x):
        return jnp.asarray(np.asarray(x.full(), np.complex128))
    if isinstance(x, jax.core.Tracer) or isinstance(x, jax.Array):
        if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_):
            raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
        if not isinstance(x, jax.core.Tracer):  # concrete: check values too (tracers: shapes only)
            check_finite(np.asarray(x), name)
        return jnp.asarray(x, jnp.complex128)
    if type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a scipy.sparse matrix; pass format='sparse' to keep it sparse (or .toarray() it)")
    if isinstance(x, (np.ndarray, list, tuple, int, float, complex, np.number)):
        try:
            arr = np.asarray(x, np.complex128)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} could not be read as a complex array: {err}") from None
        check_finite(arr, name)
        return jnp.asarray(arr)
    raise TypeError(f"{name} must be a JAX/NumPy array or QuTiP Qobj, got {type(x).__name__}")


def _square(x: Any, name: str, n: int | None) -> jax.Array:
    a = _array(x, name)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be one square matrix of shape (n, n) (batch with jax.vmap), got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has shape {a.shape}, which does not match the dimension n={n} of H")
    return a


def _is_operator(x: Any) -> bool:
    return is_qobj(x) or isinstance(x, (np.ndarray, jax.Array)) or (
        isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (list, tuple))
        and not callable(x[-1]) and all(isinstance(r, (list, tuple)) and all(_scalar(v) for v in r) for r in x))


def _scalar(v: Any) -> bool:
    """A concrete number (a matrix entry of a nested-list operator); a tracer is not one."""
    return not isinstance(v, jax.core.Tracer) and not callable(v) and np.ndim(v) == 0


def _terms(x: Any, name: str, n: int | None, *, single: bool = False) -> tuple[list, list]:
    """QuTiP list format -> (operators, coefficient functions or None); ``single``: ``x`` is one
    term (an operator or an ``[op, f]`` pair) named ``name``."""
    one = single or not (isinstance(x, list) and not _is_operator(x))
    items = [x] if one else x
    ops, fns = [], []
    for k, item in enumerate(items):
        where = name if one else f"{name}[{k}]"
        if isinstance(item, (list, tuple)) and len(item) == 2 and not _is_operator(item):
            op, f = item
            if not callable(f):
                raise TypeError(
                    f"{where}[1] must be a coefficient function f(t, args) written in jax.numpy, got "
                    f"{type(f).__name__}; sampled coefficients are not supported by nephlab.quantum.jax"
                )
            fns.append(time_function(f, f"{where}[1] (the coefficient {function_name(f)!r})"))
            item = op
            where = f"{where}[0]"
        else:
            if callable(item) and not _is_operator(item):
                raise TypeError(f"{where} is a callable; give operators, or [operator, f(t, args)] pairs")
            fns.append(None)
        a = _square(item, where, n)
        n = a.shape[0] if n is None else n
        ops.append(a)
    return ops, fns


def _rho0(x: Any, n: int) -> jax.Array:
    a = _array(x, "rho0")
    if a.shape in ((n,), (n, 1)):  # a ket: |ψ⟩⟨ψ|
        psi = a.reshape(n)
        return jnp.outer(psi, jnp.conj(psi))
    if a.shape != (n, n):
        raise ValueError(f"rho0 must be a density matrix ({n}, {n}) or a ket ({n},)/({n}, 1) matching H, got shape {a.shape}")
    return a


def _eops(e_ops: Any, n: int) -> jax.Array:
    if e_ops is None:
        return jnp.zeros((0, n, n), jnp.complex128)
    items = [e_ops] if _is_operator(e_ops) else e_ops
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"e_ops must be a list of operators (n, n), got {type(e_ops).__name__}")
    ops = [_square(e, f"e_ops[{k}]", n) for k, e in enumerate(items)]
    return jnp.stack(ops) if ops else jnp.zeros((0, n, n), jnp.complex128)


def _check_args(args: Any) -> Any:
    if args is None:
        return {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(args):
        ok = isinstance(leaf, (jax.Array, jax.core.Tracer, int, float, complex, np.ndarray, np.number))
        if not ok or (hasattr(leaf, "dtype") and np.dtype(leaf.dtype).kind not in "biufc"):
            raise TypeError(f"args{jax.tree_util.keystr(path)} = {leaf!r} cannot be passed into JAX; "
                            "args leaves must be numbers or numeric arrays")
    return args


def _rk4_grid(tl: np.ndarray, dt: float) -> np.ndarray:
    """The step points of ``mesolve(method="rk4")``: ceil(Δt/dt) equal steps in each interval."""
    pts = [tl[:1]]
    for ta, tb in zip(tl[:-1], tl[1:]):
        m = max(1, int(np.ceil((tb - ta) / dt - 1e-9)))
        pts.append(ta + (tb - ta) * np.arange(1, m + 1) / m)
        pts[-1][-1] = tb
    return np.concatenate(pts)


# ---------------------------------------------------------------------------------------------
# the traced solve
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Structure:
    """Hashable: what fixes the compiled program."""

    method: str
    gradient: str | None
    h_fns: tuple
    c_fns: tuple
    max_steps: int
    uniform: bool
    frame: bool = False  # adaptive methods: integrate in the interaction frame of H's constant diagonal
    sparse: Any = None  # format="sparse": the _engine.Structure of mesolve's sparse format (_autodiff_sparse)


def _coeff(f, t, args):
    return jnp.asarray(f(t, args), jnp.complex128)


def _operators(st: _Structure, dyn, t):
    """H(t) (n, n) and the stacked collapse operators C(t) (K, n, n)."""
    H = None
    for f, op in zip(st.h_fns, dyn["H"]):
        term = op if f is None else _coeff(f, t, dyn["args"]) * op
        H = term if H is None else H + term
    C = [op if f is None else _coeff(f, t, dyn["args"]) * op for f, op in zip(st.c_fns, dyn["C"])]
    n = H.shape[-1]
    return H, (jnp.stack(C) if C else jnp.zeros((0, n, n), jnp.complex128))


def _frame_energies(st: _Structure, dyn):
    """(n,) real: the diagonal D of the interaction frame, Re diag of the sum of H's constant terms.

    The transformation is exact for any fixed D, so the solution (and its derivatives) do not
    depend on D: its gradient is stopped, which also holds when D depends on a differentiated
    parameter (a detuning), the parameter's dependence then flows through ``H - D`` alone.
    """
    const = [op for f, op in zip(st.h_fns, dyn["H"]) if f is None]
    return jax.lax.stop_gradient(jnp.real(jnp.diagonal(sum(const[1:], const[0]))))


def _frame_phases(d, tau):
    """``P[..., i, j] = exp(i (d_i - d_j) τ)`` for times τ (...,): ρ̃ = P ∘ ρ is ρ in the frame of D."""
    p = jnp.exp(1j * d * jnp.asarray(tau)[..., None])
    return p[..., :, None] * jnp.conj(p)[..., None, :]


_COS = tuple((-1) ** k / math.factorial(2 * k) for k in range(15))
_SIN = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(15))


def _cos_sin(x):
    """(cos x, sin x) of a real array by reduction to [-π, π] and Taylor polynomials of degree 28/29.

    Absolute error ≈ |x|·1e-16 + 1e-15 (the rounding of x itself is of the same order). The
    vector field needs these phases at every stage, and XLA's CPU ``cos``/``sin`` in float64
    cost more there than the 20 x 20 matrix products of the Lindbladian.
    """
    r = x - (2 * math.pi) * jnp.round(x * (1 / (2 * math.pi)))
    r2 = r * r
    c, s = _COS[-1], _SIN[-1]
    for k in range(len(_COS) - 2, -1, -1):
        c = c * r2 + _COS[k]
        s = s * r2 + _SIN[k]
    return c, s * r


def _field(st: _Structure, dyn):
    """``(f, p, q)``: the vector field ``f(p, q, t, y) -> dy/dt`` of the real-split state y (2, n, n),
    in the frame of D if ``st.frame``, its parameters ``p`` (a pytree of arrays: everything the
    solve is differentiated through enters ``f`` by ``p``, :mod:`nephlab.quantum._rk_adjoint`) and
    the frame ``q`` (``{"d": D, "t0": tlist[0]}`` or ``{}``; not differentiated, see
    :func:`_frame_energies`).

    In the frame, ρ̃ = P(t) ∘ ρ (elementwise, :func:`_frame_phases`, τ = t - tlist[0]) obeys
    dρ̃/dt = P ∘ L_{H - D}(P* ∘ ρ̃): the Lindbladian with diag(D) removed from H, evaluated on
    the lab-frame state. For a Kerr spectrum this removes the fast oscillation of ρ and with it
    most adaptive steps. When nothing depends on time, H_eff = H - D - ½iΣC†C is formed once, stacked with the
    C_k into the two matrices of :func:`nephlab.quantum._lindblad_vjp.stack`. On the sparse format
    it is ``mesolve``'s sparse right-hand side (:func:`nephlab.quantum._autodiff_sparse.field`).
    """
    if st.sparse is not None:
        from . import _autodiff_sparse

        return _autodiff_sparse.field(st.sparse, dyn)
    d = _frame_energies(st, dyn) if st.frame else jnp.zeros(dyn["H"][0].shape[-1])
    shift = jnp.diag(d).astype(jnp.complex128)
    if not any(f is not None for f in st.h_fns + st.c_fns):
        H, C = _operators(st, dyn, dyn["tlist"][0])
        from . import _lindblad_vjp

        p = _lindblad_vjp.stack(_heff_core(H - shift, C), C)  # L(ρ) in two stacked products

        def core(p, t, rho):
            return _lindblad_vjp.lindblad(p, rho)[0]
    else:
        p = {"H": dyn["H"], "C": dyn["C"], "args": dyn["args"], "shift": shift}

        def core(p, t, rho):
            H, C = _operators(st, p, t)
            return _rhs_core(H - p["shift"], C, rho)

    if not st.frame:
        return (lambda p, q, t, y: _ops.split(core(p, t, _ops.merge(y)))), p, {}
    q = {"d": d, "t0": jax.lax.stop_gradient(dyn["tlist"][0])}

    def f(p, q, t, y):
        # the phases in real arithmetic: P ∘ X = rotate(X, cos Dτ, sin Dτ), P* ∘ X with -sin Dτ
        c, s = _cos_sin(q["d"] * (t - q["t0"]))
        rho = _ops.merge(_ops.rotate("dense", (), y, c, -s))
        return _ops.rotate("dense", (), _ops.split(core(p, t, rho)), c, s)

    return f, p, q


def _stage_phases(q, ts):
    """``P[s, i, j] = exp(i (D_i - D_j)(ts[s] - t0))`` (len(ts), n, n), from the polynomial cos/sin of ``f``."""
    c, s = _cos_sin(q["d"] * (ts[:, None] - q["t0"]))
    e = c + 1j * s
    return e[:, :, None] * jnp.conj(e)[:, None, :]


def _vector_field(st: _Structure, dyn):
    """``f(t, y, _=None) -> dy/dt`` (diffrax's signature): :func:`_field` with its parameters bound."""
    f, p, q = _field(st, dyn)
    return lambda t, y, _=None: f(p, q, t, y)


def _unframe(st: _Structure, dyn, states):
    """Lab-frame states (T, n, n) from the frame's states at ``tlist``."""
    if not st.frame:
        return states
    tlist = dyn["tlist"]
    return jnp.conj(_frame_phases(_frame_energies(st, dyn), tlist - tlist[0])) * states


class _ClassicalRK4:
    """diffrax explicit RK with the classical 4th-order tableau (built on first use)."""

    cls: ClassVar[Any] = None

    @classmethod
    def get(cls):
        if cls.cls is None:
            import diffrax as dfx

            tab = dfx.ButcherTableau(
                c=np.array([0.5, 0.5, 1.0]), b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
                b_error=np.zeros(4),
                a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
            )

            class RK4(dfx.AbstractERK):
                tableau: ClassVar = tab
                interpolation_cls: ClassVar = dfx.ThirdOrderHermitePolynomialInterpolation.from_k

                def order(self, terms):
                    return 4

            cls.cls = RK4
        return cls.cls()


def _diffrax(st: _Structure, dyn):
    import diffrax as dfx

    tlist = dyn["tlist"]
    term = dfx.ODETerm(_vector_field(st, dyn))
    if st.method == "rk4":
        solver = _ClassicalRK4.get()
        controller = dfx.StepTo(ts=dyn["grid"])
        dt0 = None
    else:
        solver = dfx.Tsit5() if st.method == "tsit5" else dfx.Dopri5()
        controller = dfx.PIDController(rtol=dyn["rtol"], atol=dyn["atol"])
        dt0 = None
    adjoint = dfx.RecursiveCheckpointAdjoint() if st.gradient == "checkpoint" else dfx.DirectAdjoint()
    sol = dfx.diffeqsolve(term, solver, tlist[0], tlist[-1], dt0, _ops.split(dyn["rho0"]),
                          saveat=dfx.SaveAt(ts=tlist), stepsize_controller=controller, adjoint=adjoint,
                          max_steps=st.max_steps, throw=True)
    return _ops.merge(sol.ys)


def _nephlab_rk(st: _Structure, dyn):
    """nephlab's adaptive loop; with ``gradient="checkpoint"`` its discrete adjoint
    (:func:`nephlab.quantum._rk_adjoint.solve`) gives the reverse mode."""
    from . import _rk

    tableau = {"tsit5": _rk.tsit5_tableau, "dopri5": _rk.dopri5_tableau, "dop853": _rk.dop853_tableau,
               "vern7": _rk.vern7_tableau}[st.method]()
    y0 = _ops.split(dyn["rho0"])
    if st.gradient == "checkpoint":
        from . import _rk_adjoint

        f, p, q = _field(st, dyn)
        step_vjp = None
        constant = st.sparse is None and not any(fn is not None for fn in st.h_fns + st.c_fns)
        if constant and len(tableau.a) == 6 and not tableau.a_extra:  # the hand-written transpose (5(4) pairs)
            from . import _lindblad_vjp

            step_vjp = _lindblad_vjp.step_vjp(tableau, _stage_phases if st.frame else None)
        saved = _rk_adjoint.solve(f, p, q, y0, dyn["tlist"], tableau=tableau, rtol=dyn["rtol"], atol=dyn["atol"],
                                  max_steps=st.max_steps, step_vjp=step_vjp)
    else:
        saved, _, stats = _rk.adaptive_solve(_vector_field(st, dyn), y0, dyn["tlist"], lambda t, y: y,
                                             tableau=tableau, rtol=dyn["rtol"], atol=dyn["atol"],
                                             max_steps=st.max_steps)
        saved = jnp.where(stats["success"], saved, jnp.nan)  # out of steps: NaN, never a partial result
    return _ops.merge(saved)


def _expm(st: _Structure, dyn):
    tlist = dyn["tlist"]
    H, C = _operators(st, dyn, tlist[0])
    L = _liouvillian_core(H, C)  # row-major: vec(ρ) = ρ.reshape(n²)
    n = H.shape[-1]
    dts = jnp.diff(tlist)
    if st.uniform:
        P = jax.scipy.linalg.expm(L * dts[0])

        def step(v, _):
            v = P @ v
            return v, v

        xs = None
        length = dts.shape[0]
    else:
        def step(v, P):
            v = P @ v
            return v, v

        xs = jax.vmap(lambda d: jax.scipy.linalg.expm(L * d))(dts)
        length = None
    v0 = dyn["rho0"].reshape(n * n)
    _, vs = jax.lax.scan(step, v0, xs, length=length)
    return jnp.concatenate([v0[None], vs]).reshape(-1, n, n)


@partial(jax.jit, static_argnames=("st",))
def _solve(st: _Structure, dyn):
    if st.method == "expm":
        states = _expm(st, dyn)
    elif st.gradient != "direct" and st.method != "rk4":
        states = _nephlab_rk(st, dyn)
    else:
        states = _diffrax(st, dyn)
    states = _unframe(st, dyn, states)
    if st.sparse is not None:
        from . import _autodiff_sparse

        expect = _autodiff_sparse.expect(st.sparse, dyn["E"], states)
    else:
        expect = jnp.einsum("kij,tji->kt", dyn["E"], states)
    return MESolveResult(states, expect, dyn["tlist"])


# ---------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------


def mesolve(
    H: Any,
    rho0: Any,
    tlist: Any,
    c_ops: Any = None,
    *,
    e_ops: Any = None,
    args: Any = None,
    method: str = "tsit5",
    rtol: float | None = None,
    atol: float | None = None,
    dt: float | None = None,
    max_steps: int | None = None,
    gradient: str | None = "checkpoint",
    format: str | None = None,
) -> MESolveResult:
    """Differentiable Lindblad solve: JAX arrays in, JAX arrays out, ``grad``/``jacfwd``/``jit``/``vmap`` through it.

    Solves ``dρ/dt = -i[H(t), ρ] + Σ_k (L_k ρ L_k† - ½{L_k†L_k, ρ})`` (ħ = 1; H in energy
    units, times in 1/energy, ``L_k = sqrt(rate) · O_k`` in sqrt(energy)), in ``nephlab.mesolve``'s
    call order. Everything that may carry a gradient (the matrices of ``H`` and ``c_ops``,
    ``rho0``, the leaves of ``args``) may be a JAX tracer; nothing on the traced path converts to
    NumPy. One system per call: batch with ``jax.vmap``.

    Args:
        H: Hamiltonian (n, n) (JAX/NumPy array or QuTiP ``Qobj``), or QuTiP's list format
            ``[H0, [H1, f1], ...]`` with coefficients ``f(t, args)`` (or ``f(t)``) written in
            ``jax.numpy``.
        rho0: density matrix (n, n), or a ket (n,)/(n, 1) (taken as ``|ψ⟩⟨ψ|``).
        tlist: (T,) concrete, finite, strictly increasing times, T ≥ 2 (not differentiable).
        c_ops: list of collapse operators (n, n), rates folded in (``jnp.sqrt(kappa) * a``), or
            ``[L, f(t, args)]`` pairs for ``L(t) = f(t) L``; None for unitary dynamics.
        e_ops: list of operators (n, n); ``expect[k, j] = Tr(e_ops[k] ρ(tlist[j]))``.
        args: pytree (e.g. a dict) of JAX scalars/arrays passed to every coefficient.
        method: ``"tsit5"`` (default), ``"dopri5"`` (adaptive), ``"dop853"``, ``"vern7"`` (adaptive 8th
            and 7th order, gradients ``"checkpoint"`` or None only), ``"rk4"`` (fixed step ``dt``,
            the grid of ``nephlab.mesolve(method="rk4")``), ``"expm"`` (exact propagator of a
            time-independent Liouvillian).
        rtol, atol: local error tolerances of the adaptive methods (weighted RMS norm over the real
            and imaginary parts, as ``nephlab.mesolve``); defaults 1e-6 and 1e-8.
        dt: step of ``"rk4"`` (required there, refused elsewhere), time units.
        max_steps: step limit of the adaptive methods (default 100000); it also sets the number of
            stored states of ``gradient="checkpoint"`` (K + S ≈ 2√max_steps, 768 for the default).
            An adaptive solve that runs out of steps returns NaN states (and NaN gradients), never
            a partial result.
        gradient: ``"checkpoint"`` (default: reverse mode with checkpoints, memory independent of
            the number of steps taken; the adaptive methods differentiate the steps actually taken,
            step sizes held fixed, the discrete adjoint), ``"direct"`` (autodiff through every step; needed
            for forward mode, ``jax.jacfwd``/``jax.jvp``), or ``None`` (no reverse-mode support;
            the adaptive methods then run nephlab's own integrator, the fastest forward solve).
            ``"expm"`` is plain autodiff through matrix exponentials for every choice.
        format: ``"dense"`` (default; None means the same) or ``"sparse"``: fixed operators
            (``scipy.sparse`` matrices, ``Qobj`` with CSR/Dia data, or concrete arrays) in the list
            format, kept sparse and applied by ``nephlab.mesolve(format="sparse")``'s right-hand
            side (O(nnz · n) per evaluation, never densified). Differentiable with respect to the
            leaves of ``args`` (through coefficients ``[H1, f(t, args)]``; rates as
            ``[C, lambda t, args: jnp.sqrt(args["gamma"])]``) and ``rho0``; the operators
            themselves are constants (a tracer in an operator or a constant coefficient is a
            TypeError). Methods rk4, tsit5, dopri5, dop853 and vern7 with their gradient modes
            (the adaptive ones integrate in the lab frame, no interaction frame); ``"expm"``
            and a callable ``H(t, args)`` are refused. e_ops are kept sparse too.

    Returns:
        :class:`MESolveResult` with ``states`` (T, n, n) complex128, ``expect`` (n_eops, T)
        complex128 (take ``.real``) and ``tlist`` (T,).

    Raises:
        TypeError: an argument of the wrong type (named in the message).
        ValueError: wrong shapes, a non-finite or non-increasing ``tlist``, an unknown method,
            gradient or format, a gradient the method cannot give, ``dt`` missing for rk4, a
            time-dependent problem with ``"expm"``, ``"expm"`` with ``format="sparse"`` (the
            argument is named in the message).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from nephlab.quantum import destroy
        >>> from nephlab.quantum import jax as nqj
        >>> a = destroy(4); rho0 = jnp.zeros((4, 4), complex).at[0, 0].set(1)
        >>> def n_final(kappa):
        ...     r = nqj.mesolve(0.5 * (a + a.T), rho0, jnp.linspace(0, 1, 3), [jnp.sqrt(kappa) * a],
        ...                     e_ops=[a.T @ a], method="expm")
        ...     return r.expect[0, -1].real
        >>> g = jax.grad(n_final)(1.0)
        >>> bool(g < 0)          # more loss, fewer photons
        True

        The sparse format: a D = 27 Kerr lattice in scipy.sparse, gradient with respect to a
        drive amplitude and a loss rate passed in ``args``:

        >>> from nephlab.quantum.xp import kerr_chain
        >>> H, _, al = kerr_chain(3)                    # CSR (27, 27), never densified
        >>> num0 = al[0].conj().T @ al[0]
        >>> def n0(F, gamma):
        ...     Ht = [H, [al[0] + al[0].conj().T, lambda t, args: args["F"] * jnp.cos(t)]]
        ...     c_ops = [[x, lambda t, args: jnp.sqrt(args["gamma"])] for x in al]
        ...     r = nqj.mesolve(Ht, jnp.eye(27)[0], jnp.linspace(0, 1, 2), c_ops, e_ops=[num0],
        ...                     args={"F": F, "gamma": gamma}, method="rk4", dt=0.1, format="sparse")
        ...     return r.expect[0, -1].real
        >>> dF, dgamma = jax.grad(n0, argnums=(0, 1))(0.2, 0.1)
        >>> bool(dF > 0), bool(dgamma < 0)
        (True, True)
    """
    method = one_of(method, "method", tuple(METHODS)) if method not in _NOT_DIFFERENTIABLE else method
    if method in _NOT_DIFFERENTIABLE:
        raise ValueError(
            f"method {method!r} gives no differentiable solve in nephlab.quantum.jax ({_NOT_DIFFERENTIABLE[method]}); "
            f"use one of {', '.join(repr(m) for m in METHODS)}, or nephlab.mesolve for a NumPy result"
        )
    spec = METHODS[method]
    if not (gradient is None or isinstance(gradient, str)):
        raise TypeError(f"gradient must be 'checkpoint', 'direct' or None, got {type(gradient).__name__}")
    one_of(gradient, "gradient", GRADIENTS) if gradient is not None else None
    if gradient not in spec.gradients:
        raise ValueError(
            f"gradient={gradient!r} is not available with method {method!r} (it allows "
            f"{', '.join(repr(g) for g in spec.gradients)}): {spec.gradient_note}"
        )
    opts = check_keywords(rtol=rtol, atol=atol, dt=dt, max_steps=max_steps)
    if spec.needs_dt and "dt" not in opts:
        raise ValueError(f"method {method!r} needs a step: pass dt (a positive time)")
    if "dt" in opts and not spec.needs_dt:
        raise ValueError(f"dt={dt!r} applies to method 'rk4' only, not to method {method!r}")
    tl = time_grid(tlist, "tlist")
    fmt = one_of(format, "format", FORMATS) if format is not None else "dense"

    sparse_st = None
    if fmt == "sparse":
        ops, r0, E, sparse_st = _sparse_problem(method, H, rho0, c_ops, e_ops, tl)
        h_fns, c_fns = [], []
    else:
        h_ops, h_fns = _terms(H, "H", None)
        n = h_ops[0].shape[0]
        c_ops_l, c_fns = [], []
        for k, c in enumerate(_c_list(c_ops)):
            c_ops_k, fns = _terms(c, f"c_ops[{k}]", n, single=True)
            c_ops_l += c_ops_k
            c_fns += fns
        if spec.constant_only and any(f is not None for f in h_fns + c_fns):
            raise ValueError(f"method {method!r} needs a time-independent H and c_ops; use 'tsit5', 'dopri5' or 'rk4'")
        ops = {"H": h_ops, "C": c_ops_l}
        r0 = _rho0(rho0, n)
        E = _eops(e_ops, n)
    args = _check_args(args)

    steps = int(opts.get("max_steps", OPTIONS["max_steps"].default))
    dyn = {**ops, "rho0": r0, "E": E, "args": args, "tlist": jnp.asarray(tl),
           "rtol": jnp.asarray(float(opts.get("rtol", OPTIONS["rtol"].default))),
           "atol": jnp.asarray(float(opts.get("atol", OPTIONS["atol"].default)))}
    if method == "rk4":
        grid = _rk4_grid(tl, float(opts["dt"]))
        dyn["grid"] = jnp.asarray(grid)
        steps = len(grid)
    d = np.diff(tl)
    uniform = bool(np.allclose(d, d[0], rtol=1e-12, atol=0))
    # the adaptive methods integrate in the interaction frame of H's constant diagonal, as
    # nephlab.mesolve does (fewer steps for Kerr-like spectra; rk4 keeps mesolve's lab-frame grid)
    frame = sparse_st is None and spec.adaptive and any(f is None for f in h_fns)
    st = _Structure(method, gradient, tuple(h_fns), tuple(c_fns), steps, uniform, frame, sparse_st)
    return _solve(st, dyn)


def _sparse_problem(method: str, H: Any, rho0: Any, c_ops: Any, e_ops: Any, tl: np.ndarray) -> tuple:
    """``(operator data, rho0 (n, n), e_ops coordinates, sparse structure)`` of ``format="sparse"``
    (:mod:`nephlab.quantum._autodiff_sparse`)."""
    from . import _autodiff_sparse

    if METHODS[method].constant_only:
        raise ValueError(f"method {method!r} exponentiates the dense n² x n² Liouvillian, which format='sparse' never "
                         "builds; use 'tsit5', 'dopri5', 'dop853', 'vern7' or 'rk4' (or format='dense')")
    sparse_st, ops, E = _autodiff_sparse.prepare(H, _c_list(c_ops), e_ops, tl)
    n = sparse_st.n
    r0 = _rho0(rho0, n)
    # ρA† = (Aρ)† (one sparse product instead of two) when every state and every tangent the solve
    # sees is Hermitian: a ket (|ψ⟩⟨ψ| stays Hermitian whatever ψ), or a concrete, exactly
    # Hermitian matrix (not differentiated). A traced matrix rho0 may be perturbed in any direction.
    ket = bool(rho0.isket) if is_qobj(rho0) else np.shape(rho0) in ((n,), (n, 1))
    concrete = not isinstance(r0, jax.core.Tracer) and bool(np.array_equal(np.asarray(r0), np.asarray(r0).conj().T))
    return ops, r0, E, replace(sparse_st, hermitian=bool(ket or concrete))
