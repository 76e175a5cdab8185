"""Molecular dynamics of simple fluids: NEMD planar shear flow and equilibrium viscosity.

- :func:`lennard_jones`, :func:`wca`: a cut-and-shifted LJ (or WCA) fluid, :class:`MDSystem`;
- :class:`ShearResult`: the result of a shear run (``nemd_shear``), with ``.viscosity``,
  ``.stderr``, normal-stress differences and ``.to_xarray()``.

Reduced LJ units throughout (ε = σ = m = k_B = 1).
"""

from .results import ShearResult, block_stderr
from .system import MDSystem, lennard_jones, wca

__all__ = ["MDSystem", "ShearResult", "block_stderr", "lennard_jones", "wca"]
