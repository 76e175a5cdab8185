"""Linear-response optimal protocols (Sivak & Crooks, PRL 108, 190602, 2012).

Near equilibrium the mean excess work of a protocol ``lam(t)`` is ``int zeta(lam) lamdot^2 dt``
with the friction ``zeta(lam) = beta int_0^inf <dX(0) dX(t)>_lam dt``, ``X = dU/dlam`` the
conjugate force in equilibrium at fixed ``lam``. By Cauchy-Schwarz this is ``>= L^2/tau`` with the
thermodynamic length ``L = int sqrt(zeta) dlam``; equality holds for the constant-speed geodesic
``int_{lam_i}^{lam(t)} sqrt(zeta) dlam = L t/tau`` (no jumps).

Analytic frictions for the overdamped harmonic problems of :mod:`nephlab.control.protocols`
(``D = kBT/gamma``):

- translation, ``U = k (x-lam)^2/2``: ``<dX dX(t)> = k kBT exp(-k t/gamma)``, ``zeta = gamma``;
- stiffness, ``U = lam x^2/2``: ``X = x^2/2``, ``<dX dX(t)> = (kBT/lam)^2 exp(-2 lam t/gamma)/2``,
  ``zeta = gamma kBT/(4 lam^3)``, ``L = sqrt(gamma kBT) |k_i^{-1/2} - k_f^{-1/2}|``.

Note: the *exact* finite-time optimum (Schmiedl & Seifert) beats the linear-response estimate:
its excess work lies *below* ``L^2/tau`` (it uses endpoint jumps, which linear response does not
price) and approaches it from below, ``W_ex tau -> L^2`` as ``tau -> inf``. What holds exactly is
that the linear-response cost of any protocol is ``>= L^2/tau``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from .._validate import finite_or_traced, one_of, positive_or_traced
from .protocols import Protocol, _physics

__all__ = [
    "length_on_grid",
    "Geodesic",
    "force_correlation",
    "friction",
    "friction_from_samples",
    "geodesic_protocol",
    "linear_response_work",
    "protocol_length",
]

_KINDS = ("trap_translation", "stiffness")


def force_correlation(kind: str, lam: Any, t: Any, *, k: float = 1.0, gamma: float = 1.0,
                      kBT: float = 1.0) -> Any:
    """Equilibrium autocorrelation ``<dX(0) dX(t)>`` of the conjugate force ``X = dU/dlam``.

    Args:
        kind: ``"trap_translation"`` or ``"stiffness"``.
        lam: control value(s) (position or stiffness > 0), any shape broadcastable with ``t``.
        t: lag time(s) >= 0 (time units).
        k, gamma, kBT: trap stiffness (translation), friction, thermal energy.

    Returns:
        Array (energy^2/lam-unit^2), broadcast shape of ``lam`` and ``t``.

    Example:
        >>> float(force_correlation("trap_translation", 0.0, 0.0))
        1.0
    """
    one_of(kind, "kind", _KINDS)
    gamma, kBT, k = positive_or_traced(gamma, "gamma"), positive_or_traced(kBT, "kBT"), positive_or_traced(k, "k")
    lam, t = jnp.asarray(lam, dtype=jnp.float64), jnp.asarray(t, dtype=jnp.float64)
    if kind == "trap_translation":
        return k * kBT * jnp.exp(-k * jnp.abs(t) / gamma) + 0.0 * lam
    return 0.5 * (kBT / lam) ** 2 * jnp.exp(-2.0 * lam * jnp.abs(t) / gamma)


def friction(kind: str, lam: Any, *, k: float = 1.0, gamma: float = 1.0, kBT: float = 1.0) -> Any:
    """Analytic friction ``zeta(lam)`` (energy * time / lam-unit^2) for the harmonic problems.

    Args:
        kind: ``"trap_translation"`` (``zeta = gamma``) or ``"stiffness"`` (``gamma kBT/(4 lam^3)``).
        lam: control value(s), any shape. k, gamma, kBT: as in :func:`force_correlation`.

    Returns:
        Array of the shape of ``lam``.

    Example:
        >>> float(friction("stiffness", 1.0, gamma=2.0))
        0.5
    """
    one_of(kind, "kind", _KINDS)
    gamma, kBT, k = positive_or_traced(gamma, "gamma"), positive_or_traced(kBT, "kBT"), positive_or_traced(k, "k")
    lam = jnp.asarray(lam, dtype=jnp.float64)
    if kind == "trap_translation":
        return gamma + 0.0 * lam
    return gamma * kBT / (4.0 * lam**3)


def friction_from_samples(X: Any, dt: float, *, kBT: float = 1.0, max_lag: int | None = None) -> float:
    """Estimate ``zeta = beta int_0^inf <dX(0) dX(t)> dt`` from equilibrium time series of ``X``.

    The autocovariance is averaged over time origins (FFT) and over trajectories, then integrated
    with the trapezoid rule up to ``max_lag`` steps (default: the first zero crossing of the
    estimated correlation, which truncates the noisy tail).

    Args:
        X: conjugate-force samples at fixed ``lam``, shape ``(n_t,)`` or ``(n_traj, n_t)``,
            spaced by ``dt``, drawn from equilibrium (discard burn-in first).
        dt: sampling interval (> 0, time units). kBT: thermal energy (> 0).
        max_lag: number of lags to integrate (1 <= max_lag < n_t).

    Returns:
        The friction estimate (float).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0); a = np.exp(-0.01)
        >>> x = np.zeros((64, 4000)); x[:, 0] = rng.normal(size=64)
        >>> for i in range(1, 4000): x[:, i] = a * x[:, i - 1] + np.sqrt(1 - a * a) * rng.normal(size=64)
        >>> abs(friction_from_samples(-x, 0.01) - 1.0) < 0.1   # translation, gamma = k = kBT = 1
        True
    """
    dt = positive_or_traced(dt, "dt")
    kBT = positive_or_traced(kBT, "kBT")
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] < 4 or not np.all(np.isfinite(x)):
        raise ValueError(f"X has shape {np.shape(X)}; allowed: finite (n_t,) or (n_traj, n_t), n_t >= 4")
    n = x.shape[1]
    if max_lag is not None and not (isinstance(max_lag, (int, np.integer)) and 1 <= max_lag < n):
        raise ValueError(f"max_lag={max_lag!r}; allowed: an int with 1 <= max_lag < n_t = {n}")
    d = x - x.mean()
    f = np.fft.rfft(d, 2 * n, axis=1)
    ac = np.fft.irfft(f * np.conj(f), axis=1)[:, :n].mean(axis=0) / np.arange(n, 0, -1)
    if max_lag is None:
        neg = np.nonzero(ac <= 0)[0]
        max_lag = int(neg[0]) if neg.size else n - 1
    c = ac[: max_lag + 1]
    return float(np.trapezoid(c, dx=dt) / kBT)


def _length_coordinate(kind: str, lam: Any, gamma: float, kBT: float) -> np.ndarray:
    """``F(lam)`` with ``dF/dlam = sqrt(zeta(lam))`` (analytic friction): the length along the path is ``|dF|``."""
    lam = np.asarray(lam, dtype=float)
    if kind == "trap_translation":
        return math.sqrt(gamma) * lam
    return -math.sqrt(gamma * kBT) / np.sqrt(lam)


def protocol_length(protocol: Protocol) -> float:
    """Thermodynamic length of a protocol's path ``lam(t)``, endpoint jumps included.

    ``L = int sqrt(zeta(lam)) |dlam|`` with the analytic :func:`friction`, summed in closed form
    over the pieces of :attr:`Protocol.values`: ``L = sum_j |F(lam_{j+1}) - F(lam_j)|`` with
    ``F = sqrt(gamma) lam`` (translation) or ``-sqrt(gamma kBT)/sqrt(lam)`` (stiffness). Exact for
    node protocols (lam is monotone on every linear piece); for ``"rational"`` ones exact where
    lam is monotone between the 257 interior samples. No quadrature, no JAX: microseconds.

    Args:
        protocol: a :class:`Protocol` of kind ``"trap_translation"`` or ``"stiffness"``; gamma and
            kBT are its ``physics``.

    Returns:
        L in sqrt(energy * time); ``L^2/tau`` is the speed limit of
        :func:`~nephlab.control.thermodynamic_length_bound` for a path of this length.

    Example:
        >>> from nephlab.control import linear_ramp
        >>> protocol_length(linear_ramp("stiffness", k_i=1.0, k_f=4.0, tau=1.0))
        0.5
    """
    if not isinstance(protocol, Protocol):
        raise TypeError(f"protocol must be a nephlab.control.Protocol, got {type(protocol).__name__}")
    kind = one_of(protocol.kind, "protocol.kind", _KINDS)
    phys = dict(protocol.physics)
    F = _length_coordinate(kind, protocol.values, phys.get("gamma", 1.0), phys.get("kBT", 1.0))
    return float(np.sum(np.abs(np.diff(F))))


def length_on_grid(lam: Any, zeta: Any) -> float:
    """``L = int sqrt(zeta(lam)) dlam`` for friction tabulated on a grid (trapezoid), in
    sqrt(energy * time). For a friction *function* and multi-parameter paths use
    :func:`nephlab.control.speedlimits.thermodynamic_length`.

    Args:
        lam: monotone grid from ``lam_i`` to ``lam_f``, shape ``(n,)``.
        zeta: friction on the grid (>= 0), shape ``(n,)``.

    Example:
        >>> round(length_on_grid(np.linspace(0, 5, 11), np.ones(11)), 12)
        5.0
    """
    lam, zeta = _grid(lam, zeta)
    return float(abs(np.trapezoid(np.sqrt(zeta), lam)))


def _grid(lam: Any, zeta: Any) -> tuple[np.ndarray, np.ndarray]:
    lam = np.asarray(lam, dtype=float)
    zeta = np.asarray(zeta, dtype=float)
    if lam.ndim != 1 or lam.size < 2 or zeta.shape != lam.shape:
        raise ValueError(f"lam has shape {lam.shape}, zeta has shape {zeta.shape}; allowed: equal 1-D, n >= 2")
    if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(zeta))) or np.any(zeta < 0):
        raise ValueError("lam/zeta must be finite and zeta >= 0")
    d = np.diff(lam)
    if not (np.all(d > 0) or np.all(d < 0)):
        raise ValueError("lam must be strictly monotone from lam_i to lam_f")
    return lam, zeta


class Geodesic(NamedTuple):
    """Linear-response optimum: ``protocol`` (no jumps), ``length`` L, and ``lr_work = L^2/tau``."""

    protocol: Protocol
    length: float
    lr_work: float


def geodesic_protocol(
    problem: str | None = None,
    *,
    tau: float,
    lam_i: float = 0.0,
    lam_f: float | None = None,
    k_i: float | None = None,
    k_f: float | None = None,
    lam_grid: Any = None,
    zeta: Any = None,
    k: float = 1.0,
    gamma: float = 1.0,
    kBT: float = 1.0,
    n_nodes: int = 257,
) -> Geodesic:
    """Constant-thermodynamic-speed protocol (Sivak & Crooks 2012) and thermodynamic length.

    For ``"trap_translation"`` the geodesic is the linear ramp (``L = sqrt(gamma) |d|``); for
    ``"stiffness"`` ``lam(t) = (k_i^{-1/2} + (k_f^{-1/2} - k_i^{-1/2}) t/tau)^{-2}`` (exact closed
    form). With ``problem=None`` a tabulated friction (``lam_grid``, ``zeta``; e.g. from
    :func:`friction_from_samples`) is used: the cumulative length is inverted on ``n_nodes``
    times and the protocol is piecewise linear (``kind="user"``).

    Args:
        problem: ``"trap_translation"``, ``"stiffness"`` or ``None``.
        tau: duration (> 0). lam_i, lam_f / k_i, k_f: end points as in ``optimal_protocol``.
        lam_grid, zeta: shape ``(n,)`` each, for ``problem=None``; ``lam_grid`` monotone.
        k, gamma, kBT: physics. n_nodes: nodes of the tabulated geodesic.

    Returns:
        :class:`Geodesic` ``(protocol, length, lr_work)``; ``protocol.work`` is ``None`` (use
        ``gaussian_work`` for its exact finite-time cost).

    Example:
        >>> g = geodesic_protocol("stiffness", k_i=1.0, k_f=4.0, tau=1.0)
        >>> g.length
        0.5
        >>> float(g.protocol.lam(1.0)), g.protocol.jumps[0]
        (4.0, (1.0, 1.0))
    """
    tau = positive_or_traced(tau, "tau")
    gamma, kBT, k = positive_or_traced(gamma, "gamma"), positive_or_traced(kBT, "kBT"), positive_or_traced(k, "k")
    phys = _physics(gamma, k, kBT)
    if problem is None:
        if lam_grid is None or zeta is None:
            raise ValueError("problem=None needs lam_grid and zeta (tabulated friction)")
        lg, z = _grid(lam_grid, zeta)
        s = np.concatenate([[0.0], np.cumsum(0.5 * (np.sqrt(z[1:]) + np.sqrt(z[:-1])) * np.abs(np.diff(lg)))])
        L = float(s[-1])
        if not L > 0:
            raise ValueError("zeta is zero on the whole grid: the thermodynamic length vanishes")
        tt = np.linspace(0.0, tau, int(n_nodes))
        vals = np.interp(L * tt / tau, s, lg)
        p = Protocol("user", tau, float(lg[0]), float(lg[-1]), "nodes", (tt, vals), None, None, phys)
        return Geodesic(p, L, L * L / tau)
    one_of(problem, "problem", _KINDS)
    if problem == "trap_translation":
        if lam_f is None:
            raise ValueError("lam_f=None: the 'trap_translation' problem needs a finite lam_f")
        a, b = finite_or_traced(lam_i, "lam_i"), finite_or_traced(lam_f, "lam_f")
        L = float(abs(_length_coordinate(problem, b, gamma, kBT) - _length_coordinate(problem, a, gamma, kBT)))
        p = Protocol(problem, tau, a, b, "nodes", (np.array([0.0, tau]), np.array([a, b])), None, None, phys)
        return Geodesic(p, L, L * L / tau)
    if k_i is None or k_f is None:
        raise ValueError(f"k_i={k_i!r}, k_f={k_f!r}: the 'stiffness' problem needs both, finite and > 0")
    a, b = positive_or_traced(k_i, "k_i"), positive_or_traced(k_f, "k_f")
    L = float(abs(_length_coordinate(problem, b, gamma, kBT) - _length_coordinate(problem, a, gamma, kBT)))
    slope = (b**-0.5 - a**-0.5) / tau * math.sqrt(a)  # lam = k_i / (1 + slope t)^2
    p = Protocol(problem, tau, a, b, "rational", (a, 0.0, slope), None, None, phys)
    return Geodesic(p, L, L * L / tau)


def linear_response_work(protocol: Protocol, zeta_fn: Any = None, *, n: int = 4097) -> float:
    """Linear-response excess work ``int_0^tau zeta(lam) lamdot^2 dt`` of a jump-free protocol.

    Args:
        protocol: a :class:`Protocol` (its interior is used; endpoint jumps are not priced).
        zeta_fn: callable ``zeta(lam)``; default the analytic :func:`friction` of ``protocol.kind``.
        n: quadrature points (trapezoid on the interior, central differences for ``lamdot``).

    Returns:
        The excess work (energy units); ``>= L^2/tau`` with equality for the geodesic.

    Example:
        >>> g = geodesic_protocol("stiffness", k_i=1.0, k_f=4.0, tau=2.0)
        >>> abs(linear_response_work(g.protocol) - g.lr_work) < 1e-6
        True
    """
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol={protocol!r}; allowed: a Protocol")
    if zeta_fn is None:
        phys = dict(protocol.physics)
        kind = one_of(protocol.kind, "protocol.kind", _KINDS)
        def zeta_fn(lv):  # noqa: E306
            return friction(kind, lv, k=phys.get("k", 1.0), gamma=phys.get("gamma", 1.0), kBT=phys.get("kBT", 1.0))
    t = np.linspace(0.0, protocol.tau, int(n))
    lam = np.asarray(protocol._interior(jnp.asarray(t)))
    ld = np.gradient(lam, t, edge_order=2)
    return float(np.trapezoid(np.asarray(zeta_fn(lam)) * ld * ld, t))
