"""nephlab.largedev: large deviations and rare events (tilted generators, rate functions, cloning,
committors)."""

from .markov import MarkovJumpProcess, Observable, RateFunctionResult
from .models import east, fredrickson_andersen, ring_random_walk, tasep_ring, two_state
from .committor import (
    TPTResult,
    committor_1d,
    committor_2d,
    double_well_2d,
    grid_rate_1d,
    kramers_rate,
    mfpt_rate_1d,
    muller_brown,
    tpt,
)
from .diffusion import scgf_diffusion_1d, scgf_diffusion_2d, sqra_generator_1d, sqra_generator_2d
from .cloning import CloningResult, Extrapolation, cloning, extrapolate_clones, extrapolate_time, two_state_scgf
