"""The ``committor`` task: committor functions of overdamped diffusions
(:func:`nephlab.largedev.committor_1d`, :func:`nephlab.largedev.committor_2d`), set up by
:func:`nephlab.largedev.committor_problem` (shared with the large-deviation explorer).

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

from ..largedev.presets import COMMITTOR_POTENTIALS, committor_problem
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset

__all__ = ["SPEC", "COMMITTOR"]


def _check(p: dict) -> None:
    try:
        committor_problem(p)  # a < b, the box of double_well_2d
    except ValueError as exc:
        raise ValueError(f"task 'committor': {exc}") from None


SPEC = TaskSpec(
    "committor",
    "Committor q (probability to reach B before A) of an overdamped diffusion in a 1D double well, "
    "a 2D double well or the Müller-Brown potential.",
    (
        Param("potential", "str", "double_well_1d", "potential preset",
              choices=COMMITTOR_POTENTIALS),
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


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point (:func:`nephlab.largedev.committor_problem` and its ``solve``).

    Example:
        >>> out = run(SPEC.validate({"n_grid": 5}))
        >>> [round(float(v), 6) for v in out["q"]]
        [0.0, 0.070611, 0.5, 0.929389, 1.0]
    """
    prob = committor_problem(p)
    out = {"x": prob.x, "q": prob.solve()}
    if prob.y is not None:
        out["y"] = prob.y
    return out


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
        prob = committor_problem(p)
        m = prob.x.size * prob.y.size
        mem, seconds = 200 * m * int(np.log2(m) + 1), 0.05 + 1e-7 * m**1.5
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


COMMITTOR = register(Task(SPEC, run, to_dataset, estimate=estimate))
