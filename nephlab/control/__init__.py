"""nephlab.control: finite-time protocols, their cost, speed limits and optimal control.

- :mod:`~nephlab.control.protocols`: exact optimal protocols (Schmiedl–Seifert), exact work
  moments of any protocol on a harmonic trap, numerical optimisation (``optimize_protocol``);
- :mod:`~nephlab.control.linear_response`: friction, thermodynamic length, geodesic protocols
  (Sivak–Crooks);
- :mod:`~nephlab.control.speedlimits`: quantum and classical speed limits;
- :mod:`~nephlab.control.shortcuts`: counterdiabatic driving;
- :mod:`~nephlab.control.lqr`, :mod:`~nephlab.control.pmp`, :mod:`~nephlab.control.grape`:
  LQR, Pontryagin's principle, GRAPE.
"""

from .grape import GrapeResult, grape, propagate_piecewise
from .linear_response import (
    Geodesic,
    force_correlation,
    friction,
    friction_from_samples,
    geodesic_protocol,
    length_on_grid,
    linear_response_work,
)
from .lqr import LQRResult, lqr
from .pmp import PMPResult, solve_pmp
from .protocols import Protocol, WorkMoments, gaussian_work, grid_work, linear_ramp, optimal_protocol, optimize_protocol
from .shortcuts import counterdiabatic, counterdiabatic_total, harmonic_cd, two_level_cd
from .speedlimits import (
    SFSBound,
    bures_angle,
    fidelity,
    margolus_levitin,
    mandelstam_tamm,
    open_system_speed_limit,
    shiraishi_funo_saito,
    thermodynamic_length,
    thermodynamic_length_bound,
)

__all__ = [
    "Geodesic", "GrapeResult", "LQRResult", "PMPResult", "Protocol", "SFSBound", "WorkMoments",
    "bures_angle", "counterdiabatic", "counterdiabatic_total", "fidelity", "force_correlation",
    "friction", "friction_from_samples", "gaussian_work", "geodesic_protocol", "grape", "grid_work",
    "harmonic_cd", "length_on_grid", "linear_ramp", "linear_response_work", "lqr", "margolus_levitin",
    "mandelstam_tamm", "open_system_speed_limit", "optimal_protocol", "optimize_protocol",
    "propagate_piecewise", "shiraishi_funo_saito", "solve_pmp", "thermodynamic_length",
    "thermodynamic_length_bound", "two_level_cd",
]
