"""A lean adaptive explicit Runge–Kutta loop for density matrices (one system; vmap for batches).

The Butcher tableaus (Dormand–Prince 5(4) and Tsitouras 5(4)) are diffrax's coefficients, written
out here as literals (a test checks them against diffrax bit for bit), so a solve does not import
diffrax, which costs about 0.3–0.6 s in a fresh process. The loop itself is ours because the master equation wants things a general ODE library does not do by default:

* **exact right-hand-side counts** in the statistics;
* **dense output** at the saved times from the stages already computed (4th-order continuous
  extensions), so saving 101 points costs no extra steps;
* **materialised stages**: each stage value is computed once and stored. Left to itself XLA's CPU
  fusion re-evaluates a stage sum inside every shifted read of the banded right-hand side.

The local error is measured in the weighted RMS norm of Hairer, Nørsett & Wanner,
``sqrt(mean((err / (atol + rtol * max(|y|, |y_new|)))²))`` over the real and imaginary parts of all
entries, the same convention as QuTiP, diffrax and dynamiqs, so tolerances mean the same thing
side by side. The step-size controller is the PI controller of Hairer, Nørsett & Wanner (II, IV.2)
with the coefficients of their DOPRI5 code: ``h_new = h · 0.9 · en^(-(1/q - 0.75 β)) · en_prev^β``
with β = 0.04 and q the tableau's order, factors limited to [0.2, 10] (after a rejection,
``0.9 · en^(-1/q)``, at most 1). In steady stepping it settles where ``en ≈ 0.9^(1/0.13) ≈ 0.44``,
close to the pure I-controller of diffrax/dynamiqs (``en ≈ 0.53``), while keeping the PI term's
damping of step-size oscillations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax


@dataclass(frozen=True)
class Tableau:
    """An explicit 5(4) pair with the First-Same-As-Last property and its continuous extension."""

    name: str
    a: tuple  # lower-triangular rows for stages 2..7
    b: tuple  # 7 weights (the 7th stage is the FSAL derivative at the new point)
    e: tuple  # 7 error weights
    c: tuple  # 7 nodes
    dense: Callable  # dense(theta, b) -> 7 weights b_i(θ), y(t + θh) = y + h Σ b_i(θ) k_i
    order: int = 5


def from_diffrax(solver_cls, dense: Callable) -> Tableau:
    """The tableau of a diffrax solver class (``diffrax.Tsit5``, ``diffrax.Dopri5``) with ``dense``."""
    tb = solver_cls.tableau
    a = tuple(tuple(float(x) for x in row) for row in tb.a_lower)
    return Tableau(
        name=solver_cls.__name__.lower(), a=a, b=tuple(float(x) for x in tb.b_sol),
        e=tuple(float(x) for x in tb.b_error), c=(0.0,) + tuple(float(x) for x in tb.c), dense=dense,
    )


def _tsit5_dense(t, b: tuple):
    """Tsitouras (2011), the interpolant of his 5(4) pair."""
    return [
        -1.0530884977290216 * t * (t - 1.3299890189751412) * (t * t - 1.4364028541716351 * t + 0.7139816917074209),
        0.1017 * t * t * (t * t - 2.1966568338249754 * t + 1.2949852507374631),
        2.490627285651252793 * t * t * (t * t - 2.38535645472061657 * t + 1.57803468208092486),
        -16.54810288924490272 * (t - 1.21712927295533244) * (t - 0.61620406037800089) * t * t,
        47.37952196281928122 * (t - 1.203071208372362603) * (t - 0.658047292653547382) * t * t,
        -34.87065786149660974 * (t - 1.2) * (t - 0.666666666666666667) * t * t,
        2.5 * (t - 1.0) * (t - 0.6) * t * t,
    ]


# Dormand–Prince: Shampine's 4th-order continuous extension as used in Hairer's DOPRI5.
_DOPRI_D = (-12715105075.0 / 11282082432.0, 0.0, 87487479700.0 / 32700410799.0,
            -10690763975.0 / 1880347072.0, 701980252875.0 / 199316789632.0,
            -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0)


def _dopri5_dense(t, b: tuple):
    """y(θ) = y0 + θ r2 + θ(1-θ)(r3 + θ(r4 + (1-θ) r5)) with (per unit h)
    r2 = Σ b_i k_i, r3 = k1 - r2, r4 = r2 - k7 - r3, r5 = Σ d_i k_i."""
    s = 1.0 - t
    out = []
    for i in range(7):
        r2 = b[i]
        k1 = 1.0 if i == 0 else 0.0
        k7 = 1.0 if i == 6 else 0.0
        r3 = k1 - r2
        r4 = r2 - k7 - r3
        r5 = _DOPRI_D[i]
        out.append(t * r2 + t * s * (r3 + t * (r4 + s * r5)))
    return out


# diffrax 0.7's ``Tsit5.tableau`` and ``Dopri5.tableau`` (a_lower, b_sol, b_error, c), as the shortest
# round-tripping reprs of its float64 values (tests/test_mesolve_reference.py compares them with diffrax).
_TSIT5 = dict(
    a=((0.161,),
       (-0.008480655492356989, 0.335480655492357),
       (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
       (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
       (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383),
       (0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774)),
    b=(0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0.0),
    e=(0.0017800110522257773, 0.0008164344596567463, -0.007880878010261994, 0.1447110071732629,
       -0.5823571654525552, 0.45808210592918686, -0.015151515151515152),
    c=(0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0),
)
_DOPRI5 = dict(
    a=((0.2,),
       (0.075, 0.225),
       (0.9777777777777777, -3.7333333333333334, 3.5555555555555554),
       (2.9525986892242035, -11.595793324188385, 9.822892851699436, -0.2908093278463649),
       (2.8462752525252526, -10.757575757575758, 8.906422717743473, 0.2784090909090909, -0.2735313036020583),
       (0.09114583333333333, 0.0, 0.44923629829290207, 0.6510416666666666, -0.322376179245283, 0.13095238095238096)),
    b=(0.09114583333333333, 0.0, 0.44923629829290207, 0.6510416666666666, -0.322376179245283, 0.13095238095238096,
       0.0),
    e=(0.0008217592592592582, 0.0, -0.002835180193670739, 0.024652777777777746, -0.03390919811320753,
       0.02793650793650794, -0.016666666666666666),
    c=(0.0, 0.2, 0.3, 0.8, 0.8888888888888888, 1.0, 1.0),
)


@lru_cache(maxsize=None)
def tsit5_tableau() -> Tableau:
    """Tsitouras 5(4) (diffrax's coefficients) with Tsitouras' dense output."""
    return Tableau(name="tsit5", dense=_tsit5_dense, **_TSIT5)


@lru_cache(maxsize=None)
def dopri5_tableau() -> Tableau:
    """Dormand–Prince 5(4) (diffrax's coefficients) with Shampine's dense output."""
    return Tableau(name="dopri5", dense=_dopri5_dense, **_DOPRI5)


def materialize(x):
    """Return ``x`` (2, ...) unchanged, but computed once and kept in memory.

    XLA's CPU fusion happily recomputes a cheap-looking producer (a stage sum, a cos(E t) vector,
    a user's coefficient) inside every element of an n×n consumer loop, which turns n
    trigonometric evaluations into n² of them. A contraction with the 2×2 identity is not fused
    into elementwise consumers, so it pins the value.
    """
    return jnp.tensordot(jnp.eye(2, dtype=x.dtype), x, axes=1)


def _lincomb(ws, ks):
    out = None
    for w, k in zip(ws, ks):
        if isinstance(w, float) and w == 0.0:
            continue
        out = w * k if out is None else out + w * k
    return out


def adaptive_start(f: Callable, y0, tlist, save: Callable, *, tableau: Tableau, rtol, atol):
    """The loop state at ``tlist[0]`` (initial step of Hairer, Nørsett & Wanner I, II.4) and
    ``save(tlist[0], y0)``. Returns ``(state, first)``; ``state["idx"]`` is the next saved index."""
    tb = tableau
    t0, t_end = tlist[0], tlist[-1]
    first = save(t0, y0)
    k1 = f(t0, y0)
    d0 = _err_norm(y0, y0, y0, rtol, atol)
    d1 = _err_norm(k1, y0, y0, rtol, atol)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    y1 = y0 + h0 * k1
    k2 = f(t0 + h0, y1)
    d2 = _err_norm(k2 - k1, y0, y0, rtol, atol) / h0
    h1 = jnp.where(jnp.maximum(d1, d2) <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / jnp.maximum(d1, d2)) ** (1.0 / tb.order))
    h = jnp.minimum(jnp.minimum(100 * h0, h1), t_end - t0)
    state = {"t": t0, "y": y0, "k1": k1, "h": h, "en_prev": jnp.asarray(1.0), "idx": jnp.asarray(1, jnp.int32),
             "steps": jnp.asarray(0, jnp.int32), "accepted": jnp.asarray(0, jnp.int32)}
    return state, first


PI_BETA = 0.04  # Hairer, Nørsett & Wanner's DOPRI5 code: the weight of the previous error norm


def pi_factor_exponents(order: int) -> tuple[float, float]:
    """The PI controller's exponents ``(alpha, beta)``: ``fac = 0.9 en^-alpha en_prev^beta``.

    ``alpha = 1/order - 0.75 beta`` with ``beta = 0.04`` (Hairer, Nørsett & Wanner II, IV.2).

    >>> pi_factor_exponents(5)
    (0.17, 0.04)
    """
    return round(1.0 / order - 0.75 * PI_BETA, 12), PI_BETA


def _err_norm(e, y, yn, rtol, atol):
    return jnp.sqrt(jnp.mean((e / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(yn)))) ** 2))


def rk_step(f: Callable, tb: Tableau, t, y, k1, h, en_prev, rtol, atol):
    """One trial step of the pair ``tb`` from ``(t, y)`` with ``k1 = f(t, y)`` and step ``h``.

    Returns ``(y_new, ks, en, accept, fac)``: the 5th-order solution, the 7 stages (``ks[6]`` is
    ``f`` at the new point, FSAL; ``y + h Σ tb.dense(θ)_i ks_i`` is the dense output), the error
    norm, whether it is accepted (``en <= 1``) and the PI controller's factor for the next step
    (``en_prev``: the error norm of the last accepted step).
    """
    ks = [k1]
    for i in range(1, 7):
        yi = materialize(y + h * _lincomb(tb.a[i - 1], ks))
        ks.append(f(t + tb.c[i] * h, yi))
        if i == 6:
            y_new = yi  # FSAL: the last stage is evaluated at the new solution
    err = h * _lincomb(tb.e, ks)
    en = _err_norm(err, y, y_new, rtol, atol)
    accept = en <= 1.0
    # PI controller
    en_safe = jnp.maximum(en, 1e-10)
    alpha, beta = pi_factor_exponents(tb.order)
    fac = 0.9 * en_safe ** (-alpha) * en_prev ** beta
    fac = jnp.where(accept, jnp.clip(fac, 0.2, 10.0), jnp.clip(0.9 * en_safe ** (-1.0 / tb.order), 0.2, 1.0))
    return y_new, ks, en, accept, fac


def adaptive_advance(f: Callable, state: dict, buf, row0, stop, tlist, save: Callable, *, tableau: Tableau, rtol,
                     atol, max_steps: int, on_trial: Callable | None = None, extra=None):
    """Step on from ``state`` until the saved times before index ``stop`` are filled.

    ``save(t, y)`` at ``tlist[j]`` goes to row ``j - row0`` of ``buf`` (a pytree of arrays with
    a leading row axis). A step is taken the same way whatever ``stop`` is, so the saved values do
    not depend on how the times are cut into chunks: an accepted step whose saved times run past
    ``stop`` fills those before ``stop`` and is not committed; the next chunk repeats the very
    same step (same inputs, same program) and fills the rest. Returns ``(state, buf)``.

    ``on_trial(extra, state, h) -> extra``, if given, sees every trial step before it is taken
    (``h``: the step tried, already cut at ``tlist[-1]``) and threads the pytree ``extra``
    through the loop; the return value is then ``(state, buf, extra)`` (the reverse mode of
    :mod:`nephlab.quantum._rk_adjoint` records its checkpoints this way).
    """
    tb = tableau
    T = tlist.shape[0]
    t_end = tlist[-1]

    def cond(c):
        s = c[0]
        return (s["idx"] < stop) & (s["steps"] < max_steps) & (s["h"] > 0)

    def body(c):
        s, buf = c[0], c[1]
        t, y = s["t"], s["y"]
        h = jnp.minimum(s["h"], t_end - t)
        ex = None if on_trial is None else on_trial(c[2], s, h)
        y_new, ks, en, accept, fac = rk_step(f, tb, t, y, s["k1"], h, s["en_prev"], rtol, atol)
        k1 = s["k1"]
        t_new = jnp.where(t + h >= t_end, t_end, t + h)

        def save_one(c):
            idx, buf = c
            ts = tlist[idx]
            theta = (ts - t) / h
            w = tb.dense(theta, tb.b)
            ys = jnp.where(ts >= t_new, y_new, y + h * _lincomb(w, ks))
            out = save(ts, ys)
            buf = jax.tree_util.tree_map(lambda b, o: lax.dynamic_update_index_in_dim(b, o, idx - row0, 0), buf, out)
            return idx + 1, buf

        def save_cond(c):
            return accept & (c[0] < stop) & (tlist[jnp.minimum(c[0], T - 1)] <= t_new)

        idx, buf = lax.while_loop(save_cond, save_one, (s["idx"], buf))
        # saved times of this step beyond the chunk: leave the step to the next chunk
        later = accept & (idx >= stop) & (stop < T) & (tlist[jnp.minimum(stop, T - 1)] <= t_new)
        commit = accept & ~later
        new = {
            "t": jnp.where(commit, t_new, t),
            "y": jnp.where(commit, y_new, y),
            "k1": jnp.where(commit, ks[6], k1),
            "h": jnp.where(later, s["h"], h * fac),
            "en_prev": jnp.where(commit, jnp.maximum(en, 1e-4), s["en_prev"]),
            "idx": idx,
            "steps": s["steps"] + jnp.where(later, 0, 1).astype(jnp.int32),
            "accepted": s["accepted"] + commit.astype(jnp.int32),
        }
        return (new, buf) if on_trial is None else (new, buf, ex)

    return lax.while_loop(cond, body, (state, buf) if on_trial is None else (state, buf, extra))


def adaptive_stats(state: dict, n_times: int) -> dict:
    """Step statistics of a loop state; ``success``: every saved time was reached."""
    return {
        "steps": state["steps"],
        "accepted": state["accepted"],
        "rejected": state["steps"] - state["accepted"],
        "rhs_evals": 6 * state["steps"] + 2,
        "success": state["idx"] >= n_times,
    }


def adaptive_solve(f: Callable, y0, tlist, save: Callable, *, tableau: Tableau, rtol, atol, max_steps: int):
    """Integrate ``y' = f(t, y)`` from ``tlist[0]`` with the pair ``tableau`` and call
    ``save(t, y)`` at every ``tlist`` time (one call: :func:`adaptive_start`, then
    :func:`adaptive_advance` over all times into one buffer).

    Returns ``(saved, y_final, stats)``; ``saved`` stacks the pytrees returned by ``save``.
    """
    T = tlist.shape[0]
    state, first = adaptive_start(f, y0, tlist, save, tableau=tableau, rtol=rtol, atol=atol)
    buf = jax.tree_util.tree_map(lambda x: jnp.zeros((T,) + x.shape, x.dtype).at[0].set(x), first)
    state, buf = adaptive_advance(f, state, buf, 0, T, tlist, save, tableau=tableau, rtol=rtol, atol=atol,
                                  max_steps=max_steps)
    return buf, state["y"], adaptive_stats(state, T)
