"""Parameters shared by the molecular-dynamics tasks (``nemd_shear``, ``green_kubo``): the fluid.

Reduced Lennard-Jones units: lengths in σ, energies in ε, times in τ = σ (m/ε)^½, k_B = 1.
"""

from __future__ import annotations

import math
from typing import Any

from ._spec import Param

__all__ = ["SYSTEM_PARAMS", "build_system"]

SYSTEM_PARAMS: tuple[Param, ...] = (
    Param("potential", "str", "lj", "pair potential: cut-and-shifted Lennard-Jones ('lj') or WCA (r_cut = 2^(1/6))",
          choices=("lj", "wca")),
    Param("n_particles", "int", 256, "number of particles N (an FCC lattice fills 4 k³ sites: 108, 256, 500, 864, ...)",
          minimum=2, maximum=10_000_000),
    Param("rho", "float", 0.8442, "number density ρ (below close packing √2)", units="1/sigma³", minimum=0.0,
          exclusive_minimum=True, maximum=math.sqrt(2.0), exclusive_maximum=True),
    Param("T", "float", 0.722, "temperature (the thermostat's target; initial velocities)", units="epsilon/k_B",
          minimum=0.0, exclusive_minimum=True, maximum=100.0),
    Param("r_cut", "float", 2.5, "cut-off radius of the cut-and-shifted LJ potential", units="sigma",
          minimum=2.0 ** (1.0 / 6.0), maximum=10.0, when=(("potential", ("lj",)),)),
    Param("lattice", "str", "fcc", "initial placement: FCC lattice or random without overlaps",
          choices=("fcc", "random")),
    Param("dtype", "str", "float64", "floating-point precision of the JAX engine", choices=("float64", "float32")),
)


def build_system(p: dict) -> Any:
    """The :class:`~nephlab.md.MDSystem` of validated task parameters ``p`` (seed = ``p['seed']``).

    Example:
        >>> from nephlab.tasks import get_task
        >>> s = build_system(get_task("nemd_shear").spec.validate({"n_particles": 108}))
        >>> s.n_particles, s.potential
        (108, 'lj')
    """
    from ..md import lennard_jones, wca

    common = dict(seed=p["seed"], dtype=p["dtype"], lattice=p["lattice"])
    if p["potential"] == "wca":
        return wca(p["n_particles"], p["rho"], p["T"], **common)
    return lennard_jones(p["n_particles"], p["rho"], p["T"], r_cut=p["r_cut"], **common)
