"""The compiled part of mesolve: right-hand side and integrators, one system at a time.

Everything here is pure JAX. :func:`solve` is jitted once per problem *structure* (a hashable
:class:`Structure`: dimension, operator formats, coefficient functions, method, options that
fix shapes) and receives all numbers in a pytree ``dyn``; a second call with the same structure
and shapes does not recompile. Batches are a ``jax.vmap`` over the flattened batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _ops
from ._linalg import expm
from ._rk import materialize
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
    fmt: str  # "dia" | "dense" for the ODE family
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


def eval_spec(spec: CoeffSpec, t, dyn):
    if spec is None:
        return jnp.asarray(1.0 + 0.0j)
    kind = spec[0]
    if kind == "func":
        return jnp.asarray(spec[1](t, dyn["args"]), dtype=jnp.complex128)
    if kind == "spline":
        knots, coeffs = dyn["splines"][spec[1]]
        return spline_eval(knots, coeffs, t).astype(jnp.complex128)
    if kind == "prod":
        return jnp.conj(eval_spec(spec[1], t, dyn)) * eval_spec(spec[2], t, dyn)
    raise AssertionError(spec)


def _coefficient_values(specs, t, dyn):
    """All coefficients of ``specs`` at time t as complex scalars, each computed once."""
    idx = [i for i, s in enumerate(specs) if s is not None]
    if not idx:
        return [None] * len(specs)
    vals = jnp.stack([eval_spec(specs[i], t, dyn) for i in idx])
    ri = materialize(jnp.stack([jnp.real(vals), jnp.imag(vals)]))
    out = [None] * len(specs)
    for k, i in enumerate(idx):
        out[i] = ri[0, k] + 1j * ri[1, k]
    return out


def _scale(c, a):
    """complex scalar c times real-split array a (2, ...)."""
    cr, ci = jnp.real(c), jnp.imag(c)
    return jnp.stack([cr * a[0] - ci * a[1], cr * a[1] + ci * a[0]])


def _combine(specs, datas, t, dyn):
    out = None
    for c, d in zip(_coefficient_values(specs, t, dyn), datas):
        term = d if c is None else _scale(c, d)
        out = term if out is None else out + term
    return out


# ---------------------------------------------------------------------------------------------
# Right-hand side (real-split, one system)
# ---------------------------------------------------------------------------------------------


def make_rhs(st: Structure, dyn) -> Callable:
    """``f(t, y) -> dy/dt`` for the real-split state ``y`` (2, n, n), in the frame if enabled."""
    fmt = st.fmt

    def rhs(t, y):
        A = _combine(st.a_coeffs, dyn["a"], t, dyn)
        if st.frame:
            ce, se = materialize(jnp.stack([jnp.cos(dyn["E"] * t), jnp.sin(dyn["E"] * t)]))
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


def _unframe(st: Structure, dyn, t, rho):
    """Undo the interaction picture: rho_ij e^{-i(E_i - E_j) t} (complex (n, n))."""
    if not st.frame:
        return rho
    p = jnp.exp(-1j * dyn["E"] * t)
    return p[:, None] * rho * jnp.conj(p)[None, :]


def _save(st: Structure, dyn, t, y_complex):
    """What is stored at each time: the state (if asked) and the expectation values."""
    rho = _unframe(st, dyn, t, y_complex)
    out = {}
    if st.n_eops:
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
# Integrators
# ---------------------------------------------------------------------------------------------


def solve_kvaerno5(st: Structure, dyn):
    """Kvaerno5 through diffrax (implicit; its Newton solves need a Jacobian)."""
    import diffrax as dfx

    rhs = make_rhs(st, dyn)
    solver = dfx.Kvaerno5()
    tlist = dyn["tlist"]

    def save_fn(t, y, args):
        return _save(st, dyn, t, _ops.merge(y))

    sol = dfx.diffeqsolve(
        dfx.ODETerm(lambda t, y, args: rhs(t, y)),
        solver,
        t0=tlist[0],
        t1=tlist[-1],
        dt0=None,
        y0=dyn["rho0"],
        saveat=dfx.SaveAt(subs=[dfx.SubSaveAt(ts=tlist, fn=save_fn), dfx.SubSaveAt(t1=True)]),
        # diffrax's dense output for Kvaerno5 is a 3rd-order Hermite interpolant, too coarse for
        # rtol 1e-6 between large implicit steps: step onto every saved time instead.
        stepsize_controller=dfx.PIDController(rtol=dyn["rtol"], atol=dyn["atol"], step_ts=tlist),
        max_steps=st.method.max_steps,
        throw=False,
    )
    saved, y1 = sol.ys
    final = _unframe(st, dyn, tlist[-1], _ops.merge(y1[-1]))
    steps = sol.stats["num_steps"]
    stats = {
        "steps": steps,
        "accepted": sol.stats["num_accepted_steps"],
        "rejected": sol.stats["num_rejected_steps"],
        # stage evaluations only; the Newton iterations of the implicit stages add more
        "rhs_evals": 7 * steps,
        "success": sol.result == dfx.RESULTS.successful,
    }
    return saved, final, stats


def solve_rk4(st: Structure, dyn):
    rhs = make_rhs(st, dyn)
    tlist, dt = dyn["tlist"], dyn["dt"]

    def step(y, t, h):
        k1 = rhs(t, y)
        k2 = rhs(t + 0.5 * h, y + 0.5 * h * k1)
        k3 = rhs(t + 0.5 * h, y + 0.5 * h * k2)
        k4 = rhs(t + h, y + h * k3)
        return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return _fixed_step_loop(st, dyn, step, dyn["rho0"], lambda y: _ops.merge(y), tlist, dt, evals_per_step=4)


def _fixed_step_loop(st, dyn, step, y0, to_complex, tlist, dt, evals_per_step):
    """March over the intervals of tlist with ceil(Δt/dt) equal steps each; save at tlist."""

    def interval(carry, ts):
        y, nsteps = carry
        ta, tb = ts
        m = jnp.maximum(1, jnp.ceil((tb - ta) / dt - 1e-9)).astype(jnp.int32)
        h = (tb - ta) / m
        y = lax.fori_loop(0, m, lambda i, y: step(y, ta + i * h, h), y)
        return (y, nsteps + m), _save(st, dyn, tb, to_complex(y))

    first = _save(st, dyn, tlist[0], to_complex(y0))
    (y, nsteps), saved = lax.scan(interval, (y0, jnp.asarray(0, jnp.int32)), (tlist[:-1], tlist[1:]))
    saved = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, saved)
    stats = {"steps": nsteps, "accepted": nsteps, "rejected": jnp.asarray(0), "rhs_evals": evals_per_step * nsteps, "success": jnp.asarray(True)}
    return saved, to_complex(y), stats


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


def solve_expm(st: Structure, dyn):
    n = st.n
    basis = HermitianBasis(n)
    tlist = dyn["tlist"]
    H = sum(dyn["Hterms"][1:], dyn["Hterms"][0])  # time independent: the terms carry no coefficients

    def generator_times(dt):
        # L·dt built from H·dt and L_k·sqrt(dt): scaling the small n×n inputs rather than the
        # n²×n² result keeps XLA from re-evaluating the gathered generator inside expm.
        return basis.real_lindbladian(H * dt, dyn["Ls"] * jnp.sqrt(dt))
    x0 = basis.coords(dyn["rho0c"])
    dts = tlist[1:] - tlist[:-1]
    wops = basis.dual(dyn["eops"])

    def save(t, x):
        out = {}
        if st.n_eops:
            out["expect"] = wops @ x
        if st.store_states:
            out["state"] = basis.matrix(x)
        if st.progress:
            jax.debug.callback(_progress_print, t, tlist[-1], ordered=False)
        return out

    if st.uniform:
        P = expm(generator_times(dts[0]))

        def body(x, t):
            x = P @ x
            return x, save(t, x)

        x, saved = lax.scan(body, x0, tlist[1:])
    else:
        Ps = jax.vmap(lambda d: expm(generator_times(d)))(dts)

        def body(x, xs):
            P, t = xs
            x = P @ x
            return x, save(t, x)

        x, saved = lax.scan(body, x0, (Ps, tlist[1:]))
    first = save(tlist[0], x0)
    saved = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, saved)
    nint = tlist.shape[0] - 1
    stats = {"steps": jnp.asarray(nint), "accepted": jnp.asarray(nint), "rejected": jnp.asarray(0), "rhs_evals": jnp.asarray(0), "success": jnp.asarray(True)}
    return saved, basis.matrix(x), stats


def solve_magnus4(st: Structure, dyn):
    n = st.n
    tlist, dt = dyn["tlist"], dyn["dt"]
    Ls = dyn["Ls"]
    has_diss = Ls.shape[0] > 0
    if has_diss:
        zero = jnp.zeros((n, n), jnp.complex128)
        Dsup = _liouvillian_core(zero, Ls)

    def H_at(t):
        if st.h_callable is not None:
            return jnp.asarray(st.h_callable(t, dyn["args"]), jnp.complex128)
        H = None
        for spec, op in zip(st.h_coeffs, dyn["Hterms"]):
            term = op if spec is None else eval_spec(spec, t, dyn) * op
            H = term if H is None else H + term
        return H

    def interval(carry, ts):
        rho, nsteps = carry
        ta, tb = ts
        m = jnp.maximum(1, jnp.ceil((tb - ta) / dt - 1e-9)).astype(jnp.int32)
        h = (tb - ta) / m
        Phi = expm(Dsup * (0.5 * h)) if has_diss else None

        def half_diss(r):
            return (Phi @ r.reshape(n * n)).reshape(n, n) if has_diss else r

        def step(i, r):
            t = ta + i * h
            K = magnus4_exponent(H_at(t + GAUSS_NODES[0] * h), H_at(t + GAUSS_NODES[1] * h), h)
            U = expm_hermitian(K)
            r = half_diss(r)
            r = U @ r @ jnp.conj(U.T)
            return half_diss(r)

        rho = lax.fori_loop(0, m, step, rho)
        return (rho, nsteps + m), _save(st, dyn, tb, rho)

    rho0 = dyn["rho0c"]
    first = _save(st, dyn, tlist[0], rho0)
    (rho, nsteps), saved = lax.scan(interval, (rho0, jnp.asarray(0, jnp.int32)), (tlist[:-1], tlist[1:]))
    saved = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, saved)
    stats = {"steps": nsteps, "accepted": nsteps, "rejected": jnp.asarray(0), "rhs_evals": 2 * nsteps, "success": jnp.asarray(True)}
    return saved, rho, stats


def solve_explicit_rk(st: Structure, dyn, tableau: "Tableau"):
    from ._rk import adaptive_solve

    rhs = make_rhs(st, dyn)
    saved, y1, stats = adaptive_solve(
        rhs, dyn["rho0"], dyn["tlist"], lambda t, y: _save(st, dyn, t, _ops.merge(y)),
        tableau=tableau, rtol=dyn["rtol"], atol=dyn["atol"], max_steps=st.method.max_steps,
    )
    return saved, _unframe(st, dyn, dyn["tlist"][-1], _ops.merge(y1)), stats


def _solve_one(st: Structure, dyn):
    return st.method.solve(st, dyn)  # each method object provides its kernel


@partial(jax.jit, static_argnames=("st", "in_axes", "batched"))
def solve(st: Structure, dyn, in_axes=None, batched: bool = False):
    """Run one problem (or a vmapped batch of them). Returns (saved, final, stats)."""
    if not batched:
        return _solve_one(st, dyn)
    axes = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(dyn), list(in_axes))
    return jax.vmap(lambda d: _solve_one(st, d), in_axes=(axes,))(dyn)
