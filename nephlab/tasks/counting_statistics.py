"""The ``counting_statistics`` task: full counting statistics of the quantum jumps of a
``lindblad`` model preset (:func:`nephlab.quantum.counting_statistics`).

The counted quantity ``A_t`` is the number of quanta emitted into the bath up to time t
(``count="emitted"``: weight +1 on every decay channel ``sqrt(γ(n_th+1)) L``), or the net number
(``count="net"``: also −1 on every absorption channel ``sqrt(γ n_th) L†``, present when
``nth > 0``). Outputs: θ(s) on a grid (the convention of :mod:`nephlab.largedev`,
``θ(s) = lim (1/t) ln ⟨exp(-s A_t)⟩``), the scaled cumulants κ_1 … κ_order at s = 0 (exact, not
finite differences), the mean current, the zero-frequency noise and the Fano factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _models
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import check_ordered, dataset, scalar

__all__ = ["SPEC", "COUNTING_STATISTICS", "weights"]


def _check(p: dict) -> None:
    _models.check_model("counting_statistics", p)
    check_ordered("counting_statistics", p, "s_min", "s_max")


SPEC = TaskSpec(
    "counting_statistics",
    "Full counting statistics of the emitted (or net) quanta of a Lindblad model preset: θ(s) from the "
    "tilted Liouvillian, the mean current, noise, Fano factor and higher cumulants.",
    _models.model_params()
    + (
        Param("count", "str", "emitted", "what is counted: quanta emitted into the bath, or emitted minus "
              "absorbed (net; differs from emitted only when nth > 0)", choices=("emitted", "net")),
        Param("s_min", "float", -1.0, "smallest counting field s", units="1/quanta", minimum=-20.0, maximum=20.0),
        Param("s_max", "float", 1.0, "largest counting field s", units="1/quanta", minimum=-20.0, maximum=20.0),
        Param("n_s", "int", 21, "points of the s grid", minimum=2, maximum=10_000),
        Param("order", "int", 4, "highest cumulant computed at s = 0", minimum=1, maximum=12),
        Param("method", "str", "auto", "θ(s) and the linear solves: dense eigendecomposition, shift-invert "
              "Arnoldi on the sparse tilted Liouvillian, or auto (dense for d² <= 400)",
              choices=("auto", "dense", "arnoldi")),
    ),
    check=_check,
)


def weights(p: Mapping[str, Any], n_channels: int) -> np.ndarray:
    """The counting weights of the preset's collapse operators (decay channels first, then the
    absorption channels when ``nth > 0``, the order of ``Model.c_ops``).

    Example:
        >>> weights({"count": "net", "nth": 0.5}, 4)
        array([ 1.,  1., -1., -1.])
    """
    if p["nth"] > 0:
        k = n_channels // 2
        return np.concatenate([np.ones(k), (-1.0 if p["count"] == "net" else 0.0) * np.ones(k)])
    return np.ones(n_channels)


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example (resonance fluorescence, H = F σx, γ = 1: mean flux γΩ²/(γ² + 2Ω²) with Ω = 2F):
        >>> out = run(SPEC.validate({"model": "qubit", "F": 0.5, "gamma": 1.0, "n_s": 3}))
        >>> round(float(out["mean_current"]), 12), round(float(out["fano"]), 12)
        (0.333333333333, 0.333333333333)
    """
    from ..quantum import counting_statistics

    m = _models.build(p)
    c_ops = m.c_ops(p["gamma"], p["nth"])
    s = np.linspace(p["s_min"], p["s_max"], p["n_s"])
    r = counting_statistics(m.H, c_ops, weights(p, len(c_ops)), s=s, order=p["order"], method=p["method"])
    return {"s": np.asarray(r.s, float), "theta": np.asarray(r.theta, float),
            "cumulants": np.asarray(r.cumulants, float), "mean_current": scalar(r.mean), "noise": scalar(r.noise),
            "fano": scalar(r.fano)}


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset with ``theta(s)``, ``cumulants(order)`` and scalars ``mean_current``, ``noise``, ``fano``."""
    k = np.arange(1, len(out["cumulants"]) + 1)
    return dataset(
        {
            "theta": (("s",), out["theta"], "1/time", "SCGF theta(s) = lim (1/t) ln <exp(-s A_t)>"),
            "cumulants": (("order",), out["cumulants"], "quanta^order/time", "scaled cumulants at s = 0"),
            "mean_current": ((), out["mean_current"], "quanta/time", "mean current (kappa_1)"),
            "noise": ((), out["noise"], "quanta^2/time", "zero-frequency noise (kappa_2)"),
            "fano": ((), out["fano"], "", "Fano factor kappa_2/kappa_1"),
        },
        {"s": (out["s"], "1/quanta", "counting field s"), "order": (k, "", "cumulant order")},
    )


def estimate(p: dict) -> dict:
    """Memory: the d²×d² tilted Liouvillian (dense: 16 d⁴ bytes, three copies). Time: one
    eigendecomposition (~25 d⁶ flops) per s on the dense path, ~50 shift-invert solves per s
    on the Arnoldi path, at 2 GFLOP/s.

    Example:
        >>> estimate(SPEC.validate({"model": "qubit"}))["executor"]
        'in-process'
    """
    d = _models.dimension(p["model"], p["n"])
    dense = p["method"] == "dense" or (p["method"] == "auto" and d * d <= 400)
    if dense:
        mem = 3 * 16 * d**4
        flops = 25.0 * d**6 * (p["n_s"] + 1)
    else:
        mem = 16 * d**4 // 10 + 40 * 16 * d * d
        flops = 50.0 * 30 * d**4 * (p["n_s"] + 1)
    seconds = 1e-3 + flops / 2e9
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


COUNTING_STATISTICS = register(Task(SPEC, run, to_dataset, estimate=estimate))
