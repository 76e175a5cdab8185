"""The compiled core of ``sesolve`` and ``propagator``: ``dY/dt = G(t) Y`` for a matrix of columns.

``Y`` is (N, m): one ket (m = 1, ``sesolve``), the identity (m = N, ``propagator``), or a
vectorised density matrix basis (N = n², column stacking, the open-system ``propagator``).
The generator is ``G(t) = -i H(t)`` for a closed system (``Structure.closed``; the operators in
``dyn["ops"]`` are then the Hamiltonian terms ``H_j``) or ``G(t) = Σ_j c_j(t) G_j`` (a
Liouvillian, the operators being its terms). Coefficients are evaluated with the engine's
:func:`nephlab.quantum._engine.eval_spec` (so callables, splines and products of them work as in
``mesolve``).

The integrators are the ones ``mesolve`` uses: nephlab's adaptive Runge–Kutta loop
(:func:`nephlab.quantum._rk.adaptive_solve`, Dopri5/Tsit5 tableaus) on the real-split state,
diffrax's Kvaerno5, classical RK4 and the 4th-order Magnus step
(:func:`nephlab.quantum.propagator.magnus4_exponent`) on the engine's interval scan
(:func:`nephlab.quantum._engine.scan_intervals`), and exact exponentials for a constant ``G``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _engine, _ops, _rk
from ._linalg import expm
from .methods import Dopri5, Expm, Kvaerno5, Magnus4, Method, RK4, Tsit5
from .propagator import GAUSS_NODES, expm_hermitian, magnus4_exponent

__all__ = ["KERNELS", "Structure", "assemble", "generator", "hamiltonian", "kernel", "run", "solve"]


@dataclass(frozen=True)
class Structure:
    """What fixes the compiled program (hashable): the method without its dynamic options, the
    coefficient specs of the operator terms, a callable generator part, and output switches."""

    method: Method
    closed: bool
    specs: tuple
    func: Callable | None  # closed: H(t, args) (n, n); open: G(t, args) (n², n²)
    n_eops: int
    store_states: bool
    uniform: bool


def _sum_terms(st: Structure, dyn, t):
    out = None
    for spec, op in zip(st.specs, dyn["ops"]):
        term = op if spec is None else _engine.eval_spec(spec, t, dyn) * op
        out = term if out is None else out + term
    if st.func is not None:
        f = jnp.asarray(st.func(t, dyn["args"]), jnp.complex128)
        out = f if out is None else out + f
    return out


def hamiltonian(st: Structure, dyn, t):
    """H(t) of a closed system."""
    return _sum_terms(st, dyn, t)


def generator(st: Structure, dyn, t):
    """G(t): ``-i H(t)`` (closed) or the Liouvillian (open)."""
    g = _sum_terms(st, dyn, t)
    return -1j * g if st.closed else g


def _saver(st: Structure, dyn) -> Callable:
    def save(t, Y):
        out = {}
        if st.n_eops:
            psi = Y[:, 0]
            out["expect"] = jnp.einsum("i,kij,j->k", jnp.conj(psi), dyn["eops"], psi)
        if st.store_states:
            out["state"] = Y
        return out

    return save


def _stats(steps, accepted, rhs_evals, success) -> dict:
    steps = jnp.asarray(steps, jnp.int32)
    accepted = jnp.asarray(accepted, jnp.int32)
    return {"steps": steps, "accepted": accepted, "rejected": steps - accepted,
            "rhs_evals": jnp.asarray(rhs_evals), "success": jnp.asarray(success)}


# -- kernels (one system) -------------------------------------------------------------------------


def _explicit_rk(st: Structure, dyn):
    save = _saver(st, dyn)

    def f(t, y):
        return _ops.split(generator(st, dyn, t) @ _ops.merge(y))

    saved, y1, stats = _rk.adaptive_solve(f, _ops.split(dyn["y0"]), dyn["tlist"], lambda t, y: save(t, _ops.merge(y)),
                                          tableau=st.method.tableau(), rtol=dyn["rtol"], atol=dyn["atol"],
                                          max_steps=st.method.max_steps)
    return saved, _ops.merge(y1), stats


def _kvaerno5(st: Structure, dyn):
    import diffrax as dfx

    tlist = dyn["tlist"]
    term = dfx.ODETerm(lambda t, y, args: _ops.split(generator(st, dyn, t) @ _ops.merge(y)))
    sol = dfx.diffeqsolve(term, dfx.Kvaerno5(), tlist[0], tlist[-1], None, _ops.split(dyn["y0"]),
                          saveat=dfx.SaveAt(ts=tlist),
                          stepsize_controller=dfx.PIDController(rtol=dyn["rtol"], atol=dyn["atol"], step_ts=tlist),
                          max_steps=st.method.max_steps, throw=False)
    ys = jax.vmap(_ops.merge)(sol.ys)
    saved = jax.vmap(_saver(st, dyn))(tlist, ys)
    s = sol.stats
    return saved, ys[-1], _stats(s["num_steps"], s["num_accepted_steps"], 7 * s["num_steps"],
                                 sol.result == dfx.RESULTS.successful)


def _fixed_step(st: Structure, dyn, step: Callable, evals: int):
    """March over the intervals of tlist, each in ``ceil(Δt/dt)`` equal steps ``step(Y, t, h)``."""
    tlist, dt = dyn["tlist"], dyn["dt"]
    save = _saver(st, dyn)
    run = _engine._repeat(step)

    def interval(c, ta, tb, valid):
        Y, nsteps = c
        m = jnp.where(valid, jnp.maximum(1, jnp.ceil((tb - ta) / dt - 1e-9)), 0).astype(jnp.int32)
        Y = run(Y, ta, (tb - ta) / jnp.maximum(m, 1), m)
        return (Y, nsteps + m), save(tb, Y)

    T = tlist.shape[0]
    (Y, n), saved = _engine.scan_intervals(interval, (dyn["y0"], jnp.asarray(0, jnp.int32)), tlist, 1, T - 1)
    return _engine._concat_first(save(tlist[0], dyn["y0"]), saved), Y, _stats(n, n, evals * n, True)


def _rk4(st: Structure, dyn):
    def step(Y, t, h):
        G = partial(generator, st, dyn)
        k1 = G(t) @ Y
        Gm = G(t + 0.5 * h)
        k2 = Gm @ (Y + 0.5 * h * k1)
        k3 = Gm @ (Y + 0.5 * h * k2)
        k4 = G(t + h) @ (Y + h * k3)
        return Y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return _fixed_step(st, dyn, step, 4)


def _magnus4(st: Structure, dyn):
    def step(Y, t, h):
        K = magnus4_exponent(hamiltonian(st, dyn, t + GAUSS_NODES[0] * h), hamiltonian(st, dyn, t + GAUSS_NODES[1] * h), h)
        return expm_hermitian(K) @ Y

    return _fixed_step(st, dyn, step, 2)


def _expm(st: Structure, dyn):
    tlist, save = dyn["tlist"], _saver(st, dyn)
    T = tlist.shape[0]
    if st.closed:  # exact at every time from one eigendecomposition: Y(t) = V e^{-iE(t-t0)} V† Y0
        H = hamiltonian(st, dyn, tlist[0])
        E, V = jnp.linalg.eigh(0.5 * (H + jnp.conj(H.T)))
        W = jnp.conj(V.T) @ dyn["y0"]
        ys = jax.vmap(lambda t: (V * jnp.exp(-1j * E * (t - tlist[0]))[None, :]) @ W)(tlist)
        saved = jax.vmap(save)(tlist, ys)
        return saved, ys[-1], _stats(T - 1, T - 1, 0, True)
    G = generator(st, dyn, tlist[0])
    if st.uniform:
        P = expm(G * (tlist[1] - tlist[0]))

        def interval(Y, ta, tb, valid):
            Y = jnp.where(valid, P @ Y, Y)
            return Y, save(tb, Y)

        xs = ()
    else:
        xs = (jax.vmap(lambda d: expm(G * d))(jnp.diff(tlist)),)

        def interval(Y, ta, tb, valid, P):
            Y = jnp.where(valid, P @ Y, Y)
            return Y, save(tb, Y)

    Y, saved = _engine.scan_intervals(interval, dyn["y0"], tlist, 1, T - 1, xs)
    return _engine._concat_first(save(tlist[0], dyn["y0"]), saved), Y, _stats(T - 1, T - 1, 0, True)


# Which kernel runs each method (dispatch by type).
KERNELS: dict[type, Callable] = {Dopri5: _explicit_rk, Tsit5: _explicit_rk, Kvaerno5: _kvaerno5, RK4: _rk4,
                                 Magnus4: _magnus4, Expm: _expm}


def kernel(method: Method) -> Callable | None:
    """The kernel of ``method`` (None: this method cannot integrate ``dY/dt = G(t) Y``)."""
    for cls, k in KERNELS.items():
        if isinstance(method, cls):
            return k
    return None


def _solve_one(st: Structure, dyn):
    return kernel(st.method)(st, dyn)


@partial(jax.jit, static_argnames=("st", "in_axes", "batched"))
def solve(st: Structure, dyn: Any, in_axes=None, batched: bool = False):
    """Run one problem, or a vmapped batch (``in_axes`` per leaf of ``dyn``): ``(saved, final, stats)``."""
    if not batched:
        return _solve_one(st, dyn)
    axes = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(dyn), list(in_axes))
    return jax.vmap(lambda d: _solve_one(st, d), in_axes=(axes,))(dyn)



# -- host side: operators -> (specs, ops, func); one call -> arrays ---------------------------------


def _kron(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Batched Kronecker product of (..., n, n) matrices (NumPy)."""
    n = A.shape[-1]
    out = np.einsum("...ij,...kl->...ikjl", A, B)
    return out.reshape(out.shape[:-4] + (n * n, n * n))


def commutator_generator(H: np.ndarray) -> np.ndarray:
    """``-i[H, ·]`` as a column-stacking superoperator: ``-i (I ⊗ H - Hᵀ ⊗ I)``."""
    eye = np.broadcast_to(np.eye(H.shape[-1]), H.shape)
    return -1j * (_kron(eye, H) - _kron(np.swapaxes(H, -1, -2), eye))


def dissipator_generator(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Column-stacking superoperator of ``ρ ↦ A ρ B† - ½ {B† A, ρ}`` (the (A, B) cross term of D[L])."""
    eye = np.broadcast_to(np.eye(A.shape[-1]), np.broadcast_shapes(A.shape, B.shape))
    BdA = np.einsum("...ji,...jk->...ik", np.conj(B), A)
    return _kron(np.conj(B), A) - 0.5 * (_kron(eye, BdA) + _kron(np.swapaxes(BdA, -1, -2), eye))


@dataclass(frozen=True)
class LiouvilleCallable:
    """``-i[H(t, args), ·]`` (column stacking) from a callable Hamiltonian (equal for equal ``func``)."""

    func: Callable

    def __call__(self, t, args):
        H = jnp.asarray(self.func(t, args), jnp.complex128)
        eye = jnp.eye(H.shape[-1], dtype=H.dtype)
        return -1j * (jnp.kron(eye, H) - jnp.kron(H.T, eye))


def assemble(closed: bool, h_terms, h_callable, c_parsed, splines: list) -> tuple:
    """``(specs, ops, func)`` of the generator: H terms (closed) or Liouvillian terms (open,
    column stacking, QuTiP's convention). Constant terms are merged into one."""
    from .mesolve import _spec

    pairs = []  # (spec, op)
    if closed:
        pairs = [(_spec(t.coeff, splines), t.op) for t in h_terms]
        func = h_callable
    else:
        pairs = [(_spec(t.coeff, splines), commutator_generator(t.op)) for t in h_terms]
        for terms in c_parsed:
            specs = [_spec(t.coeff, splines) for t in terms]
            for sj, tj in zip(specs, terms):
                for sk, tk in zip(specs, terms):  # coefficient g_j conj(g_k) = ("prod", s_k, s_j)
                    spec = None if sj is None and sk is None else ("prod", sk, sj)
                    pairs.append((spec, dissipator_generator(tj.op, tk.op)))
        func = None if h_callable is None else LiouvilleCallable(h_callable)
    const = [op for s, op in pairs if s is None]
    out = [(s, op) for s, op in pairs if s is not None]
    if const:
        out.insert(0, (None, sum(const[1:], const[0])))
    return tuple(s for s, _ in out), [op for _, op in out], func


def run(st: Structure, ops: list, y0: np.ndarray, tl: np.ndarray, args, splines: list, eops: np.ndarray,
        meth: Method, batch_shape: tuple) -> tuple:
    """Solve for ``y0`` (batch + (N, m)) with the operators ``ops`` (each batch' + (N, N)):
    ``(saved, final, stats)`` with the batch axes restored (host NumPy arrays, stats per element)."""
    from .mesolve import _flatten_batch

    dyn = {"ops": list(ops), "y0": y0, "tlist": tl, "args": args, "eops": eops,
           "splines": [(np.asarray(k), np.asarray(c)) for k, c in splines]}
    dyn.update(meth.dynamic_values())
    bnd = jax.tree_util.tree_map(lambda x: 0, dyn)
    bnd["ops"] = [np.ndim(op) - 2 for op in ops]
    bnd["y0"] = y0.ndim - 2
    dyn, in_axes = _flatten_batch(dyn, batch_shape, bnd)
    saved, final, stats = solve(st, dyn, in_axes=in_axes, batched=bool(batch_shape))
    saved = jax.tree_util.tree_map(lambda a: np.asarray(a).reshape(tuple(batch_shape) + a.shape[1 if batch_shape else 0:]), saved)
    final = np.asarray(final).reshape(tuple(batch_shape) + final.shape[-2:])
    stats = {k: (np.asarray(v).reshape(batch_shape) if batch_shape else np.asarray(v).item()) for k, v in stats.items()}
    return saved, final, stats
