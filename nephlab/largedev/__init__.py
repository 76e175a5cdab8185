"""nephlab.largedev: large deviations and rare events (tilted generators, rate functions, cloning,
committors)."""

from .markov import MarkovJumpProcess, Observable, RateFunctionResult, ScgfResult
from .models import (
    PhaseDiagramResult,
    activity_phase_diagram,
    east,
    fredrickson_andersen,
    kcm_equilibrium_activity,
    ring_random_walk,
    tasep_ring,
    tasep_scgf_exact,
    two_state,
)
from .committor import (
    TPTResult,
    committor_1d,
    committor_2d,
    committor_to_xarray,
    double_well_2d,
    grid_rate_1d,
    kramers_rate,
    mfpt_rate_1d,
    muller_brown,
    reactive_paths_2d,
    tpt,
)
from .diffusion import scgf_diffusion_1d, scgf_diffusion_2d, sqra_generator_1d, sqra_generator_2d
from .cloning import (
    CloningResult,
    Extrapolation,
    cloning,
    cloning_langevin,
    extrapolate_clones,
    extrapolate_time,
    two_state_scgf,
)

__all__ = [
    "MarkovJumpProcess", "Observable", "RateFunctionResult", "ScgfResult",
    "PhaseDiagramResult", "activity_phase_diagram", "east", "fredrickson_andersen",
    "kcm_equilibrium_activity", "ring_random_walk", "tasep_ring", "tasep_scgf_exact", "two_state",
    "TPTResult", "committor_1d", "committor_2d", "committor_to_xarray", "double_well_2d", "grid_rate_1d",
    "kramers_rate", "mfpt_rate_1d", "muller_brown", "reactive_paths_2d", "tpt",
    "scgf_diffusion_1d", "scgf_diffusion_2d", "sqra_generator_1d", "sqra_generator_2d",
    "CloningResult", "Extrapolation", "cloning", "cloning_langevin", "extrapolate_clones",
    "extrapolate_time", "two_state_scgf",
]

from .paths import (
    FirstPassageResult,
    FluxRateResult,
    ShootingCommittorResult,
    TPSResult,
    boundary_shift,
    double_well_1d_jax,
    double_well_2d_jax,
    first_passage_times,
    flux_rate,
    mean_transition_path_time_1d,
    muller_brown_jax,
    shooting_committor,
    straight_path,
    transition_path_sampling,
)

if "__all__" in globals():  # rare-event sampling (paths.py)
    __all__ += ["FirstPassageResult", "FluxRateResult", "ShootingCommittorResult", "TPSResult", "boundary_shift",
                "double_well_1d_jax", "double_well_2d_jax", "first_passage_times", "flux_rate",
                "mean_transition_path_time_1d", "muller_brown_jax", "shooting_committor", "straight_path",
                "transition_path_sampling"]
