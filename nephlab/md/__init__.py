"""Molecular dynamics of simple fluids: NEMD planar shear flow and equilibrium viscosity.

- :func:`lennard_jones`, :func:`wca`: a cut-and-shifted LJ (or WCA) fluid, :class:`MDSystem`;
- :func:`nemd_shear`: planar Couette flow (SLLOD, Lees–Edwards, isokinetic or Nosé–Hoover)
  -> :class:`ShearResult` with ``.viscosity``, ``.stderr``, normal-stress differences, the
  velocity profile and ``.to_xarray()``; ``backend="lammps"`` runs LAMMPS instead;
- :func:`green_kubo_viscosity` -> :class:`GreenKuboResult`; :func:`flow_curve` ->
  :class:`FlowCurveResult` (η(γ̇) and the zero-shear extrapolation).

Reduced LJ units throughout (ε = σ = m = k_B = 1).
"""

from .engine import forces_and_virial
from .results import ShearResult, block_stderr
from .shear import (FlowCurveResult, GreenKuboResult, flow_curve, green_kubo_viscosity, nemd_shear,
                    zero_shear_fit)
from .system import MDSystem, lennard_jones, wca

__all__ = ["FlowCurveResult", "GreenKuboResult", "MDSystem", "ShearResult", "block_stderr", "flow_curve",
           "forces_and_virial", "green_kubo_viscosity", "lennard_jones", "nemd_shear", "wca", "zero_shear_fit"]
