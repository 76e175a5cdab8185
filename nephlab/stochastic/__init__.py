"""Stochastic thermodynamics: batched Langevin ensembles and free-energy estimators.

- :func:`overdamped_langevin` (Euler–Maruyama, Heun) and :func:`underdamped_langevin` (BAOAB),
  driven by a protocol λ(t), with per-trajectory Sekimoto work, heat and entropy production;
- :func:`jarzynski`, :func:`crooks`, :func:`bar`: free-energy estimators with bootstrap
  confidence intervals and :class:`SamplingWarning` when the samples are too few for the dissipation.
"""

from .estimators import (
    BARResult,
    CrooksResult,
    JarzynskiResult,
    SamplingWarning,
    bar,
    crooks,
    jarzynski,
)
from .langevin import LangevinResult, overdamped_langevin, underdamped_langevin

__all__ = [
    "BARResult",
    "CrooksResult",
    "JarzynskiResult",
    "LangevinResult",
    "SamplingWarning",
    "bar",
    "crooks",
    "jarzynski",
    "overdamped_langevin",
    "underdamped_langevin",
]
