"""Lennard-Jones and WCA fluids: the system object every function of :mod:`nephlab.md` takes.

Units are reduced Lennard-Jones units: ε = σ = m = k_B = 1, so lengths are in σ, energies and
temperatures in ε (k_B T / ε), times in τ = σ (m/ε)^{1/2}, densities ρ* = N σ³ / V.

The pair potential is the cut-and-shifted Lennard-Jones potential

    u(r) = 4 [(1/r)^12 - (1/r)^6] - 4 [(1/r_c)^12 - (1/r_c)^6]   for r < r_c,   0 otherwise,

and WCA is the same with ``r_c = 2**(1/6)`` (purely repulsive, u(r_c) = 0, u ≥ 0).

The box is cubic with edge ``L = (N/ρ)^{1/3}`` and periodic; positions lie in ``[0, L)``.
Temperatures count ``3N - 3`` degrees of freedom (the total momentum is zero and conserved), the
convention of LAMMPS's ``compute temp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import integer, int_seed, one_of, positive_float

__all__ = ["MDSystem", "lennard_jones", "wca", "WCA_CUTOFF", "MAX_DENSITY"]

WCA_CUTOFF = 2.0 ** (1.0 / 6.0)
"""The WCA cut-off 2^{1/6} σ, the minimum of the Lennard-Jones potential."""

MAX_DENSITY = math.sqrt(2.0)
"""ρ* of close-packed spheres of diameter σ (FCC); no overlap-free configuration is denser."""

_POTENTIALS = ("lj", "wca")
_DTYPES = ("float64", "float32")
_LATTICES = ("fcc", "random")
# smallest pair distance (σ) accepted after overlap removal of a random placement
_MIN_DISTANCE_RANDOM = 0.9


@dataclass(frozen=True, eq=False)
class MDSystem:
    """A periodic Lennard-Jones (or WCA) fluid in a cubic box, in reduced LJ units.

    Attributes:
        positions: ``(N, 3)`` float64, in ``[0, box)`` (σ).
        velocities: ``(N, 3)`` float64 (σ/τ), total momentum zero, kinetic temperature
            ``sum(v**2) / (3N - 3) == T``.
        box: edge L of the cubic box (σ); ``box**3 * rho == N``.
        rho: number density ρ* (σ⁻³). T: temperature (ε/k_B).
        r_cut: cut-off r_c of the cut-and-shifted potential (σ).
        potential: ``"lj"`` or ``"wca"`` (WCA: ``r_cut == 2**(1/6)``).
        dtype: precision of the simulations, ``"float64"`` (default) or ``"float32"``.
        seed: the seed that built the configuration (int).

    Build one with :func:`lennard_jones` or :func:`wca`.

    Example:
        >>> s = lennard_jones(108, 0.8442, 0.722)
        >>> s.n_particles, round(s.box, 4), s.potential
        (108, 5.0388, 'lj')
    """

    positions: np.ndarray
    velocities: np.ndarray
    box: float
    rho: float
    T: float
    r_cut: float
    potential: str
    dtype: str = "float64"
    seed: int = 0

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions, dtype=np.float64)
        vel = np.asarray(self.velocities, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
        if vel.shape != pos.shape:
            raise ValueError(f"velocities must have the shape of positions {pos.shape}, got {vel.shape}")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
            raise ValueError("positions and velocities must be finite")
        one_of(self.potential, "potential", _POTENTIALS)
        one_of(self.dtype, "dtype", _DTYPES)
        pos.setflags(write=False)
        vel.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "velocities", vel)

    @property
    def n_particles(self) -> int:
        """The number of particles N."""
        return int(self.positions.shape[0])

    @property
    def volume(self) -> float:
        """The box volume L³ (σ³)."""
        return float(self.box) ** 3

    def __repr__(self) -> str:
        return (f"MDSystem(N={self.n_particles}, rho={self.rho:g}, T={self.T:g}, box={self.box:.6g}, "
                f"r_cut={self.r_cut:.6g}, potential={self.potential!r}, dtype={self.dtype!r}, seed={self.seed})")


def _check_cutoff(r_cut: float, n: int, rho: float) -> float:
    """The box edge for (N, rho); refuses a box shorter than 2 r_cut, naming N."""
    L = (n / rho) ** (1.0 / 3.0)
    if L < 2.0 * r_cut:
        n_min = math.ceil(rho * (2.0 * r_cut) ** 3)
        raise ValueError(f"N={n} is too small for r_cut={r_cut:g} at rho={rho:g}: the box edge "
                         f"L=(N/rho)^(1/3)={L:.4g} must be >= 2*r_cut={2 * r_cut:.4g}; use N >= {n_min}")
    return L


def _fcc(n: int, L: float, rng: np.random.Generator) -> np.ndarray:
    """N sites of the smallest FCC lattice with >= N sites filling a cube of edge L."""
    m = math.ceil((n / 4.0) ** (1.0 / 3.0) - 1e-9)
    a = L / m
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.stack(np.meshgrid(np.arange(m), np.arange(m), np.arange(m), indexing="ij"), -1).reshape(-1, 3)
    sites = ((cells[:, None, :] + basis[None, :, :]).reshape(-1, 3) + 0.25) * a
    if sites.shape[0] > n:
        sites = sites[np.sort(rng.choice(sites.shape[0], n, replace=False))]
    return np.mod(sites, L)


def _min_distance(pos: np.ndarray, L: float) -> float:
    """Smallest minimum-image pair distance (O(N²) memory in blocks)."""
    best = np.inf
    for i0 in range(0, pos.shape[0], 256):
        d = pos[i0:i0 + 256, None, :] - pos[None, :, :]
        d -= L * np.round(d / L)
        r2 = np.sum(d * d, -1)
        idx = np.arange(i0, min(i0 + 256, pos.shape[0]))
        r2[idx - i0, idx] = np.inf
        best = min(best, float(np.min(r2)))
    return math.sqrt(best)


def _random_no_overlap(n: int, L: float, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Uniform random placement, then overlap removal: every pair closer than σ is pushed apart
    symmetrically along its minimum-image vector (half the overlap each, up to 2000 sweeps,
    O(N²) per sweep). Raises when the smallest distance stays below 0.9 σ."""
    pos = rng.uniform(0.0, L, size=(n, 3))
    for _ in range(2000):
        moved = False
        for i0 in range(0, n, 512):
            d = pos[i0:i0 + 512, None, :] - pos[None, :, :]
            d -= L * np.round(d / L)
            r = np.sqrt(np.sum(d * d, -1))
            idx = np.arange(i0, min(i0 + 512, n))
            r[idx - i0, idx] = np.inf
            over = np.clip(1.0 - r, 0.0, None)
            if np.any(over > 0):
                moved = True
                push = 0.5 * 1.05 * over / np.maximum(r, 1e-12)
                pos[idx] += np.sum(push[:, :, None] * d, axis=1)
        pos = np.mod(pos, L)
        if not moved:
            break
    dmin = _min_distance(pos, L)
    if dmin < _MIN_DISTANCE_RANDOM:
        raise ValueError(f"rho={rho:g} is too dense for lattice='random': overlaps could not be removed "
                         f"(smallest distance {dmin:.3g} sigma < {_MIN_DISTANCE_RANDOM} sigma after "
                         f"2000 sweeps); use lattice='fcc' or a lower rho")
    return pos


def _maxwell_boltzmann(n: int, T: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian velocities, zero total momentum, rescaled to kinetic temperature T exactly."""
    v = rng.normal(0.0, math.sqrt(T), size=(n, 3))
    v -= v.mean(axis=0)
    v *= math.sqrt(T * (3 * n - 3) / np.sum(v * v))
    return v


def lennard_jones(N: int, rho: float, T: float, *, r_cut: float = 2.5, seed: int = 0,
                  dtype: str = "float64", lattice: str = "fcc") -> MDSystem:
    """A cut-and-shifted Lennard-Jones fluid of N particles at density rho and temperature T.

    Args:
        N: number of particles (>= 2).
        rho: number density ρ* = N/V (σ⁻³), 0 < rho < √2 (close packing).
        T: temperature k_B T/ε (> 0); velocities are Maxwell–Boltzmann, zero total momentum,
            rescaled so that ``sum(v**2)/(3N-3) == T`` exactly.
        r_cut: cut-off r_c (σ), >= 2^{1/6}; ``r_cut == 2**(1/6)`` gives WCA. The box edge
            ``L = (N/rho)^{1/3}`` must be >= 2 r_c.
        seed: int seed of the velocities (and of the random placement / lattice vacancies).
        dtype: ``"float64"`` (default) or ``"float32"``: the precision of the simulations.
        lattice: ``"fcc"`` (default; the smallest FCC lattice with >= N sites, surplus sites left
            empty at random) or ``"random"`` (uniform placement, then pairwise
            removal of overlaps closer than σ; refused when the smallest distance stays < 0.9 σ).

    Returns:
        :class:`MDSystem`, positions ``(N, 3)`` in ``[0, L)``.

    Raises:
        ValueError: bad N, rho, T, r_cut, dtype or lattice; N too small for the cut-off; a
            density where overlaps cannot be removed.

    Example:
        >>> s = lennard_jones(256, 0.8442, 0.722, seed=1)
        >>> s.positions.shape, bool(abs(s.velocities.sum(0)).max() < 1e-12)
        ((256, 3), True)
    """
    n = integer(N, "N", minimum=2)
    rho_ = positive_float(rho, "rho")
    T_ = positive_float(T, "T")
    rc = positive_float(r_cut, "r_cut")
    if rc < WCA_CUTOFF * (1 - 1e-12):
        raise ValueError(f"r_cut must be >= 2**(1/6) = {WCA_CUTOFF:.6f} (the WCA cut-off), got {r_cut!r}")
    seed_ = int_seed(seed)
    one_of(dtype, "dtype", _DTYPES)
    one_of(lattice, "lattice", _LATTICES)
    if rho_ >= MAX_DENSITY:
        raise ValueError(f"rho must be < sqrt(2) = {MAX_DENSITY:.4f} (close packing of spheres of diameter "
                         f"sigma; overlaps cannot be removed), got {rho!r}")
    L = _check_cutoff(rc, n, rho_)
    rng = np.random.default_rng(seed_)
    if lattice == "fcc":
        pos = _fcc(n, L, rng)
    else:
        pos = _random_no_overlap(n, L, rho_, rng)
    vel = _maxwell_boltzmann(n, T_, rng)
    potential = "wca" if abs(rc - WCA_CUTOFF) <= 1e-12 * WCA_CUTOFF else "lj"
    return MDSystem(positions=pos, velocities=vel, box=L, rho=rho_, T=T_, r_cut=rc, potential=potential,
                    dtype=dtype, seed=seed_)


def wca(N: int, rho: float, T: float, *, seed: int = 0, dtype: str = "float64",
        lattice: str = "fcc") -> MDSystem:
    """A WCA fluid: :func:`lennard_jones` with ``r_cut = 2**(1/6)`` (purely repulsive).

    Example:
        >>> wca(108, 0.8442, 1.0).potential
        'wca'
    """
    return lennard_jones(N, rho, T, r_cut=WCA_CUTOFF, seed=seed, dtype=dtype, lattice=lattice)
