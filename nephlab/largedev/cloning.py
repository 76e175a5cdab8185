"""Population dynamics (cloning) for the scaled cumulant generating function of jump processes.

Continuous-time cloning algorithm (Giardinà, Kurchan & Peliti 2006; Lecomte & Tailleur 2007) in
its *modified-rate* form, vectorised in JAX over clones and over independent runs.

Conventions
-----------
* Process: a continuous-time Markov jump process on states ``0..n-1`` given by a rate matrix
  ``rates`` of shape ``(n, n)``: ``rates[i, j]`` is the rate (1/time) of the jump ``i -> j`` for
  ``i != j``; the diagonal is ignored. The escape rate is ``r(i) = sum_{j != i} rates[i, j]``.
* Observable: a counting observable ``A_t = sum over jumps (i -> j) up to time t of g[i, j]``;
  ``"activity"`` means ``g[i, j] = 1`` for every ``i != j`` (the number of jumps); an explicit
  increments matrix ``g`` of shape ``(n, n)`` gives currents and the like.
* SCGF: ``theta(s) = lim_{t->inf} (1/t) ln < exp(-s A_t) >`` (units 1/time). With this sign,
  ``s > 0`` favours *low* values of ``A`` (for the activity: rare inactive histories) and
  ``s < 0`` favours high values.

Algorithm
---------
Each clone jumps with the tilted rates ``W_s[i, j] = rates[i, j] exp(-s g[i, j])`` (escape rate
``r_s(i)``) and carries the weight ``exp(int (r_s - r)(x(t)) dt)``, integrated *exactly* over every
sojourn, including the time since its last jump. Within each resampling interval ``dt`` each
clone's jumps are simulated exactly (Gillespie; a ``lax.while_loop`` runs until every clone has
reached the end of the interval). At the end of the interval the population is resampled
(systematic resampling, probabilities proportional to the weights) and the log of the mean weight
is recorded; ``theta ~ (1/T') sum ln(mean weight)`` over the steps after a burn-in ``T' = T - burn``.

Biases: the estimator has a systematic finite-population bias, roughly ``c / n_clones``, and a
finite-time bias ``~ c' / t_max`` when no burn-in is discarded. :func:`extrapolate_clones` and
:func:`extrapolate_time` fit these forms and return the extrapolated value.

Langevin dynamics are not supported yet.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import nephlab._config  # noqa: F401  (float64)
from nephlab._validate import integer, positive_float

__all__ = ["CloningResult", "Extrapolation", "cloning", "extrapolate_clones", "extrapolate_time",
           "two_state_scgf"]


def two_state_scgf(a: float, b: float, s):
    """Exact activity SCGF of the two-state process (rate ``a``: 0->1, ``b``: 1->0).

    ``theta(s) = -(a+b)/2 + sqrt((a-b)^2/4 + a b exp(-2 s))`` in 1/time (sign convention of
    :func:`cloning`). ``s`` may be a scalar or an array (any shape); returns a float or array.

    Example:
        >>> round(float(two_state_scgf(1.0, 1.0, 1.0)), 6)
        -0.632121
    """
    s = np.asarray(s, dtype=float)
    out = -(a + b) / 2 + np.sqrt((a - b) ** 2 / 4 + a * b * np.exp(-2 * s))
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------
# validation


def _rates_matrix(rates: Any) -> np.ndarray:
    try:
        W = np.array(rates, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"rates must be a square array of jump rates, got {type(rates).__name__}") from None
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 2:
        raise ValueError(f"rates must be a square (n, n) matrix with n >= 2, got shape {W.shape}")
    np.fill_diagonal(W, 0.0)
    bad = np.argwhere(~np.isfinite(W))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"rates must be finite, got rates[{i}, {j}] = {float(W[i, j])!r}")
    bad = np.argwhere(W < 0)
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"rates must have non-negative off-diagonal entries, got rates[{i}, {j}] = {float(W[i, j])!r}")
    if not np.any(W > 0):
        raise ValueError("rates must have at least one positive off-diagonal entry, got all zeros")
    return W


def _increments(observable: Any, n: int) -> np.ndarray:
    if isinstance(observable, str):
        if observable != "activity":
            raise ValueError(f"observable must be 'activity' or an (n, n) increments matrix, got {observable!r}")
        g = np.ones((n, n))
    else:
        try:
            g = np.array(observable, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"observable must be 'activity' or an (n, n) increments matrix, "
                            f"got {type(observable).__name__}") from None
        if g.shape != (n, n):
            raise ValueError(f"observable must have the shape of rates {(n, n)}, got shape {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError("observable must be finite, got a non-finite increment")
    g = g.copy()
    np.fill_diagonal(g, 0.0)
    return g


def _finite(x: Any, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {x!r}") from None
    if isinstance(x, bool) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {x!r}")
    return v


# --------------------------------------------------------------------------------------------
# core (jitted)


def _one_interval(key, x, dt, rs, delta, cum_p):
    """Evolve every clone exactly over one interval ``dt``; return new states and log weights."""
    n = cum_p.shape[0]

    def cond(c):
        return jnp.any(c[0] < dt)

    def body(c):
        t, x, logw, key = c
        key, ka, kb = jax.random.split(key, 3)
        r = rs[x]
        e = jax.random.exponential(ka, x.shape, dtype=rs.dtype)
        tau = jnp.where(r > 0, e / jnp.where(r > 0, r, 1.0), jnp.inf)
        active = t < dt
        jump = active & (t + tau < dt)
        stay = jnp.where(jump, tau, jnp.where(active, dt - t, 0.0))
        logw = logw + delta[x] * stay
        u = 1.0 - jax.random.uniform(kb, x.shape, dtype=rs.dtype)  # in (0, 1]
        j = jnp.minimum(jnp.sum(cum_p[x] < u[:, None], axis=1), n - 1).astype(x.dtype)
        x = jnp.where(jump, j, x)
        t = jnp.where(jump, t + tau, jnp.where(active, dt, t))
        return t, x, logw, key

    t0 = jnp.zeros(x.shape, dtype=rs.dtype)
    _, x, logw, _ = jax.lax.while_loop(cond, body, (t0, x, jnp.zeros_like(t0), key))
    return x, logw


def _resample(key, x, logw):
    """Systematic resampling; returns resampled states and the log of the mean weight."""
    nc = x.shape[0]
    m = jnp.max(logw)
    w = jnp.exp(logw - m)
    tot = jnp.sum(w)
    log_mean = m + jnp.log(tot) - jnp.log(nc)
    cum = jnp.cumsum(w) / tot
    u = (jnp.arange(nc) + jax.random.uniform(key, dtype=logw.dtype)) / nc
    idx = jnp.minimum(jnp.searchsorted(cum, u), nc - 1)
    return x[idx], log_mean


@partial(jax.jit, static_argnames=("n_rec", "record_every"))
def _run_batch(keys, x0, dt, rs, delta, cum_p, n_rec, record_every):
    def one_run(key, x):
        def inner(carry, _):
            key, x = carry
            key, k1, k2 = jax.random.split(key, 3)
            x, logw = _one_interval(k1, x, dt, rs, delta, cum_p)
            x, lm = _resample(k2, x, logw)
            return (key, x), lm

        def outer(carry, _):
            carry, lms = jax.lax.scan(inner, carry, None, length=record_every)
            return carry, (lms, carry[1])

        _, (lms, xs) = jax.lax.scan(outer, (key, x), None, length=n_rec)
        return lms.reshape(-1), xs

    return jax.vmap(one_run)(keys, x0)


# --------------------------------------------------------------------------------------------
# results


@dataclasses.dataclass(frozen=True)
class CloningResult:
    """Result of :func:`cloning`.

    Attributes:
        scgf: estimate of theta(s) (1/time): mean over runs of the per-run estimate after burn-in.
        stderr: its standard error (1/time), from batch means over ``n_blocks`` time blocks per run
            after burn-in, pooled over runs.
        scgf_runs: per-run estimates, shape ``(n_runs,)``.
        times: end times of the resampling intervals, shape ``(n_steps,)``.
        log_growth: ln(mean weight) per interval (dimensionless), shape ``(n_runs, n_steps)``;
            ``theta ~ log_growth / dt`` averaged over time.
        trajectory_times: times at which the population was stored, shape ``(n_rec,)``.
        trajectories: the population's states after resampling at ``trajectory_times``, integer
            array of shape ``(n_runs, n_rec, n_clones)`` (empty if not stored).
        s, dt, t_max, burn_in: bias parameter, resampling interval, total and discarded time.
        n_clones, n_runs: population size and number of independent runs.
    """

    scgf: float
    stderr: float
    scgf_runs: np.ndarray
    times: np.ndarray
    log_growth: np.ndarray
    trajectory_times: np.ndarray
    trajectories: np.ndarray
    s: float
    dt: float
    t_max: float
    burn_in: float
    n_clones: int
    n_runs: int

    @property
    def running_scgf(self) -> np.ndarray:
        """(1/t) sum of ln(mean weight) from time 0 to ``times``, shape ``(n_runs, n_steps)``.

        Shows the finite-time bias (the initial transient, no burn-in discarded).

        Example:
            >>> r = cloning([[0, 1], [1, 0]], 1.0, n_clones=50, t_max=5.0, seed=0, dt=0.5)
            >>> r.running_scgf.shape
            (1, 10)
        """
        return np.cumsum(self.log_growth, axis=1) / self.times

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (dims ``run``, ``time``, ``rec_time``, ``clone``).

        Example:
            >>> r = cloning([[0, 1], [1, 0]], 1.0, n_clones=20, t_max=2.0, seed=0)
            >>> sorted(r.to_xarray().data_vars)
            ['log_growth', 'scgf_runs', 'trajectories']
        """
        import xarray as xr

        ds = xr.Dataset(
            {
                "log_growth": (("run", "time"), self.log_growth),
                "scgf_runs": (("run",), self.scgf_runs),
                "trajectories": (("run", "rec_time", "clone"), self.trajectories),
            },
            coords={"time": self.times, "rec_time": self.trajectory_times},
            attrs={k: getattr(self, k) for k in ("scgf", "stderr", "s", "dt", "t_max", "burn_in",
                                                  "n_clones", "n_runs")},
        )
        ds.attrs["convention"] = "theta(s) = lim (1/t) ln <exp(-s A_t)>"
        return ds


# --------------------------------------------------------------------------------------------
# public entry point


def cloning(rates, s, observable="activity", n_clones: int = 1000, t_max: float = 100.0,
            seed: int = 0, dt: float | None = None, *, n_runs: int = 1, burn_in: float | None = None,
            x0=None, record_every: int = 1, store_trajectories: bool = True,
            n_blocks: int = 10) -> CloningResult:
    """SCGF theta(s) of a counting observable of a Markov jump process by population dynamics.

    Args:
        rates: ``(n, n)`` rate matrix (1/time), ``rates[i, j]`` = rate of ``i -> j`` for
            ``i != j``; off-diagonals must be >= 0; the diagonal is ignored.
        s: bias (1/[A]), a finite real; theta(s) = lim (1/t) ln <exp(-s A_t)>; ``s > 0`` selects
            low ``A``.
        observable: ``"activity"`` or an ``(n, n)`` increments matrix ``g`` (``A_t`` = sum of
            ``g[from, to]`` over the jumps).
        n_clones: population size, >= 2.
        t_max: simulated time per run (time units), > 0.
        seed: integer seed of the ``jax.random`` key.
        dt: resampling interval (time); default ``1 / max(max r_s, max |r_s - r|)``, at most
            ``t_max / 20``. It is adjusted so that ``t_max`` is a multiple of ``record_every * dt``.
        n_runs: independent populations run in one vectorised call (their estimates are averaged).
        burn_in: time discarded at the start of each run; default ``0.1 * t_max``; must leave at
            least 2 intervals.
        x0: initial state(s): ``None`` (uniformly random), an int, or an int array
            ``(n_clones,)``.
        record_every: store the population every this many intervals (thinning of
            ``trajectories``).
        store_trajectories: if False, ``trajectories`` is an empty array.
        n_blocks: number of time blocks per run for the batch-means error bar (fewer if fewer
            intervals remain after burn-in).

    Returns:
        :class:`CloningResult` with ``.scgf`` (1/time), ``.stderr``, ``.times``,
        ``.log_growth``, ``.trajectories``; see its docstring for shapes.

    Example:
        >>> r = cloning([[0, 1], [1, 0]], 1.0, n_clones=200, t_max=40.0, seed=1)
        >>> abs(r.scgf - two_state_scgf(1, 1, 1.0)) < 0.05
        True
    """
    W = _rates_matrix(rates)
    n = W.shape[0]
    s = _finite(s, "s")
    g = _increments(observable, n)
    n_clones = integer(n_clones, "n_clones", minimum=2)
    t_max = positive_float(t_max, "t_max")
    n_runs = integer(n_runs, "n_runs")
    record_every = integer(record_every, "record_every")
    n_blocks = integer(n_blocks, "n_blocks")
    seed = integer(seed, "seed", minimum=0)

    with np.errstate(over="raise"):
        try:
            Ws = W * np.exp(-s * g)
        except FloatingPointError:
            raise ValueError(f"s = {s!r} overflows the tilted rates exp(-s g); use a smaller |s|") from None
    r = W.sum(axis=1)
    rs = Ws.sum(axis=1)
    delta = rs - r
    if dt is None:
        scale = max(float(rs.max()), float(np.abs(delta).max()))
        dt = min(t_max / 20, 1.0 / scale) if scale > 0 else t_max / 20
    else:
        dt = positive_float(dt, "dt")
        if dt > t_max:
            raise ValueError(f"dt must be <= t_max = {t_max!r}, got {dt!r}")
    n_steps = max(1, round(t_max / dt))
    n_rec = -(-n_steps // record_every)
    n_steps = n_rec * record_every
    dt = t_max / n_steps

    burn = 0.1 * t_max if burn_in is None else float(burn_in)
    if not (math.isfinite(burn) and 0 <= burn < t_max):
        raise ValueError(f"burn_in must be in [0, t_max) = [0, {t_max!r}), got {burn_in!r}")
    n_burn = int(round(burn / dt))
    if n_steps - n_burn < 2:
        raise ValueError(f"t_max = {t_max!r} leaves {n_steps - n_burn} resampling interval(s) after burn_in "
                         f"= {burn!r}; need at least 2 (increase t_max or decrease dt)")
    n_blocks = min(n_blocks, n_steps - n_burn)

    key = jax.random.PRNGKey(seed)
    kx, kr = jax.random.split(key)
    if x0 is None:
        x0a = jax.random.randint(kx, (n_runs, n_clones), 0, n)
    else:
        x0n = np.asarray(x0)
        if not np.issubdtype(x0n.dtype, np.integer) or x0n.shape not in ((), (n_clones,)) \
                or np.any(x0n < 0) or np.any(x0n >= n):
            raise ValueError(f"x0 must be None, a state in [0, {n}) or an int array of shape ({n_clones},) "
                             f"with entries in [0, {n}), got {x0!r}")
        x0a = jnp.broadcast_to(jnp.asarray(x0n, dtype=jnp.int32), (n_runs, n_clones))
    x0a = x0a.astype(jnp.int32)

    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(rs[:, None] > 0, Ws / np.where(rs > 0, rs, 1.0)[:, None], 0.0)
    cum = np.cumsum(P, axis=1)
    last = cum[:, -1:]
    cum_p = np.where(last > 0, cum / np.where(last > 0, last, 1.0), 1.0)

    keys = jax.random.split(kr, n_runs)
    lms, xs = _run_batch(keys, x0a, jnp.asarray(dt), jnp.asarray(rs), jnp.asarray(delta),
                         jnp.asarray(cum_p), n_rec=n_rec, record_every=record_every)
    lms = np.asarray(lms)
    xs = np.asarray(xs) if store_trajectories else np.zeros((n_runs, 0, n_clones), dtype=np.int32)

    kept = lms[:, n_burn:]
    per_run = kept.sum(axis=1) / (kept.shape[1] * dt)
    m = kept.shape[1] // n_blocks
    blocks = kept[:, : m * n_blocks].reshape(n_runs, n_blocks, m).sum(axis=2) / (m * dt)
    blocks = blocks.reshape(-1)
    stderr = float(np.std(blocks, ddof=1) / np.sqrt(blocks.size))
    times = dt * np.arange(1, n_steps + 1)
    rec_times = times[record_every - 1::record_every] if store_trajectories else np.zeros(0)
    return CloningResult(scgf=float(per_run.mean()), stderr=stderr, scgf_runs=per_run, times=times,
                         log_growth=lms, trajectory_times=rec_times, trajectories=xs, s=s, dt=dt,
                         t_max=t_max, burn_in=n_burn * dt, n_clones=n_clones, n_runs=n_runs)


# --------------------------------------------------------------------------------------------
# extrapolation


@dataclasses.dataclass(frozen=True)
class Extrapolation:
    """Weighted least-squares fit ``y = value + slope * x`` with ``x = 1/N_c`` or ``1/T``.

    Attributes:
        value: extrapolated theta at ``x = 0`` (1/time); stderr: its standard error.
        slope: fitted coefficient ``c`` (1/time times the unit of 1/x); slope_stderr: its error.
        x, y, yerr: the fitted points, shape ``(k,)``.
    """

    value: float
    stderr: float
    slope: float
    slope_stderr: float
    x: np.ndarray
    y: np.ndarray
    yerr: np.ndarray


def _points(results, attr: str):
    if isinstance(results, tuple) and len(results) == 3 and not isinstance(results[0], CloningResult):
        p, y, e = (np.atleast_1d(np.asarray(v, dtype=float)) for v in results)
    else:
        rs = list(results)
        if not rs or not all(isinstance(r, CloningResult) for r in rs):
            raise TypeError("results must be a sequence of CloningResult or a tuple (params, scgf, stderr)")
        p = np.array([getattr(r, attr) for r in rs], dtype=float)
        y = np.array([r.scgf for r in rs], dtype=float)
        e = np.array([r.stderr for r in rs], dtype=float)
    if not (p.shape == y.shape == e.shape) or p.ndim != 1:
        raise ValueError(f"results: the three arrays must have equal 1-D shapes, got {p.shape}, {y.shape}, {e.shape}")
    if np.unique(p).size < 2:
        raise ValueError(f"results must contain at least two distinct {attr} values, got {p.tolist()}")
    if np.any(p <= 0) or np.any(e <= 0) or not np.all(np.isfinite(y)):
        raise ValueError(f"results: {attr} and stderr must be > 0 and scgf finite, got {p.tolist()}, {e.tolist()}")
    return 1.0 / p, y, e


def _fit(x, y, e) -> Extrapolation:
    A = np.stack([np.ones_like(x), x], axis=1) / e[:, None]
    cov = np.linalg.inv(A.T @ A)
    coef = cov @ (A.T @ (y / e))
    if x.size > 2:  # scale by the reduced chi^2 when it exceeds 1
        chi2 = float(np.sum(((y - coef[0] - coef[1] * x) / e) ** 2) / (x.size - 2))
        cov = cov * max(1.0, chi2)
    return Extrapolation(value=float(coef[0]), stderr=float(np.sqrt(cov[0, 0])), slope=float(coef[1]),
                         slope_stderr=float(np.sqrt(cov[1, 1])), x=x, y=y, yerr=e)


def extrapolate_clones(results) -> Extrapolation:
    """Extrapolate to infinitely many clones: fit ``theta(N_c) = theta_inf + c / N_c``.

    Args:
        results: a sequence of :class:`CloningResult` (same ``s``, different ``n_clones``), or a
            tuple ``(n_clones, scgf, stderr)`` of equal-length 1-D arrays.

    Returns:
        :class:`Extrapolation`; ``.value`` is theta_inf (1/time), weighted by ``1/stderr^2``.

    Example:
        >>> e = extrapolate_clones(([10, 100], [-0.7, -0.637], [0.01, 0.01]))
        >>> round(e.value, 3)
        -0.63
    """
    return _fit(*_points(results, "n_clones"))


def extrapolate_time(results) -> Extrapolation:
    """Extrapolate to infinite time: fit ``theta(T) = theta_inf + c / T``.

    Meant for runs with ``burn_in=0``, whose estimate ``(1/T) ln Z_T`` has a ``1/T`` bias.

    Args:
        results: a sequence of :class:`CloningResult` (same ``s``, different ``t_max``), or a
            tuple ``(t_max, scgf, stderr)`` of equal-length 1-D arrays.

    Returns:
        :class:`Extrapolation`; ``.value`` is theta_inf (1/time).

    Example:
        >>> e = extrapolate_time(([10.0, 100.0], [-0.6, -0.627], [0.01, 0.01]))
        >>> round(e.value, 3)
        -0.63
    """
    return _fit(*_points(results, "t_max"))
