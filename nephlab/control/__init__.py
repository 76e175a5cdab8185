"""nephlab.control: finite-time protocols, their cost, speed limits and optimal control.

- :mod:`~nephlab.control.protocols`: exact optimal protocols (Schmiedl–Seifert), exact work
  moments of any protocol on a harmonic trap, numerical optimisation (``optimize_protocol``);
- :mod:`~nephlab.control.linear_response`: friction, thermodynamic length, geodesic protocols
  (Sivak–Crooks);
- :mod:`~nephlab.control.speedlimits`: quantum and classical speed limits;
- :mod:`~nephlab.control.shortcuts`: counterdiabatic driving;
- :mod:`~nephlab.control.lqr`, :mod:`~nephlab.control.pmp`, :mod:`~nephlab.control.grape`:
  LQR, Pontryagin's principle, GRAPE;
- :mod:`~nephlab.control.designer`: a protocol through control points, its exact cost and speed
  limit, the Pontryagin and reference optima, a Langevin/Jarzynski check (the protocol designer);
- :mod:`~nephlab.control.landau_zener`: Landau-Zener transfer by a sweep, counterdiabatic
  driving and GRAPE.
"""

from .designer import (
    REFERENCE_NAMES,
    LangevinCheck,
    ProtocolCost,
    evaluate_protocol,
    langevin_check,
    points_protocol,
    pontryagin_protocol,
    protocol_work_samples,
    reference_protocols,
)
from .grape import GrapeResult, grape, propagate_piecewise
from .landau_zener import LandauZenerResult, landau_zener
from .linear_response import (
    Geodesic,
    force_correlation,
    friction,
    friction_from_samples,
    geodesic_protocol,
    length_on_grid,
    linear_response_work,
    protocol_length,
)
from .lqr import LQRResult, lqr
from .pmp import PMPResult, solve_pmp
from .protocols import (
    Protocol,
    WorkMoments,
    gaussian_work,
    grid_work,
    harmonic_trap,
    linear_ramp,
    optimal_protocol,
    optimize_protocol,
    trap_parameters,
)
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
    "Geodesic", "GrapeResult", "LQRResult", "LandauZenerResult", "LangevinCheck", "PMPResult", "Protocol",
    "ProtocolCost", "REFERENCE_NAMES", "SFSBound", "WorkMoments",
    "bures_angle", "counterdiabatic", "counterdiabatic_total", "evaluate_protocol", "fidelity",
    "force_correlation", "friction", "friction_from_samples", "gaussian_work", "geodesic_protocol", "grape",
    "grid_work", "harmonic_cd", "harmonic_trap", "landau_zener", "langevin_check", "length_on_grid",
    "linear_ramp", "linear_response_work", "lqr", "margolus_levitin", "mandelstam_tamm",
    "open_system_speed_limit", "optimal_protocol", "optimize_protocol", "points_protocol",
    "pontryagin_protocol", "propagate_piecewise", "protocol_length", "protocol_work_samples",
    "reference_protocols", "shiraishi_funo_saito", "solve_pmp", "thermodynamic_length",
    "thermodynamic_length_bound", "trap_parameters", "two_level_cd",
]
