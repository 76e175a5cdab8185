"""Reaction rates from the reactive transitions counted in long Langevin trajectories.

Dynamics, potentials, regions and discretisation bias: see :mod:`nephlab.largedev.sampling`.
Exact rates for comparison: :func:`~nephlab.largedev.committor.mfpt_rate_1d`,
:func:`~nephlab.largedev.committor.kramers_rate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import nephlab._config  # noqa: F401  (float64)
from nephlab._result import ResultBase, attr, var
from nephlab._validate import disjoint_regions, integer, points, positive_float, region, prng_key
from nephlab.largedev.potentials import double_well_1d_jax  # noqa: F401  (used by the examples)
from nephlab.largedev.sampling import _drift_fn, _potential, _region_fn, boundary_shift

__all__ = ["FluxRateResult", "flux_rate"]


@dataclass(frozen=True, repr=False)
class FluxRateResult(ResultBase):
    """Reaction rates from reactive transitions counted in long equilibrium trajectories.

    A trajectory is labelled by the region it visited last; ``k_AB = N_AB / T_A`` where ``N_AB``
    counts A -> B transitions and ``T_A`` is the time spent with label A (the TPT rate
    ``F_AB / rho_A``), likewise ``k_BA``.

    Attributes:
        k_AB, k_BA: rates (1 / time).  k_AB_stderr, k_BA_stderr: ratio-estimator standard errors
            across independent trajectories.
        n_AB, n_BA: (n_traj,) transition counts.  time_A, time_B: (n_traj,) time with label A / B.
        t_max, beta, dt, gamma, boundary_shift: what ran.

    ``to_xarray()`` gives the counts and times on dim ``traj``, the rates as attributes.

    Example:
        >>> r = flux_rate(double_well_1d_jax, -1.0, 1.0, (-np.inf, -0.5), (0.5, np.inf),
        ...               n_traj=8, t_max=20.0, dt=1e-2, seed=0)
        >>> sorted(r.to_xarray().data_vars)
        ['n_AB', 'n_BA', 'time_A', 'time_B']
    """

    k_AB: float = attr()
    k_AB_stderr: float = attr()
    k_BA: float = attr()
    k_BA_stderr: float = attr()
    n_AB: np.ndarray = var("traj")
    n_BA: np.ndarray = var("traj")
    time_A: np.ndarray = var("traj")
    time_B: np.ndarray = var("traj")
    t_max: float = attr()
    beta: float = attr()
    dt: float = attr()
    gamma: float = attr()
    boundary_shift: float = attr()

    def __str__(self) -> str:
        return (f"FluxRateResult(k_AB={self.k_AB:.5g}±{self.k_AB_stderr:.2g}, k_BA={self.k_BA:.5g}±"
                f"{self.k_BA_stderr:.2g}, transitions={int(self.n_AB.sum())}+{int(self.n_BA.sum())})")


@partial(jax.jit, static_argnames=("V", "A", "B", "d"))
def _flux_run(V, A, B, d, n_steps, x0, key, dt, gamma, beta):
    drift = jax.vmap(_drift_fn(V, None, d))
    inA, inB = jax.vmap(_region_fn(A, d)), jax.vmap(_region_fn(B, d))
    sig = jnp.sqrt(2.0 * dt / (beta * gamma))
    label0 = jnp.where(inA(x0), 0, jnp.where(inB(x0), 1, -1))
    z = jnp.zeros(x0.shape[0])

    def step(n, s):
        x, label, nab, nba, ta, tb = s
        ta = ta + jnp.where(label == 0, dt, 0.0)
        tb = tb + jnp.where(label == 1, dt, 0.0)
        x = x + drift(x) * (dt / gamma) + sig * jax.random.normal(jax.random.fold_in(key, n), x.shape)
        a, b = inA(x), inB(x)
        nab = nab + ((label == 0) & b)
        nba = nba + ((label == 1) & a)
        label = jnp.where(a, 0, jnp.where(b, 1, label))
        return x, label, nab, nba, ta, tb

    return jax.lax.fori_loop(0, n_steps, step, (x0, label0, z, z, z, z))[2:]


def _ratio(n: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    k = float(n.sum() / t.sum()) if t.sum() > 0 else float("nan")
    m = n.size
    se = float(np.sqrt(np.sum((n - k * t) ** 2) / (m * (m - 1))) / t.mean()) if t.sum() > 0 else float("nan")
    return k, se


def flux_rate(V: Callable, x0, beta: float, A, B, *, n_traj: int = 256, t_max: float = 100.0,
              dt: float = 1e-3, seed: Any = 0, gamma: float = 1.0) -> FluxRateResult:
    """Rates ``k_AB``, ``k_BA`` from the reactive flux sampled by long Langevin trajectories.

    ``n_traj`` independent trajectories of duration ``t_max`` (one vectorised ``fori_loop``)
    start at ``x0``; A -> B and B -> A transitions and the time spent with each last-visited label
    are counted. In 1D with A = {x <= a}, B = {x >= b}, ``k_AB`` estimates
    :func:`~nephlab.largedev.committor.mfpt_rate_1d` (with A and B effectively enlarged by
    :func:`boundary_shift`). Start in equilibrium or choose ``t_max`` >> 1 / k.

    Args:
        V: potential (energy), JAX-traceable.  x0: start, scalar / (d,) or (n_traj, d) (length).
        beta: inverse temperature > 0.  A, B: disjoint regions.  n_traj: >= 2 trajectories.
        t_max: duration of each (time) > 0.  dt: step > 0.  seed: int or key.  gamma: friction > 0.

    Returns:
        :class:`FluxRateResult`.

    Example:
        >>> r = flux_rate(double_well_1d_jax, -1.0, 1.0, (-np.inf, -0.5), (0.5, np.inf),
        ...               n_traj=8, t_max=20.0, dt=1e-2, seed=0)
        >>> bool(r.k_AB > 0 and r.n_AB.sum() > 0)
        True
    """
    n_traj = integer(n_traj, "n_traj", minimum=2)
    try:
        nd = np.ndim(np.asarray(x0, dtype=float))
    except (TypeError, ValueError):
        raise TypeError(f"x0 must be a real point, scalar / (d,), or points (n_traj, d), got {x0!r}") from None
    if nd > 2:
        raise ValueError(f"x0 must be a scalar, shape (d,) or (n_traj, d), got {np.shape(x0)}")
    arr = points(x0, "x0") if nd == 2 else points(np.atleast_1d(np.asarray(x0, float))[None, :], "x0")
    if arr.shape[0] == 1:
        arr = np.repeat(arr, n_traj, axis=0)
    elif arr.shape[0] != n_traj:
        raise ValueError(f"x0 has {arr.shape[0]} points but n_traj={n_traj}; pass one point or n_traj points")
    d = arr.shape[1]
    Vj = _potential(V, d)
    beta, dt, gamma = positive_float(beta, "beta"), positive_float(dt, "dt"), positive_float(gamma, "gamma")
    t_max = positive_float(t_max, "t_max")
    n_steps = int(round(t_max / dt))
    if n_steps < 1:
        raise ValueError(f"t_max={t_max!r} must be at least one step dt={dt!r}")
    Ar, Br = region(A, "A", d), region(B, "B", d)
    disjoint_regions(Ar, Br)
    out = _flux_run(Vj, Ar, Br, d, jnp.int64(n_steps), jnp.asarray(arr), prng_key(seed), jnp.float64(dt),
                    jnp.float64(gamma), jnp.float64(beta))
    nab, nba, ta, tb = (np.asarray(v) for v in out)
    kab, seab = _ratio(nab, ta)
    kba, seba = _ratio(nba, tb)
    return FluxRateResult(kab, seab, kba, seba, nab, nba, ta, tb, n_steps * dt, beta, dt, gamma,
                          boundary_shift(beta, dt, gamma))

