"""The ``pinn_hjb`` task: a physics-informed network for the Hamilton–Jacobi–Bellman equation
(:func:`nephlab.learn.solve_hjb`), checked against its reference.

Problems (cost convention of :func:`nephlab.control.lqr`, no factors ½):

- ``lq1d``: ``dx = (a x + b u) dt + dW`` (``E[dW²] = D dt``), cost ``∫(q x² + r u²) dt + qT x(τ)²``;
  exact Riccati reference.
- ``lq2d``: a driven oscillator ``ẋ₁ = x₂``, ``ẋ₂ = −ω² x₁ + b u`` (noise ``D·I``), cost
  ``∫(q|x|² + r u²) dt + qT |x(τ)|²``; exact Riccati reference.
- ``cubic``: ``ẋ = −a x³ + b u`` with the ``lq1d`` cost (deterministic); reference along
  Pontryagin characteristics (:class:`nephlab.learn.CubicHJB`).

Outputs: the learned ``V(t, x)`` and feedback ``u*(t, x)`` on a grid of ``[0, τ] × [−L, L]``
(for ``lq2d`` along ``x₂ = 0``), the exact ``V`` on that grid for the linear-quadratic problems
(NaN for ``cubic``, whose reference exists at sampled points only), the training loss per step,
the HJB residual (RMS on held-out points), the value error against the reference and the
training time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar

__all__ = ["SPEC", "PINN_HJB", "problem_from_params"]

_LQ = (("problem", ("lq1d", "lq2d")),)
_1D = (("problem", ("lq1d", "cubic")),)

SPEC = TaskSpec(
    "pinn_hjb",
    "PINN for the Hamilton–Jacobi–Bellman equation (flax network, Adam then L-BFGS): value "
    "function and feedback control, with the residual and the error against Riccati or "
    "Pontryagin characteristics.",
    (
        Param("problem", "str", "lq1d", "the control problem", choices=("lq1d", "lq2d", "cubic")),
        Param("tau", "float", 1.0, "horizon", units="time", minimum=0.0, exclusive_minimum=True, maximum=1e3),
        Param("a", "float", 1.0, "drift: a x (lq1d) or −a x³ (cubic, a >= 0)", units="1/time", when=_1D),
        Param("omega", "float", 1.0, "oscillator frequency (lq2d)", units="1/time", minimum=0.0,
              when=(("problem", ("lq2d",)),)),
        Param("b", "float", 1.0, "input gain", units="state/(control·time)"),
        Param("q", "float", 1.0, "state weight", units="cost/(state²·time)", minimum=0.0),
        Param("r", "float", 1.0, "control weight", units="cost/(control²·time)", minimum=0.0,
              exclusive_minimum=True),
        Param("qT", "float", 0.5, "terminal weight", units="cost/state²", minimum=0.0),
        Param("D", "float", 0.0, "noise intensity: E[dW dWᵀ] = D·I dt (linear-quadratic problems)",
              units="state²/time", minimum=0.0, when=_LQ),
        Param("domain", "float", 1.0, "half-width L of the state box [−L, L]^d", units="state", minimum=0.0,
              exclusive_minimum=True, maximum=1e6),
        Param("hidden_width", "int", 32, "units per hidden layer", minimum=1, maximum=1024),
        Param("hidden_layers", "int", 2, "hidden layers", minimum=1, maximum=8),
        Param("n_collocation", "int", 1024, "collocation points", minimum=16, maximum=1_000_000),
        Param("adam_steps", "int", 1000, "Adam steps", minimum=0, maximum=1_000_000),
        Param("lbfgs_steps", "int", 4000, "L-BFGS iterations after Adam", minimum=0, maximum=1_000_000),
        Param("seed", "int", 0, "seed of the weights and the points", minimum=0),
        Param("n_times", "int", 21, "time points of the output grid", minimum=2, maximum=10_000),
        Param("n_x", "int", 41, "state points of the output grid", minimum=2, maximum=10_000),
    ),
)


def problem_from_params(p: Mapping[str, Any]):
    """The :class:`nephlab.learn.HJBProblem` of validated task parameters.

    Example:
        >>> problem_from_params(SPEC.validate({"problem": "lq2d"})).dim
        2
    """
    from ..learn import CubicHJB, LinearQuadraticHJB

    L, b = p["domain"], p["b"]
    if p["problem"] == "cubic":
        return CubicHJB(a=p["a"], b=b, q=p["q"], r=p["r"], qT=p["qT"], tau=p["tau"], domain=L)
    if p["problem"] == "lq1d":
        return LinearQuadraticHJB(A=p["a"], B=b, Q=p["q"], R=p["r"], QT=p["qT"], tau=p["tau"], domain=L, D=p["D"])
    eye = np.eye(2)
    return LinearQuadraticHJB(A=[[0.0, 1.0], [-p["omega"] ** 2, 0.0]], B=[[0.0], [b]], Q=p["q"] * eye, R=p["r"],
                              QT=p["qT"] * eye, tau=p["tau"], domain=L, D=p["D"] * eye)


def _config(p: Mapping[str, Any]):
    from ..learn import HJBConfig

    return HJBConfig(hidden=(p["hidden_width"],) * p["hidden_layers"], n_collocation=p["n_collocation"],
                     adam_steps=p["adam_steps"], lbfgs_steps=p["lbfgs_steps"], seed=p["seed"])


def run(p: dict) -> dict[str, np.ndarray]:
    """Train on one validated point; return the grids and the scalars.

    Example:
        >>> out = run(SPEC.validate({"adam_steps": 20, "lbfgs_steps": 0, "hidden_width": 4,
        ...                           "n_collocation": 64, "n_times": 3, "n_x": 5}))
        >>> out["value"].shape, out["value_ref"].shape, out["loss"].shape
        ((3, 5), (3, 5), (20,))
    """
    from ..learn import LinearQuadraticHJB, solve_hjb

    prob = problem_from_params(p)
    res = solve_hjb(prob, _config(p))
    t = np.linspace(0.0, p["tau"], p["n_times"])
    x = np.linspace(-p["domain"], p["domain"], p["n_x"])
    tt, xx = np.meshgrid(t, x, indexing="ij")
    pts = np.zeros((tt.size, prob.dim))
    pts[:, 0] = xx.ravel()
    shape = tt.shape
    value = res.value(tt.ravel(), pts).reshape(shape)
    control = res.control(tt.ravel(), pts)[:, 0].reshape(shape)
    ref = prob.value(tt.ravel(), pts).reshape(shape) if isinstance(prob, LinearQuadraticHJB) else np.full(shape, np.nan)
    return {
        "time": t, "x": x, "value": value, "control": control, "value_ref": ref,
        "loss": np.asarray(res.history, dtype=float),
        "residual_rms": scalar(res.residual_rms), "value_error_max": scalar(res.value_error_max),
        "value_error_rms": scalar(res.value_error_rms), "value_scale": scalar(res.value_scale),
        "train_time": scalar(res.train_time),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: ``value``, ``control``, ``value_ref`` over (time, x); ``loss`` over step; scalars."""
    g = ("time", "x")
    return dataset(
        {
            "value": (g, out["value"], "cost", "learned value function V(t, x)"),
            "control": (g, out["control"], "control", "feedback u*(t, x) from the gradient of V"),
            "value_ref": (g, out["value_ref"], "cost", "exact V (Riccati; NaN for cubic)"),
            "loss": (("step",), out["loss"], "(cost/time)²", "mean-squared HJB residual (Adam, then L-BFGS)"),
            "residual_rms": ((), out["residual_rms"], "cost/time", "RMS HJB residual on held-out points"),
            "value_error_max": ((), out["value_error_max"], "1", "max |V − V_ref| / max |V_ref| (held-out)"),
            "value_error_rms": ((), out["value_error_rms"], "1", "rms(V − V_ref) / max |V_ref| (held-out)"),
            "value_scale": ((), out["value_scale"], "cost", "max |V_ref| on the held-out points"),
            "train_time": ((), out["train_time"], "s", "training wall time (compilation included)"),
        },
        {"time": (out["time"], "time", "time"), "x": (out["x"], "state", "state x (x₁ for lq2d, x₂ = 0)"),
         "step": (np.arange(out["loss"].shape[0]), "1", "optimiser step")},
    )


def estimate(p: dict) -> dict:
    """Training cost ~ steps × collocation points × network size (measured on 2 CPU cores).

    Example:
        >>> estimate(SPEC.validate({}))["executor"] in ("in-process", "local", "cluster")
        True
    """
    width, layers = p["hidden_width"], p["hidden_layers"]
    flops_per_point = 40 * (width * width * max(layers - 1, 1) + 4 * width) * (3 if p["problem"] == "lq2d" else 2)
    steps = p["adam_steps"] + 3 * p["lbfgs_steps"]  # an L-BFGS iteration costs ~3 gradient evaluations
    seconds = 5.0 + steps * p["n_collocation"] * flops_per_point / 2e9
    mem = 8 * (p["n_collocation"] * width * layers * 8 + p["n_times"] * p["n_x"] * 4) + 50_000_000
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


PINN_HJB = register(Task(SPEC, run, to_dataset, estimate=estimate))
