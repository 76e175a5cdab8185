"""The compiled part of mesolve: right-hand side and integrators, one system at a time.

Everything here is pure JAX. :func:`solve` is jitted once per problem *structure* (a hashable
:class:`Structure`: dimension, operator formats, coefficient functions, method, options that
fix shapes) and receives all numbers in a pytree ``dyn``; a second call with the same structure
and shapes does not recompile. Batches are a ``jax.vmap`` over the flattened batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _ops
from ._jit import solve_jit
from ._linalg import expm
from ._rk import materialize, pin, run_time_offset
from .superop import _liouvillian_core
from .propagator import GAUSS_NODES, expm_hermitian, magnus4_exponent
from .timedep import spline_eval

if TYPE_CHECKING:
    from ._rk import Tableau
    from .methods import Method

# ---------------------------------------------------------------------------------------------
# Static structure
# ---------------------------------------------------------------------------------------------

CoeffSpec = Any  # None | ("func", f) | ("spline", k) | ("prod", spec_a, spec_b)  [conj(a) * b]


@dataclass(frozen=True)
class Structure:
    """Everything about a problem that fixes the compiled program (hashable).

    ``method`` is the method without its dynamic options (:meth:`Method.static`): those travel in
    ``dyn``, so changing ``dt`` or a tolerance does not recompile.
    """

    n: int
    method: "Method"
    fmt: str  # "dia" | "dense" | "sparse" for the ODE family
    a_offsets: tuple
    a_coeffs: tuple  # one CoeffSpec per A-term
    jump_offsets: tuple  # per collapse operator
    jump_coeffs: tuple  # per collapse operator: tuple of CoeffSpec per term
    h_callable: Callable | None
    frame: bool
    n_eops: int
    store_states: bool
    uniform: bool
    progress: bool
    h_terms: int = 0  # magnus: number of H terms (dense, complex)
    h_coeffs: tuple = ()
    hermitian: bool = False  # "sparse": rho0 is exactly Hermitian (one product with A, see _ops)


def eval_spec(spec: CoeffSpec, t, dyn):
    return _spec_value(spec, t, dyn).astype(jnp.complex128)


def _spec_value(spec: CoeffSpec, t, dyn):
    """The coefficient in the dtype its function or spline gives (real or complex)."""
    if spec is None:
        return jnp.asarray(1.0)
    kind = spec[0]
    if kind == "func":
        return jnp.asarray(spec[1](t, dyn["args"]))
    if kind == "spline":
        knots, coeffs = dyn["splines"][spec[1]]
        return spline_eval(knots, coeffs, t)
    if kind == "prod":
        return jnp.conj(_spec_value(spec[1], t, dyn)) * _spec_value(spec[2], t, dyn)
    raise AssertionError(spec)


def _coefficient_values(specs, t, dyn, with_kind: bool = False):
    """All coefficients of ``specs`` at time t as complex scalars, each computed once; with
    ``with_kind`` also whether all of them are of a real dtype (known when tracing)."""
    idx = [i for i, s in enumerate(specs) if s is not None]
    if not idx:
        return ([None] * len(specs), True) if with_kind else [None] * len(specs)
    raw = [_spec_value(specs[i], t, dyn) for i in idx]
    real = not any(jnp.iscomplexobj(v) for v in raw)
    vals = jnp.stack([v.astype(jnp.complex128) for v in raw])
    ri = materialize(jnp.stack([jnp.real(vals), jnp.imag(vals)]))
    out = [None] * len(specs)
    for k, i in enumerate(idx):
        out[i] = ri[0, k] + 1j * ri[1, k]
    return (out, real) if with_kind else out


def _scale(c, a):
    """complex scalar c times real-split array a (2, ...)."""
    cr, ci = jnp.real(c), jnp.imag(c)
    return jnp.stack([cr * a[0] - ci * a[1], cr * a[1] + ci * a[0]])


def _combine(specs, datas, t, dyn, coefs=None):
    out = None
    for c, d in zip(_coefficient_values(specs, t, dyn) if coefs is None else coefs, datas):
        term = d if c is None else _scale(c, d)
        out = term if out is None else out + term
    return out


def operator_at(st: Structure, specs, data, t, dyn):
    """The operator ``Σ_j c_j(t) O_j`` of ``specs`` and its stored ``data`` at time t.

    Banded and dense formats: ``data`` is one real-split array per term, combined as such. The
    sparse format: ``data`` is one layout of the terms' union pattern with per-term values
    (:func:`nephlab.quantum._ops.sparse_sum`); only the values are combined (O(J nnz)), and a
    single constant term costs nothing.
    """
    if st.fmt == "sparse":
        coefs, real = _coefficient_values(specs, t, dyn, with_kind=True)
        vals = _combine(specs, _ops.term_values(data), t, dyn, coefs)
        if specs != (None,):
            # combined once and kept (see _rk.materialize): XLA may otherwise fuse the J-term sum
            # into the products and redo it for every entry of a gathered row (n times per value);
            # on the loaded 2-core box the effect was within the timing noise (D = 729, rk4)
            vals = materialize(vals)
        # real coefficients keep each slot's zero parts zero (_ops.Parts); complex ones mix them
        return _ops.with_values(data, vals, keep_parts=real)
    return _combine(specs, data, t, dyn)


# ---------------------------------------------------------------------------------------------
# Right-hand side (real-split, one system)
# ---------------------------------------------------------------------------------------------


# What the right-hand sides read from ``dyn`` (the rest of it is not passed to them).
RHS_KEYS = ("a", "jumps", "E", "t_frame", "args", "splines")


def traced_once(body: Callable) -> Callable:
    """``body(st, dyn, t, y)`` as a nested ``jax.jit`` with ``st`` static.

    A solver's step calls its right-hand side 7-9 times (the stages, the first step's estimate,
    the jumps). Called through this wrapper, it is traced to a jaxpr and lowered once per
    structure and shapes instead of at every call site: the first call of a fresh process spends
    that much less time in tracing and lowering, which the persistent compilation cache cannot
    save. XLA inlines the calls before optimising, so the compiled program computes the same.
    """
    return jax.jit(body, static_argnums=0)


def rhs_arguments(dyn) -> dict:
    """The part of ``dyn`` a right-hand side reads (:data:`RHS_KEYS`)."""
    return {k: dyn[k] for k in RHS_KEYS if k in dyn}


def make_rhs(st: Structure, dyn) -> Callable:
    """``f(t, y) -> dy/dt`` for the real-split state ``y`` (2, n, n), in the frame if enabled."""
    part = rhs_arguments(dyn)
    return lambda t, y: _rhs_once(st, part, t, y)


def _rhs_at(st: Structure, dyn, t, y):
    return _rhs_body(st, dyn)(t, y)


def _rhs_body(st: Structure, dyn) -> Callable:
    fmt = st.fmt
    if fmt == "sparse":  # no frame (mesolve assembles none for this format)
        def sparse_rhs(t, y):
            A = operator_at(st, st.a_coeffs, dyn["a"], t, dyn)
            Ls = [operator_at(st, specs, L, t, dyn) for specs, L in zip(st.jump_coeffs, dyn["jumps"])]
            return _ops.sparse_lindblad(A, Ls, y, st.hermitian)

        return sparse_rhs

    def rhs(t, y):
        A = _combine(st.a_coeffs, dyn["a"], t, dyn)
        if st.frame:
            tf = t - dyn["t_frame"]  # the frame starts at tlist[0], where it equals the lab frame
            ce, se = materialize(jnp.stack([jnp.cos(dyn["E"] * tf), jnp.sin(dyn["E"] * tf)]))
            if fmt == "dia":
                all_offs = set(st.a_offsets).union(*st.jump_offsets)
                phases = _ops.offset_phases(tuple(all_offs), ce, se)
            else:
                phases = None
        if A is not None:
            if st.frame:
                A = _ops.rotate(fmt, st.a_offsets, A, ce, se, phases)
            out = _ops.lmul(fmt, st.a_offsets, A, y) + _ops.rmul_adj(fmt, st.a_offsets, A, y)
        else:
            out = jnp.zeros_like(y)
        for offs, specs, datas in zip(st.jump_offsets, st.jump_coeffs, dyn["jumps"]):
            L = _combine(specs, datas, t, dyn)
            if st.frame:
                L = _ops.rotate(fmt, offs, L, ce, se, phases)
            X = _ops.lmul(fmt, offs, L, y)
            out = out + _ops.rmul_adj(fmt, offs, L, X)
        if st.h_callable is not None:
            Hm = jnp.asarray(st.h_callable(t, dyn["args"]), dtype=jnp.complex128)
            Am = _ops.split(-1j * Hm)
            out = out + _ops.lmul("dense", (), Am, y) + _ops.rmul_adj("dense", (), Am, y)
        return out

    return rhs


_rhs_once = traced_once(_rhs_at)


def _unframe(st: Structure, dyn, t, rho):
    """Undo the interaction picture: rho_ij e^{-i(E_i - E_j)(t - t0)} (complex (n, n)), t0 = tlist[0]."""
    if not st.frame:
        return rho
    p = jnp.exp(-1j * dyn["E"] * (t - dyn["t_frame"]))
    return p[:, None] * rho * jnp.conj(p)[None, :]


def _save(st: Structure, dyn, t, y_complex):
    """What is stored at each time: the state (if asked) and the expectation values."""
    rho = _unframe(st, dyn, t, y_complex)
    out = {}
    if st.n_eops and isinstance(dyn["eops"], dict):  # sparse e_ops: sum E[r, c] rho[c, r] per k
        e = dyn["eops"]
        out["expect"] = jax.ops.segment_sum(e["w"] * rho[e["c"], e["r"]], e["k"], num_segments=st.n_eops)
    elif st.n_eops:
        out["expect"] = jnp.einsum("kji,ij->k", dyn["eops"], rho)
    if st.store_states:
        out["state"] = rho
    if st.progress:
        jax.debug.callback(_progress_print, t, dyn["tlist"][-1], ordered=False)
    return out


def _progress_print(t, t_end):
    import sys

    frac = float(t) / float(t_end) if float(t_end) else 1.0
    bar = "#" * int(30 * frac)
    sys.stderr.write(f"\rmesolve [{bar:<30}] {100 * frac:5.1f}%")
    if frac >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Kernels in pieces: prepare / start / advance / finish
# ---------------------------------------------------------------------------------------------
#
# Each method's kernel (for one system; batches are vmapped around it) is written as
#
#   prepare(st, dyn) -> aux                      what depends on the operators only (built once)
#   start(st, dyn, aux) -> (carry, first)        integrator state and saved values at tlist[0]
#   advance(st, dyn, aux, carry, j0, size)       fill the saved times j0 .. j0+size-1 (those past
#       -> (carry, saved)                        the end of tlist are padding); saved has size rows
#   finish(st, dyn, aux, carry) -> (final, stats)
#
# ``carry["idx"]`` is the next saved index still to fill. A single call (:func:`run_all`) is
# start, one advance over every saved time and finish; streaming (``mesolve(on_save=...)``,
# :func:`stream_start` / :func:`stream_advance` / :func:`stream_finish`) calls advance chunk by
# chunk, with the same code, so both give the same states.


@dataclass(frozen=True)
class Kernel:
    """A method's compiled kernel in pieces (see above); a method names its kernel as
    ``kernel: ClassVar[Kernel]``. ``st.method`` is the method object, for its own options."""

    start: Callable
    advance: Callable
    finish: Callable
    prepare: Callable = lambda st, dyn: {}


def _concat_first(first, saved):
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, saved)


def run_all(method: "Method", st: Structure, dyn):
    """One call over every saved time: ``(saved (T rows), final, stats)`` from the method's pieces."""
    aux = method.prepare(st, dyn)
    carry, first = method.start(st, dyn, aux)
    T = dyn["tlist"].shape[0]
    carry, saved = method.advance(st, dyn, aux, carry, 1, T - 1)
    final, stats = method.finish(st, dyn, aux, carry)
    return _concat_first(first, saved), final, stats


def scan_intervals(interval: Callable, carry, tlist, j0, size: int, xs=()):
    """``lax.scan`` of ``interval(carry, ta, tb, valid, *x) -> (carry, saved)`` over the ``size``
    intervals ``[tlist[j-1], tlist[j]]``, ``j = j0, j0+1, ...``; those with ``j`` past the end of
    tlist come with ``valid=False`` (the kernel must leave its carry unchanged there)."""
    T = tlist.shape[0]
    j = j0 + jnp.arange(size)
    jc = jnp.minimum(j, T - 1)
    return lax.scan(lambda c, x: interval(c, *x), carry, (tlist[jc - 1], tlist[jc], j < T) + tuple(xs))


def _next_index(j0, size: int, T: int):
    return jnp.minimum(jnp.asarray(j0, jnp.int32) + size, T)


def _buffer(example, rows: int):
    """Zeros with ``rows`` leading rows shaped like the pytree ``example`` (traced once, not run)."""
    shapes = jax.eval_shape(example)
    return jax.tree_util.tree_map(lambda s: jnp.zeros((rows,) + s.shape, s.dtype), shapes)


# -- fixed step (rk4, magnus4, and methods defined elsewhere) -----------------------------------


def fixed_step_start(st: Structure, dyn, y0, to_complex):
    """Carry ``{"y", "steps", "idx"}`` and the saved values at ``tlist[0]``."""
    carry = {"y": y0, "steps": jnp.asarray(0, jnp.int32), "idx": jnp.asarray(1, jnp.int32)}
    return carry, _save(st, dyn, dyn["tlist"][0], to_complex(y0))


def fixed_step_advance(st: Structure, dyn, carry, to_complex, run: Callable, j0, size: int, tlist=None, dt=None):
    """March over ``size`` intervals of tlist (see :func:`scan_intervals`), each split into
    ``m = ceil(Δt/dt)`` equal steps ``h`` that ``run(y, ta, h, m) -> y`` takes; save at each end."""
    tlist = dyn["tlist"] if tlist is None else tlist
    dt = dyn["dt"] if dt is None else dt

    def interval(c, ta, tb, valid):
        y, nsteps = c
        m = jnp.where(valid, jnp.maximum(1, jnp.ceil((tb - ta) / dt - 1e-9)), 0).astype(jnp.int32)
        h = (tb - ta) / jnp.maximum(m, 1)
        y = run(y, ta, h, m)
        return (y, nsteps + m), _save(st, dyn, tb, to_complex(y))

    (y, nsteps), saved = scan_intervals(interval, (carry["y"], carry["steps"]), tlist, j0, size)
    return {"y": y, "steps": nsteps, "idx": _next_index(j0, size, tlist.shape[0])}, saved


def fixed_step_stats(carry, evals_per_step: float) -> dict:
    n = carry["steps"]
    return {"steps": n, "accepted": n, "rejected": jnp.asarray(0), "rhs_evals": evals_per_step * n,
            "success": jnp.asarray(True)}


def _fixed_step_loop(st, dyn, step, y0, to_complex, tlist, dt, evals_per_step):
    """One call of a fixed-step method whose step is ``step(y, t, h) -> y``: ``(saved, final, stats)``."""
    carry, first = fixed_step_start(st, dict(dyn, tlist=tlist), y0, to_complex)
    carry, saved = fixed_step_advance(st, dyn, carry, to_complex, _repeat(step), 1, tlist.shape[0] - 1,
                                      tlist=tlist, dt=dt)
    return _concat_first(first, saved), to_complex(carry["y"]), fixed_step_stats(carry, evals_per_step)


def _repeat(step: Callable) -> Callable:
    """``run(y, ta, h, m)``: ``m`` steps ``step(y, t, h)`` from ``ta``."""
    return lambda y, ta, h, m: lax.fori_loop(0, m, lambda i, y: step(y, ta + i * h, h), y)


def rk4_step(st: Structure, dyn) -> Callable:
    rhs = make_rhs(st, dyn)
    # pins that XLA does not split: the sparse format only (see _rk.adaptive_advance's `unsplit`)
    offset = run_time_offset(dyn["tlist"]) if st.fmt == "sparse" and "tlist" in dyn else None

    def step(y, t, h):
        # stage inputs computed once and kept, as in the adaptive methods (_rk.rk_step): on the
        # sparse format (D = 81, benchmarks/rhs_profile.py) unpinned ones cost ~1.5x per RHS;
        # for small states (and the new state) by an update XLA does not split across threads
        k1 = rhs(t, y)
        k2 = rhs(t + 0.5 * h, pin(y + 0.5 * h * k1, y, offset))
        k3 = rhs(t + 0.5 * h, pin(y + 0.5 * h * k2, y, offset))
        k4 = rhs(t + h, pin(y + h * k3, y, offset))
        y_new = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        small = offset is not None and y.ndim == 3 and y.shape[-1] <= _ops.UNPARTITIONED_MAX_N
        return pin(y_new, y, offset) if small else y_new

    return step


def rk4_start(st: Structure, dyn, aux):
    return fixed_step_start(st, dyn, dyn["rho0"], _ops.merge)


def rk4_advance(st: Structure, dyn, aux, carry, j0, size: int):
    return fixed_step_advance(st, dyn, carry, _ops.merge, _repeat(rk4_step(st, dyn)), j0, size)


def rk4_finish(st: Structure, dyn, aux, carry):
    return _ops.merge(carry["y"]), fixed_step_stats(carry, 4)


RK4 = Kernel(rk4_start, rk4_advance, rk4_finish)


# -- Magnus 4 with a CPTP splitting of the dissipator -------------------------------------------


def magnus4_prepare(st: Structure, dyn):
    Ls = dyn["Ls"]
    if Ls.shape[0] == 0:
        return {}
    return {"D": _liouvillian_core(jnp.zeros((st.n, st.n), jnp.complex128), Ls)}


def magnus4_start(st: Structure, dyn, aux):
    return fixed_step_start(st, dyn, dyn["rho0c"], lambda r: r)


def magnus4_advance(st: Structure, dyn, aux, carry, j0, size: int):
    n = st.n

    def H_at(t):
        if st.h_callable is not None:
            return jnp.asarray(st.h_callable(t, dyn["args"]), jnp.complex128)
        H = None
        for spec, op in zip(st.h_coeffs, dyn["Hterms"]):
            term = op if spec is None else eval_spec(spec, t, dyn) * op
            H = term if H is None else H + term
        return H

    def run(rho, ta, h, m):
        Phi = expm(aux["D"] * (0.5 * h)) if "D" in aux else None

        def half_diss(r):
            return (Phi @ r.reshape(n * n)).reshape(n, n) if Phi is not None else r

        def step(i, r):
            t = ta + i * h
            K = magnus4_exponent(H_at(t + GAUSS_NODES[0] * h), H_at(t + GAUSS_NODES[1] * h), h)
            U = expm_hermitian(K)
            r = half_diss(r)
            r = U @ r @ jnp.conj(U.T)
            return half_diss(r)

        return lax.fori_loop(0, m, step, rho)

    return fixed_step_advance(st, dyn, carry, lambda r: r, run, j0, size)


def magnus4_finish(st: Structure, dyn, aux, carry):
    return carry["y"], fixed_step_stats(carry, 2)


MAGNUS4 = Kernel(magnus4_start, magnus4_advance, magnus4_finish, magnus4_prepare)


# -- adaptive explicit Runge-Kutta (nephlab's loop, _rk) ----------------------------------------


def _saver(st: Structure, dyn) -> Callable:
    return lambda t, y: _save(st, dyn, t, _ops.merge(y))


def rk_start(st: Structure, dyn, aux):
    from ._rk import adaptive_start

    return adaptive_start(make_rhs(st, dyn), dyn["rho0"], dyn["tlist"], _saver(st, dyn),
                          tableau=st.method.tableau(), rtol=dyn["rtol"], atol=dyn["atol"])


def rk_advance(st: Structure, dyn, aux, carry, j0, size: int):
    from ._rk import adaptive_advance

    tlist = dyn["tlist"]
    save = _saver(st, dyn)
    buf = _buffer(lambda: save(tlist[0], carry["y"]), size)
    return adaptive_advance(make_rhs(st, dyn), carry, buf, j0, _next_index(j0, size, tlist.shape[0]), tlist, save,
                            tableau=st.method.tableau(), rtol=dyn["rtol"], atol=dyn["atol"],
                            max_steps=st.method.max_steps, unsplit=st.fmt == "sparse")


def rk_finish(st: Structure, dyn, aux, carry):
    from ._rk import adaptive_stats

    tlist = dyn["tlist"]
    return _unframe(st, dyn, tlist[-1], _ops.merge(carry["y"])), adaptive_stats(carry, tlist.shape[0], st.method.tableau())


RK = Kernel(rk_start, rk_advance, rk_finish)


def solve_explicit_rk(st: Structure, dyn, tableau: "Tableau"):
    """One call (all saved times in one buffer, no concatenation copy)."""
    from ._rk import adaptive_solve

    saved, y1, stats = adaptive_solve(
        make_rhs(st, dyn), dyn["rho0"], dyn["tlist"], _saver(st, dyn),
        tableau=tableau, rtol=dyn["rtol"], atol=dyn["atol"], max_steps=st.method.max_steps,
        unsplit=st.fmt == "sparse",
    )
    return saved, _unframe(st, dyn, dyn["tlist"][-1], _ops.merge(y1)), stats


# -- Kvaerno5 (diffrax's implicit solver and PID controller, our loop) ---------------------------


def _kvaerno_parts(st: Structure, dyn):
    """Term, solver (root finder tolerances from the controller, as diffeqsolve sets them) and
    the PID controller stepping onto every saved time (diffrax's dense output for Kvaerno5 is a
    3rd-order Hermite interpolant, too coarse for rtol 1e-6 between large implicit steps)."""
    import diffrax as dfx
    import equinox as eqx
    from diffrax._root_finder import use_stepsize_tol

    rhs = make_rhs(st, dyn)
    term = dfx.ODETerm(lambda t, y, args: rhs(t, y))
    ctrl = dfx.PIDController(rtol=dyn["rtol"], atol=dyn["atol"], step_ts=dyn["tlist"])
    solver = dfx.Kvaerno5()
    names = [a for a in ("rtol", "atol", "norm") if getattr(solver.root_finder, a) is use_stepsize_tol]
    solver = eqx.tree_at(lambda s: tuple(getattr(s.root_finder, a) for a in names), solver,
                         tuple(getattr(ctrl, a) for a in names))
    return term, solver, ctrl


def kvaerno_start(st: Structure, dyn, aux):
    term, solver, ctrl = _kvaerno_parts(st, dyn)
    tlist, y0 = dyn["tlist"], dyn["rho0"]
    t0, t_end = tlist[0], tlist[-1]
    tnext, cstate = ctrl.init(term, t0, t_end, y0, None, None, solver.func, solver.error_order(term))
    tnext = jnp.minimum(tnext, t_end)
    carry = {"tprev": t0, "tnext": tnext, "y": y0, "solver": solver.init(term, t0, tnext, y0, None),
             "ctrl": cstate, "made_jump": jnp.asarray(False), "ok": jnp.asarray(True),
             "idx": jnp.asarray(1, jnp.int32), "steps": jnp.asarray(0, jnp.int32), "accepted": jnp.asarray(0, jnp.int32)}
    return carry, _save(st, dyn, t0, _ops.merge(y0))


def kvaerno_advance_into(st: Structure, dyn, carry, buf, row0, stop):
    """Step until the saved times before ``stop`` are filled (saved ``j`` goes to row ``j - row0``).
    Every saved time is a step end (``step_ts``), so chunks end between steps."""
    from diffrax import RESULTS

    term, solver, ctrl = _kvaerno_parts(st, dyn)
    tlist = dyn["tlist"]
    T, t_end = tlist.shape[0], tlist[-1]
    order = solver.error_order(term)

    def cond(c):
        s = c[0]
        return (s["idx"] < stop) & (s["steps"] < st.method.max_steps) & s["ok"]

    def body(c):
        s, buf = c
        y1, y_err, _, sstate, sres = solver.step(term, s["tprev"], s["tnext"], s["y"], None, s["solver"],
                                                 s["made_jump"])
        y_err = jnp.where(jnp.isnan(y_err), jnp.inf, y_err)
        keep, tprev, tnext, jump, cstate, cres = ctrl.adapt_step_size(s["tprev"], s["tnext"], s["y"], y1, None,
                                                                      y_err, order, s["ctrl"])
        idx = s["idx"]
        hit = keep & (idx < T) & (tlist[jnp.minimum(idx, T - 1)] <= s["tnext"])
        out = _save(st, dyn, s["tnext"], _ops.merge(y1))
        row = jnp.clip(idx - row0, 0, jax.tree_util.tree_leaves(buf)[0].shape[0] - 1)
        buf = jax.tree_util.tree_map(
            lambda b, o: lax.dynamic_update_index_in_dim(b, jnp.where(hit, o, b[row]), row, 0), buf, out)
        ok = s["ok"] & (~keep | (sres == RESULTS.successful)) & (cres == RESULTS.successful)
        return {"tprev": jnp.minimum(tprev, t_end), "tnext": jnp.minimum(tnext, t_end),
                "y": jnp.where(keep, y1, s["y"]),
                "solver": jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), sstate, s["solver"]),
                "ctrl": cstate, "made_jump": jnp.where(keep, jump, s["made_jump"]), "ok": ok,
                "idx": idx + hit.astype(jnp.int32), "steps": s["steps"] + 1,
                "accepted": s["accepted"] + keep.astype(jnp.int32)}, buf

    return lax.while_loop(cond, body, (carry, buf))


def kvaerno_advance(st: Structure, dyn, aux, carry, j0, size: int):
    buf = _buffer(lambda: _save(st, dyn, dyn["tlist"][0], _ops.merge(carry["y"])), size)
    return kvaerno_advance_into(st, dyn, carry, buf, j0, _next_index(j0, size, dyn["tlist"].shape[0]))


def kvaerno_finish(st: Structure, dyn, aux, carry):
    T = dyn["tlist"].shape[0]
    steps = carry["steps"]
    stats = {"steps": steps, "accepted": carry["accepted"], "rejected": steps - carry["accepted"],
             # stage evaluations only; the Newton iterations of the implicit stages add more
             "rhs_evals": 7 * steps, "success": carry["ok"] & (carry["idx"] >= T)}
    return _unframe(st, dyn, dyn["tlist"][-1], _ops.merge(carry["y"])), stats


KVAERNO5 = Kernel(kvaerno_start, kvaerno_advance, kvaerno_finish)


def solve_kvaerno5(st: Structure, dyn):
    """One call (all saved times in one buffer)."""
    T = dyn["tlist"].shape[0]
    carry, first = kvaerno_start(st, dyn, {})
    buf = jax.tree_util.tree_map(lambda x: jnp.zeros((T,) + x.shape, x.dtype).at[0].set(x), first)
    carry, buf = kvaerno_advance_into(st, dyn, carry, buf, 0, T)
    final, stats = kvaerno_finish(st, dyn, {}, carry)
    return buf, final, stats


# -- exact propagator ---------------------------------------------------------------------------


class HermitianBasis:
    """Orthonormal real basis of the n×n Hermitian matrices (Hilbert–Schmidt inner product).

    Coordinates of ρ: the n diagonal entries, then sqrt2·Re ρ_ij and -sqrt2·Im ρ_ij for i < j;
    n² real numbers in all. A Lindblad generator maps Hermitian matrices to Hermitian
    matrices, so in this basis it is a *real* n² × n² matrix: its exponential costs a quarter of
    the complex one's arithmetic.
    """

    def __init__(self, n: int):
        self.n = n
        iu, ju = np.triu_indices(n, 1)
        self.iu, self.ju = iu, ju
        d = np.arange(n) * (n + 1)
        ij, ji = iu * n + ju, ju * n + iu
        r2 = 1.0 / np.sqrt(2.0)
        # vec(G_k) = Σ_p w[p, k] e_{idx[p, k]}: two (index, weight) pairs per basis element
        self.idx = np.stack([np.concatenate([d, ij, ij]), np.concatenate([d, ji, ji])])
        # vec(ρ) from coordinates without a scatter: [diag, upper, lower] values, then one gather
        self.inv_perm = np.argsort(np.concatenate([d, ij, ji]))
        self.m = len(iu)
        self.row = self.idx // n  # (2, N): matrix row p and column q of each (index, weight) pair
        self.col = self.idx % n
        self.w = np.stack([np.concatenate([np.ones(n), np.full(len(iu), r2), np.full(len(iu), -1j * r2)]),
                           np.concatenate([np.zeros(n), np.full(len(iu), r2), np.full(len(iu), 1j * r2)])])

    def real_generator(self, Lsup):
        """Re(P† L P) for the row-major superoperator L (N, N) complex -> (N, N) real."""
        LP = Lsup[:, self.idx[0]] * self.w[0] + Lsup[:, self.idx[1]] * self.w[1]
        PLP = jnp.conj(self.w[0])[:, None] * LP[self.idx[0], :] + jnp.conj(self.w[1])[:, None] * LP[self.idx[1], :]
        return jnp.real(PLP)

    def real_lindbladian(self, H, Ls):
        """The real n²×n² generator of ρ ↦ -i[H, ρ] + Σ_k D[L_k]ρ in this basis, without
        forming the complex superoperator.

        With K = -iH - ½ Σ L†L the map is ρ ↦ Kρ + ρK† + Σ LρL†, a sum of terms X ρ Y† whose
        matrix elements between basis elements are products of entries of X and Y gathered at
        the (row, column) pairs of the basis: O(n⁴) work with small tables.
        """
        n = self.n
        eye = jnp.eye(n, dtype=jnp.complex128)
        C = jnp.einsum("kji,kjl->il", jnp.conj(Ls), Ls) if Ls.shape[0] else jnp.zeros((n, n), jnp.complex128)
        K = -1j * H - 0.5 * C
        pairs = [(K, eye), (eye, K)] + [(Ls[k], Ls[k]) for k in range(Ls.shape[0])]
        out = 0.0
        r, c, w = self.row, self.col, self.w
        for a in range(2):
            for b in range(2):
                wab = jnp.conj(w[a])[:, None] * w[b][None, :]
                # <G_k, X G_l Y†> = Σ conj(w_a) w_b X[p_a, p_b] conj(Y[q_a, q_b])
                term = 0.0
                for X, Y in pairs:
                    term = term + X[r[a][:, None], r[b][None, :]] * jnp.conj(Y[c[a][:, None], c[b][None, :]])
                out = out + jnp.real(wab * term)
        return out

    def coords(self, rho):
        v = rho.reshape(-1)
        return jnp.real(jnp.conj(self.w[0]) * v[self.idx[0]] + jnp.conj(self.w[1]) * v[self.idx[1]])

    def matrix(self, x):
        """The Hermitian matrix (n, n) with coordinates x (N,)."""
        n, m = self.n, self.m
        xd, xr, xi = x[:n], x[n:n + m], x[n + m:]
        upper = (xr - 1j * xi) / np.sqrt(2.0)
        v = jnp.concatenate([xd.astype(jnp.complex128), upper, jnp.conj(upper)])[self.inv_perm]
        return v.reshape(n, n)

    def dual(self, ops):
        """w_k with Tr(O ρ) = Σ_k w_k x_k for each operator O (m, n, n) -> (m, N)."""
        vT = jnp.swapaxes(ops, -1, -2).reshape(ops.shape[0], self.n * self.n)  # Tr(Oρ) = Σ_ij O_ji ρ_ij
        return vT[:, self.idx[0]] * self.w[0] + vT[:, self.idx[1]] * self.w[1]




def _expm_parts(st: Structure, dyn):
    basis = HermitianBasis(st.n)
    H = sum(dyn["Hterms"][1:], dyn["Hterms"][0])  # time independent: the terms carry no coefficients

    def generator_times(dt):
        # L·dt built from H·dt and L_k·sqrt(dt): scaling the small n×n inputs rather than the
        # n²×n² result keeps XLA from re-evaluating the gathered generator inside expm.
        return basis.real_lindbladian(H * dt, dyn["Ls"] * jnp.sqrt(dt))

    wops = basis.dual(dyn["eops"])
    tlist = dyn["tlist"]

    def save(t, x):
        out = {}
        if st.n_eops:
            out["expect"] = wops @ x
        if st.store_states:
            out["state"] = basis.matrix(x)
        if st.progress:
            jax.debug.callback(_progress_print, t, tlist[-1], ordered=False)
        return out

    return basis, generator_times, save


def expm_prepare(st: Structure, dyn):
    if not st.uniform:
        return {}
    _, generator_times, _ = _expm_parts(st, dyn)
    tlist = dyn["tlist"]
    return {"P": expm(generator_times(tlist[1] - tlist[0]))}


def expm_start(st: Structure, dyn, aux):
    basis, _, save = _expm_parts(st, dyn)
    x0 = basis.coords(dyn["rho0c"])
    return {"x": x0, "idx": jnp.asarray(1, jnp.int32)}, save(dyn["tlist"][0], x0)


def expm_advance(st: Structure, dyn, aux, carry, j0, size: int):
    _, generator_times, save = _expm_parts(st, dyn)
    tlist = dyn["tlist"]
    T = tlist.shape[0]
    if st.uniform:
        def interval(x, ta, tb, valid):
            x = jnp.where(valid, aux["P"] @ x, x)
            return x, save(tb, x)

        xs = ()
    else:
        j = jnp.minimum(j0 + jnp.arange(size), T - 1)
        xs = (jax.vmap(lambda d: expm(generator_times(d)))(tlist[j] - tlist[j - 1]),)

        def interval(x, ta, tb, valid, P):
            x = jnp.where(valid, P @ x, x)
            return x, save(tb, x)

    x, saved = scan_intervals(interval, carry["x"], tlist, j0, size, xs)
    return {"x": x, "idx": _next_index(j0, size, T)}, saved


def expm_finish(st: Structure, dyn, aux, carry):
    basis = HermitianBasis(st.n)
    nint = jnp.asarray(dyn["tlist"].shape[0] - 1)
    stats = {"steps": nint, "accepted": nint, "rejected": jnp.asarray(0), "rhs_evals": jnp.asarray(0),
             "success": jnp.asarray(True)}
    return basis.matrix(carry["x"]), stats


EXPM = Kernel(expm_start, expm_advance, expm_finish, expm_prepare)


# ---------------------------------------------------------------------------------------------
# jitted entry points
# ---------------------------------------------------------------------------------------------


def _solve_one(st: Structure, dyn):
    return st.method.solve(st, dyn)  # each method object provides its kernel


def _axes(dyn, in_axes):
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(dyn), list(in_axes))


@solve_jit(static_argnames=("st", "in_axes", "batched"))
def solve(st: Structure, dyn, in_axes=None, batched: bool = False):
    """Run one problem (or a vmapped batch of them). Returns (saved, final, stats)."""
    if not batched:
        return _solve_one(st, dyn)
    return jax.vmap(lambda d: _solve_one(st, d), in_axes=(_axes(dyn, in_axes),))(dyn)


def aux_axis(st: Structure, dyn, in_axes, batched: bool) -> int | None:
    """How :func:`stream_start` batches the method's ``prepare`` output: None when it is shared by
    the batch (operators without batch axes; it is then built and kept once), else 0."""
    if not batched:
        return None
    try:
        jax.eval_shape(jax.vmap(lambda d: st.method.prepare(st, d), in_axes=(_axes(dyn, in_axes),), out_axes=None),
                       dyn)
        return None
    except ValueError:
        return 0


def _strong(tree):
    """Leaves with their dtypes made explicit (no weak types), so that a carry from
    :func:`stream_start` and one from :func:`stream_advance` give the same compiled signature."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype=jnp.result_type(x)), tree)


@solve_jit(static_argnames=("st", "in_axes", "batched", "aux_ax"))
def stream_start(st: Structure, dyn, in_axes=None, batched: bool = False, aux_ax=None):
    """Streaming, first piece: ``(aux, carry, first)`` (see :func:`aux_axis` for ``aux_ax``)."""
    m = st.method
    if not batched:
        aux = m.prepare(st, dyn)
        carry, first = m.start(st, dyn, aux)
        return aux, _strong(carry), first
    axes = _axes(dyn, in_axes)
    aux = jax.vmap(lambda d: m.prepare(st, d), in_axes=(axes,), out_axes=aux_ax)(dyn)
    carry, first = jax.vmap(lambda d, a: m.start(st, d, a), in_axes=(axes, aux_ax))(dyn, aux)
    return aux, _strong(carry), first


@solve_jit(static_argnames=("st", "size", "in_axes", "batched", "aux_ax"))
def stream_advance(st: Structure, dyn, aux, carry, j0, size: int, in_axes=None, batched: bool = False, aux_ax=None):
    """Streaming: fill the saved times ``j0 .. j0+size-1``; returns ``(carry, saved)``. Compiled
    once per ``size``; ``j0`` is data."""
    m = st.method
    if not batched:
        carry, saved = m.advance(st, dyn, aux, carry, j0, size)
    else:
        carry, saved = jax.vmap(lambda d, a, c: m.advance(st, d, a, c, j0, size),
                                in_axes=(_axes(dyn, in_axes), aux_ax, 0))(dyn, aux, carry)
    return _strong(carry), saved


@solve_jit(static_argnames=("st", "in_axes", "batched", "aux_ax"))
def stream_finish(st: Structure, dyn, aux, carry, in_axes=None, batched: bool = False, aux_ax=None):
    """Streaming, last piece: ``(final, stats)``."""
    m = st.method
    if not batched:
        return m.finish(st, dyn, aux, carry)
    return jax.vmap(lambda d, a, c: m.finish(st, d, a, c), in_axes=(_axes(dyn, in_axes), aux_ax, 0))(dyn, aux, carry)
