"""nephlab.largedev: large deviations and rare events (tilted generators, rate functions, cloning,
committors, path sampling).

Conventions
-----------
These hold for every function and result of the package; docstrings refer here.

**Processes.** A Markov jump process is a :class:`~nephlab.largedev.markov.MarkovJumpProcess`
or its ``(n, n)`` rate matrix, ``rates[i, j]`` = rate (1/time) of the jump ``i -> j``, diagonal
ignored. :func:`cloning`, :func:`scgf`, :func:`rate_function` and :func:`doob` accept either and
give identical results.

**Observables.** ``A_t`` is time-additive: jump increments ``sum g[i, j]``, time integrals
``int f(X) dt``, Stratonovich integrals ``int g(X) o dX``, or sums of these.

**One SCGF sign convention.** With the bias ``s`` (units 1/[A]), always called ``s``::

    theta(s) = lim_{t -> oo} (1/t) ln E[exp(-s A_t)]          (units 1/time)

so ``theta(0) = 0``, ``-theta'(0)`` is the mean rate of A, ``theta''(0)`` its scaled variance,
and ``s > 0`` favours *small* A (for the activity: the inactive histories of the s-ensemble).
The rate function is ``I(x) = sup_s [-s x - theta(s)]``. Every SCGF Dataset stores the
definition in ``attrs["convention"]``. This is the convention of the s-ensemble literature
(Lecomte, Appert-Rolland & van Wijland 2007; Garrahan et al. 2007) and of continuous-time
cloning (Lecomte & Tailleur 2007); it was already used by
:class:`~nephlab.largedev.markov.MarkovJumpProcess`, :func:`cloning`, the models, the tasks and
the widgets, so only the diffusion functions changed. It holds for
:meth:`MarkovJumpProcess.scgf <nephlab.largedev.markov.MarkovJumpProcess.scgf>` and its
relatives, :func:`scgf`, :func:`rate_function`, :func:`doob`, :func:`cloning`,
:func:`cloning_langevin`, :func:`scgf_diffusion_1d`, :func:`scgf_diffusion_2d`,
:func:`tasep_scgf_exact`, :func:`two_state_scgf` and :func:`activity_phase_diagram`.

*Deprecated* (``DeprecationWarning``; exactly equivalent): the keyword ``k=`` of
:func:`scgf_diffusion_1d`, :func:`scgf_diffusion_2d` and :func:`cloning_langevin`, from the
former diffusion convention ``lambda(k) = lim (1/t) ln E[exp(+k A_t)] = theta(-k)``, is read as
``s = -k``; ``CloningResult.k`` returns ``-s``. Before this change the first argument of
those functions was ``k``: a positional call now means ``s``.

**Overdamped Langevin dynamics** for committors, rates and path sampling:
``gamma dX = -grad V dt + sqrt(2 gamma / beta) dW``; see :mod:`nephlab.largedev.sampling` and
:mod:`nephlab.largedev.committor`.

Example:
    >>> import numpy as np
    >>> rates = [[0.0, 1.0], [1.0, 0.0]]
    >>> round(scgf(rates, 1.0), 6), round(float(np.exp(-1.0)) - 1, 6)   # theta(s) = e^{-s} - 1
    (-0.632121, -0.632121)
"""

from .markov import (
    MarkovJumpProcess,
    Observable,
    RateFunctionResult,
    ScgfResult,
    as_process,
    doob,
    rate_function,
    scgf,
)
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
from .potentials import (
    double_well_1d,
    double_well_1d_jax,
    double_well_2d,
    double_well_2d_jax,
    muller_brown,
    muller_brown_jax,
)
from .committor import (
    TPTResult,
    committor_1d,
    committor_2d,
    committor_to_xarray,
    grid_rate_1d,
    kramers_rate,
    mfpt_rate_1d,
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
from .presets import (
    COMMITTOR_POTENTIALS,
    MARKOV_MODELS,
    MULLER_BROWN_A,
    MULLER_BROWN_B,
    MULLER_BROWN_BOX,
    CommittorProblem,
    committor_problem,
    finite_size_curves,
    finite_size_sizes,
    markov_cloning,
    markov_model,
    markov_scgf,
    markov_theta,
    parse_rate_matrix,
    pooled_estimate,
    rate_function_grid,
    transition_paths,
)
from .sampling import boundary_shift
from .shooting import ShootingCommittorResult, shooting_committor
from .passage import FirstPassageResult, first_passage_times, mean_transition_path_time_1d
from .rates import FluxRateResult, flux_rate
from .tps import TPSResult, straight_path, transition_path_sampling
from . import paths  # noqa: F401  (the former module, kept importable)

__all__ = [
    "MarkovJumpProcess", "Observable", "RateFunctionResult", "ScgfResult", "as_process", "doob",
    "rate_function", "scgf",
    "PhaseDiagramResult", "activity_phase_diagram", "east", "fredrickson_andersen",
    "kcm_equilibrium_activity", "ring_random_walk", "tasep_ring", "tasep_scgf_exact", "two_state",
    "double_well_1d", "double_well_1d_jax", "double_well_2d", "double_well_2d_jax", "muller_brown",
    "muller_brown_jax",
    "TPTResult", "committor_1d", "committor_2d", "committor_to_xarray", "grid_rate_1d",
    "kramers_rate", "mfpt_rate_1d", "reactive_paths_2d", "tpt",
    "scgf_diffusion_1d", "scgf_diffusion_2d", "sqra_generator_1d", "sqra_generator_2d",
    "CloningResult", "Extrapolation", "cloning", "cloning_langevin", "extrapolate_clones",
    "extrapolate_time", "two_state_scgf",
    "COMMITTOR_POTENTIALS", "MARKOV_MODELS", "MULLER_BROWN_A", "MULLER_BROWN_B", "MULLER_BROWN_BOX",
    "CommittorProblem", "committor_problem", "finite_size_curves", "finite_size_sizes", "markov_cloning",
    "markov_model", "markov_scgf", "markov_theta", "parse_rate_matrix", "pooled_estimate", "rate_function_grid",
    "transition_paths",
    "boundary_shift", "ShootingCommittorResult", "shooting_committor", "FirstPassageResult",
    "first_passage_times", "mean_transition_path_time_1d", "FluxRateResult", "flux_rate", "TPSResult",
    "straight_path", "transition_path_sampling",
]
