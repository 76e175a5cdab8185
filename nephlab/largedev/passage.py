"""First passage times of Langevin trajectories, and the exact mean transition path time in 1D.

Dynamics, potentials, regions and discretisation bias: see :mod:`nephlab.largedev.sampling`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
import scipy.integrate as si

from nephlab._result import ResultBase, attr, var
from nephlab._validate import finite_float, integer, positive_float, region, prng_key
from nephlab.largedev.potentials import double_well_1d_jax  # noqa: F401  (used by the examples)
from nephlab.largedev.sampling import _absorb, _common, boundary_shift

__all__ = ["FirstPassageResult", "first_passage_times", "mean_transition_path_time_1d"]



@dataclass(frozen=True, repr=False)
class FirstPassageResult(ResultBase):
    """First passage times into B from one starting point, and the rate ``1 / <tau>``.

    Attributes:
        times: (n_traj,) passage times (time); NaN for trajectories that did not arrive.
        mean, stderr: mean first passage time ``<tau>`` and its standard error (time).
        rate, rate_stderr: ``k = 1 / <tau>`` (1 / time) and its delta-method error ``stderr / <tau>**2``.
        n_unfinished: trajectories still outside B after ``max_steps`` (then ``mean`` is biased low
            and a ``RuntimeWarning`` was issued).
        x0: (d,) start (length).  beta, dt, gamma: what ran.  boundary_shift: see
            :func:`~nephlab.largedev.sampling.boundary_shift`.

    ``to_xarray()`` gives ``times`` on dim ``traj``, ``x0`` on ``dim``, the scalars as attributes.

    Example:
        >>> r = first_passage_times(double_well_1d_jax, -1.0, 2.0, (0.0, np.inf), n_traj=200,
        ...                         dt=1e-2, seed=0)
        >>> r.to_xarray().times.dims
        ('traj',)
    """

    times: np.ndarray = var("traj")
    mean: float = attr()
    stderr: float = attr()
    rate: float = attr()
    rate_stderr: float = attr()
    n_unfinished: int = attr()
    x0: np.ndarray = var("dim")
    beta: float = attr()
    dt: float = attr()
    gamma: float = attr()
    boundary_shift: float = attr()

    def __str__(self) -> str:
        return (f"FirstPassageResult(n_traj={self.times.size}, <tau>={self.mean:.5g}±{self.stderr:.2g}, "
                f"k={self.rate:.5g}±{self.rate_stderr:.2g}, unfinished={self.n_unfinished})")


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
    Br = region(B, "B", d)
    key = prng_key(seed)
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

