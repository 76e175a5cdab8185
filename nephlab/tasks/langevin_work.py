"""The ``langevin_work`` task: work statistics of a dragged, squeezed harmonic trap.

Overdamped Langevin ensemble (:func:`nephlab.stochastic.overdamped_langevin`) in the trap
:func:`nephlab.control.harmonic_trap`, ``U(x, t) = k(t) (x - c(t))² / 2``, with linear ramps
``c: 0 -> v tau`` (dragging at speed ``v``) and ``k: k_i -> k_f``, started in equilibrium. Outputs: mean and variance of the Sekimoto work
W, the Jarzynski estimate of ΔF (:func:`nephlab.stochastic.jarzynski`) with its bootstrap
standard error, the exact ``ΔF = (kBT/2) ln(k_f/k_i)`` and a histogram of W.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, device_param, gpu_resources, on_device, scalar

__all__ = ["SPEC", "LANGEVIN_WORK"]

SPEC = TaskSpec(
    "langevin_work",
    "Work ensemble of an overdamped particle in a dragged (and optionally squeezed) harmonic trap; "
    "Jarzynski free-energy estimate against the exact ΔF.",
    (
        Param("k_i", "float", 1.0, "initial trap stiffness", units="energy/length²", minimum=0.0, exclusive_minimum=True),
        Param("k_f", "float", 1.0, "final trap stiffness (linear ramp)", units="energy/length²", minimum=0.0,
              exclusive_minimum=True),
        Param("v", "float", 1.0, "drag speed of the trap centre (centre moves 0 -> v tau)", units="length/time"),
        Param("tau", "float", 1.0, "protocol duration", units="time", minimum=0.0, exclusive_minimum=True, maximum=1e6),
        Param("gamma", "float", 1.0, "friction coefficient", units="energy·time/length²", minimum=0.0,
              exclusive_minimum=True),
        Param("kBT", "float", 1.0, "thermal energy", units="energy", minimum=0.0, exclusive_minimum=True),
        Param("n_traj", "int", 10_000, "number of trajectories", minimum=10, maximum=10_000_000),
        Param("n_steps", "int", 200, "time steps (dt = tau / n_steps)", minimum=1, maximum=10_000_000),
        Param("method", "str", "heun", "integrator", choices=("euler_maruyama", "heun")),
        Param("seed", "int", 0, "random seed of the ensemble", minimum=0, maximum=2**31 - 1),
        Param("n_bins", "int", 50, "bins of the work histogram", minimum=2, maximum=10_000),
        Param("n_boot", "int", 200, "bootstrap resamples of the Jarzynski error bar", minimum=10, maximum=100_000),
        device_param(),
    ),
)


def run(p: dict) -> dict[str, np.ndarray]:
    """Simulate one validated point; return the named outputs.

    Example:
        >>> out = run(SPEC.validate({"n_traj": 2000, "n_steps": 50, "n_boot": 10}))
        >>> float(out["delta_F_exact"]), out["work_density"].shape
        (0.0, (50,))
    """
    from ..control import harmonic_trap
    from ..stochastic import jarzynski, overdamped_langevin

    n, tau = p["n_steps"], p["tau"]
    s = np.linspace(0.0, 1.0, n + 1)
    lam = np.stack([p["k_i"] + (p["k_f"] - p["k_i"]) * s, p["v"] * tau * s], axis=-1)  # (kappa, c)
    with on_device(p["device"], "langevin_work"):
        res = overdamped_langevin(harmonic_trap, "equilibrium", lam, dt=tau / n, seed=p["seed"], n_traj=p["n_traj"],
                                  gamma=p["gamma"], kBT=p["kBT"], method=p["method"], lam_ndim=1)
        w = np.asarray(res.work, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sampling diagnostics are returned as n_required
        jz = jarzynski(w, p["kBT"], n_boot=p["n_boot"], seed=p["seed"])
    dens, edges = np.histogram(w, bins=p["n_bins"], density=True)
    return {
        "work_mean": scalar(w.mean()),
        "work_var": scalar(w.var(ddof=1)),
        "work_mean_stderr": scalar(w.std(ddof=1) / math.sqrt(w.size)),
        "delta_F_jarzynski": scalar(jz.value),
        "delta_F_jarzynski_err": scalar(jz.stderr),
        "n_required": scalar(jz.n_required),
        "delta_F_exact": scalar(0.5 * p["kBT"] * math.log(p["k_f"] / p["k_i"])),
        "work_bin_center": 0.5 * (edges[1:] + edges[:-1]),
        "work_density": dens.astype(float),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: scalars (energy units) and the histogram along dim ``bin``."""
    nb = out["work_density"].shape[0]
    return dataset(
        {
            "work_mean": ((), out["work_mean"], "energy", "mean work <W>"),
            "work_var": ((), out["work_var"], "energy²", "variance of W"),
            "work_mean_stderr": ((), out["work_mean_stderr"], "energy", "standard error of <W>"),
            "delta_F_jarzynski": ((), out["delta_F_jarzynski"], "energy", "-kBT ln<exp(-W/kBT)>"),
            "delta_F_jarzynski_err": ((), out["delta_F_jarzynski_err"], "energy", "bootstrap std of the estimate"),
            "n_required": ((), out["n_required"], "", "samples needed, exp(<W_diss>/kBT)"),
            "delta_F_exact": ((), out["delta_F_exact"], "energy", "(kBT/2) ln(k_f/k_i)"),
            "work_bin_center": (("bin",), out["work_bin_center"], "energy", "histogram bin centre"),
            "work_density": (("bin",), out["work_density"], "1/energy", "probability density of W"),
        },
        {"bin": (np.arange(nb), "", "histogram bin index")},
    )


def estimate(p: dict) -> dict:
    """About 60 ns per trajectory-step (Heun; half for Euler-Maruyama) on a CPU core; memory
    ~100 bytes per trajectory.

    Example:
        >>> estimate(SPEC.validate({}))["executor"]
        'in-process'
    """
    work = p["n_traj"] * p["n_steps"]
    seconds = 1e-3 + work * (6e-8 if p["method"] == "heun" else 3e-8)
    mem = 100 * p["n_traj"] + 16 * p["n_steps"]
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "gpu" if p["n_traj"] >= 1_000_000 else "cpu"}


LANGEVIN_WORK = register(Task(SPEC, run, to_dataset, resources=gpu_resources, estimate=estimate))
