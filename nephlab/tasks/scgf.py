"""The ``scgf`` task: the scaled cumulant generating function θ(s) of a Markov jump model on a
grid of s, from the tilted generator (:func:`nephlab.largedev.markov_scgf`, which calls
:meth:`nephlab.largedev.MarkovJumpProcess.scgf_curve`).

Convention: ``θ(s) = lim (1/t) ln E[exp(-s A_t)]`` (1/time); ``-θ'(s)`` is the mean rate of A in
the tilted ensemble and ``θ''(s)`` its scaled variance. Models: see :mod:`nephlab.tasks._markov`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _markov
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import check_ordered, dataset

__all__ = ["SPEC", "SCGF"]


def _check(p: dict) -> None:
    _markov.check("scgf", p)
    check_ordered("scgf", p, "s_min", "s_max")


SPEC = TaskSpec(
    "scgf",
    "Scaled cumulant generating function θ(s) of a Markov jump model or of the photon counting of a "
    "driven damped quantum system (largest eigenvalue of the tilted generator / Liouvillian) on a grid "
    "of s, with θ'(s) and θ''(s).",
    _markov.markov_params(quantum=True)
    + (
        Param("s_min", "float", -1.0, "smallest tilt s", units="1/[A]", minimum=-50.0, maximum=50.0),
        Param("s_max", "float", 1.0, "largest tilt s", units="1/[A]", minimum=-50.0, maximum=50.0),
        Param("n_s", "int", 41, "points of the s grid", minimum=2, maximum=100_000),
    ),
    check=_check,
)


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example:
        >>> out = run(SPEC.validate({"s_min": 0.0, "s_max": 1.0, "n_s": 2}))
        >>> [round(float(v), 10) for v in out["theta"]]   # two_state a = b = 1: θ = e^{-s} - 1
        [0.0, -0.6321205588]
    """
    from ..largedev import markov_scgf

    r = markov_scgf(p)
    return {"s": r.s, "theta": np.asarray(r.theta, float), "dtheta": np.asarray(r.dtheta, float),
            "d2theta": np.asarray(r.d2theta, float)}


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset along dim ``s``: ``theta``, ``dtheta``, ``d2theta``, ``mean_rate`` (= -θ')."""
    return dataset(
        {
            "theta": (("s",), out["theta"], "1/time", "SCGF θ(s) = lim (1/t) ln E[exp(-s A_t)]"),
            "dtheta": (("s",), out["dtheta"], "[A]/time", "θ'(s)"),
            "d2theta": (("s",), out["d2theta"], "[A]²/time", "θ''(s): scaled variance in the tilted ensemble"),
            "mean_rate": (("s",), -out["dtheta"], "[A]/time", "-θ'(s): mean rate of A in the tilted ensemble"),
        },
        {"s": (out["s"], "1/[A]", "tilt s")},
    )


def estimate(p: dict) -> dict:
    """Dense eigendecompositions (~25 N³ flops per s for N states) below the library's sparse
    threshold, at 2 GFLOP/s; memory 16 N² bytes per s value of a chunk.

    Example:
        >>> estimate(SPEC.validate({}))["executor"]
        'in-process'
    """
    N = _markov.n_states(p)
    seconds = 1e-3 + p["n_s"] * 25.0 * N**3 / 2e9
    mem = 16 * N * N * min(p["n_s"], max(1, int(2e7 // max(N * N, 1)))) * 3
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


SCGF = register(Task(SPEC, run, to_dataset, estimate=estimate))
