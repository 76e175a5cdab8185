"""The ``mcsolve`` task: quantum-jump trajectories of a ``lindblad`` model preset
(:func:`nephlab.mcsolve`), with the jump statistics of every trajectory.

Outputs: the trajectory average of ``n_mean`` (⟨a†a⟩ or the total excitation) and its standard
error on the time grid; per trajectory, the quanta it emitted into the bath (jumps through the
decay channels ``sqrt(γ(n_th+1)) L``) and absorbed from it (``sqrt(γ n_th) L†``, when
``nth > 0``) up to ``t_max``, so that a sweep or a notebook can histogram the counting
statistics; and their means with standard errors. The mean emission rate converges to
``γ(n_th+1)⟨L†L⟩`` integrated over time (compare the ``lindblad`` task) and, at long times, the
statistics to the ``counting_statistics`` task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _models
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar

__all__ = ["SPEC", "MCSOLVE"]

SPEC = TaskSpec(
    "mcsolve",
    "Quantum-jump trajectories of a Lindblad model preset: <n>(t) with its standard error, and the quanta "
    "each trajectory emitted into (and absorbed from) the bath.",
    _models.model_params()
    + (
        Param("t_max", "float", 10.0, "final time", units="time", minimum=0.0, exclusive_minimum=True, maximum=1e6),
        Param("n_times", "int", 51, "number of saved times in [0, t_max]", minimum=2, maximum=100_000),
        Param("ntraj", "int", 500, "number of trajectories", minimum=1, maximum=10_000_000),
        Param("rtol", "float", 1e-6, "relative tolerance of the adaptive integrator", minimum=1e-13, maximum=1e-2),
        Param("seed", "int", 0, "random seed (trajectory i uses the stream fold_in(seed, i))", minimum=0,
              maximum=2**31 - 1),
    ),
    check=lambda p: _models.check_model("mcsolve", p),
)


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example (a qubit driven from its ground state: with F = 0 it never emits):
        >>> out = run(SPEC.validate({"model": "qubit", "F": 0.0, "ntraj": 4, "n_times": 3}))
        >>> out["emitted"].tolist(), out["n_mean"].tolist()
        ([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    """
    from ..quantum import mcsolve

    m = _models.build(p)
    c_ops = m.c_ops(p["gamma"], p["nth"])
    k = len(m.lowering)  # decay channels first, then absorption (Model.c_ops)
    psi0 = np.linalg.eigh(m.rho0)[1][:, -1]  # the presets start in a pure state
    t = np.linspace(0.0, p["t_max"], p["n_times"])
    r = mcsolve(m.H, psi0, t, c_ops, ntraj=p["ntraj"], seed=p["seed"], e_ops=[m.number], rtol=p["rtol"])
    counts = r.jump_counts(len(c_ops)).astype(np.float64)
    emitted = counts[:, :k].sum(axis=1)
    absorbed = counts[:, k:].sum(axis=1)
    se = (lambda x: x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan)
    return {
        "time": t, "n_mean": np.real(np.asarray(r.expect[0], dtype=np.complex128)),
        "n_mean_stderr": np.asarray(r.stderr[0], dtype=np.float64),
        "emitted": emitted, "absorbed": absorbed,
        "emitted_mean": scalar(emitted.mean()), "emitted_stderr": scalar(se(emitted)),
        "absorbed_mean": scalar(absorbed.mean()), "absorbed_stderr": scalar(se(absorbed)),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset with ``n_mean(time)``, ``n_mean_stderr(time)``, ``emitted(traj)``, ``absorbed(traj)``
    and their means with standard errors."""
    return dataset(
        {
            "n_mean": (("time",), out["n_mean"], "", "trajectory average of <a†a> (or total excitation)"),
            "n_mean_stderr": (("time",), out["n_mean_stderr"], "", "standard error of n_mean"),
            "emitted": (("traj",), out["emitted"], "quanta", "quanta emitted into the bath up to t_max"),
            "absorbed": (("traj",), out["absorbed"], "quanta", "quanta absorbed from the bath up to t_max"),
            "emitted_mean": ((), out["emitted_mean"], "quanta", "mean emitted quanta per trajectory"),
            "emitted_stderr": ((), out["emitted_stderr"], "quanta", "standard error of emitted_mean"),
            "absorbed_mean": ((), out["absorbed_mean"], "quanta", "mean absorbed quanta per trajectory"),
            "absorbed_stderr": ((), out["absorbed_stderr"], "quanta", "standard error of absorbed_mean"),
        },
        {"time": (out["time"], "time", "time"), "traj": (np.arange(len(out["emitted"])), "", "trajectory")},
    )


def estimate(p: dict) -> dict:
    """Memory: the saved expectations and jump records plus one compiled chunk of 64 kets.
    Time: ~10 adaptive steps per unit time per trajectory, 7 stages of d² complex flops each,
    plus the jumps, at 1 GFLOP/s (a rough figure; the first call also compiles).

    Example:
        >>> estimate(SPEC.validate({"ntraj": 100}))["executor"]
        'in-process'
    """
    d = _models.dimension(p["model"], p["n"])
    mem = p["ntraj"] * (p["n_times"] * 8 + 64 * 16) + 64 * 16 * d * 20
    steps = 10 * max(p["t_max"], 1.0) * p["ntraj"]
    seconds = 1e-3 + steps * 7 * 8.0 * d * d / 1e9
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


MCSOLVE = register(Task(SPEC, run, to_dataset, estimate=estimate))
