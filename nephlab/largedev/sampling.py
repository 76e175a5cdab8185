"""The Euler–Maruyama engine shared by the trajectory-based rare-event samplers of
:mod:`nephlab.largedev` (:mod:`~nephlab.largedev.shooting`, :mod:`~nephlab.largedev.passage`,
:mod:`~nephlab.largedev.rates`, :mod:`~nephlab.largedev.tps`), and the notes they refer to.

Dynamics (overdamped Langevin, friction ``gamma``, inverse temperature ``beta``; the conventions
of :mod:`nephlab.largedev.committor`)::

    gamma dX = -grad V(X) dt + sqrt(2 gamma / beta) dW        (D = 1 / (beta gamma))

integrated by Euler-Maruyama with step ``dt``: ``x' = x - dt grad V(x) / gamma + sqrt(2 D dt) xi``.

Potentials and regions
----------------------
* ``V`` is a JAX-traceable callable of the ``d`` coordinates returning a scalar energy:
  ``V(x)`` in 1D, ``V(x, y)`` in 2D (write it with ``jax.numpy``). The built-in potentials of
  :mod:`nephlab.largedev.potentials` are traceable as they are. Where only the committor is
  needed, a non-gradient drift may be given as ``force(x, ...) -> (d,)`` instead of ``V``.
* A region (A or B) is closed and given as a boolean JAX-traceable callable ``f(x, ...)``, a ball
  ``((c_1, ..., c_d), radius)``, or, in 1D, an interval ``(lo, hi)`` (``-inf``/``inf`` allowed):
  ``A = (-inf, -1)`` is the set ``x <= -1``.

Discretisation bias
-------------------
Regions are tested only at the time slices, so an excursion into A or B between two slices is
missed. For committors and passage times this is equivalent, to leading order, to moving each
boundary outwards by ``0.5826 sqrt(2 D dt)`` (the Broadie-Glasserman-Kou continuity correction,
``0.5826 = -zeta(1/2) / sqrt(2 pi)``): an O(sqrt(dt)) bias. :func:`boundary_shift` returns it so that
a reference value can be computed with shifted boundaries.

"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp

import nephlab._config  # noqa: F401  (float64)
from nephlab._validate import integer, jax_callable, points, positive_float

__all__ = ["BGK_CONSTANT", "boundary_shift"]

#: continuity correction of discretely monitored absorbing boundaries, -zeta(1/2)/sqrt(2 pi)
BGK_CONSTANT = 0.5825971579390106


def _coords(x, d: int):
    return [x[i] for i in range(d)]


def _potential(V: Callable, d: int) -> Callable:
    """``V`` checked to be a JAX-traceable function of ``d`` coordinates with a scalar result."""
    return jax_callable(V, "V", d, shapes=((),), returns="a scalar energy", coords=True)


def _force(force: Callable, d: int) -> Callable:
    """``force`` checked to be a JAX-traceable function of ``d`` coordinates returning ``d`` components."""
    shapes = ((d,), (1,), ()) if d == 1 else ((d,),)
    return jax_callable(force, "force", d, shapes=shapes, returns=f"{d} force component(s)", coords=True)


def _region_fn(spec: tuple, d: int) -> Callable:
    """Membership test for one point x of shape (d,) -> bool scalar."""
    kind = spec[0]
    if kind == "empty":
        return lambda x: jnp.zeros((), bool)
    if kind == "interval":
        lo, hi = spec[1], spec[2]
        return lambda x: (x[0] >= lo) & (x[0] <= hi)
    if kind == "ball":
        c, r2 = jnp.asarray(spec[1]), spec[2] ** 2
        return lambda x: jnp.sum((x - c) ** 2) <= r2
    f = spec[1]
    return lambda x: jnp.asarray(f(*_coords(x, d)), bool).reshape(())


def _drift_fn(V, force, d: int) -> Callable:
    """-grad V (or force) for one point x of shape (d,) -> (d,), energy / length."""
    if force is not None:
        return lambda x: jnp.asarray(force(*_coords(x, d)), float).reshape(d)
    pot = lambda x: V(*_coords(x, d))  # noqa: E731
    return lambda x: -jax.grad(pot)(x)


def boundary_shift(beta: float, dt: float, gamma: float = 1.0) -> float:
    """Outward shift ``0.5826 sqrt(2 D dt)`` (length) that mimics discrete monitoring of a boundary.

    A trajectory tested for absorption only every ``dt`` behaves, to leading order, like a
    continuously monitored one with every absorbing boundary moved outwards by this distance
    (Broadie, Glasserman & Kou 1997; Gobet 2000), ``D = 1 / (beta gamma)``.

    Example:
        >>> round(boundary_shift(3.0, 1e-3), 5)
        0.01504
    """
    beta, dt, gamma = positive_float(beta, "beta"), positive_float(dt, "dt"), positive_float(gamma, "gamma")
    return BGK_CONSTANT * math.sqrt(2.0 * dt / (beta * gamma))


# --------------------------------------------------------------------------------------------
# absorbing-trajectory engine


@partial(jax.jit, static_argnames=("V", "force", "A", "B", "d", "chunk"))
def _absorb(V, force, A, B, d, chunk, max_steps, x0, key, dt, gamma, beta):
    """Run every row of x0 (N, d) until it enters B (status 1) or A (status 0) or max_steps (-1)."""
    drift = jax.vmap(_drift_fn(V, force, d))
    inA, inB = jax.vmap(_region_fn(A, d)), jax.vmap(_region_fn(B, d))
    sig = jnp.sqrt(2.0 * dt / (beta * gamma))
    status0 = jnp.where(inB(x0), 1, jnp.where(inA(x0), 0, -1))
    steps0 = jnp.zeros(x0.shape[0], jnp.int64)

    def chunk_body(state):
        x, status, steps, c = state

        def step(n, s):
            x, status, steps = s
            k = c * chunk + n
            active = (status < 0) & (k < max_steps)
            xi = jax.random.normal(jax.random.fold_in(key, k), x.shape)
            xn = x + drift(x) * (dt / gamma) + sig * xi
            x = jnp.where(active[:, None], xn, x)
            status = jnp.where(active & inB(x), 1, jnp.where(active & inA(x), 0, status))
            return x, status, steps + active

        x, status, steps = jax.lax.fori_loop(0, chunk, step, (x, status, steps))
        return x, status, steps, c + 1

    def cond(state):
        _, status, _, c = state
        return jnp.any(status < 0) & (c * chunk < max_steps)

    x, status, steps, _ = jax.lax.while_loop(cond, chunk_body, (x0, status0, steps0, jnp.int64(0)))
    return status, steps, x


def _common(V, force, x0, beta, dt, gamma, max_steps):
    pts = points(x0, "x0")
    d = pts.shape[1]
    if V is None and force is None:
        raise TypeError("pass a potential V or a force; both are None")
    if V is not None and force is not None:
        raise TypeError("pass either V or force, not both")
    Vj = _potential(V, d) if V is not None else None
    fj = _force(force, d) if force is not None else None
    beta, dt, gamma = positive_float(beta, "beta"), positive_float(dt, "dt"), positive_float(gamma, "gamma")
    max_steps = integer(max_steps, "max_steps")
    return pts, d, Vj, fj, beta, dt, gamma, max_steps

