"""The ``nemd_shear`` task: planar Couette flow of a Lennard-Jones (or WCA) fluid by NEMD.

SLLOD equations of motion with Lees–Edwards boundaries (:func:`nephlab.md.nemd_shear`), flow
along x, gradient along y (``u_x = shear_rate · y``), on the JAX engine or LAMMPS
(``backend="lammps"``, fix deform + nvt/sllod). Reduced LJ units (σ, ε, τ, k_B = 1).

Outputs: the sampled traces of the pressure tensor (P_xx, P_yy, P_zz, P_xy, P_xz, P_yz), the
kinetic temperature and the energies per particle; the streaming-velocity profile u_x(y); the
shear viscosity ``η = −⟨P_xy⟩/γ̇`` with its block-averaged standard error, the normal-stress
differences N1 = ⟨P_xx − P_yy⟩, N2 = ⟨P_yy − P_zz⟩ with errors, the pressure; the final positions.
A flow curve is a sweep of this task over ``shear_rate`` (one rate per point, on Dask or SLURM).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._md import SYSTEM_PARAMS, build_system
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar

__all__ = ["SPEC", "NEMD_SHEAR", "shear_outputs", "simulate"]

SPEC = TaskSpec(
    "nemd_shear",
    "Planar Couette flow by NEMD (SLLOD, Lees–Edwards, isokinetic or Nosé–Hoover): shear viscosity "
    "η = −⟨P_xy⟩/γ̇ with its error, normal-stress differences, velocity profile.",
    (
        *SYSTEM_PARAMS,
        Param("shear_rate", "float", 0.5, "shear rate γ̇ (flow x, gradient y); 0 is equilibrium NVT",
              units="1/tau", minimum=-100.0, maximum=100.0),
        Param("n_steps", "int", 5000, "production steps (a multiple of sample_every)", minimum=2,
              maximum=100_000_000),
        Param("dt", "float", 0.004, "time step", units="tau", minimum=0.0, exclusive_minimum=True, maximum=0.05),
        Param("equilibrate", "int", 1000, "steps under shear before sampling (discarded)", minimum=0,
              maximum=100_000_000),
        Param("sample_every", "int", 10, "steps between samples", minimum=1, maximum=1_000_000),
        Param("thermostat", "str", "isokinetic",
              "Gaussian isokinetic (T exact) or Nosé–Hoover on the peculiar velocities; 'nve' only at zero rate",
              choices=("isokinetic", "nose-hoover", "nve")),
        Param("n_bins", "int", 16, "bins of the velocity profile along y", minimum=2, maximum=10_000),
        Param("backend", "str", "jax", "engine: nephlab's JAX engine or LAMMPS (extra md-lammps)",
              choices=("jax", "lammps")),
        Param("seed", "int", 0, "random seed (initial velocities and lattice vacancies)", minimum=0,
              maximum=2**31 - 1),
    ),
)


def shear_outputs(r: Any) -> dict[str, np.ndarray]:
    """The task's named outputs of a :class:`~nephlab.md.ShearResult` ``r``."""
    out = {k: np.asarray(getattr(r, k), dtype=float) for k in
           ("times", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz", "temperature", "potential_energy", "kinetic_energy",
            "profile_y", "profile_vx")}
    for k in ("viscosity", "stderr", "pxy_mean", "pxy_stderr", "n1", "n1_stderr", "n2", "n2_stderr", "pressure"):
        out[k] = scalar(getattr(r, k))
    out["positions"] = np.asarray(r.positions, dtype=float)
    return out


def simulate(p: dict, *, on_sample: Any = None) -> Any:
    """The :class:`~nephlab.md.ShearResult` of one validated point (what :func:`run` reports).

    ``on_sample``: streaming, as :func:`nephlab.md.nemd_shear` (a partial result after each chunk
    of the production run; True stops it).

    Example:
        >>> r = simulate(SPEC.validate({"n_particles": 108, "rho": 0.8, "T": 1.0, "r_cut": 1.5, "n_steps": 200,
        ...                             "equilibrate": 0}))   # doctest: +SKIP
        >>> r.pxy.shape                                         # doctest: +SKIP
        (20,)
    """
    from ..md import nemd_shear

    return nemd_shear(build_system(p), p["shear_rate"], p["n_steps"], p["dt"], thermostat=p["thermostat"],
                      seed=p["seed"], sample_every=p["sample_every"], n_bins=p["n_bins"],
                      equilibrate=p["equilibrate"], backend=p["backend"], on_sample=on_sample)


def run(p: dict) -> dict[str, np.ndarray]:
    """Simulate one validated point (:func:`simulate`); return the named outputs.

    Example:
        >>> out = run(SPEC.validate({"n_particles": 108, "rho": 0.8, "T": 1.0, "r_cut": 1.5, "n_steps": 200,
        ...                          "equilibrate": 0}))   # doctest: +SKIP
        >>> out["pxy"].shape                                 # doctest: +SKIP
        (20,)
    """
    return shear_outputs(simulate(p))


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: traces over ``time``, u_x over ``y``, η and the normal-stress differences as scalars."""
    stress = "epsilon/sigma³"
    eta = "(m epsilon)^(1/2)/sigma²"
    traces = {k: (("time",), out[k], stress, f"pressure tensor {k[0].upper()}_{k[1:]}") for k in
              ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")}
    return dataset(
        {
            **traces,
            "temperature": (("time",), out["temperature"], "epsilon/k_B", "kinetic temperature (peculiar velocities)"),
            "potential_energy": (("time",), out["potential_energy"], "epsilon", "potential energy per particle"),
            "kinetic_energy": (("time",), out["kinetic_energy"], "epsilon", "peculiar kinetic energy per particle"),
            "profile_vx": (("y",), out["profile_vx"], "sigma/tau", "streaming velocity u_x(y)"),
            "viscosity": ((), out["viscosity"], eta, "shear viscosity η = −⟨P_xy⟩/γ̇"),
            "stderr": ((), out["stderr"], eta, "block-averaged standard error of η"),
            "pxy_mean": ((), out["pxy_mean"], stress, "⟨P_xy⟩"),
            "pxy_stderr": ((), out["pxy_stderr"], stress, "standard error of ⟨P_xy⟩"),
            "n1": ((), out["n1"], stress, "first normal-stress difference ⟨P_xx − P_yy⟩"),
            "n1_stderr": ((), out["n1_stderr"], stress, "standard error of n1"),
            "n2": ((), out["n2"], stress, "second normal-stress difference ⟨P_yy − P_zz⟩"),
            "n2_stderr": ((), out["n2_stderr"], stress, "standard error of n2"),
            "pressure": ((), out["pressure"], stress, "mean pressure (P_xx + P_yy + P_zz)/3"),
            "positions": (("particle", "xyz"), out["positions"], "sigma", "final positions"),
        },
        {"time": (out["times"], "tau", "time"), "y": (out["profile_y"], "sigma", "bin centre along y")},
    )


def estimate(p: dict) -> dict:
    """About 4e5 particle-steps per second on 2 CPU cores (JAX engine, float64, LJ r_c = 2.5).

    Example:
        >>> estimate(SPEC.validate({}))["device"]
        'cpu'
    """
    steps = p["n_steps"] + p["equilibrate"]
    cut = (p["r_cut"] if p["potential"] == "lj" else 2 ** (1 / 6)) / 2.5
    seconds = 10.0 + p["n_particles"] * steps * max(cut**3, 0.1) / 4e5
    mem = 4000 * p["n_particles"] + 8 * 12 * p["n_steps"] // p["sample_every"] + 200_000_000
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


NEMD_SHEAR = register(Task(SPEC, run, to_dataset, estimate=estimate))
