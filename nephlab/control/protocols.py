"""Finite-time protocols for overdamped Brownian motion: exact optima, exact work statistics, optimisation.

Model (overdamped Langevin, Itô)::

    gamma dx = -dU/dx(x, lam(t)) dt + sqrt(2 gamma kBT) dB

Work (Sekimoto) ``W = int dU/dlam(x, lam) dlam``; a jump of ``lam`` at time ``t`` adds
``U(x, lam+) - U(x, lam-)``. The particle starts in equilibrium in ``U(x, lam(0))`` (before any
jump at t = 0).

Units are general and consistent: ``gamma`` is a friction (force * time / length), ``k`` a
stiffness (energy / length^2), ``kBT`` an energy, ``tau`` a time; works are energies. Defaults are
``gamma = k = kBT = 1``.

Harmonic problems (``kind``):

- ``"trap_translation"``: ``U = k (x - lam)^2 / 2``, ``lam`` a position.
- ``"stiffness"``: ``U = lam x^2 / 2``, ``lam`` a stiffness (> 0).
- ``"quadratic"`` (only in :func:`gaussian_work`): ``U = kappa (x - c)^2 / 2`` with
  ``lam = (kappa, c)`` given as an array of shape ``(n, 2)``.

Exact work statistics. For every quadratic ``U`` the drift is linear in ``x`` and the work rate
``dU/dt`` is quadratic in ``x``; the moments ``M(n, m) = <x^n W^m>`` then obey a linear ODE
hierarchy in which the weight ``n + 2m`` never increases, so ``{<x>, <x^2>, <x^3>, <x^4>, <W>,
<xW>, <x^2 W>, <W^2>}`` is a *closed, exact* system (no Gaussian closure is needed; in the
translation case ``W`` is Gaussian, in the stiffness case it is not, but its first two moments are
still exact). :func:`gaussian_work` integrates that system with RK4 on a fixed grid, applying the
jumps exactly.

References: T. Schmiedl and U. Seifert, PRL 98, 108301 (2007) (exact optimal protocols).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (enables float64)
from .._result import ResultBase, attr, var
from .._validate import finite_or_traced, function, integer, one_of, positive_or_traced

__all__ = [
    "Protocol",
    "WorkMoments",
    "gaussian_work",
    "grid_work",
    "harmonic_trap",
    "linear_ramp",
    "optimal_protocol",
    "optimize_protocol",
    "trap_parameters",
]

_KINDS = ("trap_translation", "stiffness")
_ALL_KINDS = ("trap_translation", "stiffness", "quadratic")


# --------------------------------------------------------------------------------------------
# Protocol
# --------------------------------------------------------------------------------------------
def _rational(t: jax.Array, p: jax.Array) -> jax.Array:
    """Interior family ``p0/(1+p2 t)^2 - p1/(1+p2 t)`` (exact stiffness optimum and geodesic)."""
    s = 1.0 + p[2] * t
    return p[0] / s**2 - p[1] / s


@dataclass(frozen=True, repr=False)
class Protocol(ResultBase):
    """A finite-time protocol ``lam(t)`` on ``[0, tau]`` with explicit jumps at both ends.

    ``lam(0) = lam_i`` and ``lam(tau) = lam_f`` are the fixed end points; the interior
    ``0 < t < tau`` is either piecewise linear through nodes (``family="nodes"``) or the closed
    form ``p0/(1+p2 t)^2 - p1/(1+p2 t)`` (``family="rational"``). The interior limits
    ``lam(0+)`` and ``lam(tau-)`` may differ from the end points: those are the jumps.

    Attributes:
        kind: ``"trap_translation"``, ``"stiffness"`` or ``"user"``.
        tau: duration (time units).
        lam_i, lam_f: ``lam(0)`` and ``lam(tau)``.
        family: ``"nodes"`` or ``"rational"``.
        params: for ``"nodes"`` a pair ``(times, values)`` of 1-D arrays, ``times[0] = 0``,
            ``times[-1] = tau``, values the interior limits; for ``"rational"`` ``(p0, p1, p2)``.
        work: mean work (energy units), exact for closed forms, model value for optimised ones.
        work_var: variance of the work (energy^2) when known, else ``None``.
        physics: ``(("gamma", ..), ("k", ..), ("kBT", ..))`` used to build it.

    ``to_xarray()``: ``lam`` on :attr:`times` over the dim ``point`` (``time`` a coordinate,
    repeated at the jumps), the parametrisation (``node_time``/``node_lam`` over ``node``, or
    ``rational_p`` over ``p``), ``work``/``work_var`` as 0-d variables; ``kind``, ``tau``,
    ``lam_i``, ``lam_f``, ``family`` and the physics (``gamma``, ``k``, ``kBT``) as attributes.
    ``str(p)`` shows the jumps and the work in one line.

    Example:
        >>> p = optimal_protocol("trap_translation", lam_f=5.0, tau=1.0)
        >>> p.jumps
        ((0.0, 1.666...), (3.333..., 5.0))
        >>> float(p.lam(0.5))
        2.5
        >>> p.to_xarray().lam.dims
        ('point',)
        >>> print(p)
        Protocol(kind='trap_translation', tau=1, lam: 0 -> 1.667 ... 3.333 -> 5, work=8.33333)
    """

    kind: str = attr()
    tau: float = attr()
    lam_i: float = attr()
    lam_f: float = attr()
    family: str = attr()
    params: tuple = field(compare=False)
    work: float | None = var(units="energy", long_name="mean work ⟨W⟩", default=None)
    work_var: float | None = var(units="energy^2", long_name="work variance Var W", default=None)
    physics: tuple = ()

    def __str__(self) -> str:  # one line: the jumps and the work
        (a, b), (c, d) = self.jumps
        w = "?" if self.work is None else f"{self.work:.6g}"
        return (f"Protocol(kind={self.kind!r}, tau={self.tau:g}, lam: {a:.4g} -> {b:.4g} ... "
                f"{c:.4g} -> {d:.4g}, work={w})")

    def _xarray_extra(self, ds):
        units = {"trap_translation": "length", "stiffness": "energy/length^2"}.get(self.kind, "")
        ds = ds.assign(lam=("point", self.values, {"units": units, "long_name": "protocol lam(t)"}))
        ds = ds.assign_coords(time=("point", self.times, {"units": "time"}))
        if self.family == "nodes":
            ds = ds.assign(node_time=("node", np.asarray(self.params[0], float), {"units": "time"}),
                           node_lam=("node", np.asarray(self.params[1], float), {"units": units}))
        else:
            ds = ds.assign(rational_p=("p", np.asarray(self.params, float),
                                       {"long_name": "lam(t) = p0/(1+p2 t)^2 - p1/(1+p2 t) inside (0, tau)"}))
        ds.attrs.update(dict(self.physics))
        return ds

    def _interior(self, t: jax.Array) -> jax.Array:
        if self.family == "rational":
            return _rational(t, jnp.asarray(self.params, dtype=jnp.float64))
        nt, nv = self.params
        return jnp.interp(t, jnp.asarray(nt), jnp.asarray(nv))

    def lam(self, t: Any) -> jax.Array:
        """``lam(t)``, vectorised over any array ``t`` (time units); ``lam_i`` for ``t <= 0``,
        ``lam_f`` for ``t >= tau``, the interior otherwise. Same shape as ``t``."""
        t = jnp.asarray(t, dtype=jnp.float64)
        inner = self._interior(jnp.clip(t, 0.0, self.tau))
        return jnp.where(t <= 0.0, self.lam_i, jnp.where(t >= self.tau, self.lam_f, inner))

    @property
    def jumps(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((lam(0), lam(0+)), (lam(tau-), lam(tau)))`` as floats."""
        a = float(self._interior(jnp.float64(0.0)))
        b = float(self._interior(jnp.float64(self.tau)))
        return (float(self.lam_i), a), (b, float(self.lam_f))

    @property
    def times(self) -> np.ndarray:
        """Plotting/evaluation grid, shape ``(n,)``, with ``0`` and ``tau`` repeated at the jumps."""
        if self.family == "nodes":
            inner = np.asarray(self.params[0], dtype=float)
        else:
            inner = np.linspace(0.0, self.tau, 257)
        return np.concatenate([[0.0], inner, [self.tau]])

    @property
    def values(self) -> np.ndarray:
        """``lam`` on :attr:`times` (shape ``(n,)``): ``lam_i``, the interior, ``lam_f``. For node
        protocols the interior values are the nodes themselves (a repeated node time is a jump)."""
        if self.family == "nodes":
            inner = np.asarray(self.params[1], dtype=float)
        else:
            inner = np.asarray(self._interior(jnp.asarray(self.times[1:-1])))
        return np.concatenate([[self.lam_i], inner, [self.lam_f]])


class WorkMoments(NamedTuple):
    """Mean and variance of the work and the free-energy change (energy, energy^2, energy)."""

    mean: jax.Array
    var: jax.Array
    delta_f: jax.Array


def _physics(gamma: float, k: float, kBT: float) -> tuple:
    return (("gamma", float(gamma)), ("k", float(k)), ("kBT", float(kBT)))


def _end_points(problem: str, lam_i: Any, lam_f: Any, k_i: Any, k_f: Any) -> tuple[Any, Any]:
    """The validated end values ``(lam(0), lam(tau))`` of a harmonic problem: ``(lam_i, lam_f)``
    (positions, ``lam_i=None`` meaning 0) for translation, ``(k_i, k_f)`` (> 0) for stiffness."""
    if problem == "stiffness":
        if k_i is None or k_f is None:
            raise ValueError(f"k_i={k_i!r}, k_f={k_f!r}: the 'stiffness' problem needs both, finite and > 0")
        return positive_or_traced(k_i, "k_i"), positive_or_traced(k_f, "k_f")
    if lam_f is None:
        raise ValueError("lam_f=None: the 'trap_translation' problem needs a finite lam_f")
    return finite_or_traced(0.0 if lam_i is None else lam_i, "lam_i"), finite_or_traced(lam_f, "lam_f")


def harmonic_trap(x: Any, lam: Any) -> jax.Array:
    """The harmonic trap ``U = kappa (x - c)^2 / 2`` with ``lam = (kappa, c)`` (energy).

    One potential for every harmonic problem (the ``"quadratic"`` kind of :func:`gaussian_work`
    uses the same ``(kappa, c)`` order): pass it as ``U`` to
    :func:`nephlab.stochastic.overdamped_langevin` with ``lam_ndim=1`` and a protocol from
    :func:`trap_parameters`. JAX-traceable; a module-level function, so compiled code is reused.

    Args:
        x: position(s) (length), any shape.
        lam: ``(..., 2)`` array, ``lam[..., 0]`` the stiffness kappa (energy/length^2) and
            ``lam[..., 1]`` the centre c (length); broadcast against ``x``.

    Returns:
        ``U`` (energy), the broadcast shape.

    Example:
        >>> float(harmonic_trap(3.0, jnp.array([2.0, 1.0])))
        4.0
    """
    lam = jnp.asarray(lam)
    return 0.5 * lam[..., 0] * (x - lam[..., 1]) ** 2


def trap_parameters(kind: str, lam: Any, *, k: float = 1.0) -> np.ndarray:
    """``(kappa, c)`` of the trap for protocol values ``lam`` of a harmonic problem.

    ``"trap_translation"``: ``(k, lam)``; ``"stiffness"``: ``(lam, 0)``; the input of
    :func:`harmonic_trap` and of ``gaussian_work(..., kind="quadratic")``.

    Args:
        kind: ``"trap_translation"`` or ``"stiffness"``.
        lam: protocol values, shape ``(n,)`` (position, or stiffness > 0).
        k: trap stiffness of the translation problem (> 0, energy/length^2).

    Returns:
        array of shape ``(n, 2)``.

    Example:
        >>> trap_parameters("trap_translation", [0.0, 1.5], k=2.0).tolist()
        [[2.0, 0.0], [2.0, 1.5]]
        >>> trap_parameters("stiffness", [1.0, 4.0]).tolist()
        [[1.0, 0.0], [4.0, 0.0]]
    """
    one_of(kind, "kind", _KINDS)
    k = positive_or_traced(k, "k")
    v = np.asarray(lam, dtype=float)
    if v.ndim != 1 or not np.all(np.isfinite(v)):
        raise ValueError(f"lam has shape {v.shape}; allowed: a 1-D array of finite floats")
    if kind == "stiffness":
        if np.any(v <= 0):
            raise ValueError(f"lam (a stiffness) has values <= 0 (min {v.min()!r}); allowed: > 0")
        return np.stack([v, np.zeros_like(v)], axis=-1)
    return np.stack([np.full_like(v, k), v], axis=-1)


# --------------------------------------------------------------------------------------------
# exact optima (Schmiedl & Seifert 2007)
# --------------------------------------------------------------------------------------------
def _ss_stiffness(k_i: float, k_f: float, tau: float, gamma: float, kBT: float) -> tuple[float, float, float]:
    """Return (c, q_f, W*) for the optimal stiffness protocol; w(t) = w_i (1 + c t)^2."""
    q_i = math.sqrt(kBT / k_i)
    a = k_f + 2.0 * gamma / tau
    b = 2.0 * gamma * q_i / tau
    q = (b + math.sqrt(b * b + 4.0 * a * kBT)) / (2.0 * a)
    c = (q / q_i - 1.0) / tau
    work = k_f * q * q / 2.0 - kBT / 2.0 - kBT * math.log(q / q_i) + gamma * (q - q_i) ** 2 / tau
    return c, q, work


def optimal_protocol(
    problem: str,
    *,
    tau: float,
    lam_i: float = 0.0,
    lam_f: float | None = None,
    k_i: float | None = None,
    k_f: float | None = None,
    k: float = 1.0,
    gamma: float = 1.0,
    kBT: float = 1.0,
) -> Protocol:
    """Exact minimum-mean-work protocol of Schmiedl & Seifert (PRL 98, 108301, 2007).

    ``"trap_translation"`` (``U = k (x-lam)^2/2``, from ``lam_i`` to ``lam_f``)::

        lam(t) = lam_i + d (1 + k t/gamma) / (2 + k tau/gamma),   d = lam_f - lam_i,
        <W>*  = gamma d^2 / (tau + 2 gamma/k)

    ``"stiffness"`` (``U = lam x^2/2``, from ``k_i`` to ``k_f``): with ``w = <x^2>`` the mean work
    is ``[lam w/2] - (kBT/2) ln(w_f/w_i) + gamma int wdot^2/(4w) dt``, so ``sqrt(w)`` is linear:
    ``w(t) = w_i (1 + c t)^2``, ``lam(t) = (kBT - gamma wdot/2)/w``; ``q = sqrt(w(tau))`` is the
    positive root of ``(k_f + 2 gamma/tau) q^2 - (2 gamma q_i/tau) q - kBT = 0``. Both ends jump.

    Args:
        problem: ``"trap_translation"`` or ``"stiffness"``.
        tau: duration (> 0, time units).
        lam_i, lam_f: trap positions (length units), translation only; ``lam_f`` required.
        k_i, k_f: initial and final stiffness (> 0), stiffness only.
        k: trap stiffness for translation (> 0). gamma: friction (> 0). kBT: thermal energy (> 0).

    Returns:
        A :class:`Protocol` with exact ``.work`` (and, for translation, ``.work_var = 2 kBT work``).

    Example:
        >>> p = optimal_protocol("trap_translation", lam_f=5.0, tau=1.0)
        >>> round(p.work, 12) == round(25 / 3, 12)
        True
        >>> s = optimal_protocol("stiffness", k_i=1.0, k_f=2.0, tau=1.0)
        >>> s.jumps[0][0], s.jumps[1][1]
        (1.0, 2.0)
    """
    one_of(problem, "problem", _KINDS)
    tau = positive_or_traced(tau, "tau")
    gamma = positive_or_traced(gamma, "gamma")
    kBT = positive_or_traced(kBT, "kBT")
    if problem == "trap_translation":
        k = positive_or_traced(k, "k")
        lam_i, lam_f = _end_points(problem, lam_i, lam_f, k_i, k_f)
        d = lam_f - lam_i
        den = 2.0 + k * tau / gamma
        nodes_t = np.array([0.0, tau])
        nodes_v = np.array([lam_i + d / den, lam_i + d * (1.0 + k * tau / gamma) / den])
        work = gamma * d * d / (tau + 2.0 * gamma / k)
        return Protocol("trap_translation", tau, lam_i, lam_f, "nodes", (nodes_t, nodes_v),
                        work, 2.0 * kBT * work, _physics(gamma, k, kBT))
    k_i, k_f = _end_points(problem, lam_i, lam_f, k_i, k_f)
    c, _, work = _ss_stiffness(k_i, k_f, tau, gamma, kBT)
    params = (k_i, gamma * c, c)  # lam(t) = kBT/(w_i s^2) - gamma c/s,  kBT/w_i = k_i
    return Protocol("stiffness", tau, k_i, k_f, "rational", params, work, None, _physics(gamma, k, kBT))


def linear_ramp(problem: str, *, tau: float, lam_i: float | None = None, lam_f: float | None = None,
                k_i: float | None = None, k_f: float | None = None, k: float = 1.0,
                gamma: float = 1.0, kBT: float = 1.0) -> Protocol:
    """Linear ramp ``lam(t) = lam_i + (lam_f - lam_i) t/tau`` (no jumps), with exact ``.work``.

    Same keywords as :func:`optimal_protocol` (``k_i``/``k_f`` for stiffness). The work is
    computed by :func:`gaussian_work` (exact moment equations; closed form for translation:
    ``gamma v^2 [tau - tau_r (1 - exp(-tau/tau_r))]``, ``v = d/tau``, ``tau_r = gamma/k``).

    Example:
        >>> p = linear_ramp("trap_translation", lam_f=5.0, tau=1.0)
        >>> abs(p.work - 25 / math.e) < 1e-9
        True
    """
    one_of(problem, "problem", _KINDS)
    tau = positive_or_traced(tau, "tau")
    a, b = _end_points(problem, lam_i, lam_f, k_i, k_f)
    p = Protocol(problem, tau, a, b, "nodes", (np.array([0.0, tau]), np.array([a, b])), None, None,
                 _physics(gamma, k, kBT))
    m = gaussian_work(p, k=k, gamma=gamma, kBT=kBT)
    return Protocol(problem, tau, a, b, "nodes", p.params, float(m.mean), float(m.var), p.physics)


# --------------------------------------------------------------------------------------------
# exact moment hierarchy
# --------------------------------------------------------------------------------------------
def _kc(kind: str, lam: jax.Array, lamdot: jax.Array, k: jax.Array):
    if kind == "trap_translation":
        return k, lam, 0.0 * lam, lamdot
    if kind == "stiffness":
        return lam, 0.0 * lam, lamdot, 0.0 * lam
    return lam[..., 0], lam[..., 1], lamdot[..., 0], lamdot[..., 1]


def _moment_rhs(M, kap, c, kapd, cd, gamma, kBT):
    m1, m2, m3, m4, w1, xw, x2w, w2 = M
    a = -kap / gamma
    b = kap * c / gamma
    D = kBT / gamma
    al = kapd / 2.0
    be = -(kapd * c + kap * cd)
    de = kapd * c * c / 2.0 + kap * c * cd
    return jnp.stack([
        a * m1 + b,
        2 * a * m2 + 2 * b * m1 + 2 * D,
        3 * a * m3 + 3 * b * m2 + 6 * D * m1,
        4 * a * m4 + 4 * b * m3 + 12 * D * m2,
        al * m2 + be * m1 + de,
        a * xw + b * w1 + al * m3 + be * m2 + de * m1,
        2 * a * x2w + 2 * b * xw + 2 * D * w1 + al * m4 + be * m3 + de * m2,
        2 * (al * x2w + be * xw + de * w1),
    ])


def _moment_jump(M, kc_old, kc_new):
    m1, m2, m3, m4, w1, xw, x2w, w2 = M
    (k0, c0), (k1, c1) = kc_old, kc_new
    A = (k1 - k0) / 2.0
    B = -(k1 * c1 - k0 * c0)
    C = (k1 * c1 * c1 - k0 * c0 * c0) / 2.0
    d2 = A * A * m4 + 2 * A * B * m3 + (B * B + 2 * A * C) * m2 + 2 * B * C * m1 + C * C
    w2n = w2 + 2 * (A * x2w + B * xw + C * w1) + d2
    return jnp.stack([m1, m2, m3, m4, w1 + A * m2 + B * m1 + C, xw + A * m3 + B * m2 + C * m1,
                      x2w + A * m4 + B * m3 + C * m2, w2n])


def _moment_init(kap, c, kBT):
    s = kBT / kap
    z = 0.0 * s
    return jnp.stack([c + z, s + c * c, c**3 + 3 * c * s, c**4 + 6 * c * c * s + 3 * s * s, z, z, z, z])


def _rk4(f, y, t, h):
    k1 = f(y, t)
    k2 = f(y + h / 2 * k1, t + h / 2)
    k3 = f(y + h / 2 * k2, t + h / 2)
    k4 = f(y + h * k3, t + h)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _segments(state, times, values, n_sub, rhs, jump):
    """Piecewise-linear lam through (times, values); zero-length segments are exact jumps."""

    def seg(y, inp):
        t0, t1, l0, l1 = inp
        dt = t1 - t0
        safe = jnp.where(dt > 0, dt, 1.0)
        slope = (l1 - l0) / safe
        h = dt / n_sub

        def f(yy, s):
            return rhs(yy, l0 + slope * s, slope)

        def flow(yy):
            return jax.lax.fori_loop(0, n_sub, lambda i, z: _rk4(f, z, i * h, h), yy)

        y = jax.lax.cond(dt > 0, flow, lambda yy: jump(yy, l0, l1), y)
        return y, None

    y, _ = jax.lax.scan(seg, state, (times[:-1], times[1:], values[:-1], values[1:]))
    return y


def _gauss_state_nodes(times, values, kind, k, gamma, kBT, n_sub):
    kap0, c0, _, _ = _kc(kind, values[0], values[0], k)
    M = _moment_init(kap0, c0, kBT)

    def rhs(y, lam, lamdot):
        return _moment_rhs(y, *_kc(kind, lam, lamdot, k), gamma, kBT)

    def jump(y, l0, l1):
        a = _kc(kind, l0, l0, k)
        b = _kc(kind, l1, l1, k)
        return _moment_jump(y, (a[0], a[1]), (b[0], b[1]))

    return _segments(M, times, values, n_sub, rhs, jump)


def _finish(M, kind, values, k, kBT):
    kap0 = _kc(kind, values[0], values[0], k)[0]
    kap1 = _kc(kind, values[-1], values[-1], k)[0]
    mean = M[4]
    return WorkMoments(mean, M[7] - mean**2, 0.5 * kBT * jnp.log(kap1 / kap0))


@partial(jax.jit, static_argnames=("kind", "n_sub"))
def _gauss_nodes(times, values, k, gamma, kBT, *, kind, n_sub):
    M = _gauss_state_nodes(times, values, kind, k, gamma, kBT, n_sub)
    return _finish(M, kind, values, k, kBT)


@partial(jax.jit, static_argnames=("kind", "n_steps"))
def _gauss_rational(p, lam_i, lam_f, tau, k, gamma, kBT, *, kind, n_steps):
    fn = lambda t: _rational(t, p)  # noqa: E731
    l0p, ltm = fn(0.0), fn(tau)
    k0, c0, _, _ = _kc(kind, lam_i, lam_i, k)
    M = _moment_init(k0, c0, kBT)
    kc = lambda lv: _kc(kind, lv, lv, k)[:2]  # noqa: E731
    M = _moment_jump(M, kc(lam_i), kc(l0p))

    def f(y, t):
        lam, lamdot = jax.jvp(fn, (t,), (jnp.ones_like(t),))
        return _moment_rhs(y, *_kc(kind, lam, lamdot, k), gamma, kBT)

    h = tau / n_steps
    M = jax.lax.fori_loop(0, n_steps, lambda i, y: _rk4(f, y, i * h, h), M)
    M = _moment_jump(M, kc(ltm), kc(lam_f))
    return _finish(M, kind, jnp.stack([lam_i, lam_f]), k, kBT)


def _as_grid(times: Any, lam: Any, kind: str) -> tuple[jax.Array, jax.Array]:
    t = np.asarray(times, dtype=float)
    v = np.asarray(lam, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"times has shape {t.shape}; allowed: 1-D with at least 2 points")
    want = (t.size, 2) if kind == "quadratic" else (t.size,)
    if v.shape != want:
        raise ValueError(f"lam has shape {v.shape} but the time grid (times, shape {t.shape}) needs {want}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
        raise ValueError("times/lam contain non-finite values; allowed: finite floats")
    if t[0] != 0.0 or not np.all(np.diff(t) >= 0) or t[-1] <= 0:
        raise ValueError(f"times={t!r} must start at 0, be non-decreasing (repeat a time for a jump) "
                         "and end at tau > 0")
    if kind == "stiffness" and np.any(v <= 0):
        raise ValueError(f"lam (a stiffness) has values <= 0 (min {v.min()!r}); allowed: > 0")
    if kind == "quadratic" and np.any(v[:, 0] <= 0):
        raise ValueError(f"lam[:, 0] (kappa) has values <= 0 (min {v[:, 0].min()!r}); allowed: > 0")
    return jnp.asarray(t), jnp.asarray(v)


def _stable_steps(n_steps: int, tau: float, kmax: float, gamma: float) -> int:
    """At least n_steps, and enough that h * 4 kappa_max/gamma <= 0.25 (RK4 stable and accurate);
    rounded up to a power of two so that few distinct step counts get compiled."""
    need = max(int(n_steps), int(math.ceil(16.0 * tau * kmax / gamma)))
    return int(n_steps) if need == int(n_steps) else 1 << (need - 1).bit_length()


def gaussian_work(
    protocol: Protocol | Any,
    lam: Any = None,
    *,
    kind: str | None = None,
    k: float | None = None,
    gamma: float | None = None,
    kBT: float | None = None,
    n_steps: int = 2048,
    steps_per_segment: int | None = None,
) -> WorkMoments:
    """Exact mean and variance of the work for any protocol on a harmonic trap.

    Integrates the closed moment hierarchy (module docstring) for ``<x^n W^m>`` with RK4 and
    exact jumps; the particle starts in equilibrium at ``lam(0)``. Error is O((tau/n_steps)^4);
    ``n_steps`` is raised automatically (to a power of two) so that ``h * 4 kappa_max/gamma <= 0.25``.

    Args:
        protocol: a :class:`Protocol`, or a time grid ``times`` of shape ``(n,)`` (starting at 0,
            non-decreasing; a repeated time is a jump) with ``lam`` given.
        lam: values on ``times``, shape ``(n,)`` or ``(n, 2)`` = ``(kappa, c)`` for
            ``kind="quadratic"``; piecewise linear in between.
        kind: ``"trap_translation"``, ``"stiffness"`` or ``"quadratic"``; defaults to the protocol's.
        k, gamma, kBT: stiffness (translation), friction, thermal energy; default: the
            protocol's values, else 1.
        n_steps: RK4 steps in total (spread over the segments of a node protocol).
        steps_per_segment: node protocols only: RK4 steps on every segment of positive length
            instead of spreading ``n_steps`` (>= 2; raised to a power of two where the longest
            segment needs more for stability). A fixed value keeps one compiled function for all
            protocols with the same number of nodes, whatever their times: no recompilation
            when a node moves onto another (a drag in the protocol designer).

    Returns:
        :class:`WorkMoments` ``(mean, var, delta_f)`` as 0-d arrays (energy units);
        ``delta_f = (kBT/2) ln(kappa_f/kappa_i)``.

    Example:
        >>> import numpy as np
        >>> m = gaussian_work(np.array([0.0, 1.0]), np.array([0.0, 5.0]), kind="trap_translation")
        >>> bool(abs(m.mean - 25 / np.e) < 1e-10), bool(abs(m.var - 2 * m.mean) < 1e-10)
        (True, True)
    """
    phys = dict(protocol.physics) if isinstance(protocol, Protocol) else {}
    k = positive_or_traced(phys.get("k", 1.0) if k is None else k, "k")
    gamma = positive_or_traced(phys.get("gamma", 1.0) if gamma is None else gamma, "gamma")
    kBT = positive_or_traced(phys.get("kBT", 1.0) if kBT is None else kBT, "kBT")
    n_steps = integer(n_steps, "n_steps")
    if isinstance(protocol, Protocol):
        kind = protocol.kind if kind is None else kind
        one_of(kind, "kind", _KINDS)
        if protocol.family == "rational":
            kap = np.abs(np.asarray(protocol._interior(jnp.linspace(0.0, protocol.tau, 65))))
            kmax = max(float(kap.max()), protocol.lam_i, protocol.lam_f) if kind == "stiffness" else k
            n_steps = _stable_steps(n_steps, protocol.tau, kmax, gamma)
            return _gauss_rational(jnp.asarray(protocol.params, dtype=jnp.float64), protocol.lam_i,
                                   protocol.lam_f, protocol.tau, k, gamma, kBT, kind=kind, n_steps=int(n_steps))
        times, lam = protocol.times, protocol.values
    else:
        times = protocol
        if lam is None:
            raise ValueError("lam=None: pass lam values on the time grid, or a Protocol")
        if kind is None:
            raise ValueError("kind=None: with arrays pass kind='trap_translation', 'stiffness' or 'quadratic'")
    one_of(kind, "kind", _ALL_KINDS)
    t, v = _as_grid(times, lam, kind)
    n_seg = max(1, int(np.count_nonzero(np.diff(np.asarray(t)) > 0)))
    vv = np.asarray(v)
    kmax = {"trap_translation": k, "stiffness": float(np.max(vv))}.get(kind) or float(np.max(vv[:, 0]))
    if steps_per_segment is None:
        n_steps = _stable_steps(n_steps, float(t[-1]), kmax, gamma)
        n_sub = max(2, -(-int(n_steps) // n_seg))
    else:
        n_sub = integer(steps_per_segment, "steps_per_segment", minimum=2)
        n_sub = _stable_steps(n_sub, float(np.max(np.diff(np.asarray(t)))), kmax, gamma)
    return _gauss_nodes(t, v, k, gamma, kBT, kind=kind, n_sub=n_sub)


# --------------------------------------------------------------------------------------------
# Fokker-Planck (master equation) on a grid, for user potentials
# --------------------------------------------------------------------------------------------
def _fp_rates(U, x, lam, gamma, kBT):
    u = jax.vmap(lambda xx: U(xx, lam))(x)
    h = x[1] - x[0]
    D = kBT / gamma
    du = (u[1:] - u[:-1]) / kBT
    up = D / h**2 * jnp.exp(-du / 2)  # i -> i+1
    dn = D / h**2 * jnp.exp(du / 2)  # i+1 -> i
    return u, up, dn


def _fp_apply(v, up, dn):
    flux = up * v[:-1] - dn * v[1:]  # net i -> i+1
    return jnp.concatenate([-flux[:1], flux[:-1] - flux[1:], flux[-1:]])


@partial(jax.jit, static_argnames=("U", "n_sub"))
def _grid_nodes(times, values, x, gamma, kBT, *, U, n_sub):
    u0 = jax.vmap(lambda xx: U(xx, values[0]))(x)
    p = jnp.exp(-(u0 - u0.min()) / kBT)
    p = p / p.sum()
    y0 = jnp.stack([p, 0 * p, 0 * p])

    def rhs(y, lam, lamdot):
        _, up, dn = _fp_rates(U, x, lam, gamma, kBT)
        rate = jax.vmap(lambda xx: jax.jvp(lambda ll: U(xx, ll), (lam,), (lamdot,))[1])(x)
        p, g, hh = y
        return jnp.stack([_fp_apply(p, up, dn), _fp_apply(g, up, dn) + rate * p,
                          _fp_apply(hh, up, dn) + 2 * rate * g])

    def jump(y, l0, l1):
        du = jax.vmap(lambda xx: U(xx, l1) - U(xx, l0))(x)
        p, g, hh = y
        return jnp.stack([p, g + du * p, hh + 2 * du * g + du * du * p])

    p, g, hh = _segments(y0, times, values, n_sub, rhs, jump)
    mean = g.sum()
    u_i = jax.vmap(lambda xx: U(xx, values[0]))(x)
    u_f = jax.vmap(lambda xx: U(xx, values[-1]))(x)
    lz = lambda u: -kBT * jax.scipy.special.logsumexp(-u / kBT)  # noqa: E731
    return WorkMoments(mean, hh.sum() - mean**2, lz(u_f) - lz(u_i))


def _check_grid(x_grid: Any) -> jax.Array:
    x = np.asarray(x_grid, dtype=float)
    if x.ndim != 1 or x.size < 8 or not np.all(np.isfinite(x)):
        raise ValueError(f"x_grid has shape {x.shape}; allowed: 1-D, finite, at least 8 points")
    d = np.diff(x)
    if not np.all(d > 0) or np.ptp(d) > 1e-9 * abs(d[0]) * x.size:
        raise ValueError("x_grid must be uniformly spaced and increasing")
    return jnp.asarray(x)


def _auto_steps(U, x, lam_values, gamma, kBT, tau):
    rmax = 0.0
    for lv in np.unique(np.asarray(lam_values))[:: max(1, len(np.unique(lam_values)) // 8)]:
        _, up, dn = _fp_rates(U, x, jnp.float64(lv), gamma, kBT)
        rmax = max(rmax, float(jnp.max(up[1:] + dn[:-1])), float(jnp.max(up)), float(jnp.max(dn)))
    return int(math.ceil(tau * 2.0 * rmax / 1.2)) + 1


def grid_work(
    U: Callable[[Any, Any], Any],
    times: Any,
    lam: Any,
    *,
    x_grid: Any,
    gamma: float = 1.0,
    kBT: float = 1.0,
    n_steps: int | None = None,
) -> WorkMoments:
    """Mean and variance of the work for a user potential, by a Fokker-Planck discretisation.

    Deterministic alternative to Langevin sampling: the overdamped Fokker-Planck equation on the
    uniform grid ``x_grid`` (reflecting ends) is replaced by a nearest-neighbour master equation
    with rates ``(D/h^2) exp(-(U_{i+1}-U_i)/(2 kBT))`` (``D = kBT/gamma``), which satisfies
    detailed balance with the discrete Boltzmann weights exactly and converges as O(h^2).
    ``<W>`` and ``<W^2>`` follow from the work-weighted densities ``g_i = <W; x_i>``,
    ``h_i = <W^2; x_i>`` (``dg/dt = Q g + p dU_i/dt``, ``dh/dt = Q h + 2 g dU_i/dt``); jumps exact.

    Args:
        U: ``U(x, lam)`` scalar JAX function (energy units); must be hashable (a plain function).
        times, lam: protocol grid and values, shapes ``(n,)``; a repeated time is a jump.
        x_grid: uniform grid, shape ``(m,)`` (length units), wide enough for the density.
        gamma, kBT: friction and thermal energy (> 0).
        n_steps: RK4 steps in total; default from the largest rate (explicit stability).

    Returns:
        :class:`WorkMoments` with ``delta_f`` from the discrete partition functions.

    Example:
        >>> import numpy as np
        >>> def U(x, lam): return 0.5 * (x - lam) ** 2
        >>> m = grid_work(U, np.array([0.0, 1.0]), np.array([0.0, 1.0]), x_grid=np.linspace(-5, 6, 111))
        >>> bool(abs(m.mean - 1 / np.e) < 5e-3)
        True
    """
    gamma = positive_or_traced(gamma, "gamma")
    kBT = positive_or_traced(kBT, "kBT")
    function(U, "U", "U(x, lam) -> energy")
    x = _check_grid(x_grid)
    t, v = _as_grid(times, lam, "trap_translation")
    n_seg = max(1, int(np.count_nonzero(np.diff(np.asarray(t)) > 0)))
    if n_steps is None:
        n_steps = _auto_steps(U, x, v, gamma, kBT, float(t[-1]))
    n_sub = max(2, -(-int(n_steps) // n_seg))
    return _grid_nodes(t, v, x, gamma, kBT, U=U, n_sub=n_sub)


# --------------------------------------------------------------------------------------------
# numerical optimisation
# --------------------------------------------------------------------------------------------
def optimize_protocol(
    problem: str | Callable[[Any, Any], Any],
    *,
    tau: float,
    lam_i: float = 0.0,
    lam_f: float | None = None,
    k_i: float | None = None,
    k_f: float | None = None,
    k: float = 1.0,
    gamma: float = 1.0,
    kBT: float = 1.0,
    n_nodes: int = 17,
    variance_weight: float = 0.0,
    x_grid: Any = None,
    n_steps: int | None = None,
    max_iter: int = 300,
    tol: float = 1e-10,
) -> Protocol:
    """Minimise ``<W> + variance_weight * Var W`` over protocols, with JAX gradients and optax L-BFGS.

    Parametrisation: the interior is piecewise linear through ``n_nodes`` equally spaced nodes on
    ``[0, tau]`` whose first and last values are ``lam(0+)`` and ``lam(tau-)``; the end points
    ``lam(0)``, ``lam(tau)`` are fixed, so both endpoint jumps are free. Stiffness values are
    optimised in ``log`` (stays positive). Initial guess: the linear ramp.

    Cost model: for ``"trap_translation"``/``"stiffness"`` the exact moment equations
    (:func:`gaussian_work`); for a user potential ``U(x, lam)`` the Fokker-Planck grid of
    :func:`grid_work` (``x_grid`` required, ``lam_i``/``lam_f`` the end points).

    Args:
        problem: ``"trap_translation"``, ``"stiffness"`` or a callable ``U(x, lam)``.
        tau, lam_i, lam_f, k_i, k_f, k, gamma, kBT: as in :func:`optimal_protocol`.
        n_nodes: interior nodes (>= 2). variance_weight: weight (>= 0, 1/energy) of ``Var W``.
        x_grid: grid for user potentials. n_steps: RK4 steps in total (default 1024 harmonic).
        max_iter, tol: L-BFGS iterations and gradient-norm tolerance.

    Returns:
        A :class:`Protocol` (``family="nodes"``) with ``.work`` and ``.work_var`` of the model.

    Example:
        >>> p = optimize_protocol("trap_translation", lam_f=5.0, tau=1.0, n_nodes=4)
        >>> bool(abs(p.work - 25 / 3) < 1e-6)
        True
    """
    import optax

    tau = positive_or_traced(tau, "tau")
    gamma = positive_or_traced(gamma, "gamma")
    kBT = positive_or_traced(kBT, "kBT")
    k = positive_or_traced(k, "k")
    variance_weight = finite_or_traced(variance_weight, "variance_weight")
    if variance_weight < 0:
        raise ValueError(f"variance_weight must be >= 0 (1/energy), got {variance_weight!r}")
    n_nodes = integer(n_nodes, "n_nodes", minimum=2)
    user = callable(problem)
    if user:
        if lam_f is None:
            raise ValueError("lam_f=None: a user potential needs end points lam_i and lam_f")
        a, b = finite_or_traced(lam_i, "lam_i"), finite_or_traced(lam_f, "lam_f")
        if x_grid is None:
            raise ValueError("x_grid=None: a user potential needs a uniform x_grid for the Fokker-Planck cost")
        x = _check_grid(x_grid)
        kind = "user"
    else:
        kind = one_of(problem, "problem", _KINDS)
        a, b = _end_points(kind, lam_i, lam_f, k_i, k_f)
    log = kind == "stiffness"
    node_t = np.linspace(0.0, tau, int(n_nodes))
    times = jnp.asarray(np.concatenate([[0.0], node_t, [tau]]))
    init = np.linspace(a, b, int(n_nodes))
    theta0 = jnp.asarray(np.log(init) if log else init)
    n_seg = int(n_nodes) - 1
    if user:
        if n_steps is None:
            n_steps = _auto_steps(problem, x, np.linspace(a, b, 9), gamma, kBT, tau)
        n_sub = max(2, -(-int(n_steps) // n_seg))

        def moments(values):
            return _grid_nodes(times, values, x, gamma, kBT, U=problem, n_sub=n_sub)
    else:
        n_sub = max(2, -(-int(1024 if n_steps is None else n_steps) // n_seg))

        def moments(values):
            return _gauss_nodes(times, values, k, gamma, kBT, kind=kind, n_sub=n_sub)

    def values_of(theta):
        inner = jnp.exp(theta) if log else theta
        return jnp.concatenate([jnp.array([a]), inner, jnp.array([b])])

    scale = 1.0

    def cost(theta):
        m = moments(values_of(theta))
        return (m.mean + variance_weight * m.var) / scale

    scale = float(abs(cost(theta0))) or 1.0
    opt = optax.lbfgs()
    vg = optax.value_and_grad_from_state(cost)

    @jax.jit
    def run(theta):
        def step(carry):
            th, st, it = carry
            val, g = vg(th, state=st)
            upd, st = opt.update(g, st, th, value=val, grad=g, value_fn=cost)
            return optax.apply_updates(th, upd), st, it + 1

        def cont(carry):
            th, st, it = carry
            g = optax.tree_utils.tree_get(st, "grad")
            return (it == 0) | ((it < max_iter) & (optax.tree_utils.tree_norm(g) >= tol))

        th, _, it = jax.lax.while_loop(cont, step, (theta, opt.init(theta), 0))
        return th, it

    theta, _ = run(theta0)
    vals = values_of(theta)
    m = moments(vals)
    return Protocol(kind, tau, float(a), float(b), "nodes", (node_t, np.asarray(vals[1:-1])),
                    float(m.mean), float(m.var), _physics(gamma, k, kBT))
