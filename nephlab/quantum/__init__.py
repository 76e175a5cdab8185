"""nephlab.quantum: open-quantum-system dynamics (Lindblad), steady states and quantum thermodynamics."""

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
from .timedep import hamiltonian_function

__all__ = [
    "Dopri5", "Expm", "Kvaerno5", "Magnus4", "Method", "RK4", "Result", "Tsit5",
    "basis", "coherent", "create", "destroy", "estimate_memory_bytes", "fock_dm", "hamiltonian_function",
    "ket2dm", "mesolve", "num", "qeye", "sigmam", "sigmap", "sigmax", "sigmay", "sigmaz", "tensor", "thermal_dm",
]
