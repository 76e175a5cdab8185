"""``ProtocolDesigner``: draw a finite-time protocol λ(t) and see its exact work on every edit.

The classical tab drives an overdamped Brownian particle in a harmonic trap
(``U = k (x - λ)²/2``, "trap_translation", or ``U = λ x²/2``, "stiffness"; see
:mod:`nephlab.control.protocols`). λ(t) is piecewise linear through draggable control points
(Bokeh ``PointDrawTool``); the end values ``λ(0) = lam_i`` and ``λ(τ) = lam_f`` are fixed, so a
control point away from them is a jump at ``t = 0`` or ``t = τ``. On every edit the designer
evaluates the exact mean and variance of the work (:func:`nephlab.control.gaussian_work`, the
closed moment hierarchy, a few milliseconds), the dissipation ``⟨W⟩ - ΔF`` and the
linear-response speed limit ``L²/τ`` (:func:`nephlab.control.thermodynamic_length_bound`, with
``L`` the thermodynamic length between the end points). It overlays the exact optimum of
Schmiedl & Seifert, the linear ramp, the :func:`~nephlab.control.optimize_protocol` result and
the Pontryagin (:func:`~nephlab.control.solve_pmp`) result, with a comparison table. Any protocol
can be validated by a Langevin ensemble (:func:`nephlab.stochastic.overdamped_langevin`) and the
Jarzynski estimate of ΔF with its bootstrap confidence interval, run in the background.

The quantum tab drives a Landau–Zener transfer ``H0(t) = (Δ(t)/2) σz + (Ω/2) σx``
(Δ from ``-delta0`` to ``+delta0`` in time ``T_q``) and compares the bare linear sweep, the
sweep plus the counterdiabatic term (:func:`nephlab.control.two_level_cd`) and a GRAPE pulse
(:func:`nephlab.control.grape`, controls ``σz/2`` and ``σx/2`` bounded by ``delta0``).

Units: ħ = k_B = 1; times in the units of ``tau`` (and ``gamma/k``), energies in the units of
``kBT``, ``k``; see the spec :data:`DESIGNER_SPEC` for every parameter's units and bounds.
"""

from __future__ import annotations

import atexit
import functools
import io
import math
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from nephlab.tasks import Param, TaskSpec

from ._base import Component, JobContext, holoviews, hv_pane, export_dataset, export_figure
from ._controls import controls_from_spec, param_for, link_controls

__all__ = [
    "DESIGNER_SPEC",
    "LANGEVIN_SPEC",
    "QUANTUM_SPEC",
    "ProtocolDesigner",
    "designer_protocol",
    "evaluate_protocol",
    "langevin_work_chunk",
    "pontryagin_protocol",
    "quantum_pulses",
    "reference_protocols",
]

PROBLEMS = ("trap_translation", "stiffness")
REFERENCE_NAMES = ("linear ramp", "optimal (Schmiedl-Seifert)", "optimize_protocol", "Pontryagin")
_DEFAULT_ENDS = {"trap_translation": (0.0, 5.0), "stiffness": (1.0, 4.0)}
_COLORS = {"designer": "#1f77b4", "linear ramp": "#7f7f7f", "optimal (Schmiedl-Seifert)": "#d62728",
           "optimize_protocol": "#2ca02c", "Pontryagin": "#9467bd"}

DESIGNER_SPEC = TaskSpec(
    "protocol_designer",
    "Finite-time protocol on a harmonic trap: exact work of a drawn protocol and of the optima",
    (
        Param("problem", "str", "trap_translation", "harmonic problem: move the trap or change its stiffness",
              choices=PROBLEMS),
        Param("tau", "float", 1.0, "protocol duration", units="time", minimum=0.0, exclusive_minimum=True,
              maximum=100.0),
        Param("lam_i", "float", 0.0, "λ(0): trap position (translation) or stiffness (> 0, stiffness)",
              units="length | energy/length^2", minimum=-100.0, maximum=100.0),
        Param("lam_f", "float", 5.0, "λ(τ): trap position (translation) or stiffness (> 0, stiffness)",
              units="length | energy/length^2", minimum=-100.0, maximum=100.0),
        Param("k", "float", 1.0, "trap stiffness of the translation problem", units="energy/length^2",
              minimum=0.0, exclusive_minimum=True, maximum=100.0),
        Param("gamma", "float", 1.0, "friction coefficient", units="energy*time/length^2", minimum=0.0,
              exclusive_minimum=True, maximum=100.0),
        Param("kBT", "float", 1.0, "thermal energy", units="energy", minimum=0.0, exclusive_minimum=True,
              maximum=100.0),
        Param("n_points", "int", 6, "number of draggable control points", minimum=2, maximum=32),
    ),
)

LANGEVIN_SPEC = TaskSpec(
    "protocol_langevin",
    "Langevin validation of a protocol: Euler-Maruyama ensemble, Sekimoto work, Jarzynski estimate",
    (
        Param("n_traj", "int", 4000, "number of trajectories", minimum=10, maximum=10_000_000),
        Param("dt", "float", 1e-3, "time step", units="time", minimum=0.0, exclusive_minimum=True, maximum=1.0),
        Param("n_chunks", "int", 8, "chunks (progress/cancel granularity)", minimum=1, maximum=1000),
        Param("seed", "int", 0, "random seed", minimum=0),
    ),
)

QUANTUM_SPEC = TaskSpec(
    "protocol_quantum",
    "Landau-Zener transfer: linear sweep, counterdiabatic driving and GRAPE",
    (
        Param("delta0", "float", 5.0, "sweep amplitude: Δ runs from -delta0 to +delta0", units="energy",
              minimum=0.0, exclusive_minimum=True, maximum=100.0),
        Param("omega", "float", 1.0, "transverse coupling Ω", units="energy", minimum=0.0,
              exclusive_minimum=True, maximum=100.0),
        Param("T_q", "float", 2.0, "sweep duration", units="1/energy", minimum=0.0, exclusive_minimum=True,
              maximum=100.0),
        Param("n_slices", "int", 20, "GRAPE time slices", minimum=2, maximum=400),
    ),
)


# ---------------------------------------------------------------------------------------------
# pure helpers (no UI): they are what the component calls and what the tests check
# ---------------------------------------------------------------------------------------------
def _physics(values: dict[str, Any]) -> dict[str, float]:
    return {"k": float(values["k"]), "gamma": float(values["gamma"]), "kBT": float(values["kBT"])}


def _check_ends(problem: str, lam_i: float, lam_f: float) -> None:
    if problem == "stiffness" and not (lam_i > 0 and lam_f > 0):
        raise ValueError(f"lam_i={lam_i!r}, lam_f={lam_f!r}: for problem='stiffness' both are stiffnesses "
                         "and must be > 0")


def designer_protocol(problem: str, tau: float, lam_i: float, lam_f: float, times: Any, values: Any, *,
                      k: float = 1.0, gamma: float = 1.0, kBT: float = 1.0):
    """The designer's protocol: λ(0) = lam_i, piecewise linear through the control points, λ(τ) = lam_f.

    The interior is held constant before the first and after the last control point (so a
    point away from the end values is a jump at 0 or τ).

    Args:
        problem: ``"trap_translation"`` or ``"stiffness"``.
        tau: duration (> 0, time). lam_i, lam_f: end values (length, or stiffness > 0).
        times: control-point times, shape ``(m,)``, each in ``[0, tau]`` (any order; sorted here).
        values: control-point values λ, shape ``(m,)`` (length, or stiffness > 0).
        k, gamma, kBT: trap stiffness (translation), friction, thermal energy (> 0).

    Returns:
        a :class:`nephlab.control.Protocol` (``family="nodes"``, ``work=None``).

    Example:
        >>> p = designer_protocol("trap_translation", 1.0, 0.0, 5.0, [0.0, 1.0], [0.0, 5.0])
        >>> [round(float(v), 3) for v in p.lam(np.array([0.0, 0.5, 1.0]))]
        [0.0, 2.5, 5.0]
    """
    from nephlab.control import Protocol

    if problem not in PROBLEMS:
        raise ValueError(f"problem={problem!r}; allowed: {', '.join(map(repr, PROBLEMS))}")
    tau = float(tau)
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau={tau!r}; allowed: a finite float > 0")
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.ndim != 1 or t.size < 1 or v.shape != t.shape:
        raise ValueError(f"times (shape {t.shape}) and values (shape {v.shape}) must be 1-D arrays of equal "
                         "length >= 1")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
        raise ValueError(f"times={t.tolist()} / values={v.tolist()} contain NaN or inf; allowed: finite floats")
    if np.any(t < 0) or np.any(t > tau):
        raise ValueError(f"times={t.tolist()} must lie in [0, tau] = [0, {tau:g}]")
    _check_ends(problem, float(lam_i), float(lam_f))
    if problem == "stiffness" and np.any(v <= 0):
        raise ValueError(f"values={v.tolist()}: stiffness values must be > 0")
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    node_t = np.concatenate([[0.0], t, [tau]])
    node_v = np.concatenate([[v[0]], v, [v[-1]]])
    phys = (("gamma", float(gamma)), ("k", float(k)), ("kBT", float(kBT)))
    return Protocol(problem, tau, float(lam_i), float(lam_f), "nodes", (node_t, node_v), physics=phys)


def _dense_path(values: np.ndarray, per_segment: int = 16) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    segs = [np.linspace(a, b, per_segment, endpoint=False) for a, b in zip(v[:-1], v[1:])]
    return np.concatenate(segs + [v[-1:]])


@functools.lru_cache(maxsize=64)
def _geodesic_length(kind: str, lam_i: float, lam_f: float, k: float, gamma: float, kBT: float) -> float:
    """Thermodynamic length between the end values (independent of the drawn points: cached)."""
    from nephlab.control import friction, thermodynamic_length

    path = np.linspace(lam_i, lam_f, 1025) if kind == "stiffness" else np.array([lam_i, lam_f])
    return float(thermodynamic_length(lambda lam: friction(kind, lam, k=k, gamma=gamma, kBT=kBT), path))


def evaluate_protocol(protocol, *, k: float = 1.0, gamma: float = 1.0, kBT: float = 1.0) -> dict[str, float]:
    """Exact work statistics of a harmonic-trap protocol and its speed-limit bound.

    Uses :func:`nephlab.control.gaussian_work` (exact moment equations), the analytic friction
    :func:`nephlab.control.friction` and :func:`nephlab.control.thermodynamic_length` /
    :func:`~nephlab.control.thermodynamic_length_bound`.

    Args:
        protocol: a :class:`nephlab.control.Protocol` of kind ``"trap_translation"`` or ``"stiffness"``.
        k, gamma, kBT: stiffness (translation), friction, thermal energy.

    Returns:
        dict with ``work`` (⟨W⟩, energy), ``work_var`` (energy²), ``delta_f`` (ΔF, energy),
        ``dissipation`` (⟨W⟩ - ΔF, energy), ``length`` (thermodynamic length of the drawn path,
        √(energy·time)), ``length_min`` (length of the geodesic between the end values) and
        ``bound`` (``length_min²/τ``, the linear-response speed limit on the dissipation, energy).

    Example:
        >>> from nephlab.control import linear_ramp
        >>> r = evaluate_protocol(linear_ramp("trap_translation", lam_f=5.0, tau=1.0))
        >>> round(r["work"], 9) == round(25 / math.e, 9), r["bound"]
        (True, 25.0)
    """
    from nephlab.control import friction, gaussian_work, thermodynamic_length, thermodynamic_length_bound

    kind = protocol.kind
    m = gaussian_work(protocol, k=k, gamma=gamma, kBT=kBT)

    def zeta(lam):
        return friction(kind, lam, k=k, gamma=gamma, kBT=kBT)

    length = float(thermodynamic_length(zeta, _dense_path(protocol.values)))
    length_min = _geodesic_length(kind, float(protocol.lam_i), float(protocol.lam_f), float(k), float(gamma),
                                  float(kBT))
    mean, var, df = float(m.mean), float(m.var), float(m.delta_f)
    return {"work": mean, "work_var": var, "delta_f": df, "dissipation": mean - df, "length": length,
            "length_min": length_min, "bound": float(thermodynamic_length_bound(length_min, protocol.tau))}


def pontryagin_protocol(problem: str, *, tau: float, lam_i: float, lam_f: float, k: float = 1.0,
                        gamma: float = 1.0, kBT: float = 1.0, n_steps: int = 200):
    """Minimum-mean-work protocol from Pontryagin's principle (:func:`nephlab.control.solve_pmp`).

    The mean work is written as a control problem in a moment of the position:
    translation: state ``m = ⟨x⟩`` (``m(0) = lam_i``), control ``u = ṁ``,
    ``⟨W⟩ = ∫ γ u² dt + k (lam_f - m(τ))²/2``, and ``λ = m + γ u/k``;
    stiffness: state ``w = ⟨x²⟩`` (``w(0) = kBT/lam_i``), control ``u = ẇ``,
    ``⟨W⟩ = ∫ γ u²/(4w) dt + lam_f w(τ)/2 - (kBT/2) ln(w(τ)/w(0)) - kBT/2``, and
    ``λ = (kBT - γ u/2)/w`` (Schmiedl & Seifert, PRL 98, 108301 (2007)). Both end points jump.

    Args:
        problem, tau, lam_i, lam_f, k, gamma, kBT: as in :func:`designer_protocol`.
        n_steps: RK4 steps of the shooting method.

    Returns:
        a :class:`nephlab.control.Protocol` whose ``work`` is the PMP cost (energy).

    Example:
        >>> p = pontryagin_protocol("trap_translation", tau=1.0, lam_i=0.0, lam_f=5.0, n_steps=50)
        >>> round(p.work, 8) == round(25 / 3, 8)
        True
    """
    import jax.numpy as jnp

    from nephlab.control import Protocol, solve_pmp

    if problem not in PROBLEMS:
        raise ValueError(f"problem={problem!r}; allowed: {', '.join(map(repr, PROBLEMS))}")
    _check_ends(problem, lam_i, lam_f)
    phys = (("gamma", float(gamma)), ("k", float(k)), ("kBT", float(kBT)))
    if problem == "trap_translation":
        res = solve_pmp(lambda x, u, t: jnp.array([u[0]]), lambda x, u, t: gamma * u[0] ** 2, [lam_i], tau,
                        terminal_cost=lambda x: 0.5 * k * (lam_f - x[0]) ** 2, n_steps=n_steps)
        lam = res.x[:, 0] + gamma * res.u[:, 0] / k
        cost = res.cost
    else:
        w0 = kBT / lam_i
        res = solve_pmp(lambda x, u, t: jnp.array([u[0]]), lambda x, u, t: gamma * u[0] ** 2 / (4.0 * x[0]),
                        [w0], tau, terminal_cost=lambda x: 0.5 * lam_f * x[0] - 0.5 * kBT * jnp.log(x[0] / w0),
                        n_steps=n_steps)
        lam = (kBT - 0.5 * gamma * res.u[:, 0]) / res.x[:, 0]
        cost = res.cost - 0.5 * kBT
    return Protocol(problem, float(tau), float(lam_i), float(lam_f), "nodes",
                    (np.asarray(res.t, dtype=float), np.asarray(lam, dtype=float)), float(cost), None, phys)


def reference_protocols(problem: str, *, tau: float, lam_i: float, lam_f: float, k: float = 1.0,
                        gamma: float = 1.0, kBT: float = 1.0, n_nodes: int = 9) -> dict[str, Any]:
    """The four reference protocols of the designer, keyed by :data:`REFERENCE_NAMES`.

    ``"linear ramp"`` (:func:`~nephlab.control.linear_ramp`), ``"optimal (Schmiedl-Seifert)"``
    (:func:`~nephlab.control.optimal_protocol`, exact), ``"optimize_protocol"``
    (:func:`~nephlab.control.optimize_protocol` with ``n_nodes`` nodes) and ``"Pontryagin"``
    (:func:`pontryagin_protocol`). First call: a few seconds (JAX compilation).

    Example:
        >>> refs = reference_protocols("trap_translation", tau=1.0, lam_i=0.0, lam_f=5.0)  # doctest: +SKIP
        >>> round(refs["optimal (Schmiedl-Seifert)"].work, 6)  # doctest: +SKIP
        8.333333
    """
    from nephlab.control import linear_ramp, optimal_protocol, optimize_protocol

    _check_ends(problem, lam_i, lam_f)
    phys = {"k": k, "gamma": gamma, "kBT": kBT}
    if problem == "trap_translation":
        ends = {"lam_i": lam_i, "lam_f": lam_f}
    else:
        ends = {"k_i": lam_i, "k_f": lam_f}
    return {
        "linear ramp": linear_ramp(problem, tau=tau, **ends, **phys),
        "optimal (Schmiedl-Seifert)": optimal_protocol(problem, tau=tau, **ends, **phys),
        "optimize_protocol": optimize_protocol(problem, tau=tau, n_nodes=n_nodes, **ends, **phys),
        "Pontryagin": pontryagin_protocol(problem, tau=tau, lam_i=lam_i, lam_f=lam_f, **phys),
    }


def _u_translation(x, lam, k):
    return 0.5 * k * (x - lam) ** 2


def _u_stiffness(x, lam):
    return 0.5 * lam * x**2


def langevin_work_chunk(problem: str, lam_grid: Any, dt: float, n_traj: int, seed: int, *, k: float = 1.0,
                        gamma: float = 1.0, kBT: float = 1.0) -> np.ndarray:
    """Sekimoto work of ``n_traj`` overdamped Langevin trajectories driven by ``lam_grid``.

    Module-level (picklable) so that it can run on a Dask worker. Starts from exact equilibrium
    samples of ``U(·, lam_grid[0])`` (:func:`nephlab.stochastic.overdamped_langevin`, Euler–Maruyama).

    Args:
        problem: ``"trap_translation"`` or ``"stiffness"``.
        lam_grid: λ on ``dt * arange(n_steps + 1)``, shape ``(n_steps + 1,)``.
        dt: time step (time). n_traj: trajectories. seed: random seed.
        k, gamma, kBT: stiffness (translation), friction, thermal energy.

    Returns:
        work samples, shape ``(n_traj,)`` (energy).

    Example:
        >>> w = langevin_work_chunk("trap_translation", np.linspace(0, 1, 101), 0.01, 50, 0)
        >>> w.shape
        (50,)
    """
    from functools import partial

    from nephlab.stochastic import overdamped_langevin

    if problem == "trap_translation":
        U = partial(_u_translation, k=float(k))
    elif problem == "stiffness":
        U = _u_stiffness
    else:
        raise ValueError(f"problem={problem!r}; allowed: {', '.join(map(repr, PROBLEMS))}")
    res = overdamped_langevin(U, "equilibrium", np.asarray(lam_grid, dtype=float), dt=float(dt), seed=int(seed),
                              n_traj=int(n_traj), gamma=float(gamma), kBT=float(kBT))
    return np.asarray(res.work, dtype=float)


_SX = np.array([[0, 1], [1, 0]], dtype=complex)
_SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
_SZ = np.array([[1, 0], [0, -1]], dtype=complex)


def quantum_pulses(delta0: float = 5.0, omega: float = 1.0, T_q: float = 2.0, n_slices: int = 20, *,
                   n_prop: int = 400, seed: int = 0) -> dict[str, Any]:
    """Landau–Zener transfer by a linear sweep, by counterdiabatic driving and by GRAPE.

    ``H0(t) = (Δ(t)/2) σz + (Ω/2) σx``, ``Δ(t) = delta0 (2t/T_q - 1)``; the transfer takes the
    ground state of ``H0(0)`` to the ground state of ``H0(T_q)``. The counterdiabatic term
    ``c(t) σy`` is :func:`nephlab.control.two_level_cd`; sweeps are propagated piecewise
    constant on ``n_prop`` slices (:func:`nephlab.control.propagate_piecewise`); GRAPE
    (:func:`nephlab.control.grape`) optimises ``u_z(t) σz/2 + u_x(t) σx/2`` on ``n_slices``
    slices with ``|u| <= delta0``.

    Returns:
        dict with ``t`` (slice midpoints, ``(n_prop,)``), ``delta`` (Δ(t)), ``cd`` (c(t), energy),
        ``grape_t`` (slice edges ``(n_slices + 1,)``), ``grape_controls`` (``(2, n_slices)``: u_z, u_x),
        and ``fidelity``: {"linear sweep", "counterdiabatic", "GRAPE"} -> |⟨target|ψ(T)⟩|².

    Example:
        >>> q = quantum_pulses(n_slices=10)  # doctest: +SKIP
        >>> q["fidelity"]["counterdiabatic"] > 0.999  # doctest: +SKIP
        True
    """
    import jax
    import jax.numpy as jnp

    from nephlab.control import grape, propagate_piecewise, two_level_cd

    vals = QUANTUM_SPEC.validate({"delta0": delta0, "omega": omega, "T_q": T_q, "n_slices": n_slices})
    d0, om, T, ns = vals["delta0"], vals["omega"], vals["T_q"], vals["n_slices"]

    def h0(d):
        return 0.5 * d * _SZ + 0.5 * om * _SX

    init = np.linalg.eigh(h0(-d0))[1][:, 0]
    target = np.linalg.eigh(h0(d0))[1][:, 0]
    tm = (np.arange(n_prop) + 0.5) * T / n_prop
    delta = d0 * (2.0 * tm / T - 1.0)
    hcd = two_level_cd(lambda t: d0 * (2.0 * t / T - 1.0), om)
    cd = np.asarray(jax.vmap(hcd)(jnp.asarray(tm)))[:, 1, 0].imag  # H_cd = c(t) σy, σy[1, 0] = i
    fid = {}
    for name, c in (("linear sweep", 0.0 * cd), ("counterdiabatic", cd)):
        u = np.stack([delta, np.full(n_prop, om), c])
        U = np.asarray(propagate_piecewise(u, np.zeros((2, 2)), [0.5 * _SZ, 0.5 * _SX, _SY], T))
        fid[name] = float(abs(np.vdot(target, U @ init)) ** 2)
    g = grape(np.zeros((2, 2)), [0.5 * _SZ, 0.5 * _SX], init, target, T, ns, u_bounds=(-d0, d0), seed=seed,
              max_iter=300, target_infidelity=1e-10)
    fid["GRAPE"] = float(g.fidelity)
    return {"t": tm, "delta": delta, "cd": cd, "grape_t": np.asarray(g.times), "grape_controls": g.controls,
            "fidelity": fid, "grape_iterations": int(g.iterations)}


# ---------------------------------------------------------------------------------------------
# the component
# ---------------------------------------------------------------------------------------------
_REFERENCE_JOBS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _finish_reference_jobs(timeout: float = 120.0) -> None:  # pragma: no cover - interpreter exit
    """Let running reference computations finish: a daemon thread killed inside XLA aborts the process."""
    for job in list(_REFERENCE_JOBS):
        try:
            job.cancel()
            job._finished.wait(timeout)
        except Exception:  # noqa: BLE001
            pass


def _fmt(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.6g}"


class ProtocolDesigner(Component):
    """Draw λ(t) for a Brownian particle in a harmonic trap; see the exact work on every edit.

    Parameters (bounds and units: :data:`DESIGNER_SPEC`, :data:`LANGEVIN_SPEC`,
    :data:`QUANTUM_SPEC`): ``problem``, ``tau``, ``lam_i``, ``lam_f``, ``k``, ``gamma``, ``kBT``,
    ``n_points``; Langevin ``n_traj``, ``dt``, ``n_chunks``, ``seed``; quantum ``delta0``,
    ``omega``, ``T_q``, ``n_slices``.

    State (read-only outputs): ``points`` (``(n_points, 2)`` array of control points (t, λ)),
    ``work``, ``work_var``, ``delta_f``, ``dissipation``, ``bound``, ``length`` (see
    :func:`evaluate_protocol`), ``latency_ms`` (wall time of the last edit's evaluation, ms),
    ``references`` (name -> Protocol), ``langevin`` (dict of the last validation), ``quantum``
    (dict of :func:`quantum_pulses`).

    ``auto_references`` (default True): once the view is built, recompute the reference
    protocols in the background whenever the physics changes.

    Python API: :meth:`set_points`, :meth:`move_point`, :meth:`protocol`,
    :meth:`compute_references`, :meth:`validate_langevin`, :meth:`compute_quantum`,
    :meth:`comparison`, :meth:`figure`, :meth:`to_dataset`, :meth:`export`.

    DOM hooks: ``nl-work`` (the ⟨W⟩ display), ``nl-dissipation``, ``nl-bound``, ``nl-latency``,
    the Bokeh figure named ``nl-protocol-figure`` (find it with
    ``Bokeh.documents[i].get_model_by_name``; its control points' renderer is
    ``nl-control-points``), ``nl-protocol-table``, ``nl-validate`` (Langevin
    button), ``nl-langevin`` (its result), ``nl-quantum-run``, ``nl-quantum-table``,
    plus the status bar's ``nl-status``/``nl-progress``/``nl-cancel``.

    Example:
        >>> d = ProtocolDesigner(n_points=2)
        >>> d.set_points([0.0, 1.0], [0.0, 5.0])   # the linear ramp 0 -> 5 in tau = 1
        >>> round(d.work, 9) == round(25 / math.e, 9)
        True
    """

    problem = param_for(DESIGNER_SPEC.param("problem"))
    tau = param_for(DESIGNER_SPEC.param("tau"))
    lam_i = param_for(DESIGNER_SPEC.param("lam_i"))
    lam_f = param_for(DESIGNER_SPEC.param("lam_f"))
    k = param_for(DESIGNER_SPEC.param("k"))
    gamma = param_for(DESIGNER_SPEC.param("gamma"))
    kBT = param_for(DESIGNER_SPEC.param("kBT"))
    n_points = param_for(DESIGNER_SPEC.param("n_points"))

    n_traj = param_for(LANGEVIN_SPEC.param("n_traj"))
    dt = param_for(LANGEVIN_SPEC.param("dt"))
    n_chunks = param_for(LANGEVIN_SPEC.param("n_chunks"))
    seed = param_for(LANGEVIN_SPEC.param("seed"))

    delta0 = param_for(QUANTUM_SPEC.param("delta0"))
    omega = param_for(QUANTUM_SPEC.param("omega"))
    T_q = param_for(QUANTUM_SPEC.param("T_q"))
    n_slices = param_for(QUANTUM_SPEC.param("n_slices"))

    points = param.Array(default=None, doc="control points (n_points, 2): columns t, λ")
    work = param.Number(default=float("nan"), doc="⟨W⟩ of the drawn protocol (energy)")
    work_var = param.Number(default=float("nan"), doc="Var W (energy²)")
    delta_f = param.Number(default=float("nan"), doc="ΔF (energy)")
    dissipation = param.Number(default=float("nan"), doc="⟨W⟩ - ΔF (energy)")
    bound = param.Number(default=float("nan"), doc="speed limit L²/τ (energy)")
    length = param.Number(default=float("nan"), doc="thermodynamic length of the drawn path")
    latency_ms = param.Number(default=float("nan"), doc="wall time of the last edit's evaluation (ms)")
    auto_references = param.Boolean(default=True, doc="recompute the references in the background when "
                                    "the physics changes (only once the view is built)")
    references = param.Dict(default={}, doc="reference protocols by name")
    reference_status = param.String(default="not computed", doc="state of the reference computation")
    langevin = param.Dict(default={}, doc="last Langevin validation")
    quantum = param.Dict(default={}, doc="last quantum comparison")

    def __init__(self, **params: Any):
        ends = _DEFAULT_ENDS.get(params.get("problem", "trap_translation"))
        if ends is not None:  # end points that suit the problem unless given
            params.setdefault("lam_i", ends[0])
            params.setdefault("lam_f", ends[1])
        super().__init__(**params)
        self._fig = None
        self._sources: dict[str, Any] = {}
        self._syncing = False
        self._ref_job = None
        self._ref_key: tuple | None = None
        self.latencies_ms: list[float] = []
        if self.points is None:
            self._reset_points()
        else:
            self.set_points(np.asarray(self.points)[:, 0], np.asarray(self.points)[:, 1])

    # ---- physics values -------------------------------------------------------------------------
    def spec_values(self) -> dict[str, Any]:
        """The designer's physics parameters validated by :data:`DESIGNER_SPEC` (plain dict)."""
        vals = DESIGNER_SPEC.validate({p.name: getattr(self, p.name) for p in DESIGNER_SPEC.params})
        _check_ends(vals["problem"], vals["lam_i"], vals["lam_f"])
        return vals

    def _reset_points(self) -> None:
        """Control points on the linear ramp, equally spaced in t."""
        t = np.linspace(0.0, self.tau, self.n_points)
        self.set_points(t, self.lam_i + (self.lam_f - self.lam_i) * t / self.tau)

    @param.depends("problem", watch=True)
    def _on_problem(self) -> None:
        lam_i, lam_f = _DEFAULT_ENDS[self.problem]
        with param.parameterized.batch_call_watchers(self):
            self.param.update(lam_i=lam_i, lam_f=lam_f)
        self._reset_points()
        self._refresh_references()

    @param.depends("tau", "lam_i", "lam_f", "n_points", watch=True)
    def _on_shape(self) -> None:
        if self.problem == "stiffness" and not (self.lam_i > 0 and self.lam_f > 0):
            self.status = f"lam_i={self.lam_i}, lam_f={self.lam_f}: stiffnesses must be > 0"
            return
        self._reset_points()
        self._refresh_references()

    @param.depends("k", "gamma", "kBT", watch=True)
    def _on_physics(self) -> None:
        self._evaluate()
        self._refresh_references()

    # ---- editing ------------------------------------------------------------------------------
    def protocol(self):
        """The drawn protocol as a :class:`nephlab.control.Protocol` (see :func:`designer_protocol`)."""
        pts = np.asarray(self.points, dtype=float)
        return designer_protocol(self.problem, self.tau, self.lam_i, self.lam_f, pts[:, 0], pts[:, 1],
                                 **_physics(self.param.values()))

    def set_points(self, times: Any, values: Any) -> None:
        """Replace the control points and re-evaluate (the programmatic equivalent of a drag).

        Args:
            times: shape ``(m,)``, each in ``[0, tau]`` (time).
            values: shape ``(m,)``, λ at those times (length, or stiffness > 0).

        Raises:
            ValueError: naming the argument and the allowed range, for bad input (nothing changes).

        Example:
            >>> d = ProtocolDesigner(n_points=3)
            >>> d.set_points([0.0, 0.5, 1.0], [1.0, 2.5, 4.0])
            >>> d.points.shape
            (3, 2)
        """
        t0 = time.perf_counter()
        t = np.asarray(times, dtype=float).ravel()
        v = np.asarray(values, dtype=float).ravel()
        designer_protocol(self.problem, self.tau, self.lam_i, self.lam_f, t, v)  # validates
        self.points = np.stack([t, v], axis=1)
        self._evaluate(t0)

    def move_point(self, index: int, t: float | None = None, lam: float | None = None) -> None:
        """Move control point ``index`` to time ``t`` and/or value ``lam`` (None keeps it).

        Example:
            >>> d = ProtocolDesigner(n_points=4)
            >>> before = d.work
            >>> d.move_point(1, lam=4.0)
            >>> d.work != before
            True
        """
        pts = np.array(self.points, dtype=float)
        if not isinstance(index, (int, np.integer)) or not -len(pts) <= index < len(pts):
            raise ValueError(f"index={index!r}; allowed: an int in [0, {len(pts) - 1}]")
        if t is not None:
            pts[index, 0] = t
        if lam is not None:
            pts[index, 1] = lam
        self.set_points(pts[:, 0], pts[:, 1])

    def _evaluate(self, t0: float | None = None) -> None:
        t0 = time.perf_counter() if t0 is None else t0
        try:
            res = evaluate_protocol(self.protocol(), **_physics(self.param.values()))
        except ValueError as exc:
            self.status = f"error: {exc}"
            return
        self.latency_ms = 1e3 * (time.perf_counter() - t0)
        self.latencies_ms.append(self.latency_ms)
        with param.parameterized.batch_call_watchers(self):
            self.param.update(**{k: res[k] for k in ("work", "work_var", "delta_f", "dissipation", "bound",
                                                     "length")})
        self._sync_plot()

    # ---- references -----------------------------------------------------------------------------
    def _ref_args(self) -> tuple:
        v = self.spec_values()
        return (v["problem"], v["tau"], v["lam_i"], v["lam_f"], v["k"], v["gamma"], v["kBT"])

    def compute_references(self) -> dict[str, Any]:
        """Compute the four reference protocols now (blocking; a few seconds on a first call)."""
        args = self._ref_args()
        refs = reference_protocols(args[0], tau=args[1], lam_i=args[2], lam_f=args[3], k=args[4],
                                   gamma=args[5], kBT=args[6])
        self._ref_key = args
        self.references = refs
        self.reference_status = "ready"
        self._sync_plot()
        return refs

    def _refresh_references(self) -> None:
        """Recompute the references in the background if the physics changed (UI path)."""
        if self._fig is None or not self.auto_references:  # compute_references() on demand
            self.references = {}
            self.reference_status = "not computed"
            return
        from ._base import Job

        try:
            args = self._ref_args()
        except ValueError as exc:
            self.reference_status = f"error: {exc}"
            return
        if args == self._ref_key:
            return
        if self._ref_job is not None and not self._ref_job.done:
            self._ref_job.cancel()
        self.reference_status = "computing references (optimize_protocol, Pontryagin) ..."

        def work(ctx: JobContext):
            return reference_protocols(args[0], tau=args[1], lam_i=args[2], lam_f=args[3], k=args[4],
                                       gamma=args[5], kBT=args[6])

        def done(refs):
            if args != self._ref_args():
                return  # stale
            self._ref_key = args
            self.references = refs
            self.reference_status = "ready"
            self._sync_plot()

        def err(exc):
            self.reference_status = f"error: {type(exc).__name__}: {exc}"

        self._ref_job = Job(work, on_done=done, on_error=err).start()
        _REFERENCE_JOBS.add(self._ref_job)

    def comparison(self):
        """Comparison table (pandas DataFrame): ⟨W⟩, Var W, ⟨W⟩ - ΔF and L²/τ of the drawn and
        the reference protocols, each evaluated exactly by :func:`evaluate_protocol`.

        Example:
            >>> d = ProtocolDesigner(n_points=2)
            >>> d.comparison().index.tolist()
            ['designer']
        """
        import pandas as pd

        phys = _physics(self.param.values())
        rows = {"designer": {"work": self.work, "work_var": self.work_var, "dissipation": self.dissipation,
                             "bound L²/τ": self.bound}}
        for name, p in self.references.items():
            try:
                r = evaluate_protocol(p, **phys)
                rows[name] = {"work": r["work"], "work_var": r["work_var"], "dissipation": r["dissipation"],
                              "bound L²/τ": r["bound"]}
            except ValueError:  # e.g. a stiffness protocol that crosses zero
                rows[name] = {"work": p.work, "work_var": np.nan, "dissipation": np.nan, "bound L²/τ": np.nan}
        return pd.DataFrame.from_dict(rows, orient="index")

    # ---- Langevin validation --------------------------------------------------------------------
    def validate_langevin(self, background: bool = True):
        """Validate the drawn protocol by a Langevin ensemble and the Jarzynski estimator.

        Runs :func:`langevin_work_chunk` ``n_chunks`` times (each ``n_traj/n_chunks`` trajectories,
        seeds ``seed + i``), streaming the running ⟨W⟩ and ΔF estimate; at the end
        :func:`nephlab.stochastic.jarzynski` gives ΔF with its 95 % bootstrap interval. The
        result lands in ``self.langevin``: ``work_mean``, ``work_sem``, ``work_exact``,
        ``delta_f``, ``delta_f_ci``, ``delta_f_exact``, ``n``, ``work`` (samples).

        Args:
            background: True: return the :class:`~widgets._base.Job` at once (UI); False: block
                and return the result dict.
        """
        from nephlab.stochastic import jarzynski

        v = self.spec_values()
        lv = LANGEVIN_SPEC.validate({p.name: getattr(self, p.name) for p in LANGEVIN_SPEC.params})
        prot = self.protocol()
        n_steps = max(1, int(math.ceil(v["tau"] / lv["dt"] - 1e-9)))
        dt = v["tau"] / n_steps
        lam_grid = np.asarray(prot.lam(dt * np.arange(n_steps + 1)))
        sizes = np.full(lv["n_chunks"], lv["n_traj"] // lv["n_chunks"])
        sizes[: lv["n_traj"] % lv["n_chunks"]] += 1
        sizes = sizes[sizes > 0]
        exact = {"work_exact": self.work, "delta_f_exact": self.delta_f}
        phys = _physics(v)

        def work(ctx: JobContext):
            ws: list[np.ndarray] = []
            for i, n in enumerate(sizes):
                ctx.check()
                ws.append(ctx.compute(langevin_work_chunk, v["problem"], lam_grid, dt, int(n), lv["seed"] + i,
                                      **phys))
                w = np.concatenate(ws)
                ctx.emit({"work": w, "work_mean": float(w.mean()), "n": int(w.size), **exact},
                         progress=(i + 1) / len(sizes), status=f"Langevin: {w.size} of {lv['n_traj']} trajectories")
            w = np.concatenate(ws)
            import warnings

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                jr = jarzynski(w, kBT=phys["kBT"], seed=lv["seed"])
            return {"work": w, "work_mean": float(w.mean()), "work_sem": float(w.std(ddof=1) / math.sqrt(w.size)),
                    "delta_f": jr.value, "delta_f_ci": tuple(jr.ci), "n": int(w.size), "dt": dt,
                    "warnings": tuple(str(c.message) for c in caught), **exact}

        def update(partial):
            self.langevin = partial

        def done(res):
            self.langevin = res

        job = self.start_job(work, on_update=update, on_done=done, label="Langevin validation")
        return job if background else job.wait()

    # ---- quantum ----------------------------------------------------------------------------------
    def compute_quantum(self, background: bool = False):
        """Run :func:`quantum_pulses` with the quantum parameters; result in ``self.quantum``."""
        qv = QUANTUM_SPEC.validate({p.name: getattr(self, p.name) for p in QUANTUM_SPEC.params})

        def work(ctx: JobContext):
            return quantum_pulses(**qv)

        def done(res):
            self.quantum = res

        job = self.start_job(work, on_done=done, label="GRAPE / counterdiabatic")
        return job if background else job.wait()

    # ---- data and figures ------------------------------------------------------------------------
    def to_dataset(self, n_times: int = 201):
        """The drawn and reference protocols on a common grid, and the comparison, as a Dataset.

        Variables: ``lam_<name>(time)`` (λ, with the end jumps at t = 0 and τ), ``point_time``,
        ``point_value`` (dim ``point``), ``work``, ``work_var``, ``dissipation``, ``bound``
        (dim ``protocol``); attrs: the physics parameters.

        Example:
            >>> ds = ProtocolDesigner(n_points=3).to_dataset(n_times=11)
            >>> ds["lam_designer"].shape, ds.attrs["problem"]
            ((11,), 'trap_translation')
        """
        import xarray as xr

        t = np.linspace(0.0, self.tau, n_times)
        data = {"lam_designer": ("time", np.asarray(self.protocol().lam(t)))}
        for name, p in self.references.items():
            data["lam_" + _slug(name)] = ("time", np.asarray(p.lam(t)))
        table = self.comparison()
        for col, var in (("work", "work"), ("work_var", "work_var"), ("dissipation", "dissipation"),
                         ("bound L²/τ", "bound")):
            data[var] = ("protocol", table[col].to_numpy(dtype=float))
        pts = np.asarray(self.points)
        data["point_time"] = ("point", pts[:, 0])
        data["point_value"] = ("point", pts[:, 1])
        ds = xr.Dataset(data, coords={"time": t, "protocol": [str(i) for i in table.index]})
        ds.attrs.update(self.spec_values())
        ds.attrs["delta_f"] = self.delta_f
        return ds

    def figure(self):
        """A Matplotlib figure of the drawn protocol, its control points and the references."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        for name, p in self.references.items():
            ax.plot(p.times, p.values, "--", color=_COLORS[name], label=f"{name}: ⟨W⟩={p.work:.4g}")
        p = self.protocol()
        ax.plot(p.times, p.values, "-", color=_COLORS["designer"], lw=2, label=f"designer: ⟨W⟩={self.work:.4g}")
        pts = np.asarray(self.points)
        ax.plot(pts[:, 0], pts[:, 1], "o", color=_COLORS["designer"])
        ax.set_xlabel("t")
        ax.set_ylabel("λ(t)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def export(self, path: str | Path) -> Path:
        """Export by suffix: ``.png``/``.svg``/``.pdf`` (the figure) or ``.nc`` (the dataset)."""
        p = Path(path)
        if p.suffix.lower() in (".nc", ".zarr"):
            return export_dataset(self.to_dataset(), p)
        return export_figure(self.figure(), p)

    # ---- view ------------------------------------------------------------------------------------
    def _plot_data(self) -> dict[str, dict[str, Any]]:
        p = self.protocol()
        out = {"designer": {"t": list(map(float, p.times)), "lam": list(map(float, p.values))}}
        for name in REFERENCE_NAMES:
            ref = self.references.get(name)
            out[name] = {"t": [], "lam": []} if ref is None else {"t": list(map(float, ref.times)),
                                                                   "lam": list(map(float, ref.values))}
        return out

    def _sync_plot(self) -> None:
        if self._fig is None:
            return
        self._syncing = True
        try:
            for name, d in self._plot_data().items():
                self._sources[name].data = d
            pts = np.asarray(self.points)
            new = {"t": list(map(float, pts[:, 0])), "lam": list(map(float, pts[:, 1]))}
            if dict(self._sources["points"].data) != new:
                self._sources["points"].data = new
        finally:
            self._syncing = False

    def _on_drag(self, attr: str, old: Any, new: Any) -> None:
        if self._syncing:
            return
        try:
            t, lam = np.asarray(new["t"], float), np.asarray(new["lam"], float)
            if t.size != lam.size or t.size != len(self.points):
                raise ValueError(f"the plot has {t.size} control points; the designer has {len(self.points)}")
            self.set_points(t, lam)
        except ValueError as exc:
            self.status = f"edit rejected: {exc}"

    def _build_figure(self):
        from bokeh.models import ColumnDataSource, PointDrawTool
        from bokeh.plotting import figure

        fig = figure(width=640, height=360, name="nl-protocol-figure", x_axis_label="t", y_axis_label="λ(t)",
                     tools="pan,wheel_zoom,reset", toolbar_location="above")
        data = self._plot_data()
        for name in REFERENCE_NAMES:
            src = ColumnDataSource(data[name])
            fig.line("t", "lam", source=src, color=_COLORS[name], line_dash="dashed", line_width=2,
                     legend_label=name)
            self._sources[name] = src
        src = ColumnDataSource(data["designer"])
        fig.line("t", "lam", source=src, color=_COLORS["designer"], line_width=3, legend_label="designer")
        self._sources["designer"] = src
        pts = np.asarray(self.points)
        psrc = ColumnDataSource({"t": list(map(float, pts[:, 0])), "lam": list(map(float, pts[:, 1]))})
        rend = fig.scatter("t", "lam", source=psrc, size=14, color=_COLORS["designer"], name="nl-control-points")
        self._sources["points"] = psrc
        tool = PointDrawTool(renderers=[rend], add=False, drag=True, empty_value=0.0)
        fig.add_tools(tool)
        fig.toolbar.active_tap = tool
        fig.toolbar.active_drag = tool
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        psrc.on_change("data", self._on_drag)
        return fig

    def _download(self, suffix: str):
        def cb():
            with tempfile.TemporaryDirectory() as tmp:
                path = self.export(Path(tmp) / f"protocol{suffix}")
                return io.BytesIO(path.read_bytes())
        return pn.widgets.FileDownload(callback=cb, filename=f"protocol{suffix}", label=f"Export {suffix[1:]}",
                                       button_type="light", css_classes=[f"nl-export-{suffix[1:]}"])

    def _controls(self, spec: TaskSpec) -> list:
        widgets = controls_from_spec(spec, width=260)
        link_controls(self, widgets, on_error=lambda exc: setattr(self, "status", f"rejected: {exc}"))
        return list(widgets.values())

    def __panel__(self) -> pn.viewable.Viewable:
        if self._fig is None:
            self._fig = self._build_figure()
            self._refresh_references()
        plot = pn.pane.Bokeh(self._fig, css_classes=["nl-protocol-plot"])
        work = pn.pane.Str(pn.bind(lambda w: f"⟨W⟩ = {_fmt(w)}", self.param.work), css_classes=["nl-work"])
        diss = pn.pane.Str(pn.bind(lambda w: f"⟨W⟩ - ΔF = {_fmt(w)}", self.param.dissipation),
                           css_classes=["nl-dissipation"])
        bound = pn.pane.Str(pn.bind(lambda b: f"speed limit L²/τ = {_fmt(b)}", self.param.bound),
                            css_classes=["nl-bound"])
        lat = pn.pane.Str(pn.bind(lambda x: f"edit latency {_fmt(x)} ms", self.param.latency_ms),
                          css_classes=["nl-latency"])
        table = pn.pane.DataFrame(pn.bind(lambda *_: self.comparison(), self.param.work, self.param.references,
                                          self.param.work_var),
                                  css_classes=["nl-protocol-table"], float_format="{:.6g}".format)
        ref_status = pn.pane.Str(self.param.reference_status, css_classes=["nl-reference-status"])
        validate = pn.widgets.Button(name="Validate by Langevin + Jarzynski", button_type="primary",
                                     css_classes=["nl-validate"],
                                     disabled=self.param.running)
        validate.on_click(lambda _: self.validate_langevin())
        langevin = pn.pane.Markdown(pn.bind(_langevin_text, self.param.langevin), css_classes=["nl-langevin"])
        classical = pn.Row(
            pn.Column("### Protocol", *self._controls(DESIGNER_SPEC), width=300),
            pn.Column(plot, pn.Row(work, diss, bound, lat), ref_status, table,
                      pn.Row(self._download(".png"), self._download(".svg"), self._download(".nc")),
                      pn.layout.Divider(), pn.Row(pn.Column(*self._controls(LANGEVIN_SPEC)), validate),
                      langevin),
        )
        qbutton = pn.widgets.Button(name="Compute CD and GRAPE pulses", button_type="primary",
                                    css_classes=["nl-quantum-run"], disabled=self.param.running)
        qbutton.on_click(lambda _: self.compute_quantum(background=True))
        quantum = pn.Row(
            pn.Column("### Landau-Zener transfer", *self._controls(QUANTUM_SPEC), qbutton, width=300),
            pn.Column(pn.bind(_quantum_plot, self.param.quantum),
                      pn.pane.DataFrame(pn.bind(_quantum_table, self.param.quantum), css_classes=["nl-quantum-table"])),
        )
        return pn.Column(self.status_bar(), pn.Tabs(("Classical (harmonic trap)", classical), ("Quantum", quantum)),
                         sizing_mode="stretch_width")


def _slug(name: str) -> str:
    return {"linear ramp": "linear_ramp", "optimal (Schmiedl-Seifert)": "optimal", "optimize_protocol": "optimized",
            "Pontryagin": "pontryagin"}.get(name, name)


def _langevin_text(res: dict) -> str:
    if not res:
        return "No Langevin validation yet."
    lines = [f"**Langevin ensemble**: {res['n']} trajectories, ⟨W⟩ = {res['work_mean']:.5g}"
             + (f" ± {res['work_sem']:.2g}" if "work_sem" in res else "")
             + f" (exact {res['work_exact']:.5g})"]
    if "delta_f" in res:
        lo, hi = res["delta_f_ci"]
        lines.append(f"**Jarzynski** ΔF = {res['delta_f']:.4g}, 95 % CI [{lo:.4g}, {hi:.4g}] "
                     f"(exact {res['delta_f_exact']:.4g})")
        lines += [f"⚠ {w}" for w in res.get("warnings", ())]
    return "\n\n".join(lines)


def _quantum_plot(res: dict):
    hv = holoviews()

    if not res:
        return pn.pane.Markdown("Press *Compute* to run the counterdiabatic and GRAPE comparison.")
    t, tg, u = res["t"], res["grape_t"], res["grape_controls"]
    step = lambda y: (np.repeat(tg, 2)[1:-1], np.repeat(y, 2))  # noqa: E731
    curves = [hv.Curve((t, res["delta"]), "t", "amplitude", label="Δ(t) (linear sweep)"),
              hv.Curve((t, res["cd"]), "t", "amplitude", label="counterdiabatic c(t) σy"),
              hv.Curve(step(u[0]), "t", "amplitude", label="GRAPE u_z σz/2"),
              hv.Curve(step(u[1]), "t", "amplitude", label="GRAPE u_x σx/2")]
    return hv_pane(hv.Overlay(curves).opts(backend="bokeh", width=640, height=340, legend_position="bottom_right"),
                             css_classes=["nl-quantum-plot"])


def _quantum_table(res: dict):
    import pandas as pd

    if not res:
        return pd.DataFrame({"fidelity": []})
    return pd.DataFrame({"fidelity": res["fidelity"]})
