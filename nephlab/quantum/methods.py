"""Integration methods for :func:`nephlab.mesolve`: immutable objects dispatched by type.

Each method is a frozen, hashable object that

* carries its own options (``RK4(dt=0.01)``, ``Tsit5(rtol=1e-8)``); an option left ``None`` is
  filled from ``mesolve``'s keyword of the same name, else from its default (see :data:`OPTIONS`);
* declares what it supports (time-dependent ``H`` or ``c_ops``, a callable ``H``), so that
  ``mesolve`` rejects a problem before anything is compiled;
* provides its compiled kernel (:meth:`Method.solve`), its peak-memory estimate
  (:meth:`Method.memory_bytes`) and its cost estimate (:meth:`Method.seconds`).

Pass a method by name (``method="tsit5"``) or as an object (``method=Tsit5()``).

=============  ========================================================================
name           what it is
=============  ========================================================================
``dopri5``     adaptive Dormand–Prince 5(4) (diffrax), explicit; non-stiff problems
``tsit5``      adaptive Tsitouras 5(4) (diffrax), explicit; the default for larger n
``dop853``     adaptive Hairer 8(5,3) (SciPy's DOP853 tableau), explicit; tight tolerances
``vern7``      adaptive Verner 7(6) "efficient" pair (QuTiP's tableau), explicit
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

Adding a method touches this module only (plus, at most, its kernel in ``_engine``): subclass
:class:`Method` (or :class:`AdaptiveMethod` / :class:`FixedStepMethod`), give it a kernel and
``memory_bytes``, and decorate the class with :func:`register`. The kernel is either ``solve`` (one
call over every saved time) or, better, an ``_engine.Kernel`` named by the class attribute
``kernel``: the pieces ``prepare`` / ``start`` / ``advance`` / ``finish``, from which ``solve``
follows and which ``mesolve(..., on_save=...)`` runs chunk by chunk to stream each saved time to
the caller as it is computed (same states as one call). Every list of methods (mesolve's error
messages, the ``lindblad`` task's choices, the widget, the tests) is derived from :data:`METHODS`.

Memory estimates (bytes, one call, all batch elements) were fitted to the buffers XLA allocates
for each kernel (``compiled.memory_analysis()``, which the peak resident memory of a real run
matches within 5 %) with jax 0.10 on CPU, and are checked against measured peaks by
``tests/test_mesolve_memory.py``. Units: ``s = 16 n²`` bytes is one complex state,
``u = 16 n⁴`` one complex superoperator.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from .. import _validate
from . import _engine, _rk

__all__ = [
    "AUTO_DOP853_RTOL", "AUTO_EXPM_MAX_N", "AdaptiveMethod", "Dop853", "Dopri5", "Expm", "FixedStepMethod",
    "Kvaerno5", "METHODS", "Magnus4", "Method", "OPTIONS", "Option", "Problem", "RK4", "Tsit5", "Vern7", "auto_method",
    "check_keywords", "get_method", "method_choices", "method_options", "register",
]

AUTO_EXPM_MAX_N = 12  # auto: exact propagator when n² ≤ 144, one small matrix exponential beats stepping
# auto: DOP853 instead of Tsit5 for constant operators at rtol ≤ 1e-8. Interleaved A/B
# (benchmarks/dop853_ab.py, benchmarks/RESULTS.md "DOP853"): at rtol 1e-8 DOP853 takes 0.71x
# tsit5's time on the D = 81 Kerr lattice (two runs; RHS 0.56x) and 0.84-0.99x on the n = 20 Kerr
# oscillator (three runs; RHS 0.74x), at 1e-10 0.47x and 0.71x; at 1e-7 0.84x and 1.00x, at 1e-6
# 1.03x and 1.24-1.28x (its 12 stages and the dense output's 3 extra stages cost more than its
# fewer steps save).
AUTO_DOP853_RTOL = 1e-8


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """A solver option that ``mesolve`` accepts as a keyword and hands to its method.

    Attributes:
        doc: what it is, with units.
        default: the value used when neither the method object nor the keyword sets it; None
            for an option the method cannot do without (``dt``): then a method lacking it
            refuses the keyword, while a tolerance given to a method without tolerances is
            ignored (QuTiP-style option sets pass tolerances to every method).
        dynamic: True for a number the compiled program receives as data (changing it does not
            recompile); False for one that shapes the compiled program (``max_steps``).
        integer: the value is a positive integer (else a positive real number).

    Example:
        >>> OPTIONS["dt"].default is None, OPTIONS["rtol"].default
        (True, 1e-06)
    """

    doc: str
    default: float | int | None
    dynamic: bool
    integer: bool = False

    def check(self, value: Any, name: str) -> float | int:
        """``value`` validated and converted; TypeError/ValueError naming ``name`` otherwise.

        Example:
            >>> OPTIONS["max_steps"].check(10, "max_steps")
            10
        """
        if self.integer:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            return _validate.integer(value, name)
        return _validate.real_number(value, name, positive=True)


OPTIONS: dict[str, Option] = {
    "rtol": Option("relative tolerance of the local error (weighted RMS norm)", 1e-6, dynamic=True),
    "atol": Option("absolute tolerance of the local error, per entry of ρ", 1e-8, dynamic=True),
    "max_steps": Option("limit on the number of steps", 100_000, dynamic=False, integer=True),
    "dt": Option("a positive step in time units", None, dynamic=True),
}


def _option() -> Any:
    """A method field holding the option of the same name; None means 'not set here'."""
    return field(default=None)


def check_keywords(**keywords: Any) -> dict[str, float | int]:
    """Validate ``mesolve``'s option keywords; returns those given (not None), converted.

    Example:
        >>> check_keywords(rtol=1e-8, dt=None)
        {'rtol': 1e-08}
    """
    return {k: OPTIONS[k].check(v, k) for k, v in keywords.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# the problem a method is asked to solve
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What a method needs to know about a ``mesolve`` call: sizes (memory) and structure (support).

    Attributes:
        n: Hilbert-space dimension.
        batch: number of systems solved in one call (product of the batch shape).
        n_times: number of saved times (``len(tlist)``).
        n_c_ops: number of collapse operators.
        n_eops: number of expectation operators.
        store_states: ρ(t) kept at every saved time.
        uniform: ``tlist`` is equally spaced.
        h_batched, c_ops_batched: whether H, respectively the collapse operators, carry batch
            axes (a batch of initial states alone shares every operator).
        time_dependent_h, time_dependent_c_ops, callable_h: the problem's time dependence.
        fmt: operator storage, ``"dense"`` (dense or banded engine) or ``"sparse"`` (coordinate
            format, see :mod:`nephlab.quantum.sparse`); op_nnz: nonzeros of H_eff and the
            collapse operators together; max_nnz: rows of ρ that the largest sparse product
            gathers at once (n in the ELL layout, its nonzeros in the COO layout; see
            ``nephlab.quantum._ops.gathered_rows``).
        rtol: the relative tolerance asked for (None: not given, the default applies); it steers
            ``method="auto"`` between the 5th- and the 8th-order pair.

    Example:
        >>> Problem(n=4, n_c_ops=1).state_bytes
        256
    """

    n: int
    batch: int = 1
    n_times: int = 2
    n_c_ops: int = 0
    n_eops: int = 0
    store_states: bool = True
    uniform: bool = True
    h_batched: bool = True
    c_ops_batched: bool = True
    time_dependent_h: bool = False
    time_dependent_c_ops: bool = False
    callable_h: bool = False
    fmt: str = "dense"
    op_nnz: int = 0
    max_nnz: int = 0
    rtol: float | None = None

    @property
    def state_bytes(self) -> int:
        """Bytes of one complex128 density matrix, ``s = 16 n²``."""
        return 16 * self.n * self.n

    @property
    def superop_bytes(self) -> int:
        """Bytes of one complex128 superoperator, ``u = 16 n⁴``."""
        return 16 * self.n**4

    def base_bytes(self) -> int:
        """What every method holds: inputs (ρ0, H and the collapse operators per system, the
        e_ops once) and results (stored states, final state, expectation values).

        Example:
            >>> Problem(n=2, n_times=3).base_bytes()  # 3 stored + final + rho0 + H states of 64 B
            384
        """
        s, T = self.state_bytes, self.n_times
        per_system = s * (T * int(self.store_states) + 1) + 16 * self.n_eops * T + s  # + rho0
        if self.fmt == "sparse":  # operators shared by the batch (sparse inputs carry no batch axes)
            return self.batch * per_system + self.sparse_operator_bytes() + self.n_eops * s
        return self.batch * (per_system + self.dense_operator_bytes()) + self.n_eops * s

    def dense_operator_bytes(self) -> int:
        """H and the collapse operators stored densely: ``16 n² (1 + K)``."""
        return self.state_bytes * (1 + self.n_c_ops)

    def sparse_operator_bytes(self) -> int:
        """The operators in mesolve's sparse format (24 bytes per nonzero: real-split value and
        two int32 indices) plus the ``(max_nnz, 2, n)`` float64 temporary of one gathered product,
        counted twice (gather and products)."""
        return 24 * self.op_nnz + 2 * 16 * self.max_nnz * self.n

    def stored_copy_bytes(self) -> int:
        """A second copy of the saved states that a ``lax.scan`` kernel holds before it prepends
        the initial time: ``batch · (T-1) · s`` when states are stored."""
        return self.batch * (self.n_times - 1) * self.state_bytes * int(self.store_states)

    def vmapped_loop_bytes(self) -> int:
        """Under ``vmap`` a ``while_loop`` with a per-element stopping condition selects between
        the old and the new carry, so its saved-state buffer exists three times, not once."""
        return 2 * self.batch * self.n_times * self.state_bytes * int(self.store_states and self.batch > 1)


# ---------------------------------------------------------------------------------------------
# base classes
# ---------------------------------------------------------------------------------------------


def _or_list(names: list[str]) -> str:
    quoted = [repr(k) for k in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


@dataclass(frozen=True, repr=False)
class Method(ABC):
    """Base class of the integration methods: capabilities, options, kernel and estimates.

    Class attributes declare what a method supports and how ``mesolve`` prepares its input:
    ``time_dependent_h``, ``time_dependent_c_ops``, ``callable_h`` (support);
    ``operator_form`` (``"split"``: the real-split right-hand-side operators of the ODE kernels,
    ``"matrices"``: complex dense H terms and stacked collapse operators); ``uses_frame``
    (integrates in the interaction picture of diag H); ``uniform_grid`` (the kernel exploits an
    equally spaced tlist, which is then part of the compiled structure); ``stiff`` (suited to
    stiff problems); ``stats_format`` (the ``stats["format"]`` label, None: the operators'
    storage format); ``rhs_per_step`` (cost of one step in right-hand-side evaluations);
    ``tuned_compile`` (the engine compiles the solve with ``nephlab.quantum._jit.SOLVE_OPTIONS``,
    XLA CPU options measured faster for the explicit Runge–Kutta steppers).
    Dataclass fields are the method's options, each named after an entry of :data:`OPTIONS`.

    Example:
        >>> m = get_method("magnus4")
        >>> m.name, m.needs_dt, m.time_dependent_c_ops
        ('magnus4', True, False)
        >>> RK4(dt=0.01).configure(rtol=1e-8)  # tolerances do not apply to a fixed-step method
        RK4(dt=0.01)
    """

    name: ClassVar[str] = ""
    adaptive: ClassVar[bool] = False
    needs_dt: ClassVar[bool] = False
    time_dependent_h: ClassVar[bool] = True
    time_dependent_c_ops: ClassVar[bool] = True
    callable_h: ClassVar[bool] = True
    uses_frame: ClassVar[bool] = False
    uniform_grid: ClassVar[bool] = False
    stiff: ClassVar[bool] = False
    operator_form: ClassVar[str] = "split"
    stats_format: ClassVar[str | None] = None
    rhs_per_step: ClassVar[float] = 6.0
    supports_sparse: ClassVar[bool] = False  # runs on the "sparse" operator format (constant operators)
    tuned_compile: ClassVar[bool] = False  # compiled with _jit.SOLVE_OPTIONS (see nephlab.quantum._jit)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                object.__setattr__(self, f.name, OPTIONS[f.name].check(value, f.name))

    def __repr__(self) -> str:
        set_ = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name) is not None)
        return f"{type(self).__name__}({set_})"

    # -- options -------------------------------------------------------------------------------

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The options this method takes (its dataclass fields).

        Example:
            >>> Tsit5.option_names()
            ('rtol', 'atol', 'max_steps')
        """
        return tuple(f.name for f in fields(cls))

    def configure(self, **keywords: Any) -> Method:
        """This method with every option set: its own value, else the keyword, else the default.

        Keywords are ``mesolve``'s (None: not given). A keyword that differs from a value the
        object sets itself is a ValueError; so is a required option (``dt``) that is missing,
        or given to a method that does not take it. Tolerances given to a method without
        tolerances are ignored.

        Example:
            >>> Tsit5(rtol=1e-8).configure(atol=1e-10)
            Tsit5(rtol=1e-08, atol=1e-10, max_steps=100000)
        """
        given = check_keywords(**keywords)
        own = self.option_names()
        updates: dict[str, Any] = {}
        for key, value in given.items():
            if key not in own:
                if OPTIONS[key].default is None:
                    takers = [k for k, c in METHODS.items() if key in c.option_names()]
                    raise ValueError(
                        f"{key}={keywords[key]!r} is only used by the methods {', '.join(map(repr, takers))}, not by "
                        f"method={self.name!r}; remove {key} or pick one of those methods"
                    )
                continue
            mine = getattr(self, key)
            if mine is not None and mine != value:
                raise ValueError(
                    f"{key}={keywords[key]!r} conflicts with method={self!r}, which sets {key}={mine!r}; "
                    f"give {key} in one place"
                )
            updates[key] = value
        for key in own:
            if getattr(self, key) is None and key not in updates:
                default = OPTIONS[key].default
                if default is None:
                    raise ValueError(f"method={self.name!r} needs {key} ({OPTIONS[key].doc}); give {key}=...")
                updates[key] = default
        return dataclasses.replace(self, **updates)

    def static(self) -> Method:
        """This method without its dynamic options: the part that fixes the compiled program.

        Example:
            >>> RK4(dt=0.1).static() == RK4(dt=0.2).static()
            True
        """
        return dataclasses.replace(self, **{k: None for k in self.option_names() if OPTIONS[k].dynamic})

    def dynamic_values(self) -> dict[str, np.float64]:
        """The dynamic options as numbers for the compiled program (``dyn`` of the kernel).

        Example:
            >>> RK4(dt=0.1).dynamic_values()
            {'dt': np.float64(0.1)}
        """
        return {k: np.float64(getattr(self, k)) for k in self.option_names() if OPTIONS[k].dynamic}

    # -- support ------------------------------------------------------------------------------

    def unsupported(self, problem: Problem) -> str | None:
        """Why this method cannot solve ``problem`` (a sentence), or None if it can.

        Example:
            >>> Expm().unsupported(Problem(n=2, callable_h=True))[:40]
            "method='expm' needs a time-independent H"
        """
        checks = (
            ("callable_h", problem.callable_h, "needs a time-independent H, but H is a callable H(t, args)"),
            ("time_dependent_h", problem.time_dependent_h and not problem.callable_h,
             "needs a time-independent H, but H has time-dependent terms"),
            ("time_dependent_c_ops", problem.time_dependent_c_ops,
             "needs time-independent c_ops, but c_ops have time-dependent terms"),
        )
        for attr, needed, what in checks:
            if needed and not getattr(self, attr):
                able = [k for k, c in METHODS.items() if getattr(c, attr)]
                return f"method={self.name!r} {what}; use {_or_list(able)}"
        return None

    def check_supports(self, problem: Problem) -> None:
        """Raise ValueError (naming the methods that can) if this method cannot solve ``problem``.

        Example:
            >>> Tsit5().check_supports(Problem(n=2, time_dependent_c_ops=True))
        """
        reason = self.unsupported(problem)
        if reason is not None:
            raise ValueError(reason)

    # -- kernel and estimates -----------------------------------------------------------------

    def solve(self, st: _engine.Structure, dyn: dict) -> tuple:
        """The compiled kernel for one system, every saved time in one call:
        ``(saved, final_state, stats)`` (see ``_engine``). Default: :meth:`start`, one
        :meth:`advance` over all saved times, :meth:`finish` (``_engine.run_all``)."""
        return _engine.run_all(self, st, dyn)

    # -- the kernel in pieces: what mesolve(on_save=...) runs chunk by chunk -----------------
    # A method names its kernel (``kernel: ClassVar[_engine.Kernel]``: prepare/start/advance/
    # finish) and gets solve() from it; one that only overrides solve() runs in one call
    # (mesolve refuses on_save for it).

    kernel: ClassVar[_engine.Kernel | None] = None

    def _pieces(self) -> _engine.Kernel:
        if self.kernel is None:
            raise NotImplementedError(f"method {self.name!r} does not run in chunks (it has no kernel pieces)")
        return self.kernel

    def prepare(self, st: _engine.Structure, dyn: dict) -> dict:
        """What depends on the operators only, built once per solve (e.g. a propagator)."""
        return self._pieces().prepare(st, dyn)

    def start(self, st: _engine.Structure, dyn: dict, aux: dict) -> tuple:
        """``(carry, first)``: the integrator state at ``tlist[0]`` (a dict of arrays whose
        ``"idx"`` is the next saved index, 1) and the saved values there."""
        return self._pieces().start(st, dyn, aux)

    def advance(self, st: _engine.Structure, dyn: dict, aux: dict, carry: dict, j0: Any, size: int) -> tuple:
        """``(carry, saved)``: fill the saved times ``j0 .. j0+size-1`` (``size`` rows; rows past
        the end of tlist are padding). The states must not depend on how tlist is cut into chunks."""
        return self._pieces().advance(st, dyn, aux, carry, j0, size)

    def finish(self, st: _engine.Structure, dyn: dict, aux: dict, carry: dict) -> tuple:
        """``(final_state, stats)`` from the last carry (``stats["success"]``: every time reached)."""
        return self._pieces().finish(st, dyn, aux, carry)

    @classmethod
    def streams(cls) -> bool:
        """Whether the method runs in chunks (has kernel pieces), as ``mesolve(on_save=...)`` needs.

        Example:
            >>> Tsit5.streams(), Expm.streams()
            (True, True)
        """
        return cls.kernel is not None

    @abstractmethod
    def memory_bytes(self, problem: Problem) -> int:
        """Peak memory (bytes) of a ``mesolve`` call on ``problem``: inputs, results, workspace."""

    def step_count(self, t_max: float, n_times: int, rate: float) -> float:
        """Rough number of steps over ``[0, t_max]`` with ``n_times`` saved times, for a problem
        whose fastest rate (couplings, decay rates; 1/time) is ``rate``."""
        return float(n_times)

    def seconds(self, *, n: int, n_times: int, t_max: float, rate: float, rhs_seconds: float) -> float:
        """Rough wall time (s, compilation excluded) of one solve, given the cost of one
        right-hand-side evaluation ``rhs_seconds``; see :meth:`step_count`.

        Example:
            >>> RK4(dt=0.01).seconds(n=4, n_times=11, t_max=1.0, rate=1.0, rhs_seconds=1e-4)
            0.04
        """
        return self.step_count(t_max, n_times, rate) * self.rhs_per_step * rhs_seconds


@dataclass(frozen=True, repr=False)
class AdaptiveMethod(Method):
    """An adaptive method: options ``rtol``, ``atol`` (dynamic) and ``max_steps`` (static).

    The step count of :meth:`seconds` is ``max(n_times, 5 t_max rate)`` (calibrated against
    tsit5 runs at rtol = 1e-6).
    """

    adaptive: ClassVar[bool] = True
    rtol: float | None = _option()
    atol: float | None = _option()
    max_steps: int | None = _option()

    def step_count(self, t_max: float, n_times: int, rate: float) -> float:
        return max(float(n_times), 5.0 * t_max * rate)


@dataclass(frozen=True, repr=False)
class FixedStepMethod(Method):
    """A fixed-step method: option ``dt`` (required, dynamic). Each interval of ``tlist`` is split
    into ``ceil(Δt/dt)`` equal steps, so saved times are hit exactly."""

    needs_dt: ClassVar[bool] = True
    dt: float | None = _option()

    def step_count(self, t_max: float, n_times: int, rate: float) -> float:
        dt = self.dt if self.dt is not None else t_max / max(n_times - 1, 1)
        return t_max / dt


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------

METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Add a :class:`Method` subclass to :data:`METHODS` under ``cls.name`` (a class decorator).

    Raises TypeError for a non-Method or abstract class, ValueError for a bad or taken name.

    Example:
        >>> METHODS["rk4"] is RK4
        True
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)) or getattr(cls, "__abstractmethods__", None) \
            or (cls.solve is Method.solve and not cls.streams()):
        raise TypeError(f"register expects a concrete subclass of Method (with solve, or start/advance/finish), "
                        f"got {cls!r}")
    name = cls.name
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower() or name == "auto":
        raise ValueError(f"method name must be a lower-case identifier other than 'auto', got {name!r}")
    if name in METHODS and METHODS[name] is not cls:
        raise ValueError(f"a method named {name!r} is already registered ({METHODS[name].__qualname__})")
    METHODS[name] = cls
    return cls


def method_choices() -> tuple[str, ...]:
    """Every name ``mesolve(method=...)`` accepts: ``"auto"`` and the registered methods.

    Example:
        >>> method_choices()[:3]
        ('auto', 'dopri5', 'tsit5')
    """
    return ("auto", *METHODS)


def method_options(name: str) -> tuple[str, ...]:
    """The options of the method called ``name`` (``()`` for ``"auto"``).

    Example:
        >>> "dt" in method_options("magnus4"), method_options("expm")
        (True, ())
    """
    return () if name == "auto" else METHODS[name].option_names()


def get_method(method: Any) -> Method | None:
    """Resolve a method name, class or object; ``"auto"`` returns None (decided per problem).

    Raises ValueError naming the allowed methods for an unknown name.

    Example:
        >>> get_method("TSIT5"), get_method(RK4)
        (Tsit5(), RK4())
    """
    if isinstance(method, Method):
        return method
    if isinstance(method, type) and issubclass(method, Method) and method.name in METHODS:
        return method()
    if isinstance(method, str):
        key = method.strip().lower()
        if key == "auto":
            return None
        if key in METHODS:
            return METHODS[key]()
    allowed = ", ".join(repr(k) for k in method_choices())
    raise ValueError(f"method={method!r} is not a known method; allowed: {allowed}")


def auto_method(problem: Problem) -> Method:
    """``method="auto"``: the exact propagator (:class:`Expm`) for a time-independent problem with
    ``n ≤ AUTO_EXPM_MAX_N``; else, for a time-independent problem at ``rtol ≤ AUTO_DOP853_RTOL``,
    :class:`Dop853` (measured faster there, see :data:`AUTO_DOP853_RTOL`); else :class:`Tsit5`.

    Example:
        >>> auto_method(Problem(n=4)), auto_method(Problem(n=4, time_dependent_h=True))
        (Expm(), Tsit5())
        >>> auto_method(Problem(n=20)), auto_method(Problem(n=20, rtol=1e-8))
        (Tsit5(), Dop853())
    """
    time_dep = problem.time_dependent_h or problem.time_dependent_c_ops or problem.callable_h
    if not time_dep and problem.n <= AUTO_EXPM_MAX_N:
        return Expm()
    if not time_dep and problem.rtol is not None and problem.rtol <= AUTO_DOP853_RTOL:
        return Dop853()
    return Tsit5()


# ---------------------------------------------------------------------------------------------
# the methods
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class _ExplicitRK(AdaptiveMethod):
    """Adaptive explicit Runge–Kutta 5(4) in nephlab's loop (``_rk.adaptive_solve``).

    Memory: inputs and results, about ``(16 + 2K) s`` of stages and temporaries per system
    (K collapse operators), and the saved-state copies of a vmapped ``while_loop``.
    """

    uses_frame: ClassVar[bool] = True
    supports_sparse: ClassVar[bool] = True
    tuned_compile: ClassVar[bool] = True
    kernel: ClassVar[_engine.Kernel] = _engine.RK
    work_states: ClassVar[int] = 16  # states of stages and temporaries per system, besides 2 per c_op

    @abstractmethod
    def tableau(self) -> _rk.Tableau:
        """The Butcher tableau and its dense output."""

    def solve(self, st, dyn):
        return _engine.solve_explicit_rk(st, dyn, self.tableau())

    def memory_bytes(self, problem: Problem) -> int:
        work = problem.batch * problem.state_bytes * (self.work_states + 2 * problem.n_c_ops)
        return problem.base_bytes() + work + problem.vmapped_loop_bytes()


@register
@dataclass(frozen=True, repr=False)
class Dopri5(_ExplicitRK):
    """Adaptive Dormand–Prince 5(4), explicit (diffrax's tableau, nephlab's loop).

    Options: ``rtol``, ``atol``, ``max_steps`` (None: mesolve's keyword or the default).

    Example:
        >>> Dopri5().name, Dopri5.adaptive
        ('dopri5', True)
    """

    name: ClassVar[str] = "dopri5"

    def tableau(self) -> _rk.Tableau:
        return _rk.dopri5_tableau()


@register
@dataclass(frozen=True, repr=False)
class Tsit5(_ExplicitRK):
    """Adaptive Tsitouras 5(4), explicit (diffrax's tableau, nephlab's loop).

    Options: ``rtol``, ``atol``, ``max_steps`` (None: mesolve's keyword or the default).

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import sigmax, fock_dm
        >>> res = nephlab.mesolve(sigmax(), fock_dm(2, 0), np.linspace(0, 1, 3), method=Tsit5(rtol=1e-8))
        >>> res.method
        'tsit5'
    """

    name: ClassVar[str] = "tsit5"

    def tableau(self) -> _rk.Tableau:
        return _rk.tsit5_tableau()


@register
@dataclass(frozen=True, repr=False)
class Dop853(_ExplicitRK):
    """Adaptive Hairer 8(5,3) pair DOP853, explicit (SciPy's tableau, nephlab's loop).

    Twelve right-hand-side evaluations per step (the thirteenth, at the new point, is the next
    step's first), an 8th-order solution with Hairer's combined 5th/3rd-order error estimator
    and the I step-size controller of Hairer's and SciPy's DOP853 (``0.9 en^(-1/8)``, factors
    within [0.2, 10]). Saved times inside a step take the 7th-order dense output, which costs
    three more evaluations in each step that contains one. It takes far larger steps than the
    5(4) pairs at tight tolerances; see the methods page for when it is faster.

    Options: ``rtol``, ``atol``, ``max_steps`` (None: mesolve's keyword or the default).

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import sigmax, fock_dm
        >>> res = nephlab.mesolve(sigmax(), fock_dm(2, 0), np.linspace(0, 1, 3), method="dop853", rtol=1e-8)
        >>> res.method, round(float(res.states[-1][1, 1].real), 6)    # sin(1)²
        ('dop853', 0.708073)
    """

    name: ClassVar[str] = "dop853"
    # memory: 16 stages and their sums, (36 + 2K) s per system (fitted to a measured peak of 29.5 MB
    # for n = 128, 3 systems, K = 0; the 5(4) pairs' 16 + 2K gave 0.51x of it)
    work_states: ClassVar[int] = 36
    # 12 per step, plus the dense output's 3 in the steps with saved times (about half of them at
    # rtol 1e-6 on the D = 81 lattice, nearly all with 101 saved times): measured 13.5 and 15
    rhs_per_step: ClassVar[float] = 13.5

    def tableau(self) -> _rk.Tableau:
        return _rk.dop853_tableau()

    def step_count(self, t_max: float, n_times: int, rate: float) -> float:
        """0.4 times the 5(4) pairs' estimate (measured at rtol 1e-6: 19 steps against tsit5's 49
        on the D = 81 Kerr lattice, 28 against 66 on the n = 20 Kerr oscillator).

        Example:
            >>> Dop853().step_count(10.0, 11, 1.0), Tsit5().step_count(10.0, 11, 1.0)
            (20.0, 50.0)
        """
        return 0.4 * super().step_count(t_max, n_times, rate)



@register
@dataclass(frozen=True, repr=False)
class Vern7(_ExplicitRK):
    """Adaptive Verner 7(6) "most efficient" pair, explicit (QuTiP's coefficients, nephlab's loop).

    Ten right-hand-side evaluations per step (the eleventh, at the new point, is the next step's
    first), the 7th-order solution with the 6th-order one's difference as error estimate, an
    I step-size controller ``0.9 en^(-1/7)`` (factors within [0.2, 10]) and Verner's 7th-order
    interpolant at saved times inside a step, which costs five more evaluations in each step
    that contains one. QuTiP 5 users know it as ``options={"method": "vern7"}``.

    Options: ``rtol``, ``atol``, ``max_steps`` (None: mesolve's keyword or the default).

    Example (decay of the excited level, ρ₁₁(t) = e^(-t)):
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import destroy, fock_dm
        >>> res = nephlab.mesolve(np.zeros((2, 2)), fock_dm(2, 1), [0.0, 2.0], [destroy(2)], method=Vern7(rtol=1e-9))
        >>> res.method, bool(abs(res.final_state[1, 1].real - np.exp(-2.0)) < 1e-8)
        ('vern7', True)
    """

    name: ClassVar[str] = "vern7"
    work_states: ClassVar[int] = 36  # 16 stages, as Dop853
    rhs_per_step: ClassVar[float] = 12.5  # 10, plus 5 in the steps with saved times (about half)

    def tableau(self) -> _rk.Tableau:
        return _rk.vern7_tableau()



@register
@dataclass(frozen=True, repr=False)
class Kvaerno5(AdaptiveMethod):
    """Adaptive Kvaerno 5(4), implicit ESDIRK for stiff problems (diffrax ``Kvaerno5``).

    Each step solves with a dense Jacobian of size (2n²)², so it suits n up to a few tens.
    Memory: per system about ``(8 + K)`` Jacobian-sized buffers of ``32 n⁴`` bytes (the
    Jacobian, its factorisation and the linearised right-hand side's intermediates).

    Example:
        >>> Kvaerno5().name, Kvaerno5.stiff
        ('kvaerno5', True)
    """

    name: ClassVar[str] = "kvaerno5"
    stiff: ClassVar[bool] = True
    rhs_per_step: ClassVar[float] = 24.0  # 6 stages, ~4 Newton iterations each
    kernel: ClassVar[_engine.Kernel] = _engine.KVAERNO5

    def solve(self, st, dyn):
        return _engine.solve_kvaerno5(st, dyn)

    def memory_bytes(self, problem: Problem) -> int:
        jac = 8 * (2 * problem.n**2) ** 2
        work = problem.batch * ((8 + problem.n_c_ops) * jac + 20 * problem.state_bytes)
        return problem.base_bytes() + work + problem.vmapped_loop_bytes()


@register
@dataclass(frozen=True, repr=False)
class RK4(FixedStepMethod):
    """Classical 4th-order Runge–Kutta with fixed step ``dt``.

    Each interval of ``tlist`` is split into ``ceil(Δt/dt)`` equal steps, so saved times are hit
    exactly. Four right-hand-side evaluations (three distinct times) per step. Memory: inputs and
    results, the scan's copy of the saved states and about ``(14 + 2K) s`` per system.

    Example:
        >>> RK4.needs_dt, RK4(dt=0.01).dt
        (True, 0.01)
    """

    name: ClassVar[str] = "rk4"
    rhs_per_step: ClassVar[float] = 4.0
    supports_sparse: ClassVar[bool] = True
    tuned_compile: ClassVar[bool] = True
    kernel: ClassVar[_engine.Kernel] = _engine.RK4

    def memory_bytes(self, problem: Problem) -> int:
        work = problem.batch * problem.state_bytes * (14 + 2 * problem.n_c_ops)
        return problem.base_bytes() + problem.stored_copy_bytes() + work


@register
@dataclass(frozen=True, repr=False)
class Expm(Method):
    """Exact propagator of a time-independent Liouvillian: ``ρ(t+Δt) = exp(L Δt) ρ(t)``.

    Builds the real n² × n² generator in a Hermitian basis, so it suits n up to about 30; for
    uniformly spaced ``tlist`` one matrix exponential serves every interval, otherwise one per
    interval. Memory, in superoperators ``u = 16 n⁴``: ``8.5 + 4K`` while the generator is built
    and exponentiated, ``5`` more per further system whose operators differ, and ``3`` per
    interval and system for a non-uniform tlist.

    Example:
        >>> Expm.time_dependent_h, Expm().option_names()
        (False, ())
    """

    name: ClassVar[str] = "expm"
    time_dependent_h: ClassVar[bool] = False
    time_dependent_c_ops: ClassVar[bool] = False
    callable_h: ClassVar[bool] = False
    operator_form: ClassVar[str] = "matrices"
    uniform_grid: ClassVar[bool] = True
    stats_format: ClassVar[str | None] = "dense-superoperator"
    kernel: ClassVar[_engine.Kernel] = _engine.EXPM

    def memory_bytes(self, problem: Problem) -> int:
        systems = problem.batch if (problem.h_batched or problem.c_ops_batched) else 1
        units = 8.5 + 4 * problem.n_c_ops + 5 * (systems - 1)
        if not problem.uniform:
            units += 3 * systems * (problem.n_times - 1)
        return problem.base_bytes() + problem.stored_copy_bytes() + int(units * problem.superop_bytes)

    def seconds(self, *, n: int, n_times: int, t_max: float, rate: float, rhs_seconds: float) -> float:
        """Matrix exponential (30 N³ flops, N = n²) and T matrix-vector products at 2 GFLOP/s.

        Example:
            >>> round(Expm().seconds(n=10, n_times=101, t_max=1.0, rate=1.0, rhs_seconds=0.0), 4)
            0.02
        """
        N = n * n
        return 1e-3 + (30.0 * N**3 + 8.0 * n_times * N**2) / 2e9


@register
@dataclass(frozen=True, repr=False)
class Magnus4(FixedStepMethod):
    """Fixed-step 4th-order Magnus integrator with a CPTP Strang splitting for the dissipator.

    One step of size h: ``ρ → Φ_{h/2} ∘ U ∘ Φ_{h/2} (ρ)`` where ``U`` is the 4th-order Magnus
    propagator of H(t) (two Hamiltonian evaluations at the Gauss–Legendre nodes, exponentiated
    through ``eigh``, so exactly unitary) and ``Φ_τ = exp(τ D)`` is the exact semigroup of the
    dissipator alone. Every step is completely positive and trace preserving. For closed systems
    the method is 4th order; with dissipation the splitting makes it 2nd order in the
    commutator of H and the dissipator. Collapse operators must be time independent.

    Memory: a closed system needs only n × n matrices (the scan's copy of the saved states and
    about ``8 s`` per system); collapse operators add the n² × n² dissipator and its exponential,
    about ``10 u`` (``u = 16 n⁴``) in XLA's buffers and ``4 u`` of the CPU runtime's complex
    matrix-product workspace, plus ``7 u`` per further system when the collapse operators are
    batched.

    Example:
        >>> Magnus4().name, Magnus4.needs_dt
        ('magnus4', True)
    """

    name: ClassVar[str] = "magnus4"
    time_dependent_c_ops: ClassVar[bool] = False
    operator_form: ClassVar[str] = "matrices"
    stats_format: ClassVar[str | None] = "dense"
    kernel: ClassVar[_engine.Kernel] = _engine.MAGNUS4

    def memory_bytes(self, problem: Problem) -> int:
        unitary = problem.batch * 8 * problem.state_bytes
        dissipator = 0
        if problem.n_c_ops:
            systems = problem.batch if problem.c_ops_batched else 1
            dissipator = (14 + 7 * (systems - 1)) * problem.superop_bytes
        return problem.base_bytes() + problem.stored_copy_bytes() + unitary + dissipator
