"""Protocol design on a harmonic trap: a drawn protocol, its exact cost, the optima, a Langevin check.

Everything :class:`nephlab.widgets.ProtocolDesigner` shows, as pure functions of the parameters
of the ``optimal_protocol`` task (:mod:`nephlab.tasks.optimal_protocol`):

- :func:`points_protocol`: ``lam(t)`` through control points, with the fixed end values;
- :func:`evaluate_protocol` -> :class:`ProtocolCost`: exact ``<W>``, ``Var W``, ``Delta F``,
  dissipation, thermodynamic length of the path and of the geodesic, speed limit ``L^2/tau``;
- :func:`pontryagin_protocol`: the minimum-mean-work protocol from Pontryagin's principle
  (:func:`~nephlab.control.solve_pmp`) on the mean-work control problem;
- :func:`reference_protocols`: linear ramp, Schmiedl-Seifert optimum, ``optimize_protocol`` and
  Pontryagin, cached per parameter set;
- :func:`protocol_work_samples` and :func:`langevin_check` -> :class:`LangevinCheck`: a Langevin
  ensemble in the trap (:func:`~nephlab.control.harmonic_trap`), in chunks, and the Jarzynski
  estimate of ``Delta F`` with its bootstrap error (:func:`nephlab.stochastic.jarzynski`).

Problems (keywords as in :func:`~nephlab.control.optimal_protocol`): ``"trap_translation"``,
``U = k (x - lam)^2/2`` with ``lam`` from ``lam_i`` to ``lam_f`` (length), and ``"stiffness"``,
``U = lam x^2/2`` with ``lam`` from ``k_i`` to ``k_f`` (energy/length^2). Units: ``gamma``
energy*time/length^2, ``kBT`` energy, ``tau`` time; works are energies.
"""

from __future__ import annotations

import functools
import math
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import jax
import numpy as np

from .._result import ResultBase, attr, var
from .._validate import integer, one_of, positive_or_traced
from .linear_response import geodesic_protocol, protocol_length
from .protocols import (
    _KINDS,
    Protocol,
    _end_points,
    _physics,
    gaussian_work,
    harmonic_trap,
    linear_ramp,
    optimal_protocol,
    optimize_protocol,
    trap_parameters,
)
from .speedlimits import thermodynamic_length_bound

__all__ = [
    "LangevinCheck",
    "ProtocolCost",
    "REFERENCE_NAMES",
    "evaluate_protocol",
    "langevin_check",
    "points_protocol",
    "pontryagin_protocol",
    "protocol_work_samples",
    "reference_protocols",
]

REFERENCE_NAMES = ("linear ramp", "optimal (Schmiedl-Seifert)", "optimize_protocol", "Pontryagin")
"""Names (and order) of the reference protocols of :func:`reference_protocols`."""


def _ends_kw(kind: str, a: float, b: float) -> dict[str, float]:
    return {"lam_i": a, "lam_f": b} if kind == "trap_translation" else {"k_i": a, "k_f": b}


# --------------------------------------------------------------------------------------------
# a protocol through control points
# --------------------------------------------------------------------------------------------
def points_protocol(problem: str, times: Any, values: Any, *, tau: float, lam_i: float = 0.0,
                    lam_f: float | None = None, k_i: float | None = None, k_f: float | None = None,
                    k: float = 1.0, gamma: float = 1.0, kBT: float = 1.0) -> Protocol:
    """The protocol through control points: ``lam(0)`` and ``lam(tau)`` fixed, piecewise linear inside.

    The interior is held constant before the first and after the last control point, so a point
    away from the end values is a jump at ``t = 0`` or ``t = tau``.

    Args:
        problem: ``"trap_translation"`` or ``"stiffness"``.
        times: control-point times, shape ``(m,)``, ``m >= 1``, each in ``[0, tau]`` (any order;
            sorted here, stably).
        values: ``lam`` at those times, shape ``(m,)`` (length, or stiffness > 0).
        tau: duration (> 0, time). lam_i, lam_f: end positions (translation); k_i, k_f: end
            stiffnesses (> 0, stiffness). k, gamma, kBT: as in
            :func:`~nephlab.control.optimal_protocol`.

    Returns:
        a :class:`~nephlab.control.Protocol` (``family="nodes"``, ``work=None``).

    Raises:
        ValueError: naming the argument, its value and what is allowed.

    Example:
        >>> p = points_protocol("trap_translation", [0.0, 1.0], [0.0, 5.0], tau=1.0, lam_f=5.0)
        >>> [round(float(v), 3) for v in p.lam(np.array([0.0, 0.5, 1.0]))]
        [0.0, 2.5, 5.0]
    """
    one_of(problem, "problem", _KINDS)
    tau = positive_or_traced(tau, "tau")
    a, b = _end_points(problem, lam_i, lam_f, k_i, k_f)
    phys = _physics(positive_or_traced(gamma, "gamma"), positive_or_traced(k, "k"), positive_or_traced(kBT, "kBT"))
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.ndim != 1 or t.size < 1 or v.shape != t.shape:
        raise ValueError(f"times (shape {t.shape}) and values (shape {v.shape}) must be 1-D arrays of equal "
                         "length >= 1")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
        raise ValueError(f"times={t.tolist()} / values={v.tolist()} contain NaN or inf; allowed: finite floats")
    if np.any(t < 0) or np.any(t > tau):
        raise ValueError(f"times={t.tolist()} must lie in [0, tau] = [0, {tau:g}]")
    if problem == "stiffness" and np.any(v <= 0):
        raise ValueError(f"values={v.tolist()}: stiffness values must be > 0")
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    nodes = (np.concatenate([[0.0], t, [tau]]), np.concatenate([[v[0]], v, [v[-1]]]))
    return Protocol(problem, tau, float(a), float(b), "nodes", nodes, physics=phys)


# --------------------------------------------------------------------------------------------
# exact evaluation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class ProtocolCost(ResultBase):
    """Exact cost of a harmonic-trap protocol (:func:`evaluate_protocol`).

    Attributes:
        work: mean work ``<W>`` (energy). work_var: ``Var W`` (energy^2).
        delta_f: ``Delta F = (kBT/2) ln(kappa_f/kappa_i)`` (energy).
        dissipation: ``<W> - Delta F`` (energy).
        length: thermodynamic length of the protocol's path, jumps included (sqrt(energy*time)).
        length_min: thermodynamic length of the geodesic between the end values.
        bound: ``length_min^2/tau``, the linear-response speed limit on the dissipation (energy).
        kind, tau: the problem and the duration.

    Example:
        >>> from nephlab.control import linear_ramp
        >>> c = evaluate_protocol(linear_ramp("trap_translation", lam_f=5.0, tau=1.0))
        >>> round(c.work, 9) == round(25 / math.e, 9), c.bound
        (True, 25.0)
    """

    work: float = var(units="energy", long_name="mean work ⟨W⟩")
    work_var: float = var(units="energy^2", long_name="work variance Var W")
    delta_f: float = var(units="energy", long_name="free-energy difference ΔF")
    dissipation: float = var(units="energy", long_name="dissipated work ⟨W⟩ - ΔF")
    length: float = var(units="sqrt(energy*time)", long_name="thermodynamic length of the path")
    length_min: float = var(units="sqrt(energy*time)", long_name="thermodynamic length of the geodesic")
    bound: float = var(units="energy", long_name="speed limit L²/τ (geodesic length)")
    kind: str = attr()
    tau: float = attr()


def evaluate_protocol(protocol: Protocol, *, n_steps: int = 2048) -> ProtocolCost:
    """Exact work statistics of a harmonic-trap protocol, its thermodynamic length and speed limit.

    ``<W>`` and ``Var W`` from the exact moment equations (:func:`~nephlab.control.gaussian_work`;
    a node protocol gets a fixed number of RK4 steps per segment, so moving its nodes never
    recompiles), the path length from :func:`~nephlab.control.protocol_length`, the geodesic from
    :func:`~nephlab.control.geodesic_protocol` and ``L^2/tau`` from
    :func:`~nephlab.control.thermodynamic_length_bound`. Physics (k, gamma, kBT): the protocol's.

    Args:
        protocol: a :class:`~nephlab.control.Protocol` of kind ``"trap_translation"`` or
            ``"stiffness"`` (a stiffness protocol must stay > 0).
        n_steps: RK4 steps in total (O((tau/n_steps)^4) error).

    Returns:
        :class:`ProtocolCost`. A few milliseconds once compiled.

    Example:
        >>> p = points_protocol("stiffness", [0.0, 1.0], [1.0, 4.0], tau=1.0, k_i=1.0, k_f=4.0)
        >>> c = evaluate_protocol(p)
        >>> round(c.delta_f, 12) == round(0.5 * math.log(4.0), 12), c.length, c.bound
        (True, 0.5, 0.25)
    """
    if not isinstance(protocol, Protocol):
        raise TypeError(f"protocol must be a nephlab.control.Protocol, got {type(protocol).__name__}")
    kind = one_of(protocol.kind, "protocol.kind", _KINDS)
    n_steps = integer(n_steps, "n_steps", minimum=2)
    if protocol.family == "nodes":
        per = max(2, -(-n_steps // (len(protocol.times) - 1)))
        m = gaussian_work(protocol, n_steps=n_steps, steps_per_segment=per)
    else:
        m = gaussian_work(protocol, n_steps=n_steps)
    phys = dict(protocol.physics)
    geo = geodesic_protocol(kind, tau=protocol.tau, **_ends_kw(kind, protocol.lam_i, protocol.lam_f), **phys)
    mean, df = float(m.mean), float(m.delta_f)
    return ProtocolCost(work=mean, work_var=float(m.var), delta_f=df, dissipation=mean - df,
                        length=protocol_length(protocol), length_min=float(geo.length),
                        bound=float(thermodynamic_length_bound(geo.length, protocol.tau)), kind=kind,
                        tau=float(protocol.tau))


# --------------------------------------------------------------------------------------------
# Pontryagin and the references
# --------------------------------------------------------------------------------------------
def pontryagin_protocol(problem: str, *, tau: float, lam_i: float = 0.0, lam_f: float | None = None,
                        k_i: float | None = None, k_f: float | None = None, k: float = 1.0, gamma: float = 1.0,
                        kBT: float = 1.0, n_steps: int = 200) -> Protocol:
    """Minimum-mean-work protocol from Pontryagin's principle (:func:`~nephlab.control.solve_pmp`).

    The mean work is a control problem in one moment of the position (both ends jump):

    - translation: state ``m = <x>`` (``m(0) = lam_i``), control ``u = mdot``,
      ``<W> = int gamma u^2 dt + k (lam_f - m(tau))^2/2``, and ``lam = m + gamma u/k``;
    - stiffness: state ``w = <x^2>`` (``w(0) = kBT/k_i``), control ``u = wdot``,
      ``<W> = int gamma u^2/(4w) dt + k_f w(tau)/2 - (kBT/2) ln(w(tau)/w(0)) - kBT/2``, and
      ``lam = (kBT - gamma u/2)/w`` (Schmiedl & Seifert, PRL 98, 108301 (2007)).

    Args:
        problem, tau, lam_i, lam_f, k_i, k_f, k, gamma, kBT: as in
            :func:`~nephlab.control.optimal_protocol`.
        n_steps: RK4 steps of the shooting method (>= 2).

    Returns:
        a :class:`~nephlab.control.Protocol` (``family="nodes"`` on ``n_steps + 1`` times) whose
        ``work`` is the PMP cost (energy). Compiles on every call (a second or two): cache it.

    Example:
        >>> p = pontryagin_protocol("trap_translation", tau=1.0, lam_f=5.0, n_steps=50)
        >>> round(p.work, 8) == round(25 / 3, 8)
        True
    """
    import jax.numpy as jnp

    from .pmp import solve_pmp

    one_of(problem, "problem", _KINDS)
    tau = positive_or_traced(tau, "tau")
    gamma, k, kBT = (positive_or_traced(x, n) for x, n in ((gamma, "gamma"), (k, "k"), (kBT, "kBT")))
    n_steps = integer(n_steps, "n_steps", minimum=2)
    a, b = _end_points(problem, lam_i, lam_f, k_i, k_f)

    def f(x, u, t):
        return jnp.array([u[0]])

    if problem == "trap_translation":
        res = solve_pmp(f, lambda x, u, t: gamma * u[0] ** 2, [a], tau,
                        terminal_cost=lambda x: 0.5 * k * (b - x[0]) ** 2, n_steps=n_steps)
        lam = res.x[:, 0] + gamma * res.u[:, 0] / k
        cost = res.cost
    else:
        w0 = kBT / a
        res = solve_pmp(f, lambda x, u, t: gamma * u[0] ** 2 / (4.0 * x[0]), [w0], tau,
                        terminal_cost=lambda x: 0.5 * b * x[0] - 0.5 * kBT * jnp.log(x[0] / w0), n_steps=n_steps)
        lam = (kBT - 0.5 * gamma * res.u[:, 0]) / res.x[:, 0]
        cost = res.cost - 0.5 * kBT
    nodes = (np.asarray(res.t, dtype=float), np.asarray(lam, dtype=float))
    return Protocol(problem, tau, float(a), float(b), "nodes", nodes, float(cost), None, _physics(gamma, k, kBT))


@functools.lru_cache(maxsize=32)
def _references(problem: str, tau: float, a: float, b: float, k: float, gamma: float, kBT: float,
                n_nodes: int) -> tuple:
    kw = dict(tau=tau, k=k, gamma=gamma, kBT=kBT, **_ends_kw(problem, a, b))
    return (linear_ramp(problem, **kw), optimal_protocol(problem, **kw),
            optimize_protocol(problem, n_nodes=n_nodes, **kw), pontryagin_protocol(problem, **kw))


_REF_LOCKS: dict[tuple, threading.Lock] = {}
_REF_LOCKS_GUARD = threading.Lock()


def _references_once(*args: Any) -> tuple:
    """:func:`_references`, computed once when several threads (sessions) ask at the same time."""
    with _REF_LOCKS_GUARD:
        lock = _REF_LOCKS.setdefault(args, threading.Lock())
    with lock:
        out = _references(*args)
    with _REF_LOCKS_GUARD:
        _REF_LOCKS.pop(args, None)
    return out


def reference_protocols(problem: str, *, tau: float, lam_i: float = 0.0, lam_f: float | None = None,
                        k_i: float | None = None, k_f: float | None = None, k: float = 1.0, gamma: float = 1.0,
                        kBT: float = 1.0, n_nodes: int = 9) -> dict[str, Protocol]:
    """The four reference protocols, keyed by :data:`REFERENCE_NAMES`.

    ``"linear ramp"`` (:func:`~nephlab.control.linear_ramp`), ``"optimal (Schmiedl-Seifert)"``
    (:func:`~nephlab.control.optimal_protocol`, exact), ``"optimize_protocol"``
    (:func:`~nephlab.control.optimize_protocol` with ``n_nodes`` nodes) and ``"Pontryagin"``
    (:func:`pontryagin_protocol`). Cached per parameter set (32 sets); threads asking for the same
    set at once share one computation. A first call takes seconds (JAX compilation), a repeated
    one microseconds.

    Args:
        problem, tau, lam_i, lam_f, k_i, k_f, k, gamma, kBT: as in
            :func:`~nephlab.control.optimal_protocol`.
        n_nodes: nodes of ``optimize_protocol`` (>= 2).

    Returns:
        ``{name: Protocol}`` in the order of :data:`REFERENCE_NAMES`; each has its ``work``.

    Example:
        >>> refs = reference_protocols("trap_translation", tau=1.0, lam_f=5.0)  # doctest: +SKIP
        >>> round(refs["optimal (Schmiedl-Seifert)"].work, 6)  # doctest: +SKIP
        8.333333
    """
    one_of(problem, "problem", _KINDS)
    a, b = _end_points(problem, lam_i, lam_f, k_i, k_f)
    args = [float(positive_or_traced(x, n)) for x, n in ((tau, "tau"), (k, "k"), (gamma, "gamma"), (kBT, "kBT"))]
    refs = _references_once(problem, args[0], float(a), float(b), args[1], args[2], args[3],
                       integer(n_nodes, "n_nodes", minimum=2))
    return dict(zip(REFERENCE_NAMES, refs))


# --------------------------------------------------------------------------------------------
# Langevin check
# --------------------------------------------------------------------------------------------
def protocol_work_samples(protocol: Protocol, *, n_traj: int, n_steps: int = 200, method: str = "heun",
                          seed: int = 0, chunk: int | None = None) -> np.ndarray:
    """Sekimoto work of ``n_traj`` overdamped trajectories in the trap driven by ``protocol``.

    The ensemble starts in equilibrium at ``lam(0)`` and runs
    :func:`nephlab.stochastic.overdamped_langevin` in :func:`~nephlab.control.harmonic_trap`
    (``(kappa, c)`` from :func:`~nephlab.control.trap_parameters`) with ``lam`` sampled on
    ``dt * arange(n_steps + 1)``, ``dt = tau/n_steps`` (the end jumps fall in the first and last
    steps). A module-level function of picklable arguments, so it runs on a Dask worker too.

    Args:
        protocol: a harmonic-trap :class:`~nephlab.control.Protocol`; physics from it.
        n_traj: trajectories (>= 1). n_steps: time steps (>= 1).
        method: ``"euler_maruyama"`` or ``"heun"``.
        seed: random seed (int >= 0). chunk: None (the key is ``seed``), or the index ``i`` of a
            chunk (the key is ``fold_in(key(seed), i)``: independent chunks).

    Returns:
        work samples, shape ``(n_traj,)`` (energy).

    Example:
        >>> from nephlab.control import linear_ramp
        >>> w = protocol_work_samples(linear_ramp("trap_translation", lam_f=1.0, tau=1.0), n_traj=50, n_steps=20)
        >>> w.shape
        (50,)
    """
    from ..stochastic import overdamped_langevin

    if not isinstance(protocol, Protocol):
        raise TypeError(f"protocol must be a nephlab.control.Protocol, got {type(protocol).__name__}")
    kind = one_of(protocol.kind, "protocol.kind", _KINDS)
    n_steps = integer(n_steps, "n_steps")
    key: Any = seed
    if chunk is not None:
        key = jax.random.fold_in(jax.random.key(integer(seed, "seed", minimum=0)), integer(chunk, "chunk", minimum=0))
    phys = dict(protocol.physics)
    dt = protocol.tau / n_steps
    lam = trap_parameters(kind, np.asarray(protocol.lam(dt * np.arange(n_steps + 1))), k=phys.get("k", 1.0))
    res = overdamped_langevin(harmonic_trap, "equilibrium", lam, dt=dt, seed=key, n_traj=n_traj,
                              gamma=phys.get("gamma", 1.0), kBT=phys.get("kBT", 1.0), method=method, lam_ndim=1)
    return np.asarray(res.work, dtype=float)


@dataclass(frozen=True, repr=False)
class LangevinCheck(ResultBase):
    """A Langevin ensemble's work statistics against the exact ones (:func:`langevin_check`).

    Attributes:
        work: the work samples so far, shape ``(n,)`` (energy).
        work_mean, work_stderr: their mean and its standard error (energy).
        work_exact: exact ``<W>`` (:func:`evaluate_protocol`).
        delta_f: Jarzynski estimate of ``Delta F`` (energy); delta_f_stderr and delta_f_ci: its
            bootstrap standard deviation and 95 % interval (NaN in partial results).
        delta_f_exact: ``(kBT/2) ln(kappa_f/kappa_i)``.
        n: samples so far; n_traj: samples asked for; complete: False for a partial result.
        warnings: the Jarzynski sampling warnings (too few samples for the dissipation).

    Example:
        >>> from nephlab.control import linear_ramp
        >>> r = langevin_check(linear_ramp("trap_translation", lam_f=1.0, tau=1.0), n_traj=200, n_steps=20,
        ...                    n_boot=20)
        >>> r.n, r.complete, r.to_xarray().delta_f_ci.dims
        (200, True, ('bound',))
    """

    work: np.ndarray = var("traj", units="energy", long_name="Sekimoto work samples")
    work_mean: float = var(units="energy", long_name="sample mean of W")
    work_stderr: float = var(units="energy", long_name="standard error of the sample mean")
    work_exact: float = var(units="energy", long_name="exact ⟨W⟩")
    delta_f: float = var(units="energy", long_name="Jarzynski estimate of ΔF")
    delta_f_stderr: float = var(units="energy", long_name="bootstrap standard deviation of the estimate")
    delta_f_ci: tuple = var("bound", units="energy", long_name="bootstrap 95 % interval of ΔF")
    delta_f_exact: float = var(units="energy", long_name="exact ΔF")
    n: int = attr()
    n_traj: int = attr()
    complete: bool = attr()
    warnings: tuple = attr(default=())


def _chunk_sizes(n_traj: int, n_chunks: int) -> list[int]:
    sizes = np.full(n_chunks, n_traj // n_chunks)
    sizes[: n_traj % n_chunks] += 1
    return [int(s) for s in sizes if s > 0]


def langevin_check(protocol: Protocol, *, n_traj: int = 10_000, n_steps: int = 200, method: str = "heun",
                   seed: int = 0, n_boot: int = 200, n_chunks: int = 1,
                   on_chunk: Callable[[LangevinCheck], None] | None = None,
                   compute: Callable[..., Any] | None = None) -> LangevinCheck:
    """Check a protocol's exact work against a Langevin ensemble; estimate ``Delta F`` by Jarzynski.

    Runs :func:`protocol_work_samples` in ``n_chunks`` chunks (chunk ``i`` with
    ``chunk=i``; one chunk uses ``seed`` itself, so ``n_chunks=1`` reproduces the ensemble of
    the ``langevin_work`` task for the same ramp), then :func:`nephlab.stochastic.jarzynski`
    (``n_boot`` resamples, seeded by ``seed``). The parameters are those of the
    ``langevin_work`` task.

    Args:
        protocol: a harmonic-trap :class:`~nephlab.control.Protocol`.
        n_traj: trajectories (>= 2). n_steps: time steps (``dt = tau/n_steps``).
        method: ``"euler_maruyama"`` or ``"heun"``. seed: random seed (int >= 0).
        n_boot: bootstrap resamples of the Jarzynski error bar.
        n_chunks: chunks (progress and cancellation granularity), >= 1.
        on_chunk: called after each chunk with a partial :class:`LangevinCheck` (no bootstrap);
            an exception it raises (e.g. a cancellation) stops the check.
        compute: ``compute(fn, *args, **kwargs)`` runs each chunk (e.g. on a Dask client);
            default: call it here.

    Returns:
        :class:`LangevinCheck` with ``complete=True``.

    Example:
        >>> from nephlab.control import linear_ramp
        >>> r = langevin_check(linear_ramp("trap_translation", lam_f=1.0, tau=1.0), n_traj=2000, n_steps=50,
        ...                    n_boot=20, n_chunks=4)
        >>> abs(r.work_mean - r.work_exact) < 5 * r.work_stderr
        True
    """
    from ..stochastic import SamplingWarning, jarzynski

    n_traj = integer(n_traj, "n_traj", minimum=2)
    n_chunks = integer(n_chunks, "n_chunks")
    n_boot = integer(n_boot, "n_boot", minimum=0)
    cost = evaluate_protocol(protocol)
    kBT = dict(protocol.physics).get("kBT", 1.0)
    run = compute if compute is not None else (lambda fn, *a, **kw: fn(*a, **kw))
    sizes = _chunk_sizes(n_traj, n_chunks)
    samples: list[np.ndarray] = []

    def result(w: np.ndarray, jz: Any, complete: bool) -> LangevinCheck:
        se = float(w.std(ddof=1) / math.sqrt(w.size)) if w.size > 1 else math.nan
        return LangevinCheck(work=w, work_mean=float(w.mean()), work_stderr=se, work_exact=cost.work,
                             delta_f=float(jz.value), delta_f_stderr=float(jz.stderr), delta_f_ci=tuple(jz.ci),
                             delta_f_exact=cost.delta_f, n=int(w.size), n_traj=n_traj, complete=complete,
                             warnings=tuple(jz.warnings))

    for i, size in enumerate(sizes):
        chunk = None if len(sizes) == 1 else i
        samples.append(np.asarray(run(protocol_work_samples, protocol, n_traj=size, n_steps=n_steps,
                                      method=method, seed=seed, chunk=chunk), dtype=float))
        if on_chunk is not None and i < len(sizes) - 1:
            w = np.concatenate(samples)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SamplingWarning)
                on_chunk(result(w, jarzynski(w, kBT, n_boot=0, seed=seed), False))
    w = np.concatenate(samples)
    return result(w, jarzynski(w, kBT, n_boot=n_boot, seed=seed), True)
