"""Rare events from trajectories: the public names of the former ``paths`` module, kept importable.

The code lives in modules that each do one thing:

* :mod:`nephlab.largedev.sampling` — the Euler–Maruyama engine, regions and
  :func:`~nephlab.largedev.sampling.boundary_shift` (and the notes on dynamics, potentials,
  regions and discretisation bias);
* :mod:`nephlab.largedev.shooting` — :func:`~nephlab.largedev.shooting.shooting_committor`;
* :mod:`nephlab.largedev.passage` — :func:`~nephlab.largedev.passage.first_passage_times`,
  :func:`~nephlab.largedev.passage.mean_transition_path_time_1d`;
* :mod:`nephlab.largedev.rates` — :func:`~nephlab.largedev.rates.flux_rate`;
* :mod:`nephlab.largedev.tps` — :func:`~nephlab.largedev.tps.transition_path_sampling`,
  :func:`~nephlab.largedev.tps.straight_path`;
* :mod:`nephlab.largedev.potentials` — the built-in potentials, one definition for NumPy and JAX.

Example:
    >>> from nephlab.largedev import paths, shooting
    >>> paths.shooting_committor is shooting.shooting_committor
    True
"""

from nephlab.largedev.passage import FirstPassageResult, first_passage_times, mean_transition_path_time_1d
from nephlab.largedev.potentials import double_well_1d_jax, double_well_2d_jax, muller_brown_jax
from nephlab.largedev.rates import FluxRateResult, flux_rate
from nephlab.largedev.sampling import BGK_CONSTANT, boundary_shift
from nephlab.largedev.shooting import ShootingCommittorResult, shooting_committor
from nephlab.largedev.tps import TPSResult, straight_path, transition_path_sampling

__all__ = [
    "ShootingCommittorResult",
    "FirstPassageResult",
    "FluxRateResult",
    "TPSResult",
    "shooting_committor",
    "first_passage_times",
    "flux_rate",
    "transition_path_sampling",
    "straight_path",
    "mean_transition_path_time_1d",
    "boundary_shift",
    "muller_brown_jax",
    "double_well_2d_jax",
    "double_well_1d_jax",
    "BGK_CONSTANT",
]
