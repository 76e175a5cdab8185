"""nephlab.quantum: open-quantum-system dynamics (Lindblad), steady states and quantum thermodynamics."""

from .correlation import (
    coherence_function_g1,
    coherence_function_g2,
    correlation_2op_1t,
    correlation_2op_2t,
    spectrum,
)
from .counting import CountingResult, counting_statistics, tilted_liouvillian
from .mcsolve import McResult, jump_heat, mcsolve
from .mesolve import estimate_memory_bytes, mesolve
from .methods import Dop853, Dopri5, Expm, Kvaerno5, Magnus4, Method, RK4, Tsit5, Vern7
from .operators import (
    basis,
    coherent,
    create,
    destroy,
    fock_dm,
    ket2dm,
    num,
    qeye,
    sigmam,
    sigmap,
    sigmax,
    sigmay,
    sigmaz,
    tensor,
    thermal_dm,
)
from .propagator import propagator
from .result import Result
from .sesolve import KetResult, sesolve
from .steadystate import steadystate
from .stream import Recorder
from .superop import dissipator_apply, lindblad_dissipator, lindblad_rhs, liouvillian, spost, spre, sprepost
from .thermo import (
    WorkStatistics,
    entropy_production_rate,
    entropy_vn,
    heat_currents,
    purity,
    relative_entropy,
    thermal_bath,
    tpm_work,
)
from .timedep import hamiltonian_function
from .wigner import wigner

# the differentiable namespace nephlab.quantum.jax (a submodule; deliberately not in __all__,
# so that `from nephlab.quantum import *` cannot shadow the real jax)
from . import jax  # noqa: E402,F401

__all__ = [
    "CountingResult", "Dop853", "Dopri5", "Expm", "KetResult", "Kvaerno5", "Magnus4", "McResult", "Method", "RK4", "Recorder",
    "Result", "Tsit5", "Vern7", "WorkStatistics", "basis", "coherence_function_g1", "coherence_function_g2", "coherent",
    "correlation_2op_1t", "correlation_2op_2t", "counting_statistics", "create", "destroy", "dissipator_apply",
    "entropy_production_rate", "entropy_vn", "estimate_memory_bytes", "fock_dm", "hamiltonian_function",
    "heat_currents", "jump_heat", "ket2dm", "lindblad_dissipator", "lindblad_rhs", "liouvillian", "mcsolve", "mesolve",
    "num", "propagator", "purity", "qeye", "relative_entropy", "sesolve", "sigmam", "sigmap", "sigmax", "sigmay",
    "sigmaz", "spectrum", "spost", "spre", "sprepost", "steadystate", "tensor", "thermal_bath", "thermal_dm",
    "tilted_liouvillian", "tpm_work", "wigner",
]

# Large Hilbert spaces (issue 15): sparse structure helpers. ``tensor``/``qeye`` above stay the
# dense ones; the sparse ones live in the submodule: nephlab.quantum.sparse.tensor(...)
from . import sparse  # noqa: E402
from .sparse import embed  # noqa: E402

__all__ += ["embed", "sparse"]
