"""The ``steadystate`` task: :func:`nephlab.steadystate` of the ``lindblad`` model presets.

Outputs (scalars and the state): ``n_ss`` (⟨a†a⟩ or total excitation), ``purity`` (Tr ρ²),
``entropy`` (nats), ``rho_ss_real/imag(row, col)``. Points sharing ``model``, ``n``, ``method``,
``tol`` (and whether ``nth > 0``) are solved in one batched call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _models
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, device_param, entropy_purity, gpu_resources, on_device, scalar

__all__ = ["SPEC", "STEADYSTATE"]

SPEC = TaskSpec(
    "steadystate",
    "Steady state of the Lindblad equation of a model preset (nephlab.steadystate): <n>, purity, "
    "entropy and the state.",
    _models.model_params()
    + (
        Param("method", "str", "auto", "steady-state solver (auto: direct for n² <= 1600, else iterative GMRES)",
              choices=("auto", "direct", "iterative", "eigen")),
        Param("tol", "float", 1e-10, "bound on the relative residual ||L(ρ)|| / (s ||ρ||)", minimum=0.0,
              exclusive_minimum=True, maximum=1e-2),
        device_param(),
    ),
    check=lambda p: _models.check_model("steadystate", p),
)


def _outputs(m: _models.Model, rho: np.ndarray) -> dict[str, np.ndarray]:
    S, P = entropy_purity(rho)
    return {
        "n_ss": scalar(np.real(np.trace(m.number @ rho))),
        "purity": scalar(P),
        "entropy": scalar(S),
        "rho_ss_real": rho.real.copy(),
        "rho_ss_imag": rho.imag.copy(),
    }


def run(p: dict) -> dict[str, np.ndarray]:
    """Solve one validated point.

    Example:
        >>> out = run(SPEC.validate({"F": 0.25, "gamma": 0.5, "n": 20}))
        >>> round(float(out["n_ss"]), 8)   # coherent steady state: 4 F²/γ²
        1.0
    """
    from .. import steadystate

    m = _models.build(p)
    with on_device(p["device"], "steadystate"):
        rho = np.asarray(steadystate(m.H, m.c_ops(p["gamma"], p["nth"]), method=p["method"], tol=p["tol"]))
    return _outputs(m, rho)


def batch_key(p: dict) -> tuple:
    """Points with equal keys share one batched solve."""
    return (p["model"], _models.dimension(p["model"], p["n"]), p["method"], p["tol"], p["nth"] > 0, p["device"])


def run_many(points: list[dict]) -> list[dict[str, np.ndarray]]:
    """Solve many validated points with one :func:`batch_key` in ONE batched ``steadystate`` call."""
    from .. import steadystate

    if not points:
        return []
    if len({batch_key(p) for p in points}) != 1:
        raise ValueError("steadystate.run_many: points must share one batch_key")
    models = [_models.build(p) for p in points]
    cs = [m.c_ops(p["gamma"], p["nth"]) for m, p in zip(models, points)]
    H = np.stack([m.H for m in models])
    c_ops = [np.stack([c[k] for c in cs]) for k in range(len(cs[0]))]
    p0 = points[0]
    with on_device(p0["device"], "steadystate"):
        rho = np.asarray(steadystate(H, c_ops, method=p0["method"], tol=p0["tol"]))
    return [_outputs(m, rho[i]) for i, m in enumerate(models)]


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset with scalars ``n_ss``, ``purity``, ``entropy`` and ``rho_ss_real/imag(row, col)``."""
    d = out["rho_ss_real"].shape[-1]
    return dataset(
        {
            "n_ss": ((), out["n_ss"], "", "steady-state excitation (<a†a> or Σ<σ+σ->)"),
            "purity": ((), out["purity"], "", "purity Tr ρ_ss²"),
            "entropy": ((), out["entropy"], "nats", "von Neumann entropy of ρ_ss"),
            "rho_ss_real": (("row", "col"), out["rho_ss_real"], "", "Re ρ_ss"),
            "rho_ss_imag": (("row", "col"), out["rho_ss_imag"], "", "Im ρ_ss"),
        },
        {"row": (np.arange(d), "", "basis index"), "col": (np.arange(d), "", "basis index")},
    )


def estimate(p: dict) -> dict:
    """Memory: the dense Liouvillian (16 d⁴ bytes, three copies) for direct/eigen, O(d²·restart)
    for iterative. Time: an LU of the d²×d² Liouvillian (d⁶·8/3 flops; eigen ×10) or ~100 GMRES
    products of 8 d³ flops, at 2 GFLOP/s. Device ``gpu`` for d >= 32 with a direct solve.

    Example:
        >>> estimate(SPEC.validate({"n": 10}))["executor"]
        'in-process'
    """
    d = _models.dimension(p["model"], p["n"])
    method = p["method"]
    if method == "auto":
        method = "direct" if d * d <= 1600 else "iterative"
    if method in ("direct", "eigen"):
        mem = 3 * 16 * d**4
        flops = (8.0 / 3.0) * d**6 * (10 if method == "eigen" else 1)
    else:
        restart = min(d * d, max(64, 2 * d))
        mem = 16 * d * d * (restart + 10)
        flops = 100 * restart * 8.0 * d**3
    seconds = 1e-3 + flops / 2e9
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "gpu" if (d >= 32 and method == "direct") else "cpu"}


STEADYSTATE = register(Task(SPEC, run, to_dataset, batch_fn=run_many, batch_key=batch_key, resources=gpu_resources,
                            estimate=estimate))
