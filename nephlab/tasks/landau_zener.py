"""The ``landau_zener`` task: Landau-Zener transfer by a linear sweep, by counterdiabatic driving
and by GRAPE (:func:`nephlab.control.landau_zener`).

``H0(t) = (Δ(t)/2) σz + (Ω/2) σx``, ``Δ(t) = delta0 (2t/T - 1)``, from the ground state of
``H0(0)`` to that of ``H0(T)``. Outputs: ``delta(time)`` and the counterdiabatic amplitude
``cd(time)`` (of ``cd σy``) on the propagation slices, the GRAPE controls ``u_z(slice)`` (of
``σz/2``) and ``u_x(slice)`` (of ``σx/2``) with ``|u| <= delta0``, and the three fidelities.
Units: ħ = 1, energies and inverse times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar

__all__ = ["SPEC", "LANDAU_ZENER"]

SPEC = TaskSpec(
    "landau_zener",
    "Landau-Zener transfer of a qubit: linear sweep, counterdiabatic driving and a GRAPE pulse, with fidelities.",
    (
        Param("delta0", "float", 5.0, "sweep amplitude: Δ runs from -delta0 to +delta0; also the GRAPE bound |u|",
              units="energy", minimum=0.0, exclusive_minimum=True, maximum=1e3),
        Param("omega", "float", 1.0, "transverse coupling Ω", units="energy", minimum=0.0, exclusive_minimum=True,
              maximum=1e3),
        Param("T", "float", 2.0, "sweep duration", units="1/energy", minimum=0.0, exclusive_minimum=True,
              maximum=1e4),
        Param("n_slices", "int", 20, "GRAPE time slices", minimum=2, maximum=1000),
        Param("n_prop", "int", 400, "slices of the piecewise-constant propagation of the sweeps", minimum=2,
              maximum=100_000),
        Param("max_iter", "int", 300, "GRAPE L-BFGS-B iterations", minimum=1, maximum=100_000),
        Param("seed", "int", 0, "random seed of GRAPE's initial controls", minimum=0, maximum=2**31 - 1),
    ),
)


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example:
        >>> out = run(SPEC.validate({"n_slices": 4, "max_iter": 20}))  # doctest: +SKIP
        >>> float(out["fidelity_cd"]) > 0.999999  # doctest: +SKIP
        True
    """
    from ..control import landau_zener

    r = landau_zener(p["delta0"], p["omega"], p["T"], n_slices=p["n_slices"], n_prop=p["n_prop"], seed=p["seed"],
                     max_iter=p["max_iter"])
    return {
        "time": r.time,
        "delta": r.delta,
        "cd": r.cd,
        "slice_start": r.grape_edges[:-1],
        "u_z": r.grape_controls[0],
        "u_x": r.grape_controls[1],
        "fidelity_linear": scalar(r.fidelity_linear),
        "fidelity_cd": scalar(r.fidelity_cd),
        "fidelity_grape": scalar(r.fidelity_grape),
        "grape_iterations": scalar(r.grape_iterations),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: sweeps over ``time``, GRAPE controls over ``slice`` and the fidelities."""
    return dataset(
        {
            "delta": (("time",), out["delta"], "energy", "detuning Δ(t) of the linear sweep"),
            "cd": (("time",), out["cd"], "energy", "counterdiabatic amplitude c(t) of c σy"),
            "u_z": (("slice",), out["u_z"], "energy", "GRAPE amplitude of σz/2"),
            "u_x": (("slice",), out["u_x"], "energy", "GRAPE amplitude of σx/2"),
            "fidelity_linear": ((), out["fidelity_linear"], "1", "fidelity of the linear sweep"),
            "fidelity_cd": ((), out["fidelity_cd"], "1", "fidelity with counterdiabatic driving"),
            "fidelity_grape": ((), out["fidelity_grape"], "1", "fidelity of the GRAPE pulse"),
            "grape_iterations": ((), out["grape_iterations"], "", "L-BFGS-B iterations of GRAPE"),
        },
        {"time": (out["time"], "1/energy", "slice midpoint of the sweep propagation"),
         "slice": (out["slice_start"], "1/energy", "start time of the GRAPE slice")},
    )


def estimate(p: dict) -> dict:
    """Two 2x2 propagations of ``n_prop`` slices and at most ``max_iter`` GRAPE gradients of
    ``n_slices`` slices; a few seconds including compilation, kilobytes.

    Example:
        >>> estimate(SPEC.validate({}))["executor"]
        'in-process'
    """
    mem = 64 * (4 * p["n_prop"] + 8 * p["n_slices"]) + 200_000
    seconds = 2.0 + 1e-5 * p["n_prop"] + 2e-5 * p["max_iter"] * p["n_slices"]
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


LANDAU_ZENER = register(Task(SPEC, run, to_dataset, estimate=estimate))
