"""Transition path sampling (fixed path length) for overdamped Langevin dynamics.

Dynamics, potentials and regions: see :mod:`nephlab.largedev.sampling`.

Statistics of the reweighted mean transition path time (investigated for issue 16)
---------------------------------------------------------------------------------
The run of ``test_tps_mean_transition_path_time_1d`` (V = (x^2 - 1)^2, beta = 3, A = {x <= -1},
B = {x >= 1}, dt = 0.02, T = 5, 768 chains, burn_in = 600, 300 moves) gave 1.576 +- 0.378 with
seed 2 against 1.166-1.215 (+- 0.012-0.027) with seeds 0-17 otherwise. It is not a sampler bug:

* the acceptance rules (shooting ``e^{R'(j) - R(j)}``, shifts ``e^{-R(s)}`` / ``e^{R'(s)}``) follow
  from detailed balance of the path weight; the sampled distribution of transition path times
  matches an exact quadrature of the discrete path ensemble (test
  ``test_tps_matches_the_exact_discrete_ensemble``), and for the run above the exact (quadrature)
  limit of the reweighted mean is 1.1818; the 18 seeds give z = (mean - 1.1818) / se in
  [-1.38, 1.97] (seed 2: z = 1.04), their spread (sd 0.0135 without seed 2) equals the jackknife
  error (0.012-0.017). The jackknife over independent chains is an honest error here.
* Seed 2: chain 298 accepted, by a legitimate shooting move at its 167th move, a path that leaves A
  at the first slice and reaches B at the last (tau = T = 5.0). Its weight ``1 / (T - tau + dt)``
  is 1 / dt = 50 against ~0.26 for a typical path, and with shooting acceptance 1.6 % (1.8 % from
  that path too, measured by 4000 trial shots) the chain kept it for its last 133 moves: 10 % of the
  total weight, +0.39 on the mean, and the jackknife error grew to 0.38 to say so.

So the reweighted estimator is heavy-tailed when transitions of duration close to T occur: few
effective paths (about 3 accepted shootings per chain and 300 moves) leave most runs slightly low
with a small error and a rare run high with a large one. In addition the weights assume that every
placement of the transition in the window is equally likely; placements touching the window's
first or last slice are more likely (measured: 1.6x at tau = 4.5, 6.9x at tau = T), which biases
the limit by +1.3 % here (1.1818 against the stationary Euler-Maruyama mean 1.1663). Use a window
several times longer than the longest transitions. :meth:`TPSResult.mean_transition_path_time`
warns when one chain carries more than ``max(5 %, 5 / n_chains)`` of the weight (seed 2: 10 %),
and with a single chain it now uses the integrated autocorrelation time (the former naive error
ignored the correlation of successive moves and was 12-15x too small: for 32 chains of 4000 moves
(beta = 1, dt = 0.05, T = 2, seeds 1-3) its 2-sigma intervals covered the exact limit for 3-9 % of
the chains, the new ones for 69-78 %; the rest is the skew of the estimator and chains of only
25-80 ``tau_int``, which get a warning). Prefer several chains: their jackknife needs no
autocorrelation time.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import nephlab._config  # noqa: F401  (float64)
from nephlab._result import ResultBase, attr, coord, var
from nephlab._validate import disjoint_regions, finite_float, integer, positive_float, region, prng_key
from nephlab.largedev.potentials import double_well_1d_jax  # noqa: F401  (used by the examples)
from nephlab.largedev.sampling import _coords, _drift_fn, _potential, _region_fn

__all__ = ["TPSResult", "straight_path", "transition_path_sampling"]



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


@dataclass(frozen=True, repr=False)
class TPSResult(ResultBase):
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

    paths: np.ndarray = var("path", "slice", "dim")
    chain: np.ndarray = var("path", name="path_chain")
    times: np.ndarray = coord("slice", name="time")
    transition_path_times: np.ndarray = var("chain", "move", name="transition_path_time")
    move: np.ndarray = var("chain", "move", name="move_type")
    index: np.ndarray = var("chain", "move", name="move_index")
    accepted: np.ndarray = var("chain", "move")
    acceptance: dict  # -> attrs acceptance_shooting, acceptance_shift, acceptance_all
    beta: float = attr()
    dt: float = attr()
    gamma: float = attr()
    window: float = attr()
    unrelaxed_chains: tuple = ()
    stats: dict = field(default_factory=dict)

    xarray_attrs = {"move_types": "0 two-way shooting, 1 forward shift, 2 backward shift"}

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
        """Mean transition path time and its standard error, in time units.

        ``reweight=True`` removes the ``(T - tau)`` window bias of the fixed-length ensemble
        (weights ``1 / (T - tau + dt)``). The error is a jackknife over the independent chains
        (it includes each chain's autocorrelation). With one chain it is the autocorrelation
        error ``sqrt(2 tau_int var / M)`` of the linearised ratio estimator, with the integrated
        autocorrelation time ``tau_int`` (in moves) from Sokal's automatic window (c = 5); it is
        NaN when the chain never changed its transition path time (no information on the error),
        with a RuntimeWarning when the chain is shorter than 50 ``tau_int``.

        Warns (RuntimeWarning) when one chain carries more than ``max(5 %, 5 / n_chains)`` of
        the total weight: transition path times close to the window ``T`` get weights up to
        ``1 / dt``, so a few slowly decorrelating paths then dominate the mean (see the module
        notes); the error bar is then large, and a longer window is the cure.

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
            # linearised ratio estimator: mean - m ~ sum_n y_n / sum_n w_n, y_n = w_n (tau_n - m)
            y = (w[0] * (tau[0] - mean)) / w[0].mean()
            t_int = _integrated_autocorrelation_time(y)
            if y.size < 50 * t_int:
                warnings.warn(f"mean_transition_path_time: one chain of {y.size} moves with an integrated "
                              f"autocorrelation time of {t_int:.3g} moves (< 50 of them): its error is unreliable "
                              f"(too small); run more moves or chains", RuntimeWarning, stacklevel=2)
            var = float(np.mean(y**2))
            se = float(np.sqrt(2.0 * t_int * var / y.size)) if var > 0 else float("nan")
            return mean, se
        share = sw / sw.sum()
        top = int(np.argmax(share))
        if share[top] > max(0.05, 5.0 / C):
            warnings.warn(f"mean_transition_path_time: chain {top} carries {share[top]:.1%} of the total weight "
                          f"(its mean transition path time {float(swt[top] / sw[top]):.3g}, "
                          f"window T = {self.window:g}; "
                          f"weights 1/(T - tau + dt) reach 1/dt = {1 / self.dt:.3g}): the mean is dominated by a few "
                          f"slowly decorrelating paths; use a longer window", RuntimeWarning, stacklevel=2)
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

    def _xarray_extra(self, ds):
        """Dataset (dims ``path``, ``slice``, ``dim``, ``chain``, ``move``) plus the acceptance rates.

        Example:
            >>> r = transition_path_sampling(double_well_1d_jax, straight_path(-1.2, 1.2, 51), 2.0,
            ...     (-np.inf, -0.8), (0.8, np.inf), dt=0.04, n_moves=20, n_chains=4, burn_in=60, save_every=10, seed=0)
            >>> r.to_xarray().paths.shape
            (8, 51, 1)
        """
        ds.attrs.update({f"acceptance_{k}": v for k, v in self.acceptance.items()})
        return ds


def _integrated_autocorrelation_time(y: np.ndarray, c: float = 5.0) -> float:
    """Integrated autocorrelation time ``1/2 + sum_t rho(t)`` (in samples) of the 1D series ``y``,
    summed up to Sokal's automatic window: the smallest ``W >= c tau_int(W)``. 0.5 for an
    uncorrelated series; the whole series is used when no window satisfies the rule.

    Example:
        >>> t = _integrated_autocorrelation_time(np.random.default_rng(0).normal(size=4000))
        >>> bool(0.4 < t < 0.6)
        True
    """
    y = np.asarray(y, dtype=float) - np.mean(y)
    n = y.size
    f = np.fft.rfft(y, n=2 * n)
    acf = np.fft.irfft(f * np.conj(f), n=2 * n)[:n]
    if acf[0] <= 0:
        return 0.5
    rho = acf / acf[0]
    t_int = 0.5 + np.cumsum(rho[1:])
    ok = np.flatnonzero(np.arange(1, n) >= c * t_int)
    return float(max(0.5, t_int[ok[0]] if ok.size else t_int[-1]))


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
    Ar, Br = region(A, "A", d), region(B, "B", d)
    disjoint_regions(Ar, Br)
    fA, fB = jax.vmap(_region_fn(Ar, d)), jax.vmap(_region_fn(Br, d))
    startA = np.asarray(fA(jnp.asarray(p0[:, 0])))
    endB = np.asarray(fB(jnp.asarray(p0[:, -1])))
    if not startA.all():
        raise ValueError(f"initial_path must start in A; chain(s) {np.flatnonzero(~startA).tolist()} start at "
                         f"{p0[np.flatnonzero(~startA)[0], 0].tolist()}")
    if not endB.all():
        raise ValueError(f"initial_path must end in B; chain(s) {np.flatnonzero(~endB).tolist()} end at "
                         f"{p0[np.flatnonzero(~endB)[0], -1].tolist()}")
    keys = jax.random.split(prng_key(seed), n_chains)
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

