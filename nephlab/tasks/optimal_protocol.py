"""The ``optimal_protocol`` task: Schmiedl–Seifert exact minimum-work protocols
(:func:`nephlab.control.optimal_protocol`) for a harmonic trap, compared with the linear ramp.

Problems: ``trap_translation`` (``U = k (x - λ)²/2``, λ from ``lam_i`` to ``lam_f``) and
``stiffness`` (``U = λ x²/2``, λ from ``k_i`` to ``k_f``). Outputs: λ(t) on ``n_times`` points of
[0, tau] (the end points are the fixed ``λ(0)``, ``λ(tau)``; the jumps are ``lam_0plus`` and
``lam_tau_minus``), the exact optimal mean work, its variance (exact moment equations,
:func:`nephlab.control.gaussian_work`), ΔF and the mean work of the linear ramp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar

__all__ = ["SPEC", "OPTIMAL_PROTOCOL"]

SPEC = TaskSpec(
    "optimal_protocol",
    "Exact optimal finite-time protocol of a harmonic trap (Schmiedl & Seifert 2007): λ(t), mean "
    "work, work variance, ΔF, and the linear ramp's work for comparison.",
    (
        Param("problem", "str", "trap_translation", "what the protocol controls",
              choices=("trap_translation", "stiffness")),
        Param("tau", "float", 1.0, "duration", units="time", minimum=0.0, exclusive_minimum=True, maximum=1e6),
        Param("lam_i", "float", 0.0, "initial trap position (trap_translation)", units="length",
              when=(("problem", ("trap_translation",)),)),
        Param("lam_f", "float", 1.0, "final trap position (trap_translation)", units="length",
              when=(("problem", ("trap_translation",)),)),
        Param("k", "float", 1.0, "trap stiffness (trap_translation)", units="energy/length²", minimum=0.0,
              exclusive_minimum=True, when=(("problem", ("trap_translation",)),)),
        Param("k_i", "float", 1.0, "initial stiffness (stiffness)", units="energy/length²", minimum=0.0,
              exclusive_minimum=True, when=(("problem", ("stiffness",)),)),
        Param("k_f", "float", 2.0, "final stiffness (stiffness)", units="energy/length²", minimum=0.0,
              exclusive_minimum=True, when=(("problem", ("stiffness",)),)),
        Param("gamma", "float", 1.0, "friction coefficient", units="energy·time/length²", minimum=0.0,
              exclusive_minimum=True),
        Param("kBT", "float", 1.0, "thermal energy", units="energy", minimum=0.0, exclusive_minimum=True),
        Param("n_times", "int", 201, "points of the λ(t) grid on [0, tau]", minimum=2, maximum=1_000_000),
    ),
)


def _kw(p: dict) -> dict:
    kw: dict[str, Any] = {"tau": p["tau"], "gamma": p["gamma"], "kBT": p["kBT"]}
    if p["problem"] == "trap_translation":
        kw.update(lam_i=p["lam_i"], lam_f=p["lam_f"], k=p["k"])
    else:
        kw.update(k_i=p["k_i"], k_f=p["k_f"])
    return kw


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example:
        >>> out = run(SPEC.validate({"lam_f": 5.0}))
        >>> round(float(out["work"]), 10) == round(25 / 3, 10)   # γ d² / (τ + 2γ/k)
        True
    """
    from ..control import gaussian_work, linear_ramp, optimal_protocol

    kw = _kw(p)
    proto = optimal_protocol(p["problem"], **kw)
    t = np.linspace(0.0, p["tau"], p["n_times"])
    lam = np.asarray(proto.lam(t), dtype=float)
    (_, a), (b, _) = proto.jumps
    moments = gaussian_work(proto)
    ramp = linear_ramp(p["problem"], **kw)
    return {
        "time": t,
        "lam": lam,
        "lam_0plus": scalar(a),
        "lam_tau_minus": scalar(b),
        "work": scalar(proto.work),
        "work_var": scalar(moments.var),
        "work_gaussian_check": scalar(moments.mean),
        "delta_F": scalar(moments.delta_f),
        "work_linear": scalar(ramp.work),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: ``lam(time)`` and scalars (energy units)."""
    lam_units = "length" if p["problem"] == "trap_translation" else "energy/length²"
    return dataset(
        {
            "lam": (("time",), out["lam"], lam_units, "optimal protocol λ(t)"),
            "lam_0plus": ((), out["lam_0plus"], lam_units, "λ just after the initial jump"),
            "lam_tau_minus": ((), out["lam_tau_minus"], lam_units, "λ just before the final jump"),
            "work": ((), out["work"], "energy", "exact optimal mean work <W>*"),
            "work_var": ((), out["work_var"], "energy²", "variance of W (exact moment equations)"),
            "work_gaussian_check": ((), out["work_gaussian_check"], "energy",
                                    "<W> of the protocol from the moment equations (equals work)"),
            "delta_F": ((), out["delta_F"], "energy", "free-energy difference"),
            "work_linear": ((), out["work_linear"], "energy", "mean work of the linear ramp"),
        },
        {"time": (out["time"], "time", "time")},
    )


def estimate(p: dict) -> dict:
    """Closed forms plus a 2048-step RK4 moment integration: milliseconds, kilobytes.

    Example:
        >>> estimate(SPEC.validate({}))["device"]
        'cpu'
    """
    mem = 8 * 4 * p["n_times"] + 200_000
    seconds = 0.05 + 1e-7 * p["n_times"]
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


OPTIMAL_PROTOCOL = register(Task(SPEC, run, to_dataset, estimate=estimate))
