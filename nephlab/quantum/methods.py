"""Integration methods for :func:`nephlab.mesolve`.

Each method is an immutable, hashable object that declares what it supports; ``mesolve``
checks a problem against these declarations before anything is compiled. Pass a method by
name (``method="tsit5"``) or as an object (``method=Tsit5()``).

=============  ========================================================================
name           what it is
=============  ========================================================================
``dopri5``     adaptive Dormand–Prince 5(4) (diffrax), explicit; non-stiff problems
``tsit5``      adaptive Tsitouras 5(4) (diffrax), explicit; the default for larger n
``kvaerno5``   adaptive Kvaerno 5(4) (diffrax), L-stable ESDIRK; stiff problems
``rk4``        classical fixed-step Runge–Kutta with step ``dt``; the textbook baseline
``expm``       exact propagator ``exp(L Δt)`` of a time-independent Liouvillian
``magnus4``    fixed-step 4th-order Magnus for the unitary part, dissipator by a CPTP
               Strang splitting: every step is completely positive and trace preserving
``auto``       picks one of the above from size, structure and time dependence
=============  ========================================================================

The explicit adaptive methods integrate in the interaction picture of the diagonal of the
time-independent Hamiltonian: the fast phases ``e^{-i(E_i - E_j)t}`` are applied exactly and only
the couplings are integrated, which removes the stiffness of anharmonic (Kerr) spectra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["Dopri5", "Expm", "Kvaerno5", "Magnus4", "Method", "RK4", "Tsit5", "get_method", "METHODS"]


@dataclass(frozen=True)
class Method:
    """Base class: declares a method's name and capabilities.

    Example:
        >>> from nephlab.quantum.methods import get_method
        >>> m = get_method("magnus4")
        >>> m.name, m.needs_dt, m.time_dependent_c_ops
        ('magnus4', True, False)
    """

    name: ClassVar[str] = ""
    adaptive: ClassVar[bool] = False
    needs_dt: ClassVar[bool] = False
    time_dependent_h: ClassVar[bool] = True
    time_dependent_c_ops: ClassVar[bool] = True
    callable_h: ClassVar[bool] = True
    uses_frame: ClassVar[bool] = False
    family: ClassVar[str] = "ode"


@dataclass(frozen=True)
class Dopri5(Method):
    """Adaptive Dormand–Prince 5(4), explicit (diffrax's tableau, nephlab's loop).

    Example:
        >>> Dopri5().name, Dopri5.adaptive
        ('dopri5', True)
    """

    name: ClassVar[str] = "dopri5"
    adaptive: ClassVar[bool] = True
    uses_frame: ClassVar[bool] = True


@dataclass(frozen=True)
class Tsit5(Method):
    """Adaptive Tsitouras 5(4), explicit (diffrax's tableau, nephlab's loop).

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import sigmax, fock_dm
        >>> res = nephlab.mesolve(sigmax(), fock_dm(2, 0), np.linspace(0, 1, 3), method=Tsit5())
        >>> res.method
        'tsit5'
    """

    name: ClassVar[str] = "tsit5"
    adaptive: ClassVar[bool] = True
    uses_frame: ClassVar[bool] = True


@dataclass(frozen=True)
class Kvaerno5(Method):
    """Adaptive Kvaerno 5(4), implicit ESDIRK for stiff problems (diffrax ``Kvaerno5``).

    Each step solves with a dense Jacobian of size (2n²)², so it suits n up to a few tens.

    Example:
        >>> Kvaerno5().name
        'kvaerno5'
    """

    name: ClassVar[str] = "kvaerno5"
    adaptive: ClassVar[bool] = True


@dataclass(frozen=True)
class RK4(Method):
    """Classical 4th-order Runge–Kutta with fixed step ``dt``.

    Each interval of ``tlist`` is split into ``ceil(Δt/dt)`` equal steps, so saved times are hit
    exactly. Four right-hand-side evaluations (three distinct times) per step.

    Example:
        >>> RK4.needs_dt
        True
    """

    name: ClassVar[str] = "rk4"
    needs_dt: ClassVar[bool] = True


@dataclass(frozen=True)
class Expm(Method):
    """Exact propagator of a time-independent Liouvillian: ``ρ(t+Δt) = exp(L Δt) ρ(t)``.

    Builds the dense n² × n² superoperator, so it suits n up to about 30; for uniformly spaced
    ``tlist`` one matrix exponential serves every interval.

    Example:
        >>> Expm.time_dependent_h
        False
    """

    name: ClassVar[str] = "expm"
    time_dependent_h: ClassVar[bool] = False
    time_dependent_c_ops: ClassVar[bool] = False
    callable_h: ClassVar[bool] = False
    family: ClassVar[str] = "expm"


@dataclass(frozen=True)
class Magnus4(Method):
    """Fixed-step 4th-order Magnus integrator with a CPTP Strang splitting for the dissipator.

    One step of size h: ``ρ → Φ_{h/2} ∘ U ∘ Φ_{h/2} (ρ)`` where ``U`` is the 4th-order Magnus
    propagator of H(t) (two Hamiltonian evaluations at the Gauss–Legendre nodes, exponentiated
    through ``eigh``, so exactly unitary) and ``Φ_τ = exp(τ D)`` is the exact semigroup of the
    dissipator alone. Every step is completely positive and trace preserving. For closed systems
    the method is 4th order; with dissipation the splitting makes it 2nd order in the
    commutator of H and the dissipator. Collapse operators must be time independent.

    Example:
        >>> Magnus4().name, Magnus4.needs_dt
        ('magnus4', True)
    """

    name: ClassVar[str] = "magnus4"
    needs_dt: ClassVar[bool] = True
    time_dependent_c_ops: ClassVar[bool] = False
    family: ClassVar[str] = "magnus"


METHODS: dict[str, type[Method]] = {m.name: m for m in (Dopri5, Tsit5, Kvaerno5, RK4, Expm, Magnus4)}


def get_method(method) -> Method | None:
    """Resolve a method name or object; ``"auto"`` returns None (decided per problem).

    Raises ValueError naming the allowed methods for an unknown name.
    """
    if isinstance(method, Method):
        return method
    if isinstance(method, type) and issubclass(method, Method) and method is not Method:
        return method()
    if isinstance(method, str):
        key = method.strip().lower()
        if key == "auto":
            return None
        if key in METHODS:
            return METHODS[key]()
    allowed = ", ".join(repr(k) for k in ["auto", *METHODS])
    raise ValueError(f"method={method!r} is not a known method; allowed: {allowed}")
