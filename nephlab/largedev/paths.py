"""Rare events from trajectories: shooting committors, transition path sampling, sampled rates.

Dynamics (overdamped Langevin, friction ``gamma``, inverse temperature ``beta``; the conventions
of :mod:`nephlab.largedev.committor`)::

    gamma dX = -grad V(X) dt + sqrt(2 gamma / beta) dW        (D = 1 / (beta gamma))

integrated by Euler-Maruyama with step ``dt``: ``x' = x - dt grad V(x) / gamma + sqrt(2 D dt) xi``.

Potentials and regions
----------------------
* ``V`` is a JAX-traceable callable of the ``d`` coordinates returning a scalar energy:
  ``V(x)`` in 1D, ``V(x, y)`` in 2D (write it with ``jax.numpy``). The NumPy built-ins
  :func:`~nephlab.largedev.committor.muller_brown` and
  :func:`~nephlab.largedev.committor.double_well_2d` are recognised and replaced by their JAX
  equivalents. Where only the committor is needed, a non-gradient drift may be given as
  ``force(x, ...) -> (d,)`` instead of ``V``.
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

Vectorisation: every trajectory ensemble is one jitted call (arrays over shots and points,
``lax.while_loop``/``fori_loop`` over steps); the transition-path-sampling chains are ``vmap``-ed
and each chain is a ``lax.scan`` over Monte Carlo moves. ``V``, ``force`` and the regions are
static arguments: pass the same objects again to reuse the compiled code.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate as si
from scipy.special import ndtri

import nephlab._config  # noqa: F401  (float64)
from nephlab._validate import finite_float, integer, positive_float
from nephlab.largedev.committor import double_well_2d, _muller_brown_sum, muller_brown

__all__ = [
    "ShootingCommittorResult",
    "FirstPassageResult",
    "FluxRateResult",
    "TPSResult",
    "shooting_committor",
    "first_passage_times",
    "flux_rate",
    "transition_path_sampling",
    "straight_path",
    "mean_transition_path_time_1d",
    "boundary_shift",
    "muller_brown_jax",
    "double_well_2d_jax",
    "double_well_1d_jax",
]

#: continuity correction of discretely monitored absorbing boundaries, -zeta(1/2)/sqrt(2 pi)
BGK_CONSTANT = 0.5825971579390106


# --------------------------------------------------------------------------------------------
# JAX versions of the built-in potentials


def muller_brown_jax(x, y):
    """JAX-traceable Mueller-Brown potential (same parameters as :func:`~.committor.muller_brown`).

    Args:
        x, y: scalars or arrays of broadcastable shapes (length).

    Returns:
        V(x, y) (energy), broadcast shape.

    Example:
        >>> round(float(muller_brown_jax(-0.558, 1.442)), 1)
        -146.7
    """
    return _muller_brown_sum(x, y, jnp.exp)


def double_well_2d_jax(x, y):
    """JAX-traceable symmetric double well ``(x**2 - 1)**2 + y**2`` (energy).

    Example:
        >>> float(double_well_2d_jax(0.0, 0.0))
        1.0
    """
    return (x ** 2 - 1) ** 2 + y ** 2


def double_well_1d_jax(x):
    """JAX-traceable 1D double well ``(x**2 - 1)**2`` (energy); minima at +-1, barrier 1 at 0.

    Example:
        >>> float(double_well_1d_jax(0.0)), float(double_well_1d_jax(1.0))
        (1.0, 0.0)
    """
    return (x ** 2 - 1) ** 2


_JAX_EQUIVALENTS = {muller_brown: muller_brown_jax, double_well_2d: double_well_2d_jax}


# --------------------------------------------------------------------------------------------
# validation helpers


def _key(seed: Any) -> jax.Array:
    if seed is None:
        raise TypeError("seed is required: pass an int or a jax.random key")
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return jax.random.key(int(seed))
    if isinstance(seed, jax.Array) and jnp.issubdtype(seed.dtype, jax.dtypes.prng_key) and seed.shape == ():
        return seed
    raise TypeError(f"seed must be an int or a single jax.random key, got {seed!r}")


def _points(x0: Any, name: str) -> np.ndarray:
    """Points as (m, d): scalar -> (1, 1); (m,) -> (m, 1); (m, d) stays."""
    if isinstance(x0, (str, bytes)) or x0 is None:
        raise TypeError(f"{name} must be a real array of points, shape (m,) or (m, d), got {x0!r}")
    try:
        arr = np.asarray(x0, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real array of points, shape (m,) or (m, d), got {x0!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(f"{name} must have shape (m,) (1D) or (m, d), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must contain at least one point, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {x0!r}")
    return arr


def _coords(x, d: int):
    return [x[i] for i in range(d)]


def _potential(V: Callable, d: int) -> Callable:
    """``V`` (JAX equivalent substituted) checked to be traceable with a scalar result."""
    if not callable(V):
        raise TypeError(f"V must be a callable V(x) (1D) or V(x, y) (2D) returning an energy, got {V!r}")
    V = _JAX_EQUIVALENTS.get(V, V)
    try:
        out = jax.eval_shape(lambda x: jnp.asarray(V(*_coords(x, d)), float),
                             jax.ShapeDtypeStruct((d,), jnp.float64))
    except Exception as err:  # noqa: BLE001 - any failure means "not traceable"
        raise TypeError(f"V must be a JAX-traceable function of {d} coordinate(s) (use jax.numpy, not numpy) "
                        f"returning a scalar energy; calling it on a traced value failed: "
                        f"{type(err).__name__}: {str(err)[:200]}") from None
    if out.shape != ():
        raise ValueError(f"V must return a scalar energy for one point of dimension d={d}, got shape {out.shape}")
    return V


def _force(force: Callable, d: int) -> Callable:
    if not callable(force):
        raise TypeError(f"force must be a callable force(x, ...) returning shape ({d},), got {force!r}")
    try:
        out = jax.eval_shape(lambda x: jnp.asarray(force(*_coords(x, d)), float),
                             jax.ShapeDtypeStruct((d,), jnp.float64))
    except Exception as err:  # noqa: BLE001
        raise TypeError(f"force must be a JAX-traceable function of {d} coordinate(s); calling it on a traced "
                        f"value failed: {type(err).__name__}: {str(err)[:200]}") from None
    if out.size != d:
        raise ValueError(f"force must return {d} component(s) (shape ({d},)), got shape {out.shape}")
    return force


def _region(spec: Any, name: str, d: int) -> tuple:
    """Canonical hashable region: ('callable', f) | ('ball', center, r) | ('interval', lo, hi)."""
    if callable(spec):
        try:
            out = jax.eval_shape(lambda x: jnp.asarray(spec(*_coords(x, d))),
                                 jax.ShapeDtypeStruct((d,), jnp.float64))
        except Exception as err:  # noqa: BLE001
            raise TypeError(f"{name} must be a JAX-traceable boolean function of {d} coordinate(s); calling it "
                            f"on a traced value failed: {type(err).__name__}: {str(err)[:200]}") from None
        if out.shape != () or out.dtype != jnp.bool_:
            raise ValueError(f"{name} must return one boolean per point, got dtype {out.dtype}, shape {out.shape}")
        return ("callable", spec)
    allowed = (f"a boolean function f(x, ...), a ball ((c_1, ..., c_{d}), radius)"
               + (", or an interval (lo, hi)" if d == 1 else ""))
    try:
        first, second = spec
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {allowed}, got {spec!r}") from None
    if np.ndim(first) == 1 or isinstance(first, (tuple, list)):
        try:
            c = tuple(float(v) for v in np.asarray(first, dtype=float).ravel())
            r = float(second)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be {allowed}, got {spec!r}") from None
        if len(c) != d:
            raise ValueError(f"{name}: ball centre must have {d} coordinate(s), got {len(c)} in {spec!r}")
        if not all(math.isfinite(v) for v in c) or not (math.isfinite(r) and r > 0):
            raise ValueError(f"{name}: ball needs a finite centre and a finite radius > 0, got {spec!r}")
        return ("ball", c, r)
    if d != 1:
        raise TypeError(f"{name} must be {allowed} in d={d}, got {spec!r}")
    try:
        lo, hi = float(first), float(second)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {allowed}, got {spec!r}") from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise ValueError(f"{name}: interval (lo, hi) needs lo < hi (inf allowed, no NaN), got {spec!r}")
    return ("interval", lo, hi)


def _check_disjoint(A: tuple, B: tuple) -> None:
    if A[0] == "interval" and B[0] == "interval":
        if max(A[1], B[1]) <= min(A[2], B[2]):
            raise ValueError(f"A = [{A[1]}, {A[2]}] and B = [{B[1]}, {B[2]}] overlap; they must be disjoint")
    if A[0] == "ball" and B[0] == "ball":
        if math.dist(A[1], B[1]) <= A[2] + B[2]:
            raise ValueError(f"balls A={A[1:]} and B={B[1:]} overlap; they must be disjoint")


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
    pts = _points(x0, "x0")
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


# --------------------------------------------------------------------------------------------
# shooting committor


@dataclass(frozen=True)
class ShootingCommittorResult:
    """Committor estimates ``p_B(x0)`` from independent shots (m points, dimension d).

    Attributes:
        x0: (m, d) starting points (length).
        p: (m,) estimate ``n_B / (n_A + n_B)`` of the probability to reach B before A.
        stderr: (m,) binomial standard error ``sqrt(p (1 - p) / n)`` with ``n = n_A + n_B``.
        wilson_low, wilson_high: (m,) Wilson score interval at ``confidence``.
        n_A, n_B, n_undecided: (m,) shots absorbed in A, in B, or in neither within ``max_steps``.
        mean_hitting_time: (m,) mean absorption time of the decided shots (time).
        beta, dt, gamma, n_shots, confidence, boundary_shift: what ran; ``boundary_shift`` is
            the O(sqrt(dt)) effective outward shift of A and B (see :func:`boundary_shift`).
    """

    x0: np.ndarray
    p: np.ndarray
    stderr: np.ndarray
    wilson_low: np.ndarray
    wilson_high: np.ndarray
    n_A: np.ndarray
    n_B: np.ndarray
    n_undecided: np.ndarray
    mean_hitting_time: np.ndarray
    beta: float
    dt: float
    gamma: float
    n_shots: int
    confidence: float
    boundary_shift: float

    def __str__(self) -> str:
        rows = ", ".join(f"{float(p):.4f}±{float(s):.4f}" for p, s in zip(self.p[:4], self.stderr[:4]))
        more = ", ..." if self.p.size > 4 else ""
        return (f"ShootingCommittorResult(m={self.p.size}, n_shots={self.n_shots}, dt={self.dt:g}, "
                f"p=[{rows}{more}], undecided={int(self.n_undecided.sum())})")

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (dims ``point``, ``dim``).

        Example:
            >>> r = shooting_committor(double_well_1d_jax, [-1.5, 0.0], 3.0, (-np.inf, -1.0), (1.0, np.inf),
            ...                        n_shots=200, dt=1e-2, seed=1)
            >>> sorted(r.to_xarray().data_vars)[:3]
            ['mean_hitting_time', 'n_A', 'n_B']
        """
        import xarray as xr

        pt = ("point",)
        return xr.Dataset(
            {"p": (pt, self.p), "stderr": (pt, self.stderr), "wilson_low": (pt, self.wilson_low),
             "wilson_high": (pt, self.wilson_high), "n_A": (pt, self.n_A), "n_B": (pt, self.n_B),
             "n_undecided": (pt, self.n_undecided), "mean_hitting_time": (pt, self.mean_hitting_time),
             "x0": (("point", "dim"), self.x0)},
            attrs={"beta": self.beta, "dt": self.dt, "gamma": self.gamma, "n_shots": self.n_shots,
                   "confidence": self.confidence, "boundary_shift": self.boundary_shift,
                   "description": "shooting estimate of the committor p_B(x0)"},
        )


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
    Ar, Br = _region(A, "A", d), _region(B, "B", d)
    _check_disjoint(Ar, Br)
    key = _key(seed)
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


# --------------------------------------------------------------------------------------------
# first passage times and rates


@dataclass(frozen=True)
class FirstPassageResult:
    """First passage times into B from one starting point, and the rate ``1 / <tau>``.

    Attributes:
        times: (n_traj,) passage times (time); NaN for trajectories that did not arrive.
        mean, stderr: mean first passage time ``<tau>`` and its standard error (time).
        rate, rate_stderr: ``k = 1 / <tau>`` (1 / time) and its delta-method error ``stderr / <tau>**2``.
        n_unfinished: trajectories still outside B after ``max_steps`` (then ``mean`` is biased low
            and a ``RuntimeWarning`` was issued).
        x0: (d,) start (length).  beta, dt, gamma: what ran.  boundary_shift: see :func:`boundary_shift`.
    """

    times: np.ndarray
    mean: float
    stderr: float
    rate: float
    rate_stderr: float
    n_unfinished: int
    x0: np.ndarray
    beta: float
    dt: float
    gamma: float
    boundary_shift: float

    def __str__(self) -> str:
        return (f"FirstPassageResult(n_traj={self.times.size}, <tau>={self.mean:.5g}±{self.stderr:.2g}, "
                f"k={self.rate:.5g}±{self.rate_stderr:.2g}, unfinished={self.n_unfinished})")

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (dim ``traj``; scalars as attributes).

        Example:
            >>> r = first_passage_times(double_well_1d_jax, -1.0, 2.0, (0.0, np.inf), n_traj=200,
            ...                         dt=1e-2, seed=0)
            >>> r.to_xarray().times.dims
            ('traj',)
        """
        import xarray as xr

        return xr.Dataset(
            {"times": (("traj",), self.times), "x0": (("dim",), self.x0)},
            attrs={"mean": self.mean, "stderr": self.stderr, "rate": self.rate,
                   "rate_stderr": self.rate_stderr, "n_unfinished": self.n_unfinished, "beta": self.beta,
                   "dt": self.dt, "gamma": self.gamma, "boundary_shift": self.boundary_shift},
        )


def first_passage_times(V: Callable | None, x0, beta: float, B, *, n_traj: int = 1000, dt: float = 1e-3,
                        seed: Any = 0, max_steps: int = 10_000_000, gamma: float = 1.0,
                        force: Callable | None = None) -> FirstPassageResult:
    """Brute-force first passage times from ``x0`` into B; rate ``k = 1 / <tau>``.

    With ``x0 = a`` on the boundary of A = {x <= a} and B = {x >= b} in 1D, ``1 / <tau>`` is the
    TPT rate k_AB, computed exactly by :func:`~nephlab.largedev.committor.mfpt_rate_1d`.

    Args:
        V: potential (energy), JAX-traceable; or None with ``force``.
        x0: one starting point, scalar (1D) or shape (d,) (length).
        beta: inverse temperature (1 / energy) > 0.  B: target region (see module notes).
        n_traj: number of trajectories (>= 2).  dt: time step > 0.  seed: int or key.
        max_steps: step limit.  gamma: friction > 0.  force: drift instead of ``-grad V``.

    Returns:
        :class:`FirstPassageResult`.

    Example:
        >>> r = first_passage_times(double_well_1d_jax, -1.0, 2.0, (0.0, np.inf), n_traj=200,
        ...                         dt=1e-2, seed=0)
        >>> 0.5 < r.mean < 5.0
        True
    """
    arr = np.asarray(x0, dtype=float) if not isinstance(x0, (str, bytes)) and x0 is not None else None
    if arr is None or arr.ndim > 1:
        raise ValueError(f"x0 must be one point, a scalar (1D) or shape (d,), got {x0!r}")
    pts = arr.reshape(1, -1)
    pts, d, Vj, fj, beta, dt, gamma, max_steps = _common(V, force, pts, beta, dt, gamma, max_steps)
    n_traj = integer(n_traj, "n_traj", minimum=2)
    Br = _region(B, "B", d)
    key = _key(seed)
    xs = jnp.asarray(np.repeat(pts, n_traj, axis=0))
    status, steps, _ = _absorb(Vj, fj, ("empty",), Br, d, 256, jnp.int64(max_steps), xs, key,
                               jnp.float64(dt), jnp.float64(gamma), jnp.float64(beta))
    status, steps = np.asarray(status), np.asarray(steps)
    t = np.where(status == 1, steps * dt, np.nan)
    nU = int((status != 1).sum())
    if nU:
        warnings.warn(f"first_passage_times: {nU} trajectory(ies) did not reach B within max_steps={max_steps}; "
                      "the mean over the others is biased low", RuntimeWarning, stacklevel=2)
    done = t[np.isfinite(t)]
    if done.size < 2:
        raise ValueError(f"fewer than 2 trajectories reached B within max_steps={max_steps}; increase max_steps")
    mean = float(done.mean())
    se = float(done.std(ddof=1) / math.sqrt(done.size))
    return FirstPassageResult(t, mean, se, 1.0 / mean, se / mean ** 2, nU, pts[0], beta, dt, gamma,
                              boundary_shift(beta, dt, gamma))


@dataclass(frozen=True)
class FluxRateResult:
    """Reaction rates from reactive transitions counted in long equilibrium trajectories.

    A trajectory is labelled by the region it visited last; ``k_AB = N_AB / T_A`` where ``N_AB``
    counts A -> B transitions and ``T_A`` is the time spent with label A (the TPT rate
    ``F_AB / rho_A``), likewise ``k_BA``.

    Attributes:
        k_AB, k_BA: rates (1 / time).  k_AB_stderr, k_BA_stderr: ratio-estimator standard errors
            across independent trajectories.
        n_AB, n_BA: (n_traj,) transition counts.  time_A, time_B: (n_traj,) time with label A / B.
        t_max, beta, dt, gamma, boundary_shift: what ran.
    """

    k_AB: float
    k_AB_stderr: float
    k_BA: float
    k_BA_stderr: float
    n_AB: np.ndarray
    n_BA: np.ndarray
    time_A: np.ndarray
    time_B: np.ndarray
    t_max: float
    beta: float
    dt: float
    gamma: float
    boundary_shift: float

    def __str__(self) -> str:
        return (f"FluxRateResult(k_AB={self.k_AB:.5g}±{self.k_AB_stderr:.2g}, k_BA={self.k_BA:.5g}±"
                f"{self.k_BA_stderr:.2g}, transitions={int(self.n_AB.sum())}+{int(self.n_BA.sum())})")

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (dim ``traj``; rates as attributes).

        Example:
            >>> r = flux_rate(double_well_1d_jax, -1.0, 1.0, (-np.inf, -0.5), (0.5, np.inf),
            ...               n_traj=8, t_max=20.0, dt=1e-2, seed=0)
            >>> sorted(r.to_xarray().data_vars)
            ['n_AB', 'n_BA', 'time_A', 'time_B']
        """
        import xarray as xr

        tr = ("traj",)
        return xr.Dataset(
            {"n_AB": (tr, self.n_AB), "n_BA": (tr, self.n_BA), "time_A": (tr, self.time_A),
             "time_B": (tr, self.time_B)},
            attrs={k: getattr(self, k) for k in ("k_AB", "k_AB_stderr", "k_BA", "k_BA_stderr", "t_max", "beta",
                                                  "dt", "gamma", "boundary_shift")},
        )


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
    arr = _points(x0, "x0") if nd == 2 else _points(np.atleast_1d(np.asarray(x0, float))[None, :], "x0")
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
    Ar, Br = _region(A, "A", d), _region(B, "B", d)
    _check_disjoint(Ar, Br)
    out = _flux_run(Vj, Ar, Br, d, jnp.int64(n_steps), jnp.asarray(arr), _key(seed), jnp.float64(dt),
                    jnp.float64(gamma), jnp.float64(beta))
    nab, nba, ta, tb = (np.asarray(v) for v in out)
    kab, seab = _ratio(nab, ta)
    kba, seba = _ratio(nba, tb)
    return FluxRateResult(kab, seab, kba, seba, nab, nba, ta, tb, n_steps * dt, beta, dt, gamma,
                          boundary_shift(beta, dt, gamma))


# --------------------------------------------------------------------------------------------
# exact mean transition path time (1D)


def mean_transition_path_time_1d(V: Callable, a: float, b: float, beta: float, gamma: float = 1.0, *,
                                 method: str = "integral", n_grid: int = 20001) -> float:
    """Exact mean transition path time of 1D overdamped diffusion from A = {x <= a} to B = {x >= b}.

    ``method="integral"``: the TPT formula (Hummer 2004; Chung, Louis & Eaton 2009)
    ``<t_TP> = int_a^b e^{-beta V} q (1 - q) dx * int_a^b e^{beta V} dy / D``, ``D = 1 / (beta gamma)``,
    with the committor ``q`` (probability on reactive trajectories divided by the reactive flux),
    integrated as an ODE system (DOP853, relative tolerance 1e-12).

    ``method="grid"`` (independent check): the mean exit time conditioned on exiting through b,
    ``tau_B(x) = u(x) / q(x)`` with ``L u = -q``, ``u(a) = u(b) = 0``, ``L = D e^{beta V} d/dx e^{-beta V} d/dx``,
    solved by conservative finite differences on ``n_grid`` points; ``<t_TP> = lim_{x -> a} tau_B =
    u'(a) / q'(a)`` (one-sided second-order differences). Error O(h**2).

    Args:
        V: potential callable on arrays (energy).  a < b (length).
        beta: inverse temperature > 0.  gamma: friction > 0.
        method: ``"integral"`` or ``"grid"``.  n_grid: grid points (>= 101).

    Returns:
        mean transition path time (time).

    Example:
        >>> V = lambda x: (x**2 - 1)**2
        >>> t1 = mean_transition_path_time_1d(V, -1.0, 1.0, 3.0)
        >>> t2 = mean_transition_path_time_1d(V, -1.0, 1.0, 3.0, method="grid")
        >>> round(t1, 4), abs(t1 / t2 - 1) < 1e-6
        (1.0179, True)
    """
    if not callable(V):
        raise TypeError(f"V must be a vectorised callable, got {V!r}")
    a, b = finite_float(a, "a"), finite_float(b, "b")
    if not a < b:
        raise ValueError(f"a must be < b, got a={a!r}, b={b!r}")
    beta, gamma = positive_float(beta, "beta"), positive_float(gamma, "gamma")
    n_grid = integer(n_grid, "n_grid", minimum=101)
    D = 1.0 / (beta * gamma)
    V = _JAX_EQUIVALENTS.get(V, V)
    if method == "integral":
        s = np.linspace(a, b, 2001)
        vs = np.asarray([float(V(float(t))) for t in s])
        vmax, vmin = float(vs.max()), float(vs.min())

        def rhs(x, y):  # y = (I, int e^{-bV} I, int e^{-bV} I^2), I = int_a^x e^{bV} (scaled)
            v = float(V(x))
            em = math.exp(-beta * (v - vmin))
            return [math.exp(beta * (v - vmax)), em * y[0], em * y[0] ** 2]

        sol = si.solve_ivp(rhs, (a, b), [0.0, 0.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-16)
        Z, y2, y3 = sol.y[:, -1]
        # e^{b vmin} int e^{-bV} q (1 - q) = (Z y2 - y3) / Z^2 and e^{-b vmax} int e^{bV} = Z
        return float((Z * y2 - y3) / Z * math.exp(beta * (vmax - vmin)) / D)
    if method == "grid":
        x = np.linspace(a, b, n_grid)
        h = x[1] - x[0]
        vmid = np.asarray(V(0.5 * (x[1:] + x[:-1])), dtype=float)
        w = np.exp(-beta * (vmid - vmid.min()))  # e^{-beta V} at midpoints
        vx = np.asarray(V(x), dtype=float)
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        n = n_grid - 2
        main = -(w[:-1] + w[1:])
        Lm = sp.diags([w[1:-1], main, w[1:-1]], [-1, 0, 1], shape=(n, n), format="csc")
        # (d/dx e^{-bV} d/dx) q = 0, q(a)=0, q(b)=1
        rhs = np.zeros(n)
        rhs[-1] = -w[-1]
        q = np.concatenate([[0.0], spla.spsolve(Lm, rhs), [1.0]])
        # (d/dx e^{-bV} d/dx) u = -e^{-bV} q / D, scaled like w
        src = -np.exp(-beta * (vx[1:-1] - vmid.min())) * q[1:-1] * h * h / D
        u = np.concatenate([[0.0], spla.spsolve(Lm, src), [0.0]])
        du = (-3 * u[0] + 4 * u[1] - u[2])
        dq = (-3 * q[0] + 4 * q[1] - q[2])
        return float(du / dq)
    raise ValueError(f"method must be 'integral' or 'grid', got {method!r}")


# --------------------------------------------------------------------------------------------
# transition path sampling


def straight_path(x_start, x_end, n_slices: int) -> np.ndarray:
    """Straight line from ``x_start`` to ``x_end`` with ``n_slices`` slices: an initial TPS path.

    Args:
        x_start, x_end: points, scalar (1D) or shape (d,) (length).  n_slices: >= 2.

    Returns:
        (n_slices, d) array.

    Example:
        >>> straight_path(-1.0, 1.0, 3).ravel().tolist()
        [-1.0, 0.0, 1.0]
    """
    a = np.atleast_1d(np.asarray(x_start, dtype=float))
    b = np.atleast_1d(np.asarray(x_end, dtype=float))
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"x_start and x_end must be points of the same dimension, got shapes {a.shape}, {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"x_start and x_end must be finite, got {x_start!r}, {x_end!r}")
    n = integer(n_slices, "n_slices", minimum=2)
    s = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - s) * a + s * b


@dataclass(frozen=True)
class TPSResult:
    """Transition path ensemble from :func:`transition_path_sampling`.

    ``C`` = n_chains, ``M`` = n_moves (after burn-in), ``L`` = n_slices, ``d`` = dimension,
    ``S = M // save_every`` saved paths per chain.

    Attributes:
        paths: (C * S, L, d) saved paths (chain-major: path ``c * S + s`` is chain c's s-th save).
        chain: (C * S,) chain index of every saved path.
        times: (L,) slice times ``0, dt, ..., (L - 1) dt`` (time).
        transition_path_times: (C, M) time from the last slice in A to the first slice in B
            of the current path after every move (time).
        move: (C, M) move type (0 two-way shooting, 1 forward shift, 2 backward shift).
        index: (C, M) shooting slice (type 0) or shift length (types 1, 2) proposed.
        accepted: (C, M) booleans.
        acceptance: dict of acceptance rates ``{"shooting", "shift", "all"}``.
        beta, dt, gamma, window: ``window = (L - 1) dt`` is the path duration T (time).
        unrelaxed_chains: chains that accepted no shooting move during burn-in (their first paths
            may still remember the initial path).
        stats: ``wall_time`` (s, compilation included on a first call).

    The fixed-length ensemble contains a transition of duration ``tau`` in proportion to the
    number of windows that fit around it, ``~ (T - tau)``; :meth:`mean_transition_path_time` and
    :meth:`tpt_histogram` undo this with weights ``1 / (T - tau)`` (``reweight=True``).
    """

    paths: np.ndarray
    chain: np.ndarray
    times: np.ndarray
    transition_path_times: np.ndarray
    move: np.ndarray
    index: np.ndarray
    accepted: np.ndarray
    acceptance: dict
    beta: float
    dt: float
    gamma: float
    window: float
    unrelaxed_chains: tuple = ()
    stats: dict = field(default_factory=dict)

    def __str__(self) -> str:
        m, se = self.mean_transition_path_time()
        acc = ", ".join(f"{k}={v:.3f}" for k, v in self.acceptance.items())
        return (f"TPSResult(chains={self.move.shape[0]}, moves={self.move.shape[1]}, slices={self.times.size}, "
                f"T={self.window:g}, acceptance({acc}), <t_TP>={m:.4g}±{se:.2g})")

    def _weights(self, reweight: bool) -> np.ndarray:
        tau = self.transition_path_times
        if not reweight:
            return np.ones_like(tau)
        return 1.0 / (self.window - tau + self.dt)

    def mean_transition_path_time(self, reweight: bool = True) -> tuple[float, float]:
        """Mean transition path time and its standard error (jackknife over chains), in time units.

        ``reweight=True`` removes the ``(T - tau)`` window bias of the fixed-length ensemble.
        With one chain the error is the naive one (ignores autocorrelation).

        Example:
            >>> r = transition_path_sampling(double_well_1d_jax, straight_path(-1.2, 1.2, 51), 2.0,
            ...     (-np.inf, -0.8), (0.8, np.inf), dt=0.04, n_moves=20, n_chains=4, burn_in=60, save_every=10, seed=0)
            >>> m, se = r.mean_transition_path_time()
            >>> bool(0 < m < r.window)
            True
        """
        tau = self.transition_path_times
        w = self._weights(reweight)
        sw, swt = w.sum(1), (w * tau).sum(1)
        C = tau.shape[0]
        mean = float(swt.sum() / sw.sum())
        if C < 2:
            se = float(np.sqrt(np.average((tau - mean) ** 2, weights=w) / tau.size))
            return mean, se
        jk = (swt.sum() - swt) / (sw.sum() - sw)
        se = float(np.sqrt((C - 1) / C * np.sum((jk - jk.mean()) ** 2)))
        return mean, se

    def tpt_histogram(self, bins: int | np.ndarray = 30, reweight: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Histogram (probability density, 1 / time) of transition path times and the bin edges.

        Example:
            >>> r = transition_path_sampling(double_well_1d_jax, straight_path(-1.2, 1.2, 51), 2.0,
            ...     (-np.inf, -0.8), (0.8, np.inf), dt=0.04, n_moves=20, n_chains=4, burn_in=60, save_every=10, seed=0)
            >>> dens, edges = r.tpt_histogram(bins=10)
            >>> bool(abs(np.sum(dens * np.diff(edges)) - 1) < 1e-12)
            True
        """
        tau = self.transition_path_times.ravel()
        dens, edges = np.histogram(tau, bins=bins, range=(0.0, self.window) if np.ndim(bins) == 0 else None,
                                   weights=self._weights(reweight).ravel(), density=True)
        return dens, edges

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (dims ``path``, ``slice``, ``dim``, ``chain``, ``move``).

        Example:
            >>> r = transition_path_sampling(double_well_1d_jax, straight_path(-1.2, 1.2, 51), 2.0,
            ...     (-np.inf, -0.8), (0.8, np.inf), dt=0.04, n_moves=20, n_chains=4, burn_in=60, save_every=10, seed=0)
            >>> r.to_xarray().paths.shape
            (8, 51, 1)
        """
        import xarray as xr

        cm = ("chain", "move")
        ds = xr.Dataset(
            {"paths": (("path", "slice", "dim"), self.paths), "path_chain": (("path",), self.chain),
             "transition_path_time": (cm, self.transition_path_times), "move_type": (cm, self.move),
             "move_index": (cm, self.index), "accepted": (cm, self.accepted)},
            coords={"time": (("slice",), self.times)},
            attrs={"beta": self.beta, "dt": self.dt, "gamma": self.gamma, "window": self.window,
                   **{f"acceptance_{k}": v for k, v in self.acceptance.items()},
                   "move_types": "0 two-way shooting, 1 forward shift, 2 backward shift"},
        )
        return ds


@partial(jax.jit, static_argnames=("V", "A", "B", "d", "n_saves", "save_every", "max_shift"))
def _tps_run(V, A, B, d, n_saves, save_every, max_shift, n_burn, paths0, keys, dt, gamma, beta, p_shift):
    L = paths0.shape[1]
    drift1 = _drift_fn(V, None, d)
    pot1 = lambda x: V(*_coords(x, d))  # noqa: E731
    drift, pot = jax.vmap(drift1), jax.vmap(pot1)
    inA1, inB1 = _region_fn(A, d), _region_fn(B, d)
    inA, inB = jax.vmap(inA1), jax.vmap(inB1)
    D = 1.0 / (beta * gamma)
    sig = jnp.sqrt(2.0 * D * dt)
    idx = jnp.arange(L)

    def defect(path):
        """R[k] = sum_{i<k} [ln p(x_i->x_i+1) - ln p(x_i+1->x_i) + beta (V(x_i+1) - V(x_i))]."""
        x0, x1 = path[:-1], path[1:]
        f0, f1 = drift(x0) / gamma, drift(x1) / gamma
        lpf = -jnp.sum((x1 - x0 - dt * f0) ** 2, axis=1)
        lpb = -jnp.sum((x0 - x1 - dt * f1) ** 2, axis=1)
        c = (lpf - lpb) / (4 * D * dt) + beta * (pot(x1) - pot(x0))
        return jnp.concatenate([jnp.zeros(1), jnp.cumsum(c)])

    def tp_time(path):
        a, b = inA(path), inB(path)
        first_b = jnp.argmax(b)
        last_a = jnp.max(jnp.where(a & (idx < first_b), idx, -1))
        return (first_b - last_a) * dt

    def generate(key, start1, n1, start2):
        """L - 1 Euler steps: n1 from start1, then restart at start2."""
        xis = jax.random.normal(key, (L - 1, d))

        def step(x, inp):
            n, xi = inp
            x = jnp.where(n == n1, start2, x)
            xn = x + dt * drift1(x) / gamma + sig * xi
            return xn, xn

        _, out = jax.lax.scan(step, start1, (jnp.arange(L - 1), xis))
        return out

    def move(carry, key):
        path, R = carry
        # one uniform draw per decision and one normal block per move (few PRNG calls: fast compile)
        k_u, k_gen = jax.random.split(key)
        u = jax.random.uniform(k_u, (5,))
        is_shift = u[0] < p_shift
        fwd = u[1] < 0.5
        j = jnp.minimum(jnp.floor(u[2] * L).astype(jnp.int64), L - 1)
        s = jnp.minimum(1 + jnp.floor(u[3] * max_shift).astype(jnp.int64), max_shift)
        mtype = jnp.where(is_shift, jnp.where(fwd, 1, 2), 0)
        start1 = jnp.where(mtype == 0, path[j], path[L - 1])
        n1 = jnp.where(mtype == 0, L - 1 - j, jnp.where(mtype == 1, s, 0))
        start2 = jnp.where(mtype == 0, path[j], path[0])
        out = generate(k_gen, start1, n1, start2)
        # gather the new path: (use_out, index into out, index into path)
        sh_use = idx != j
        sh_oi = jnp.where(idx > j, idx - j - 1, L - 2 - idx)
        f_use = idx > L - 1 - s
        f_oi, f_pi = idx - (L - s), idx + s
        b_use = idx < s
        b_oi, b_pi = s - 1 - idx, idx - s
        use = jnp.select([mtype == 0, mtype == 1], [sh_use, f_use], b_use)
        oi = jnp.select([mtype == 0, mtype == 1], [sh_oi, f_oi], b_oi)
        pi = jnp.select([mtype == 0, mtype == 1], [idx, f_pi], b_pi)
        new = jnp.where(use[:, None], out[jnp.clip(oi, 0, L - 2)], path[jnp.clip(pi, 0, L - 1)])
        Rn = defect(new)
        log_acc = jnp.select([mtype == 0, mtype == 1], [Rn[j] - R[j], -R[s]], Rn[s])
        reactive = inA1(new[0]) & inB1(new[L - 1])
        acc = reactive & (jnp.log(u[4]) < log_acc)
        path = jnp.where(acc, new, path)
        R = jnp.where(acc, Rn, R)
        rec = (mtype, jnp.where(mtype == 0, j, s), acc, tp_time(path))
        return (path, R), rec

    n_rec = n_saves * save_every

    def chain(key, path0):
        # one loop over burn-in + recorded moves, so that `move` is traced (and compiled) once
        def body(n, st):
            path, R, saved, mt, ix, ac, tt, relaxed = st
            (path, R), (m, i, a, t) = move((path, R), jax.random.fold_in(key, n))
            r = jnp.clip(n - n_burn, 0, n_rec - 1)
            rec = n >= n_burn
            mt = mt.at[r].set(jnp.where(rec, m, mt[r]))
            ix = ix.at[r].set(jnp.where(rec, i, ix[r]))
            ac = ac.at[r].set(jnp.where(rec, a, ac[r]))
            tt = tt.at[r].set(jnp.where(rec, t, tt[r]))
            slot = jnp.clip((n - n_burn + 1) // save_every - 1, 0, n_saves - 1)
            save = rec & ((n - n_burn + 1) % save_every == 0)
            saved = saved.at[slot].set(jnp.where(save, path, saved[slot]))
            relaxed = relaxed | ((n < n_burn) & (m == 0) & a)
            return path, R, saved, mt, ix, ac, tt, relaxed

        zi = jnp.zeros(n_rec, jnp.int64)
        st = (path0, defect(path0), jnp.zeros((n_saves,) + path0.shape), zi, zi, jnp.zeros(n_rec, bool),
              jnp.zeros(n_rec), jnp.array(False))
        st = jax.lax.fori_loop(0, n_burn + n_rec, body, st)
        return st[2], st[3:7], st[7]

    return jax.vmap(chain)(keys, paths0)


def transition_path_sampling(V: Callable, initial_path, beta: float, A, B, *, dt: float, n_moves: int,
                             seed: Any = 0, n_chains: int = 16, burn_in: int = 0, save_every: int = 10,
                             shift_probability: float = 0.3, max_shift: int | None = None,
                             gamma: float = 1.0) -> TPSResult:
    """Transition path sampling (fixed path length) for overdamped Langevin dynamics in d dimensions.

    Samples paths ``x_0..x_{L-1}`` with the weight ``e^{-beta V(x_0)} prod p(x_i -> x_{i+1})
    1_A(x_0) 1_B(x_{L-1})`` (``p`` = Euler-Maruyama kernel with step ``dt``) by Metropolis moves:

    * two-way shooting (probability ``1 - shift_probability``): a slice j is drawn uniformly from
      ``0..L-1``; the path after j is regrown forward and the part before j backward, both with
      fresh noise; accepted if the new path is reactive, times ``min(1, e^{R'(j) - R(j)})``;
    * shifting: drop ``s`` (uniform in ``1..max_shift``) slices at one end and grow ``s`` new ones at
      the other (forward or backward with probability 1/2); accepted if reactive, times the same
      kind of factor.

    ``R(k) = sum_{i<k} [ln p(x_i -> x_{i+1}) - ln p(x_{i+1} -> x_i) - beta (V(x_i) - V(x_{i+1}))]`` is the
    detailed-balance defect of the discretised dynamics (zero for an exactly reversible kernel,
    O(dt) per unit time here); including it makes the sampler exact for the discrete path ensemble.
    ``n_chains`` independent chains run in parallel (``vmap``); each is a ``lax.scan`` over moves.

    Args:
        V: potential (energy), JAX-traceable ``V(x)`` (1D) / ``V(x, y)`` (2D).
        initial_path: reactive path, shape (L,) (1D), (L, d), or (n_chains, L, d); e.g. from
            :func:`straight_path` (it need not be dynamical: burn-in replaces it).
        beta: inverse temperature > 0.  A, B: disjoint regions (see module notes).
        dt: time between slices (time) > 0.  n_moves: recorded moves per chain (>= 1).
        seed: int or key.  n_chains: independent chains (>= 1).  burn_in: unrecorded moves first.
        save_every: keep every ``save_every``-th path (must divide ``n_moves``).
        shift_probability: fraction of shifting moves in [0, 1).  max_shift: longest shift in slices
            (default ``L // 10``, at least 1, at most ``L - 1``).  gamma: friction > 0.

    Returns:
        :class:`TPSResult`.

    Example:
        >>> r = transition_path_sampling(double_well_1d_jax, straight_path(-1.2, 1.2, 51), 2.0,
        ...     (-np.inf, -0.8), (0.8, np.inf), dt=0.04, n_moves=20, n_chains=4, burn_in=60, save_every=10, seed=0)
        >>> r.paths.shape, bool(np.all(r.paths[:, 0, 0] <= -0.8) and np.all(r.paths[:, -1, 0] >= 0.8))
        ((8, 51, 1), True)
    """
    t_start = time.perf_counter()
    try:
        p0 = np.asarray(initial_path, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"initial_path must be a real array of shape (L,), (L, d) or (n_chains, L, d), "
                        f"got {type(initial_path).__name__}") from None
    if p0.ndim == 1:
        p0 = p0[:, None]
    if p0.ndim not in (2, 3):
        raise ValueError(f"initial_path must have shape (L,), (L, d) or (n_chains, L, d), got {p0.shape}")
    n_chains = integer(n_chains, "n_chains")
    if p0.ndim == 3 and p0.shape[0] != n_chains:
        raise ValueError(f"initial_path has {p0.shape[0]} chains but n_chains={n_chains}")
    if p0.ndim == 2:
        p0 = np.broadcast_to(p0, (n_chains,) + p0.shape)
    L, d = p0.shape[1], p0.shape[2]
    if L < 3:
        raise ValueError(f"initial_path needs at least 3 slices, got {L}")
    if not np.all(np.isfinite(p0)):
        raise ValueError("initial_path must be finite (contains NaN or inf)")
    Vj = _potential(V, d)
    beta, dt, gamma = positive_float(beta, "beta"), positive_float(dt, "dt"), positive_float(gamma, "gamma")
    n_moves = integer(n_moves, "n_moves")
    burn_in = integer(burn_in, "burn_in", minimum=0)
    save_every = integer(save_every, "save_every")
    if n_moves % save_every:
        raise ValueError(f"save_every={save_every} must divide n_moves={n_moves}")
    ps = finite_float(shift_probability, "shift_probability")
    if not 0 <= ps < 1:
        raise ValueError(f"shift_probability must be in [0, 1), got {shift_probability!r}")
    max_shift = max(1, L // 10) if max_shift is None else integer(max_shift, "max_shift")
    if max_shift > L - 1:
        raise ValueError(f"max_shift must be <= n_slices - 1 = {L - 1}, got {max_shift}")
    Ar, Br = _region(A, "A", d), _region(B, "B", d)
    _check_disjoint(Ar, Br)
    fA, fB = jax.vmap(_region_fn(Ar, d)), jax.vmap(_region_fn(Br, d))
    startA = np.asarray(fA(jnp.asarray(p0[:, 0])))
    endB = np.asarray(fB(jnp.asarray(p0[:, -1])))
    if not startA.all():
        raise ValueError(f"initial_path must start in A; chain(s) {np.flatnonzero(~startA).tolist()} start at "
                         f"{p0[np.flatnonzero(~startA)[0], 0].tolist()}")
    if not endB.all():
        raise ValueError(f"initial_path must end in B; chain(s) {np.flatnonzero(~endB).tolist()} end at "
                         f"{p0[np.flatnonzero(~endB)[0], -1].tolist()}")
    keys = jax.random.split(_key(seed), n_chains)
    saved, rec, relaxed = _tps_run(Vj, Ar, Br, d, n_moves // save_every, save_every, max_shift,
                                   jnp.int64(burn_in), jnp.asarray(p0), keys, jnp.float64(dt), jnp.float64(gamma),
                                   jnp.float64(beta), jnp.float64(ps))
    mtype, index, acc, tau = (np.asarray(r) for r in rec)
    saved = np.asarray(saved)
    S = saved.shape[1]
    shoot, shift = mtype == 0, mtype != 0
    acceptance = {"shooting": float(acc[shoot].mean()) if shoot.any() else float("nan"),
                  "shift": float(acc[shift].mean()) if shift.any() else float("nan"),
                  "all": float(acc.mean())}
    unrelaxed = tuple(int(c) for c in np.flatnonzero(~np.asarray(relaxed))) if burn_in else ()
    if burn_in and unrelaxed:
        warnings.warn(f"transition_path_sampling: chain(s) {list(unrelaxed)} accepted no shooting move during "
                      f"burn_in={burn_in}; increase burn_in", RuntimeWarning, stacklevel=2)
    return TPSResult(saved.reshape(n_chains * S, L, d), np.repeat(np.arange(n_chains), S),
                     dt * np.arange(L), tau, mtype, index, acc, acceptance, beta, dt, gamma, (L - 1) * dt,
                     unrelaxed, {"wall_time": time.perf_counter() - t_start})
