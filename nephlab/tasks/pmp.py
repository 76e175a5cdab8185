"""The ``pmp`` task: preset optimal-control problems solved by Pontryagin's principle
(:func:`nephlab.control.solve_pmp`).

Problems (ħ-free classical control; time in time units, u in units of the dynamics):

- ``double_integrator``: ``ẍ = u``, cost ``∫ u²/2 dt``, from ``(x0, v0)`` to ``(xT, vT)`` at ``T``
  (state ``(x, v)``; the optimum ``u*(t)`` is linear in t).
- ``scalar_lq``: ``ẋ = a x + u``, cost ``∫ (q x² + r u²)/2 dt``, free end (state ``(x,)``;
  optimal cost ``P(0) x0²/2`` with the Riccati solution P).

Outputs: ``x(time, state)``, ``u(time)``, ``cost``, ``converged`` (1.0/0.0), ``residual``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar

__all__ = ["SPEC", "PMP"]

SPEC = TaskSpec(
    "pmp",
    "Preset optimal-control problem solved with Pontryagin's maximum principle (shooting or collocation).",
    (
        Param("problem", "str", "double_integrator", "preset problem", choices=("double_integrator", "scalar_lq")),
        Param("T", "float", 1.0, "horizon", units="time", minimum=0.0, exclusive_minimum=True, maximum=1e4),
        Param("x0", "float", -1.0, "initial position / state", units="length"),
        Param("v0", "float", 0.0, "initial velocity (double_integrator)", units="length/time"),
        Param("xT", "float", 0.0, "target position (double_integrator)", units="length"),
        Param("vT", "float", 0.0, "target velocity (double_integrator)", units="length/time"),
        Param("a", "float", 1.0, "drift rate of x' = a x + u (scalar_lq)", units="1/time"),
        Param("q", "float", 1.0, "state weight of the cost (scalar_lq)", minimum=0.0),
        Param("r", "float", 1.0, "control weight of the cost (scalar_lq)", minimum=0.0, exclusive_minimum=True),
        Param("method", "str", "shooting", "BVP solver", choices=("shooting", "collocation")),
        Param("n_steps", "int", 200, "time steps on [0, T]", minimum=2, maximum=1_000_000),
        Param("tol", "float", 1e-9, "tolerance on the boundary residual", minimum=0.0, exclusive_minimum=True,
              maximum=1e-2),
        Param("max_iter", "int", 30, "Newton iterations", minimum=1, maximum=10_000),
    ),
)


def _problem(p: dict):
    import jax.numpy as jnp

    if p["problem"] == "double_integrator":
        f = lambda x, u, t: jnp.array([x[1], u[0]])  # noqa: E731
        L = lambda x, u, t: 0.5 * u[0] ** 2  # noqa: E731
        return f, L, [p["x0"], p["v0"]], [p["xT"], p["vT"]]
    a, q, r = p["a"], p["q"], p["r"]
    f = lambda x, u, t: jnp.array([a * x[0] + u[0]])  # noqa: E731
    L = lambda x, u, t: 0.5 * (q * x[0] ** 2 + r * u[0] ** 2)  # noqa: E731
    return f, L, [p["x0"]], None


def run(p: dict) -> dict[str, np.ndarray]:
    """Solve one validated point.

    Example:
        >>> out = run(SPEC.validate({"n_steps": 50}))
        >>> round(float(out["cost"]), 8), float(out["converged"])   # J* = 6 for x0 = -1 -> 0 in T = 1
        (6.0, 1.0)
    """
    from ..control import solve_pmp

    f, L, x0, xT = _problem(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is reported as converged = 0
        res = solve_pmp(f, L, x0, p["T"], xT=xT, method=p["method"], n_steps=p["n_steps"], tol=p["tol"],
                        max_iter=p["max_iter"])
    return {
        "time": np.asarray(res.t, dtype=float),
        "x": np.asarray(res.x, dtype=float),
        "u": np.asarray(res.u, dtype=float)[:, 0],
        "p": np.asarray(res.p, dtype=float),
        "cost": scalar(res.cost),
        "converged": scalar(1.0 if res.converged else 0.0),
        "residual": scalar(res.residual),
        "iterations": scalar(res.iterations),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: ``x(time, state)``, ``p(time, state)``, ``u(time)`` and scalars."""
    names = ["x", "v"] if p["problem"] == "double_integrator" else ["x"]
    return dataset(
        {
            "x": (("time", "state"), out["x"], "", "optimal state trajectory"),
            "p": (("time", "state"), out["p"], "", "costate (H = L + p·f)"),
            "u": (("time",), out["u"], "", "optimal control u*(t)"),
            "cost": ((), out["cost"], "", "optimal cost ∫L dt"),
            "converged": ((), out["converged"], "", "1 if Newton converged, else 0"),
            "residual": ((), out["residual"], "", "max-norm of the boundary residual"),
            "iterations": ((), out["iterations"], "", "Newton iterations"),
        },
        {"time": (out["time"], "time", "time"), "state": (np.array(names), "", "state component")},
    )


def estimate(p: dict) -> dict:
    """Newton on an RK4 (shooting) or trapezoidal (collocation) discretisation: ~1 s including
    JAX compilation for n_steps ~ 10³; collocation memory grows as (n_steps · n)².

    Example:
        >>> estimate(SPEC.validate({}))["executor"]
        'in-process'
    """
    n = 2 if p["problem"] == "double_integrator" else 1
    N = (p["n_steps"] + 1) * 2 * n
    mem = 8 * N * N if p["method"] == "collocation" else 8 * N * 8
    seconds = 0.5 + p["max_iter"] * (N**3 * 1e-9 / 3 if p["method"] == "collocation" else 1e-6 * N)
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


PMP = register(Task(SPEC, run, to_dataset, estimate=estimate))
