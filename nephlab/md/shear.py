"""Shear viscosity of simple fluids: NEMD planar Couette flow, Green–Kubo, flow curves.

- :func:`nemd_shear`: SLLOD with Lees–Edwards (deforming-box) boundaries and a Gaussian
  isokinetic or Nosé–Hoover thermostat -> :class:`~nephlab.md.ShearResult`;
  ``backend="lammps"`` runs the same protocol through LAMMPS (``nephlab.md.lammps``).
- :func:`green_kubo_viscosity`: equilibrium stress autocorrelation -> :class:`GreenKuboResult`.
- :func:`flow_curve`: η(γ̇) over shear rates with the zero-shear extrapolation
  -> :class:`FlowCurveResult`; as a sweep, run :func:`nemd_shear` per rate and combine the
  results with :meth:`FlowCurveResult.from_results`.

Reduced LJ units (ε = σ = m = k_B = 1): time τ, stress ε/σ³, viscosity (mε)^{1/2}/σ².
See :mod:`nephlab.md.engine` for the equations of motion and integrators, and
:mod:`nephlab.md.results` for the stress and flow conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np

from .._result import ResultBase, attr, coord, var
from .._validate import finite_float, int_seed, integer, one_of, positive_float
from . import engine as _eng
from . import neighbours as _nb
from .results import ShearResult
from .system import MDSystem, _maxwell_boltzmann

__all__ = ["FlowCurveResult", "GreenKuboResult", "flow_curve", "green_kubo_viscosity", "nemd_shear",
           "zero_shear_fit"]

_BACKENDS = ("jax", "lammps")
_ETA = "sqrt(m*epsilon)/sigma^2"
_STRESS = "epsilon/sigma^3"
_MAX_RETRIES = 4
STREAM_CHUNK = 32
"""Samples per chunk of a streamed :func:`nemd_shear` run (``on_sample``)."""


# --- validation and set-up ------------------------------------------------------------------
def _check_system(system: Any) -> MDSystem:
    if not isinstance(system, MDSystem):
        raise TypeError(f"system must be an MDSystem (from nephlab.md.lennard_jones or wca), "
                        f"got {type(system).__name__}")
    return system


def _skin(system: MDSystem, sheared: bool) -> float:
    """The Verlet skin that fits the box (<= engine.SKIN; thinner, down to engine.SKIN_MIN, where
    that adds a layer of cells: :func:`~nephlab.md.neighbours.grid_skin`); refuses boxes too small
    for r_c."""
    L, rc = system.box, system.r_cut
    width = _eng.min_plane_spacing(L) if sheared else L
    skin = min(_eng.SKIN, 0.5 * width - rc)
    if skin < 0.1:
        need = 2 * (rc + 0.1) * (math.sqrt(1.25) if sheared else 1.0)
        n_min = math.ceil(system.rho * need ** 3)
        what = "under shear the tilted box's plane spacing L/sqrt(1.25)" if sheared else "the box edge L"
        raise ValueError(f"N={system.n_particles} is too small for r_cut={rc:g} at rho={system.rho:g}: "
                         f"{what} = {width:.4g} must be >= 2*(r_cut + 0.1) = {2 * (rc + 0.1):.4g}; "
                         f"use N >= {n_min}")
    return _nb.grid_skin(L, rc, skin, min(_eng.SKIN_MIN, skin), sheared)


def _steps(n_steps: Any, sample_every: Any) -> tuple[int, int]:
    n = integer(n_steps, "n_steps")
    every = integer(sample_every, "sample_every")
    if n % every:
        raise ValueError(f"n_steps must be a multiple of sample_every={every}, got {n_steps!r}")
    if n // every < 2:
        raise ValueError(f"n_steps must give at least 2 samples (n_steps >= 2*sample_every = {2 * every}), "
                         f"got {n_steps!r}")
    return n, every


class _Run:
    """One simulation on the JAX engine: set-up, chunked runs with overflow and blow-up checks."""

    def __init__(self, system: MDSystem, rate: float, dt: float, thermostat: str, seed: int, n_bins: int):
        self.system, self.rate, self.dt, self.thermostat = system, rate, dt, thermostat
        self.n_bins = n_bins
        dtype = system.dtype
        self.dtype = dtype
        sheared = rate != 0.0
        skin = _skin(system, sheared)
        n, L = system.n_particles, float(system.box)
        self.eng = _eng._engine(n, L, float(system.r_cut), float(skin), thermostat, n_bins, dtype, sheared)
        s = jnp.asarray(np.mod(system.positions / L, 1.0), dtype=dtype)
        v = _maxwell_boltzmann(n, system.T, np.random.default_rng(seed))
        xy = jnp.zeros((), dtype)
        nbrs = self.eng["allocate"](s, xy)
        self.state = self.eng["init"](s, jnp.asarray(v, dtype=dtype), xy, nbrs)
        self.prm = _eng.Params(*(jnp.asarray(x, dtype=dtype) for x in (dt, rate, system.T, _eng.NOSE_HOOVER_TAU)))
        self.steps_done = 0
        self.limit = max(100.0, 50.0 * system.T)

    def _blown(self, buf: np.ndarray) -> str | None:
        if not np.all(np.isfinite(buf)):
            return "non-finite positions, momenta or energies"
        pe = float(np.max(buf[:, 7]))
        if pe > self.limit:
            return f"potential energy per particle {pe:.3g} > {self.limit:.3g} (overlapping particles)"
        return None

    def chunk(self, n: int, every: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run n samples of `every` steps; returns (samples (n, N_OBS), profile sums, counts)."""
        st0 = self.state
        for attempt in range(_MAX_RETRIES + 1):
            st, buf, ps, pc = self.eng["run"](st0, jnp.int32(n), jnp.int32(every), self.prm)
            buf = np.asarray(buf[:n], dtype=np.float64)
            overflow = bool(st.nbrs.did_buffer_overflow) or bool(st.nbrs.cell_size_too_small)
            if not overflow:
                break
            if attempt == _MAX_RETRIES:  # an overflowed list taints the chunk (also a blow-up in it): redo
                break
            nb = self.eng["allocate"](st0.s, st0.xy, grow=1)
            z = jnp.zeros((), self.dtype)
            st0 = st0._replace(nbrs=nb, disp=jnp.zeros_like(st0.disp), dmax=z, tsince=z)
        why = self._blown(buf) or ("neighbour-list overflow that re-allocation did not cure" if overflow else None)
        if why:
            a, b = self.steps_done, self.steps_done + n * every
            raise ValueError(f"dt={self.dt:g} is too large: the integration blew up between steps {a} and {b} "
                             f"({why}); use a smaller dt (dt <= 0.005 is safe for LJ near T = 1)")
        self.state = st
        self.steps_done += n * every
        return buf, np.asarray(ps, dtype=np.float64), np.asarray(pc, dtype=np.float64)

    def advance(self, n_steps: int, every: int) -> None:
        """Run n_steps (equilibration), samples discarded."""
        left = n_steps
        while left >= every:
            k = min(_eng.CHUNK, left // every)
            self.chunk(k, every)
            left -= k * every
        if left:
            self.chunk(1, left)

    def sample(self, n_samples: int, every: int, on_chunk: Any = None,
               chunk: int = _eng.CHUNK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run n_samples samples in chunks of ``chunk``; ``on_chunk(buf, psum, pcnt)`` after each
        chunk with the samples so far; it returning True stops the run there."""
        bufs, psum, pcnt = [], np.zeros(self.n_bins), np.zeros(self.n_bins)
        left = n_samples
        while left:
            k = min(chunk, left)
            b, ps, pc = self.chunk(k, every)
            bufs.append(b)
            psum += ps
            pcnt += pc
            left -= k
            if on_chunk is not None and on_chunk(np.concatenate(bufs), psum.copy(), pcnt.copy()):
                break
        return np.concatenate(bufs), psum, pcnt

    def positions(self) -> np.ndarray:
        """Final laboratory positions (σ), x wrapped into [0, L)."""
        L = float(self.system.box)
        s = np.asarray(self.state.s, dtype=np.float64)
        r = s * L
        r[:, 0] = np.mod(r[:, 0] + float(self.state.xy) * s[:, 1], L)
        return r


# --- NEMD -----------------------------------------------------------------------------------
def nemd_shear(system: MDSystem, shear_rate: float, n_steps: int, dt: float, *, thermostat: str = "isokinetic",
               seed: int = 0, sample_every: int = 10, n_bins: int = 16, equilibrate: int = 1000,
               backend: str = "jax", on_sample: Any = None) -> ShearResult:
    """Planar Couette flow by NEMD: SLLOD, Lees–Edwards (deforming box with flips), thermostat.

    The flow is along x with the gradient along y, ``u_x = shear_rate * y`` (LAMMPS
    ``fix deform xy erate``). The run starts from ``system.positions`` with Maxwell–Boltzmann
    peculiar velocities at ``system.T`` drawn with ``seed`` (zero momentum, exact T), runs
    ``equilibrate`` steps under shear (discarded), then ``n_steps`` steps sampled every
    ``sample_every`` steps.

    Args:
        system: :class:`~nephlab.md.MDSystem` (its ``dtype`` sets the precision).
        shear_rate: γ̇ (1/τ), finite; 0 gives equilibrium NVT dynamics (exactly: the shear
            sub-steps are identities).
        n_steps: production steps, a multiple of ``sample_every`` (>= 2 samples).
        dt: time step (τ), > 0. A blow-up (non-finite values or overlapping particles) raises a
            ``ValueError`` that names dt.
        thermostat: ``"isokinetic"`` (Gaussian, on peculiar momenta: T held exactly),
            ``"nose-hoover"`` (τ_T = ``engine.NOSE_HOOVER_TAU`` = 0.5 τ) or ``"nve"`` (only at
            ``shear_rate == 0``).
        seed: int seed of the initial velocities.
        sample_every: steps between samples. n_bins: bins of the velocity profile in y.
        equilibrate: steps before sampling (>= 0).
        backend: ``"jax"`` (this engine) or ``"lammps"`` (``nephlab.md.lammps.lammps_shear``,
            same protocol).
        on_sample: optional callable, for streaming (JAX backend): called with a partial
            :class:`~nephlab.md.ShearResult` (the samples so far, the profile averaged so far,
            the current positions) after each chunk of :data:`STREAM_CHUNK` samples of the
            production run; if it returns True the run stops there and the result holds the
            samples so far. The traces are the same bit for bit as without it (the velocity
            profile agrees to rounding: its sums are grouped by chunk).

    Returns:
        :class:`~nephlab.md.ShearResult` with ``.viscosity``, ``.stderr``, ``.n1``, ``.n2``,
        the traces and the velocity profile.

    Example:
        >>> from nephlab.md import lennard_jones
        >>> s = lennard_jones(256, 0.8442, 0.722)
        >>> r = nemd_shear(s, 1.0, 2000, 0.004, equilibrate=500)   # doctest: +SKIP
        >>> r.viscosity, r.stderr                                  # doctest: +SKIP
    """
    _check_system(system)
    rate = finite_float(shear_rate, "shear_rate")
    n, every = _steps(n_steps, sample_every)
    dt_ = positive_float(dt, "dt")
    one_of(thermostat, "thermostat", _eng.THERMOSTATS)
    seed_ = int_seed(seed)
    bins = integer(n_bins, "n_bins")
    eq = integer(equilibrate, "equilibrate", minimum=0)
    one_of(backend, "backend", _BACKENDS)
    if thermostat == "nve" and rate != 0.0:
        raise ValueError(f"thermostat='nve' heats a sheared fluid without bound: use 'isokinetic' or "
                         f"'nose-hoover' with shear_rate={shear_rate!r}, or shear_rate=0")
    if on_sample is not None and not callable(on_sample):
        raise TypeError(f"on_sample must be None or callable as on_sample(partial_result), "
                        f"got {type(on_sample).__name__}")
    if backend == "lammps":
        if on_sample is not None:
            raise ValueError("on_sample (streaming) needs backend='jax', got backend='lammps'")
        from .lammps import lammps_shear

        return lammps_shear(system, rate, n, dt_, thermostat=thermostat, seed=seed_, sample_every=every,
                            n_bins=bins, equilibrate=eq)
    run = _Run(system, rate, dt_, thermostat, seed_, bins)
    run.advance(eq, every)
    if on_sample is None:
        return _shear_result(run, every, seed_, *run.sample(n // every, every))
    stream = lambda *a: bool(on_sample(_shear_result(run, every, seed_, *a)))  # noqa: E731
    return _shear_result(run, every, seed_, *run.sample(n // every, every, stream, chunk=STREAM_CHUNK))


def _shear_result(run: _Run, every: int, seed_: int, buf: np.ndarray, psum: np.ndarray,
                  pcnt: np.ndarray) -> ShearResult:
    """The ShearResult of a :class:`_Run`'s samples ``buf`` (n, N_OBS) and profile sums."""
    system, dt_, bins, rate, thermostat = run.system, run.dt, run.n_bins, run.rate, run.thermostat
    L = float(system.box)
    with np.errstate(invalid="ignore", divide="ignore"):
        vx = psum / pcnt
    return ShearResult(
        times=(np.arange(1, len(buf) + 1) * every * dt_), pxx=buf[:, 0], pyy=buf[:, 1], pzz=buf[:, 2],
        pxy=buf[:, 3], pxz=buf[:, 4], pyz=buf[:, 5], temperature=buf[:, 6], potential_energy=buf[:, 7],
        kinetic_energy=buf[:, 8], profile_y=(np.arange(bins) + 0.5) * L / bins, profile_vx=vx,
        shear_rate=rate, dt=dt_, n_particles=system.n_particles, rho=float(system.rho), T=float(system.T),
        r_cut=float(system.r_cut), thermostat=thermostat, backend="jax", seed=seed_,
        positions=run.positions())


# --- Green-Kubo -----------------------------------------------------------------------------
def _acf(x: np.ndarray, m: int) -> np.ndarray:
    """Unbiased autocorrelation of the mean-subtracted columns of x (n, k), lags 0..m-1 -> (k, m)."""
    x = x - x.mean(0)
    n = x.shape[0]
    nfft = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(x, nfft, axis=0)
    c = np.fft.irfft(f * np.conj(f), nfft, axis=0)[:m]
    return (c / (n - np.arange(m))[:, None]).T


def _running_integral(c: np.ndarray, h: float) -> np.ndarray:
    out = np.zeros_like(c)
    out[..., 1:] = np.cumsum(0.5 * (c[..., 1:] + c[..., :-1]) * h, axis=-1)
    return out


@dataclass(frozen=True, repr=False)
class GreenKuboResult(ResultBase):
    """Green–Kubo shear viscosity from the equilibrium stress autocorrelation.

    ``eta(t) = V/T ∫_0^t C(t') dt'`` with ``C`` the autocorrelation of the off-diagonal pressure
    components P_xy, P_xz, P_yz averaged over the three; the estimate :attr:`viscosity` is the
    mean of ``eta(t)`` over the plateau window ``[t_max/2, t_max]``; :attr:`stderr` is the
    standard error of the same estimate over ``n_blocks`` independent blocks of the run.

    Fields:
        lags: ``(m,)`` lag times (τ). acf: ``(3, m)`` per component (ε/σ³)², components
        ``("xy", "xz", "yz")``. eta_running: ``(m,)`` η(t) ((mε)^{1/2}/σ²).
        viscosity, stderr: the plateau estimate and its error. temperature: mean kinetic
        temperature of the run. energy_drift: relative change of the total energy per particle
        over the run (NVE; NaN otherwise). Others: the run's parameters.

    Example:
        >>> from nephlab.md import lennard_jones
        >>> g = green_kubo_viscosity(lennard_jones(256, 0.8442, 0.722), 20000, 0.004)  # doctest: +SKIP
        >>> g.viscosity, g.stderr                                                     # doctest: +SKIP
    """

    lags: np.ndarray = coord("lag", units="tau", long_name="lag time")
    acf: np.ndarray = var("component", "lag", units="(epsilon/sigma^3)^2", long_name="stress autocorrelation")
    eta_running: np.ndarray = var("lag", units=_ETA, long_name="running Green-Kubo integral")
    component: tuple = coord("component")
    viscosity: float = attr()
    stderr: float = attr()
    t_max: float = attr()
    n_blocks: int = attr()
    temperature: float = attr()
    energy_drift: float = attr()
    n_steps: int = attr()
    dt: float = attr()
    sample_every: int = attr()
    n_particles: int = attr()
    rho: float = attr()
    T: float = attr()
    r_cut: float = attr()
    thermostat: str = attr()
    backend: str = attr()
    seed: int = attr()

    def __str__(self) -> str:
        return (f"GreenKuboResult(N={self.n_particles}, eta={self.viscosity:.4g} ± {self.stderr:.2g}, "
                f"T={self.temperature:.4g}, t_max={self.t_max:g})")


def green_kubo_viscosity(system: MDSystem, n_steps: int, dt: float, *, thermostat: str = "nve", seed: int = 0,
                         sample_every: int = 5, equilibrate: int = 2000, t_max: float = 2.0,
                         n_blocks: int = 8) -> GreenKuboResult:
    """Shear viscosity from the Green–Kubo integral of the equilibrium stress autocorrelation.

    ``equilibrate`` steps with the isokinetic thermostat at ``system.T``, then ``n_steps``
    production steps with ``thermostat`` (default NVE), the pressure tensor sampled every
    ``sample_every`` steps. ``eta = V/<T> ∫ C(t) dt`` with C averaged over P_xy, P_xz, P_yz.

    Args:
        system: :class:`~nephlab.md.MDSystem`. n_steps: production steps (multiple of
            ``sample_every``). dt: time step (τ).
        thermostat: ``"nve"`` (default), ``"isokinetic"`` or ``"nose-hoover"``.
        seed: int seed of the initial velocities. sample_every: steps between samples.
        equilibrate: isokinetic steps before production (>= 0).
        t_max: longest lag (τ); the plateau is the mean of η(t) over ``[t_max/2, t_max]``.
        n_blocks: independent blocks for the error (>= 2); each block must span >= 4 t_max.

    Returns:
        :class:`GreenKuboResult`.

    Example:
        >>> from nephlab.md import lennard_jones
        >>> g = green_kubo_viscosity(lennard_jones(256, 0.8442, 0.722), 20000, 0.004)  # doctest: +SKIP
    """
    _check_system(system)
    n, every = _steps(n_steps, sample_every)
    dt_ = positive_float(dt, "dt")
    one_of(thermostat, "thermostat", _eng.THERMOSTATS)
    seed_ = int_seed(seed)
    eq = integer(equilibrate, "equilibrate", minimum=0)
    tmax = positive_float(t_max, "t_max")
    nb = integer(n_blocks, "n_blocks", minimum=2)
    h = every * dt_
    m = int(round(tmax / h)) + 1
    n_samp = n // every
    if n_samp // nb < 4 * m:
        raise ValueError(f"n_steps={n} is too short for t_max={tmax:g} and n_blocks={nb}: each block needs "
                         f">= 4*t_max, i.e. n_steps >= {4 * m * nb * every}")
    if eq:
        pre = _Run(system, 0.0, dt_, "isokinetic", seed_, 1)
        pre.advance(eq, every)
        st = pre.state
        pos = pre.positions()
        vel = np.asarray(st.p, dtype=np.float64)
        start = MDSystem(positions=pos, velocities=vel, box=system.box, rho=system.rho, T=system.T,
                         r_cut=system.r_cut, potential=system.potential, dtype=system.dtype, seed=system.seed)
    else:
        start = system
    run = _Run(start, 0.0, dt_, thermostat, seed_, 1)
    if eq:  # keep the equilibrated momenta rather than redrawing them
        run.state = run.eng["init"](run.state.s, jnp.asarray(vel, dtype=system.dtype), run.state.xy, run.state.nbrs)
    buf, _, _ = run.sample(n_samp, every)
    V, T_mean = system.volume, float(np.mean(buf[:, 6]))
    x = buf[:, 3:6]
    acf = _acf(x, m)
    eta_t = V / T_mean * _running_integral(acf.mean(0), h)
    lo = m // 2
    visc = float(np.mean(eta_t[lo:]))
    size = n_samp // nb
    blocks = []
    for k in range(nb):
        xb = x[k * size:(k + 1) * size]
        eb = V / T_mean * _running_integral(_acf(xb, m).mean(0), h)
        blocks.append(np.mean(eb[lo:]))
    err = float(np.std(blocks, ddof=1) / math.sqrt(nb))
    H = buf[:, 9]
    drift = float((H[-1] - H[0]) / abs(H[0])) if thermostat == "nve" else math.nan
    return GreenKuboResult(lags=np.arange(m) * h, acf=acf, eta_running=eta_t, component=("xy", "xz", "yz"),
                           viscosity=visc, stderr=err, t_max=tmax, n_blocks=nb, temperature=T_mean,
                           energy_drift=drift, n_steps=n, dt=dt_, sample_every=every,
                           n_particles=system.n_particles, rho=float(system.rho), T=float(system.T),
                           r_cut=float(system.r_cut), thermostat=thermostat, backend="jax", seed=seed_)


# --- flow curves ----------------------------------------------------------------------------
def zero_shear_fit(shear_rates, viscosity, stderr) -> tuple[float, float, float]:
    """Weighted fit ``eta = eta0 + a * rate**2`` (η is even in γ̇, so its low-rate expansion is
    quadratic); returns ``(eta0, eta0_stderr, a)``. One rate: ``(eta, stderr, nan)``.

    Example:
        >>> eta0, err, a = zero_shear_fit([0.1, 0.2, 0.4], [2.995, 2.98, 2.92], [0.01, 0.01, 0.01])
        >>> round(eta0, 6), round(a, 6)
        (3.0, -0.5)
    """
    g = np.abs(np.asarray(shear_rates, dtype=np.float64))
    y = np.asarray(viscosity, dtype=np.float64)
    e = np.asarray(stderr, dtype=np.float64)
    if g.size == 1:
        return float(y[0]), float(e[0]), math.nan
    w = 1.0 / np.where(np.isfinite(e) & (e > 0), e, np.nanmax(e[np.isfinite(e)], initial=1.0)) ** 2
    A = np.stack([np.ones_like(g), g * g], -1)
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    coef = cov @ (A.T @ (w * y))
    return float(coef[0]), float(math.sqrt(cov[0, 0])), float(coef[1])


@dataclass(frozen=True, repr=False)
class FlowCurveResult(ResultBase):
    """η(γ̇) from NEMD runs, with the zero-shear extrapolation.

    Fields (k shear rates): shear_rate ``(k,)`` (1/τ); viscosity, stderr ``(k,)``
    ((mε)^{1/2}/σ²); pxy, n1, n2 ``(k,)`` (ε/σ³) with their ``*_stderr``; temperature,
    potential_energy ``(k,)``; zero_shear_viscosity, zero_shear_stderr, quadratic_coefficient
    from :func:`zero_shear_fit` over the rates ``<= fit_max_rate``; and the run's parameters.

    Build it with :func:`flow_curve` or, from a sweep of :func:`nemd_shear` results,
    :meth:`from_results`.

    Example:
        >>> from nephlab.md import lennard_jones
        >>> fc = flow_curve(lennard_jones(256, 0.8442, 0.722), [0.25, 0.5, 1.0], 4000, 0.004)  # doctest: +SKIP
        >>> fc.zero_shear_viscosity, fc.zero_shear_stderr                                    # doctest: +SKIP
    """

    shear_rate: np.ndarray = coord("shear_rate", units="1/tau")
    viscosity: np.ndarray = var("shear_rate", units=_ETA, long_name="shear viscosity")
    stderr: np.ndarray = var("shear_rate", units=_ETA, long_name="block-averaged standard error of eta")
    pxy: np.ndarray = var("shear_rate", units=_STRESS, long_name="<P_xy>")
    pxy_stderr: np.ndarray = var("shear_rate", units=_STRESS)
    n1: np.ndarray = var("shear_rate", units=_STRESS, long_name="N1 = <P_xx - P_yy>")
    n1_stderr: np.ndarray = var("shear_rate", units=_STRESS)
    n2: np.ndarray = var("shear_rate", units=_STRESS, long_name="N2 = <P_yy - P_zz>")
    n2_stderr: np.ndarray = var("shear_rate", units=_STRESS)
    temperature: np.ndarray = var("shear_rate", units="epsilon/k_B")
    potential_energy: np.ndarray = var("shear_rate", units="epsilon", long_name="potential energy per particle")
    zero_shear_viscosity: float = attr()
    zero_shear_stderr: float = attr()
    quadratic_coefficient: float = attr()
    fit_max_rate: float = attr()
    n_particles: int = attr()
    rho: float = attr()
    T: float = attr()
    r_cut: float = attr()
    dt: float = attr()
    thermostat: str = attr()
    backend: str = attr()

    @classmethod
    def from_results(cls, results: Sequence[ShearResult], *, fit_max_rate: float | None = None) -> "FlowCurveResult":
        """Combine :class:`~nephlab.md.ShearResult` objects (one per rate, e.g. from a sweep).

        Args:
            results: ShearResults of the same system at nonzero shear rates (any order; sorted).
            fit_max_rate: largest |rate| used in the zero-shear fit (default: all).
        """
        rs = sorted(results, key=lambda r: abs(r.shear_rate))
        if not rs:
            raise ValueError("results must hold at least one ShearResult, got none")
        for r in rs:
            if not isinstance(r, ShearResult):
                raise TypeError(f"results must be ShearResult objects, got {type(r).__name__}")
            if r.shear_rate == 0:
                raise ValueError("results must have nonzero shear rates (eta = -<P_xy>/rate), got a rate of 0")
        g = np.array([r.shear_rate for r in rs])
        eta = np.array([r.viscosity for r in rs])
        err = np.array([r.stderr for r in rs])
        fmax = float(np.max(np.abs(g))) if fit_max_rate is None else positive_float(fit_max_rate, "fit_max_rate")
        sel = np.abs(g) <= fmax * (1 + 1e-12)
        if not np.any(sel):
            raise ValueError(f"fit_max_rate={fit_max_rate!r} is below every shear rate (smallest {abs(g[0]):g})")
        eta0, e0, a = zero_shear_fit(g[sel], eta[sel], err[sel])
        r0 = rs[0]
        return cls(shear_rate=g, viscosity=eta, stderr=err, pxy=np.array([r.pxy_mean for r in rs]),
                   pxy_stderr=np.array([r.pxy_stderr for r in rs]), n1=np.array([r.n1 for r in rs]),
                   n1_stderr=np.array([r.n1_stderr for r in rs]), n2=np.array([r.n2 for r in rs]),
                   n2_stderr=np.array([r.n2_stderr for r in rs]),
                   temperature=np.array([float(np.mean(r.temperature)) for r in rs]),
                   potential_energy=np.array([float(np.mean(r.potential_energy)) for r in rs]),
                   zero_shear_viscosity=eta0, zero_shear_stderr=e0, quadratic_coefficient=a, fit_max_rate=fmax,
                   n_particles=r0.n_particles, rho=r0.rho, T=r0.T, r_cut=r0.r_cut, dt=r0.dt,
                   thermostat=r0.thermostat, backend=r0.backend)

    def __str__(self) -> str:
        return (f"FlowCurveResult({len(self.shear_rate)} rates, eta0={self.zero_shear_viscosity:.4g} ± "
                f"{self.zero_shear_stderr:.2g})")


def flow_curve(system: MDSystem, shear_rates: Sequence[float], n_steps: int, dt: float, *,
               thermostat: str = "isokinetic", seed: int = 0, sample_every: int = 10, n_bins: int = 16,
               equilibrate: int = 1000, backend: str = "jax", fit_max_rate: float | None = None) -> FlowCurveResult:
    """η(γ̇) by :func:`nemd_shear` at each rate, with the quadratic zero-shear extrapolation.

    The rates run one after another here (the compiled engine is reused); as a sweep (one rate
    per point, e.g. on Dask) call :func:`nemd_shear` per rate with the same arguments and
    combine with :meth:`FlowCurveResult.from_results`.

    Args:
        system, n_steps, dt, thermostat, seed, sample_every, n_bins, equilibrate, backend: as for
            :func:`nemd_shear` (the same for every rate).
        shear_rates: ``(k,)`` nonzero finite rates (1/τ).
        fit_max_rate: largest |rate| in the zero-shear fit (default: all).

    Returns:
        :class:`FlowCurveResult`.

    Example:
        >>> from nephlab.md import lennard_jones
        >>> fc = flow_curve(lennard_jones(256, 0.8442, 0.722), [0.25, 0.5, 1.0], 4000, 0.004)  # doctest: +SKIP
    """
    _check_system(system)
    rates = np.atleast_1d(np.asarray(shear_rates, dtype=np.float64))
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError(f"shear_rates must be a non-empty 1-D sequence, got shape {rates.shape}")
    for i, g in enumerate(rates):
        finite_float(g, f"shear_rates[{i}]")
        if g == 0:
            raise ValueError(f"shear_rates must be nonzero (eta = -<P_xy>/rate), got shear_rates[{i}] = 0")
    results = [nemd_shear(system, float(g), n_steps, dt, thermostat=thermostat, seed=seed,
                          sample_every=sample_every, n_bins=n_bins, equilibrate=equilibrate, backend=backend)
               for g in rates]
    return FlowCurveResult.from_results(results, fit_max_rate=fit_max_rate)
