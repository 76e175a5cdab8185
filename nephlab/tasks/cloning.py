"""The ``cloning`` task: population-dynamics (cloning) estimate of θ(s) of a Markov jump model
(:func:`nephlab.largedev.markov_cloning`, which calls :func:`nephlab.largedev.cloning`), beside the
exact θ(s) of the tilted generator (:func:`nephlab.largedev.markov_theta`).

Models and observables: see :mod:`nephlab.tasks._markov`. Convention
``θ(s) = lim (1/t) ln E[exp(-s A_t)]`` (1/time). Finite ``n_clones`` and ``t_max`` bias the
estimate (1/N_c and 1/T); the exact value is returned as ``theta_exact`` for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _markov
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, device_param, gpu_resources, on_device, scalar

__all__ = ["SPEC", "CLONING"]

SPEC = TaskSpec(
    "cloning",
    "Cloning (population dynamics) estimate of the SCGF θ(s) of a Markov jump model at one s, "
    "with its standard error and the exact value.",
    _markov.markov_params()
    + (
        Param("s", "float", 0.5, "tilt s", units="1/[A]", minimum=-20.0, maximum=20.0),
        Param("n_clones", "int", 500, "population size", minimum=2, maximum=10_000_000),
        Param("t_max", "float", 50.0, "simulated time per run", units="time", minimum=0.0, exclusive_minimum=True,
              maximum=1e7),
        Param("n_runs", "int", 4, "independent populations (one vectorised call)", minimum=1, maximum=10_000),
        Param("burn_in_fraction", "float", 0.1, "fraction of t_max discarded at the start of each run",
              minimum=0.0, maximum=0.9),
        Param("seed", "int", 0, "random seed", minimum=0, maximum=2**31 - 1),
        device_param(),
    ),
    check=lambda p: _markov.check("cloning", p),
)


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example:
        >>> out = run(SPEC.validate({"n_clones": 100, "t_max": 20.0, "n_runs": 2}))
        >>> out["scgf_runs"].shape, round(float(out["theta_exact"]), 10)   # e^{-s} - 1 at s = 0.5
        ((2,), -0.3934693403)
    """
    from ..largedev import markov_cloning, markov_theta

    with on_device(p["device"], "cloning"):
        res = markov_cloning(p)
    exact = markov_theta(p, p["s"])
    return {
        "scgf": scalar(res.scgf),
        "stderr": scalar(res.stderr),
        "scgf_runs": np.asarray(res.scgf_runs, float),
        "theta_exact": scalar(exact),
        "dt": scalar(res.dt),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: scalars ``scgf``, ``stderr``, ``theta_exact``, ``dt`` and ``scgf_runs(run)``."""
    return dataset(
        {
            "scgf": ((), out["scgf"], "1/time", "cloning estimate of θ(s)"),
            "stderr": ((), out["stderr"], "1/time", "standard error (batch means)"),
            "scgf_runs": (("run",), out["scgf_runs"], "1/time", "per-run estimates"),
            "theta_exact": ((), out["theta_exact"], "1/time", "θ(s) from the tilted generator"),
            "dt": ((), out["dt"], "time", "resampling interval"),
        },
        {"run": (np.arange(out["scgf_runs"].shape[0]), "", "independent run")},
    )


def estimate(p: dict) -> dict:
    """About 20 ns per clone-jump (vectorised JAX) with ~ (escape rate · t_max) jumps per clone,
    plus ~1 s of compilation; memory ~40 bytes per clone and run.

    Example:
        >>> estimate(SPEC.validate({}))["executor"]
        'in-process'
    """
    if p["model"] == "custom":
        from ..largedev import parse_rate_matrix

        proc_rate = float(parse_rate_matrix(p["rates"]).sum(axis=1).max())
    else:
        proc_rate = {"two_state": max(p["a"], p["b"]), "ring_random_walk": p["p"] + p["q"]}.get(p["model"], p["L"])
    jumps = p["n_clones"] * p["n_runs"] * p["t_max"] * max(proc_rate, 1.0) * max(1.0, np.exp(abs(p["s"])))
    seconds = 1.0 + 2e-8 * jumps
    mem = 40 * p["n_clones"] * p["n_runs"] + 16 * _markov.n_states(p) ** 2
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "gpu" if p["n_clones"] * p["n_runs"] >= 1_000_000 else "cpu"}


CLONING = register(Task(SPEC, run, to_dataset, resources=gpu_resources, estimate=estimate))
