"""The ``green_kubo`` task: equilibrium shear viscosity from the stress autocorrelation.

:func:`nephlab.md.green_kubo_viscosity`: an equilibrium run of a Lennard-Jones (or WCA) fluid
(isokinetic equilibration, then NVE by default), the autocorrelation C(t) of the off-diagonal
pressure components P_xy, P_xz, P_yz, the running integral ``η(t) = V/T ∫_0^t C`` and its
plateau over ``[t_max/2, t_max]`` with a block-averaged error. Reduced LJ units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._md import SYSTEM_PARAMS, build_system
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar

__all__ = ["SPEC", "GREEN_KUBO"]

SPEC = TaskSpec(
    "green_kubo",
    "Equilibrium shear viscosity of a Lennard-Jones fluid by Green–Kubo (stress autocorrelation, "
    "plateau of the running integral, block error).",
    (
        *SYSTEM_PARAMS,
        Param("n_steps", "int", 40_000, "production steps (a multiple of sample_every)", minimum=2,
              maximum=1_000_000_000),
        Param("dt", "float", 0.004, "time step", units="tau", minimum=0.0, exclusive_minimum=True, maximum=0.05),
        Param("equilibrate", "int", 2000, "isokinetic steps before production", minimum=0, maximum=100_000_000),
        Param("sample_every", "int", 5, "steps between samples of the pressure tensor", minimum=1, maximum=1_000_000),
        Param("thermostat", "str", "nve", "dynamics of the production run", choices=("nve", "isokinetic", "nose-hoover")),
        Param("t_max", "float", 2.0, "longest lag; the plateau is the mean of η(t) over [t_max/2, t_max]",
              units="tau", minimum=0.0, exclusive_minimum=True, maximum=1e4),
        Param("n_blocks", "int", 8, "independent blocks of the error estimate", minimum=2, maximum=10_000),
        Param("seed", "int", 0, "random seed (initial velocities and lattice vacancies)", minimum=0,
              maximum=2**31 - 1),
    ),
)


def run(p: dict) -> dict[str, np.ndarray]:
    """Simulate one validated point; return the named outputs (see :func:`to_dataset`)."""
    from ..md import green_kubo_viscosity

    g = green_kubo_viscosity(build_system(p), p["n_steps"], p["dt"], thermostat=p["thermostat"], seed=p["seed"],
                             sample_every=p["sample_every"], equilibrate=p["equilibrate"], t_max=p["t_max"],
                             n_blocks=p["n_blocks"])
    return {"lags": np.asarray(g.lags, float), "acf": np.asarray(g.acf, float),
            "eta_running": np.asarray(g.eta_running, float), "viscosity": scalar(g.viscosity),
            "stderr": scalar(g.stderr), "temperature": scalar(g.temperature), "energy_drift": scalar(g.energy_drift)}


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: C(t) per component and η(t) over ``lag``; the plateau η with its error."""
    eta = "(m epsilon)^(1/2)/sigma²"
    return dataset(
        {
            "acf": (("component", "lag"), out["acf"], "(epsilon/sigma³)²", "stress autocorrelation C(t)"),
            "eta_running": (("lag",), out["eta_running"], eta, "running Green–Kubo integral η(t)"),
            "viscosity": ((), out["viscosity"], eta, "plateau of η(t) over [t_max/2, t_max]"),
            "stderr": ((), out["stderr"], eta, "block-averaged standard error of the plateau"),
            "temperature": ((), out["temperature"], "epsilon/k_B", "mean kinetic temperature of the run"),
            "energy_drift": ((), out["energy_drift"], "1", "relative drift of the total energy (NVE; NaN otherwise)"),
        },
        {"lag": (out["lags"], "tau", "lag time"), "component": (np.array(["xy", "xz", "yz"]), "", "P component")},
    )


def estimate(p: dict) -> dict:
    """About 4e5 particle-steps per second on 2 CPU cores (JAX engine, float64, LJ r_c = 2.5).

    Example:
        >>> estimate(SPEC.validate({}))["executor"] in ("in-process", "local", "cluster")
        True
    """
    steps = p["n_steps"] + p["equilibrate"]
    seconds = 10.0 + p["n_particles"] * steps / 4e5
    mem = 4000 * p["n_particles"] + 8 * 6 * p["n_steps"] // p["sample_every"] + 200_000_000
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


GREEN_KUBO = register(Task(SPEC, run, to_dataset, estimate=estimate))
