"""nephlab.quantum: open-quantum-system dynamics (Lindblad), steady states and quantum thermodynamics."""

from .mcsolve import McResult, jump_heat, mcsolve
from .mesolve import estimate_memory_bytes, mesolve
from .methods import Dopri5, Expm, Kvaerno5, Magnus4, Method, RK4, Tsit5
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
from .result import Result
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

__all__ = [
    "Dopri5", "Expm", "Kvaerno5", "Magnus4", "McResult", "Method", "RK4", "Recorder", "Result", "Tsit5", "WorkStatistics",
    "basis", "coherent", "create", "destroy", "dissipator_apply", "entropy_production_rate", "entropy_vn",
    "estimate_memory_bytes", "fock_dm", "hamiltonian_function", "heat_currents", "jump_heat", "ket2dm", "lindblad_dissipator",
    "lindblad_rhs", "liouvillian", "mcsolve", "mesolve", "num", "purity", "qeye", "relative_entropy", "sigmam", "sigmap",
    "sigmax", "sigmay", "sigmaz", "spost", "spre", "sprepost", "steadystate", "tensor", "thermal_bath",
    "thermal_dm", "tpm_work",
]
