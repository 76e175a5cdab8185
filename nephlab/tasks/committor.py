"""The ``committor`` task: committor functions of overdamped diffusions
(:func:`nephlab.largedev.committor_1d`, :func:`nephlab.largedev.committor_2d`).

Presets (energies in energy units, β in 1/energy, lengths in length units, γ = 1):

- ``double_well_1d``: ``V = (x² - 1)²``, A = {x <= a}, B = {x >= b}; exact quadrature on
  ``n_grid`` points of [a, b].
- ``double_well_2d``: ``V = (x² - 1)² + y²`` on [-1.5, 1.5]², A = {x <= a}, B = {x >= b}
  (A and B are half-planes, so q(x, y) equals the 1D committor in x); SqRA grid solve.
- ``muller_brown``: Müller–Brown potential on [-1.5, 1.2] × [-0.2, 2.0] (equal spacing),
  A = disk of radius ``radius`` around the minimum (-0.558, 1.442), B around (0.623, 0.028).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset

__all__ = ["SPEC", "COMMITTOR"]

_MB_BOX = ((-1.5, 1.2), (-0.2, 2.0))
_MB_A, _MB_B = (-0.558, 1.442), (0.623, 0.028)


def _check(p: dict) -> None:
    if p["potential"] != "muller_brown" and not p["a"] < p["b"]:
        raise ValueError(f"task 'committor': parameters 'a' = {p['a']} and 'b' = {p['b']}: allowed: a < b")
    if p["potential"] == "double_well_2d" and not (-1.5 < p["a"] and p["b"] < 1.5):
        raise ValueError(f"task 'committor': parameters 'a' = {p['a']}, 'b' = {p['b']} must lie inside the "
                         "box (-1.5, 1.5) of model 'double_well_2d'")


SPEC = TaskSpec(
    "committor",
    "Committor q (probability to reach B before A) of an overdamped diffusion in a 1D double well, "
    "a 2D double well or the Müller-Brown potential.",
    (
        Param("potential", "str", "double_well_1d", "potential preset",
              choices=("double_well_1d", "double_well_2d", "muller_brown")),
        Param("beta", "float", 3.0, "inverse temperature", units="1/energy", minimum=0.0, exclusive_minimum=True,
              maximum=1e3),
        Param("a", "float", -1.0, "A = {x <= a} (double wells)", units="length", minimum=-10.0, maximum=10.0,
              when=(("potential", ("double_well_1d", "double_well_2d")),)),
        Param("b", "float", 1.0, "B = {x >= b} (double wells)", units="length", minimum=-10.0, maximum=10.0,
              when=(("potential", ("double_well_1d", "double_well_2d")),)),
        Param("radius", "float", 0.1, "radius of the A and B disks (muller_brown)", units="length", minimum=0.0,
              exclusive_minimum=True, maximum=0.5, when=(("potential", ("muller_brown",)),)),
        Param("n_grid", "int", 101, "grid points along x (2D: equal spacing in y)", minimum=5, maximum=2001),
    ),
    check=_check,
)


def _grids(p: dict) -> tuple[np.ndarray, np.ndarray]:
    if p["potential"] == "double_well_2d":
        g = np.linspace(-1.5, 1.5, p["n_grid"])
        return g, g
    (x0, x1), (y0, y1) = _MB_BOX
    x = np.linspace(x0, x1, p["n_grid"])
    h = x[1] - x[0]
    ny = int(round((y1 - y0) / h)) + 1
    return x, y0 + h * np.arange(ny)


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example:
        >>> out = run(SPEC.validate({"n_grid": 5}))
        >>> [round(float(v), 6) for v in out["q"]]
        [0.0, 0.070611, 0.5, 0.929389, 1.0]
    """
    from ..largedev import committor_1d, committor_2d, double_well_2d, muller_brown

    if p["potential"] == "double_well_1d":
        x = np.linspace(p["a"], p["b"], p["n_grid"])
        q = committor_1d(lambda t: (t * t - 1.0) ** 2, p["a"], p["b"], p["beta"], x)
        return {"x": x, "q": np.asarray(q, float)}
    x, y = _grids(p)
    if p["potential"] == "double_well_2d":
        a, b = p["a"], p["b"]
        q = committor_2d(double_well_2d, lambda X, Y: X <= a, lambda X, Y: X >= b, p["beta"], x, y)
    else:
        q = committor_2d(muller_brown, (_MB_A, p["radius"]), (_MB_B, p["radius"]), p["beta"], x, y)
    return {"x": x, "y": y, "q": np.asarray(q, float)}


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: ``q(x)`` (1D) or ``q(x, y)`` (2D), values in [0, 1]."""
    coords = {"x": (out["x"], "length", "x")}
    dims: tuple[str, ...] = ("x",)
    if "y" in out:
        coords["y"] = (out["y"], "length", "y")
        dims = ("x", "y")
    return dataset({"q": (dims, out["q"], "", "committor: probability to reach B before A")}, coords)


def estimate(p: dict) -> dict:
    """1D: one adaptive quadrature per grid point (~1 ms each). 2D: sparse LU of the
    (n_x n_y)-point generator, ~ (n_x n_y)^1.5 · 1e-7 s and ~200 bytes per point.

    Example:
        >>> estimate(SPEC.validate({}))["executor"]
        'in-process'
    """
    if p["potential"] == "double_well_1d":
        mem, seconds = 1000 * p["n_grid"], 1e-3 * p["n_grid"]
    else:
        x, y = _grids(p)
        m = x.size * y.size
        mem, seconds = 200 * m * int(np.log2(m) + 1), 0.05 + 1e-7 * m**1.5
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


COMMITTOR = register(Task(SPEC, run, to_dataset, estimate=estimate))
