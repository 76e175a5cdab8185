"""Shooting estimates of the committor ``p_B(x0)`` from independent Langevin trajectories.

Dynamics, potentials, regions and the O(sqrt(dt)) discretisation bias: see
:mod:`nephlab.largedev.sampling`. The exact (grid / quadrature) committors these estimates are
tested against live in :mod:`nephlab.largedev.committor`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
from scipy.special import ndtri

from nephlab._result import ResultBase, attr, var
from nephlab._validate import disjoint_regions, finite_float, integer, region, prng_key
from nephlab.largedev.potentials import double_well_1d_jax  # noqa: F401  (used by the examples)
from nephlab.largedev.sampling import _absorb, _common, boundary_shift

__all__ = ["ShootingCommittorResult", "shooting_committor"]



@dataclass(frozen=True, repr=False)
class ShootingCommittorResult(ResultBase):
    """Committor estimates ``p_B(x0)`` from independent shots (m points, dimension d).

    Attributes:
        x0: (m, d) starting points (length).
        p: (m,) estimate ``n_B / (n_A + n_B)`` of the probability to reach B before A.
        stderr: (m,) binomial standard error ``sqrt(p (1 - p) / n)`` with ``n = n_A + n_B``.
        wilson_low, wilson_high: (m,) Wilson score interval at ``confidence``.
        n_A, n_B, n_undecided: (m,) shots absorbed in A, in B, or in neither within ``max_steps``.
        mean_hitting_time: (m,) mean absorption time of the decided shots (time).
        beta, dt, gamma, n_shots, confidence, boundary_shift: what ran; ``boundary_shift`` is
            the O(sqrt(dt)) effective outward shift of A and B (see
            :func:`~nephlab.largedev.sampling.boundary_shift`).

    ``to_xarray()`` gives the arrays on dims ``point`` (and ``dim`` for ``x0``), the scalars as
    attributes.

    Example:
        >>> r = shooting_committor(double_well_1d_jax, [-1.5, 0.0], 3.0, (-np.inf, -1.0), (1.0, np.inf),
        ...                        n_shots=200, dt=1e-2, seed=1)
        >>> sorted(r.to_xarray().data_vars)[:3]
        ['mean_hitting_time', 'n_A', 'n_B']
    """

    x0: np.ndarray = var("point", "dim")
    p: np.ndarray = var("point")
    stderr: np.ndarray = var("point")
    wilson_low: np.ndarray = var("point")
    wilson_high: np.ndarray = var("point")
    n_A: np.ndarray = var("point")
    n_B: np.ndarray = var("point")
    n_undecided: np.ndarray = var("point")
    mean_hitting_time: np.ndarray = var("point")
    beta: float = attr()
    dt: float = attr()
    gamma: float = attr()
    n_shots: int = attr()
    confidence: float = attr()
    boundary_shift: float = attr()

    xarray_attrs = {"description": "shooting estimate of the committor p_B(x0)"}

    def __str__(self) -> str:
        rows = ", ".join(f"{float(p):.4f}±{float(s):.4f}" for p, s in zip(self.p[:4], self.stderr[:4]))
        more = ", ..." if self.p.size > 4 else ""
        return (f"ShootingCommittorResult(m={self.p.size}, n_shots={self.n_shots}, dt={self.dt:g}, "
                f"p=[{rows}{more}], undecided={int(self.n_undecided.sum())})")


def _wilson(k: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z * z / n
        mid = (p + z * z / (2 * n)) / den
        half = z / den * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return mid - half, mid + half


def shooting_committor(V: Callable | None, x0, beta: float, A, B, *, n_shots: int = 1000, dt: float = 1e-3,
                       seed: Any = 0, max_steps: int = 1_000_000, gamma: float = 1.0,
                       force: Callable | None = None, confidence: float = 0.95) -> ShootingCommittorResult:
    """Shooting estimate of the committor ``p_B(x0)``: launch ``n_shots`` trajectories per point.

    Every shot runs Euler-Maruyama with fresh noise until it enters A or B (regions tested at
    every step; see the module notes for the O(sqrt(dt)) bias this implies). All shots of all
    points are one vectorised JAX computation.

    Args:
        V: potential (energy), JAX-traceable ``V(x)`` / ``V(x, y)``; or None with ``force``.
        x0: starting points, scalar, shape (m,) (1D) or (m, d) (length).
        beta: inverse temperature (1 / energy) > 0.
        A, B: disjoint regions (see module notes).
        n_shots: trajectories per point (>= 1).  dt: time step (time) > 0.
        seed: int or ``jax.random`` key.  max_steps: step limit per shot; shots still undecided
            are counted in ``n_undecided`` (a ``RuntimeWarning`` is issued) and excluded from p.
        gamma: friction > 0.  force: drift ``force(x, ...) -> (d,)`` used instead of ``-grad V``.
        confidence: level of the Wilson interval, in (0, 1).

    Returns:
        :class:`ShootingCommittorResult`.

    Example:
        >>> r = shooting_committor(double_well_1d_jax, [-1.5, 0.0], 3.0, (-np.inf, -1.0), (1.0, np.inf),
        ...                        n_shots=200, dt=1e-2, seed=1)
        >>> float(r.p[0]), abs(float(r.p[1]) - 0.5) < 5 * float(r.stderr[1])
        (0.0, True)
    """
    pts, d, Vj, fj, beta, dt, gamma, max_steps = _common(V, force, x0, beta, dt, gamma, max_steps)
    n_shots = integer(n_shots, "n_shots")
    conf = finite_float(confidence, "confidence")
    if not 0 < conf < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    Ar, Br = region(A, "A", d), region(B, "B", d)
    disjoint_regions(Ar, Br)
    key = prng_key(seed)
    m = pts.shape[0]
    xs = jnp.asarray(np.repeat(pts, n_shots, axis=0))
    status, steps, _ = _absorb(Vj, fj, Ar, Br, d, 256, jnp.int64(max_steps), xs, key,
                               jnp.float64(dt), jnp.float64(gamma), jnp.float64(beta))
    status = np.asarray(status).reshape(m, n_shots)
    steps = np.asarray(steps).reshape(m, n_shots)
    nA, nB = (status == 0).sum(1), (status == 1).sum(1)
    nU = (status < 0).sum(1)
    if nU.any():
        warnings.warn(f"shooting_committor: {int(nU.sum())} shot(s) reached neither A nor B within "
                      f"max_steps={max_steps}; they are excluded from p (see n_undecided)", RuntimeWarning,
                      stacklevel=2)
    n = nA + nB
    with np.errstate(invalid="ignore", divide="ignore"):
        p = nB / n
        se = np.sqrt(p * (1 - p) / n)
        tmean = np.where(status >= 0, steps, 0).sum(1) * dt / n
    z = float(ndtri(0.5 + conf / 2))
    lo, hi = _wilson(nB.astype(float), n.astype(float), z)
    return ShootingCommittorResult(pts, p, se, lo, hi, nA, nB, nU, tmean, beta, dt, gamma, n_shots, conf,
                                   boundary_shift(beta, dt, gamma))

