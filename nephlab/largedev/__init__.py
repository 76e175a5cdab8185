"""nephlab.largedev: large deviations and rare events (tilted generators, rate functions, cloning,
committors)."""

from .markov import MarkovJumpProcess, Observable, RateFunctionResult
from .models import east, fredrickson_andersen, ring_random_walk, tasep_ring, two_state
