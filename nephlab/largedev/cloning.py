"""Population dynamics (cloning) for the scaled cumulant generating function of jump processes.

Continuous-time cloning algorithm (Giardinà, Kurchan & Peliti 2006; Lecomte & Tailleur 2007) in
its *modified-rate* form, vectorised in JAX over clones and over independent runs.

Conventions
-----------
* Process: a continuous-time Markov jump process on states ``0..n-1`` given by a rate matrix
  ``rates`` of shape ``(n, n)`` or a :class:`~nephlab.largedev.markov.MarkovJumpProcess`:
  ``rates[i, j]`` is the rate (1/time) of the jump ``i -> j`` for ``i != j``; the diagonal is
  ignored. The escape rate is ``r(i) = sum_{j != i} rates[i, j]``.
* Observable: a counting observable ``A_t = sum over jumps (i -> j) up to time t of g[i, j]``;
  ``"activity"`` means ``g[i, j] = 1`` for every ``i != j`` (the number of jumps); an explicit
  increments matrix ``g`` of shape ``(n, n)`` gives currents and the like.
* SCGF: ``theta(s) = lim_{t->inf} (1/t) ln < exp(-s A_t) >`` (units 1/time), the one sign
  convention of :mod:`nephlab.largedev`: ``s > 0`` favours *low* values of ``A`` (for the
  activity: rare inactive histories) and ``s < 0`` favours high values.

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

Langevin dynamics
-----------------
:func:`cloning_langevin` runs the same population dynamics for the overdamped Langevin equation
``dX = F(X) dt + sigma dW`` and ``A_t = int f(X) dt + int g(X) o dX`` (Stratonovich), with the
same convention ``theta(s) = lim (1/t) ln <exp(-s A_t)>``.
Each clone is integrated by Euler–Maruyama with step ``h`` (``lax.scan``), carries the weight
``exp(-s dA)`` per step (trapezoidal rule for ``f``, midpoint rule for ``g o dX``), and the
population is resampled every ``resample_every`` steps. Besides the ``1/N_c`` and ``1/T`` biases
there is an ``O(h)`` time-step bias.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import nephlab._config  # noqa: F401  (float64)
from nephlab._result import ResultBase, attr, coord, var
from nephlab._validate import finite_float, integer, jax_callable, jump_increments, positive_float, rate_matrix
from nephlab.largedev._conventions import SCGF_CONVENTION, accepts_deprecated_k
from nephlab.largedev.markov import MarkovJumpProcess, Observable

__all__ = ["CloningResult", "Extrapolation", "cloning", "cloning_langevin", "extrapolate_clones",
           "extrapolate_time", "two_state_scgf"]


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
# inputs


def _rates_and_increments(rates: Any, observable: Any) -> tuple[np.ndarray, np.ndarray]:
    """Dense rates ``W`` and increments ``g`` (both ``(n, n)``, zero diagonal) from a rate matrix or
    a :class:`MarkovJumpProcess`, and ``"activity"``, an increments matrix or a jump
    :class:`Observable`."""
    W = rate_matrix(rates.rates() if isinstance(rates, MarkovJumpProcess) else rates, "rates")
    if isinstance(observable, Observable):
        if observable.state_function is not None or observable.increments is None:
            raise ValueError(f"observable must count jumps (cloning has no state-function part), got the "
                             f"{observable.name!r} Observable with state_function set or no increments")
        observable = "activity" if isinstance(observable.increments, str) else observable.increments
    return W, jump_increments(observable, "observable", W.shape[0])


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


def _population_loop(interval, key, x, n_rec: int, record_every: int):
    """One cloning run: ``n_rec * record_every`` resampling intervals of ``interval(key, x) ->
    (x, logw)``, each followed by systematic resampling; returns the per-interval log mean
    weights (n_rec * record_every,) and the population every ``record_every`` intervals."""

    def inner(carry, _):
        key, x = carry
        key, k1, k2 = jax.random.split(key, 3)
        x, logw = interval(k1, x)
        x, lm = _resample(k2, x, logw)
        return (key, x), lm

    def outer(carry, _):
        carry, lms = jax.lax.scan(inner, carry, None, length=record_every)
        return carry, (lms, carry[1])

    _, (lms, xs) = jax.lax.scan(outer, (key, x), None, length=n_rec)
    return lms.reshape(-1), xs


@partial(jax.jit, static_argnames=("n_rec", "record_every"))
def _run_batch(keys, x0, dt, rs, delta, cum_p, n_rec, record_every):
    def one_run(key, x):
        return _population_loop(lambda k1, x: _one_interval(k1, x, dt, rs, delta, cum_p), key, x, n_rec,
                                record_every)

    return jax.vmap(one_run)(keys, x0)


# --------------------------------------------------------------------------------------------
# results


@dataclasses.dataclass(frozen=True, repr=False)
class CloningResult(ResultBase):
    """Result of :func:`cloning` and :func:`cloning_langevin`.

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
        s, dt, t_max, burn_in: bias (1/[A]; sign convention of :mod:`nephlab.largedev`),
            resampling interval, total and discarded time.
        n_clones, n_runs: population size and number of independent runs.
        time_step: integration step ``h`` of :func:`cloning_langevin` (``None`` for jump
            processes, which are simulated exactly). Langevin trajectories are float positions
            of shape ``(n_runs, n_rec, n_clones, d)``.

    ``to_xarray()`` gives a Dataset with dims ``run``, ``time``, ``rec_time``, ``clone`` (and
    ``dim`` for Langevin positions); scalars, ``convention`` and units in attrs.

    Example:
        >>> r = cloning([[0, 1], [1, 0]], 1.0, n_clones=20, t_max=2.0, seed=0)
        >>> ds = r.to_xarray()
        >>> sorted(ds.data_vars), ds.time.attrs["units"]
        (['log_growth', 'running_scgf', 'scgf_runs', 'trajectories'], 'time')
    """

    scgf: float = attr()
    stderr: float = attr()
    scgf_runs: np.ndarray = var("run", units="1/time", long_name="per-run SCGF estimate")
    times: np.ndarray = coord("time", units="time", long_name="end of resampling interval", name="time")
    log_growth: np.ndarray = var("run", "time", units="1", long_name="ln(mean clone weight) per interval")
    trajectory_times: np.ndarray = coord("rec_time", units="time", name="rec_time")
    trajectories: np.ndarray  # dims depend on the dynamics: added by _xarray_extra
    s: float = attr()
    dt: float = attr()
    t_max: float = attr()
    burn_in: float = attr()
    n_clones: int = attr()
    n_runs: int = attr()
    time_step: float | None = None

    xarray_attrs = {"convention": SCGF_CONVENTION,
                    "units": "scgf, stderr: 1/time; s: 1/[A]; dt, t_max, burn_in: time"}

    @property
    def convention(self) -> str:
        """The definition of the estimated SCGF and of the sign of ``s`` (the same for every result).

        Example:
            >>> cloning([[0, 1], [1, 0]], 1.0, n_clones=10, t_max=1.0).convention
            'theta(s) = lim (1/t) ln <exp(-s A_t)>'
        """
        return SCGF_CONVENTION

    @property
    def k(self) -> float:
        """Deprecated: the bias of the old Langevin convention ``lambda(k)``, ``k = -s``.

        Example:
            >>> import warnings
            >>> r = cloning([[0, 1], [1, 0]], 0.5, n_clones=10, t_max=1.0)
            >>> with warnings.catch_warnings():
            ...     warnings.simplefilter("ignore", DeprecationWarning)
            ...     r.k
            -0.5
        """
        warnings.warn("CloningResult.k is deprecated: nephlab.largedev uses one convention, "
                      "theta(s) = lim (1/t) ln <exp(-s A_t)>; use .s (k = -s)", DeprecationWarning, stacklevel=2)
        return -self.s

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

    def _xarray_extra(self, ds):
        tdims = ("run", "rec_time", "clone") + (("dim",) if self.trajectories.ndim == 4 else ())
        what = "state index" if self.time_step is None else "position"
        ds = ds.assign(
            running_scgf=(("run", "time"), self.running_scgf,
                          {"long_name": "(1/t) sum ln(mean weight), no burn-in", "units": "1/time"}),
            trajectories=(tdims, self.trajectories, {"long_name": f"population ({what}) after resampling"}))
        if self.time_step is not None:
            ds.attrs["time_step"] = self.time_step
        return ds


# --------------------------------------------------------------------------------------------
# public entry point


def _resampling_grid(t_max: float, interval: float, record_every: int, burn_in, n_blocks: int,
                     what: str) -> tuple[int, int, float, int, int]:
    """Resampling steps on [0, t_max]: ``(n_steps, n_rec, interval, n_burn, n_blocks)`` with
    n_steps a multiple of record_every and the interval adjusted to t_max / n_steps."""
    n_steps = max(1, round(t_max / interval))
    n_rec = -(-n_steps // record_every)
    n_steps = n_rec * record_every
    interval = t_max / n_steps
    burn = 0.1 * t_max if burn_in is None else float(burn_in)
    if not (math.isfinite(burn) and 0 <= burn < t_max):
        raise ValueError(f"burn_in must be in [0, t_max) = [0, {t_max!r}), got {burn_in!r}")
    n_burn = int(round(burn / interval))
    if n_steps - n_burn < 2:
        raise ValueError(f"t_max = {t_max!r} leaves {n_steps - n_burn} resampling interval(s) after burn_in "
                         f"= {burn!r}; need at least 2 (increase t_max or decrease {what})")
    return n_steps, n_rec, interval, n_burn, min(n_blocks, n_steps - n_burn)


def cloning(rates, s, observable="activity", n_clones: int = 1000, t_max: float = 100.0,
            seed: int = 0, dt: float | None = None, *, n_runs: int = 1, burn_in: float | None = None,
            x0=None, record_every: int = 1, store_trajectories: bool = True,
            n_blocks: int = 10) -> CloningResult:
    """SCGF theta(s) of a counting observable of a Markov jump process by population dynamics.

    Args:
        rates: a :class:`~nephlab.largedev.markov.MarkovJumpProcess`, or its ``(n, n)`` rate matrix
            (1/time), ``rates[i, j]`` = rate of ``i -> j`` for ``i != j``; off-diagonals must be
            >= 0; the diagonal is ignored. Both give identical results.
        s: bias (1/[A]), a finite real; theta(s) = lim (1/t) ln <exp(-s A_t)> (the convention of
            :mod:`nephlab.largedev`); ``s > 0`` selects low ``A``.
        observable: ``"activity"``, an ``(n, n)`` increments matrix ``g`` (dense or sparse;
            ``A_t`` = sum of ``g[from, to]`` over the jumps), or an
            :class:`~nephlab.largedev.markov.Observable` with increments only.
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
        >>> from nephlab.largedev.models import two_state
        >>> cloning(two_state(1.0, 1.0), 1.0, n_clones=200, t_max=40.0, seed=1).scgf == r.scgf
        True
    """
    W, g = _rates_and_increments(rates, observable)
    n = W.shape[0]
    s = finite_float(s, "s")
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
    n_steps, n_rec, dt, n_burn, n_blocks = _resampling_grid(t_max, dt, record_every, burn_in, n_blocks, "dt")

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

    per_run, stderr = _estimate(lms, dt, n_burn, n_blocks)
    times = dt * np.arange(1, n_steps + 1)
    rec_times = times[record_every - 1::record_every] if store_trajectories else np.zeros(0)
    return CloningResult(scgf=float(per_run.mean()), stderr=stderr, scgf_runs=per_run, times=times,
                         log_growth=lms, trajectory_times=rec_times, trajectories=xs, s=s, dt=dt,
                         t_max=t_max, burn_in=n_burn * dt, n_clones=n_clones, n_runs=n_runs)


def _estimate(lms: np.ndarray, dt: float, n_burn: int, n_blocks: int) -> tuple[np.ndarray, float]:
    """Per-run estimates after burn-in and the batch-means standard error of their mean."""
    n_runs = lms.shape[0]
    kept = lms[:, n_burn:]
    per_run = kept.sum(axis=1) / (kept.shape[1] * dt)
    m = kept.shape[1] // n_blocks
    blocks = kept[:, : m * n_blocks].reshape(n_runs, n_blocks, m).sum(axis=2) / (m * dt)
    blocks = blocks.reshape(-1)
    stderr = float(np.std(blocks, ddof=1) / np.sqrt(blocks.size))
    return per_run, stderr


# --------------------------------------------------------------------------------------------
# Langevin dynamics


@partial(jax.jit, static_argnames=("drift", "f", "g", "n_rec", "record_every", "m"))
def _langevin_batch(keys, x0, h, sigma, s, drift, f, g, n_rec, record_every, m):
    F = jax.vmap(drift)
    sqh = jnp.sqrt(h)

    def obs_rate(x):
        return jnp.zeros(x.shape[0], x.dtype) if f is None else jax.vmap(lambda y: jnp.reshape(f(y), ()))(x)

    def one_run(key, x):
        def step(c, _):
            x, logw, fx, key = c
            key, kn = jax.random.split(key)
            x1 = x + F(x) * h + sigma * sqh * jax.random.normal(kn, x.shape, x.dtype)
            f1 = obs_rate(x1)
            dA = 0.5 * h * (fx + f1)
            if g is not None:
                dA = dA + jnp.sum(jax.vmap(g)(0.5 * (x + x1)) * (x1 - x), axis=-1)
            return (x1, logw - s * dA, f1, key), None

        def interval(k1, x):
            (x, logw, _, _), _ = jax.lax.scan(step, (x, jnp.zeros(x.shape[0], x.dtype), obs_rate(x), k1),
                                              None, length=m)
            return x, logw

        return _population_loop(interval, key, x, n_rec, record_every)

    return jax.vmap(one_run)(keys, x0)


@accepts_deprecated_k
def cloning_langevin(drift, sigma, s, observable=None, *, current=None, x0=0.0, n_clones: int = 1000,
                     t_max: float = 50.0, seed: int = 0, dt: float = 0.01, resample_every: int = 10,
                     n_runs: int = 1, burn_in: float | None = None, record_every: int = 1,
                     store_trajectories: bool = True, n_blocks: int = 10) -> CloningResult:
    """SCGF of a time-integrated observable of overdamped Langevin dynamics by cloning.

    Dynamics and observable (d dimensions; the sign convention of :mod:`nephlab.largedev`)::

        dX = F(X) dt + sigma dW,     A_t = int_0^t f(X) dt + int_0^t g(X) o dX   (Stratonovich)
        theta(s) = lim (1/t) ln < exp(-s A_t) >

    Euler–Maruyama with step ``dt`` (``lax.scan``, vectorised over clones and runs); the clone
    weights ``exp(-s dA)`` use the trapezoidal rule for ``f`` and the midpoint rule for ``g o dX``;
    the population is resampled (systematically) every ``resample_every`` steps and ``theta``
    is the time average of ln(mean weight) after ``burn_in``. Biases: ``O(1/n_clones)``,
    ``O(dt)`` (Euler–Maruyama), and ``O(1/t_max)`` without burn-in (see
    :func:`extrapolate_clones`, :func:`extrapolate_time`).

    Args:
        drift: JAX-traceable ``F(x)``, ``x`` of shape ``(d,)`` -> ``(d,)`` (length/time).
        sigma: noise amplitude (length/sqrt(time)), > 0 (isotropic; ``D = sigma**2/2``).
        s: bias (1/[A]), finite; ``s > 0`` favours small A.
        observable: JAX-traceable ``f(x)`` -> scalar ([A]/time), or None.
        current: JAX-traceable ``g(x)`` -> ``(d,)`` ([A]/length), or None; at least one of
            ``observable``, ``current`` is needed.
        x0: initial position: scalar (d = 1), ``(d,)`` (all clones), or ``(n_clones, d)``.
        n_clones: population size >= 2.  t_max: time per run (> 0).  seed: int seed.
        dt: integration step (time) > 0.  resample_every: steps per resampling interval.
        n_runs: independent populations in one vectorised call.
        burn_in: discarded time, default ``0.1 * t_max``.
        record_every: store the population every this many resampling intervals.
        store_trajectories: if False, ``trajectories`` is empty.
        n_blocks: blocks per run for the batch-means error bar.
        k: deprecated keyword of the old convention ``lambda(k) = lim (1/t) ln <exp(+k A_t)>``;
            ``k=`` is the same as ``s=-k`` (``DeprecationWarning``).

    Returns:
        :class:`CloningResult` with ``.s``, ``.scgf`` = theta(s) (1/time), ``.stderr``,
        ``.time_step`` = dt and trajectories ``(n_runs, n_rec, n_clones, d)``.

    Example (Ornstein–Uhlenbeck around 1, int X dt: exact -s + sigma^2 s^2 / (2 gamma^2) = -0.375):
        >>> r = cloning_langevin(lambda x: 1.0 - x, 1.0, 0.5, lambda x: x[0], x0=1.0, n_clones=200,
        ...                      t_max=20.0, seed=0, dt=0.02)
        >>> abs(r.scgf - (-0.375)) < 0.03
        True
    """
    sigma = positive_float(sigma, "sigma")
    s = finite_float(s, "s")
    n_clones = integer(n_clones, "n_clones", minimum=2)
    t_max = positive_float(t_max, "t_max")
    h = positive_float(dt, "dt")
    resample_every = integer(resample_every, "resample_every")
    n_runs = integer(n_runs, "n_runs")
    record_every = integer(record_every, "record_every")
    n_blocks = integer(n_blocks, "n_blocks")
    seed = integer(seed, "seed", minimum=0)
    try:
        x0n = np.array(x0, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"x0 must be a real scalar or array, got {x0!r}") from None
    if x0n.ndim == 0:
        x0n = x0n.reshape(1)
    if x0n.ndim == 1:
        x0n = np.broadcast_to(x0n, (n_clones, x0n.size))
    if x0n.ndim != 2 or x0n.shape[0] != n_clones or x0n.shape[1] < 1:
        raise ValueError(f"x0 must be a scalar, a (d,) array or an (n_clones, d) = ({n_clones}, d) array, "
                         f"got shape {np.shape(x0)}")
    if not np.all(np.isfinite(x0n)):
        raise ValueError("x0 must be finite")
    d = x0n.shape[1]
    if observable is None and current is None:
        raise ValueError("observable and current are both None: give f(x) (observable=) and/or g(x) (current=)")
    vector = ((d,), ()) if d == 1 else ((d,),)
    jax_callable(drift, "drift", d, shapes=vector, returns=f"the drift, shape ({d},)")
    if observable is not None:
        jax_callable(observable, "observable", d, shapes=((), (1,)), returns="a scalar rate f(x)")
    if current is not None:
        jax_callable(current, "current", d, shapes=vector, returns=f"g(x), shape ({d},)")
    interval = h * resample_every
    if interval > t_max:
        raise ValueError(f"dt * resample_every = {interval!r} must be <= t_max = {t_max!r}")
    n_steps, n_rec, interval, n_burn, n_blocks = _resampling_grid(t_max, interval, record_every, burn_in,
                                                                  n_blocks, "dt * resample_every")
    h = interval / resample_every

    keys = jax.random.split(jax.random.PRNGKey(seed), n_runs)
    x0a = jnp.broadcast_to(jnp.asarray(x0n), (n_runs, n_clones, d))
    g_fn = None
    if current is not None:
        g_fn = current if d > 1 else _as_vector(current)
    drift_fn = drift if d > 1 else _as_vector(drift)
    lms, xs = _langevin_batch(keys, x0a, jnp.asarray(h), jnp.asarray(sigma), jnp.asarray(s), drift_fn,
                              observable, g_fn, n_rec=n_rec, record_every=record_every, m=resample_every)
    lms = np.asarray(lms)
    if not np.all(np.isfinite(lms)):
        raise ValueError(f"the clone weights overflowed (s = {s!r}, dt = {h!r}): theta(s) may be infinite "
                         "for this s, or the step is too large for the drift")
    xs = np.asarray(xs) if store_trajectories else np.zeros((n_runs, 0, n_clones, d))
    per_run, stderr = _estimate(lms, interval, n_burn, n_blocks)
    times = interval * np.arange(1, n_steps + 1)
    rec_times = times[record_every - 1::record_every] if store_trajectories else np.zeros(0)
    return CloningResult(scgf=float(per_run.mean()), stderr=stderr, scgf_runs=per_run, times=times,
                         log_growth=lms, trajectory_times=rec_times, trajectories=xs, s=s, dt=interval,
                         t_max=t_max, burn_in=n_burn * interval, n_clones=n_clones, n_runs=n_runs,
                         time_step=h)


@lru_cache(maxsize=64)
def _as_vector(fn):
    """Wrap a 1-D ``fn`` so it returns shape (1,) even if it returns a scalar.

    Cached (bounded) so that a second call with the same ``fn`` reuses the compiled scan.
    """
    def w(x):
        return jnp.reshape(fn(x), (1,))
    return w


# --------------------------------------------------------------------------------------------
# extrapolation


@dataclasses.dataclass(frozen=True, repr=False)
class Extrapolation(ResultBase):
    """Weighted least-squares fit ``y = value + slope * x`` with ``x = 1/N_c`` or ``1/T``.

    Attributes:
        value: extrapolated theta at ``x = 0`` (1/time); stderr: its standard error.
        slope: fitted coefficient ``c`` (1/time times the unit of 1/x); slope_stderr: its error.
        x, y, yerr: the fitted points, shape ``(k,)``.

    ``to_xarray()``: ``y``, ``yerr`` and the fitted line ``fit`` on dim ``x``; the fit
    parameters as attributes.

    Example:
        >>> e = extrapolate_clones(([10, 100], [-0.7, -0.637], [0.01, 0.01]))
        >>> ds = e.to_xarray()
        >>> ds.y.dims, round(ds.attrs["value"], 3)
        (('x',), -0.63)
    """

    value: float = attr()
    stderr: float = attr()
    slope: float = attr()
    slope_stderr: float = attr()
    x: np.ndarray = coord("x", units="1 or 1/time", long_name="1/N_c or 1/T")
    y: np.ndarray = var("x", units="1/time", long_name="SCGF estimate")
    yerr: np.ndarray = var("x", units="1/time", long_name="standard error")

    xarray_attrs = {"units": "value, stderr: 1/time"}

    def _xarray_extra(self, ds):
        return ds.assign(fit=("x", self.value + self.slope * self.x, {"long_name": "value + slope x",
                                                                     "units": "1/time"}))


def _fit_points(results, attr: str):
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
    return _fit(*_fit_points(results, "n_clones"))


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
    return _fit(*_fit_points(results, "t_max"))
