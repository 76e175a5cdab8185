"""Result objects of :mod:`nephlab.md` and the block-averaging error estimate they use.

Conventions (both backends):

- planar Couette flow along x with the gradient along y: streaming velocity
  ``u_x = shear_rate * y`` with y measured from the bottom of the box (LAMMPS
  ``fix deform xy erate``);
- pressure tensor ``P_ab = (1/V) [sum_i m c_ia c_ib + sum_{i<j} r_ij,a F_ij,b]`` with c the
  peculiar velocity, ``r_ij = r_i - r_j`` and ``F_ij`` the force on i from j (pressure sign:
  positive under compression), so that the shear viscosity is ``eta = -<P_xy> / shear_rate``;
- reduced LJ units: stress in ε/σ³, time in τ = σ (m/ε)^{1/2}, viscosity in (mε)^{1/2}/σ².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._result import ResultBase, attr, coord, var

__all__ = ["ShearResult", "block_stderr"]

_MIN_BLOCKS = 16


def block_stderr(x, *, min_blocks: int = _MIN_BLOCKS) -> float:
    """Standard error of the mean of a correlated series by Flyvbjerg–Petersen blocking.

    The series is halved repeatedly (neighbouring samples averaged); at each level k with
    ``n_k >= min_blocks`` blocks the naive error ``SE_k = sqrt(var_k/(n_k - 1))`` and its own
    uncertainty ``SE_k / sqrt(2(n_k - 1))`` are computed. The estimate is ``SE_k`` at the first
    level whose value every later level matches within two of the later level's uncertainties
    (the plateau reached once the blocks outgrow the correlation time); without a plateau, the
    largest ``SE_k`` (conservative). Flyvbjerg and Petersen, J. Chem. Phys. 91, 461 (1989).

    Args:
        x: ``(n,)`` samples (n >= 2). min_blocks: the fewest blocks a level may have (the raw
            series always counts).

    Returns:
        float, the standard error of ``mean(x)`` (NaN for fewer than 2 samples).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> round(block_stderr(rng.normal(size=4096)) * 64, 1)   # ~ 1/sqrt(4096) = 1/64
        1.0
    """
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size < 2:
        return math.nan
    se = [float(np.std(a, ddof=1) / math.sqrt(a.size))]
    err = [se[0] / math.sqrt(2 * (a.size - 1))]
    while a.size // 2 >= min_blocks:
        a = 0.5 * (a[0:2 * (a.size // 2):2] + a[1:2 * (a.size // 2):2])
        se.append(float(np.std(a, ddof=1) / math.sqrt(a.size)))
        err.append(se[-1] / math.sqrt(2 * (a.size - 1)))
    for k in range(len(se)):
        if all(se[j] <= se[k] + 2 * err[j] for j in range(k + 1, len(se))):
            return se[k]
    return max(se)  # pragma: no cover - the last level always satisfies the test


_STRESS = "epsilon/sigma^3"
_ETA = "sqrt(m*epsilon)/sigma^2"


@dataclass(frozen=True, repr=False)
class ShearResult(ResultBase):
    """A planar Couette (NEMD shear) run: stress, temperature, energies and velocity profile.

    Fields (n samples, reduced LJ units):
        times: ``(n,)`` sample times (τ), counted from the end of equilibration.
        pxx, pyy, pzz, pxy, pxz, pyz: ``(n,)`` instantaneous pressure-tensor components (ε/σ³),
            kinetic (peculiar velocities) plus virial; see the module docstring.
        temperature: ``(n,)`` kinetic temperature of the peculiar velocities, ``sum m c²/(3N-3)``.
        potential_energy, kinetic_energy: ``(n,)`` per particle (ε); kinetic from peculiar
            velocities.
        profile_y: ``(n_bins,)`` bin centres in y (σ, from the bottom of the box).
        profile_vx: ``(n_bins,)`` time-averaged laboratory x velocity in each bin (σ/τ);
            ``≈ shear_rate * profile_y`` in steady Couette flow.
        shear_rate: γ̇ (1/τ). dt: time step (τ). n_particles, rho, T, r_cut: the system.
        thermostat: e.g. ``"isokinetic"`` or ``"nose-hoover"``. backend: ``"jax"`` or
            ``"lammps"``. seed: int.
        positions: optional ``(N, 3)`` final positions (σ, laboratory frame) for a particle view.

    Derived: :attr:`viscosity` ``= -mean(pxy)/shear_rate`` and :attr:`stderr` (block averaging,
    :func:`block_stderr`); :attr:`n1` ``= <pxx - pyy>``, :attr:`n2` ``= <pyy - pzz>`` with
    :attr:`n1_stderr`, :attr:`n2_stderr`.

    Example:
        >>> t = np.arange(4.0)
        >>> r = ShearResult(t, t * 0 + 6, t * 0 + 5, t * 0 + 5, np.array([-0.9, -1.1, -1.0, -1.0]),
        ...                 0 * t, 0 * t, 0 * t + 0.722, 0 * t - 5.0, 0 * t + 1.08,
        ...                 np.array([0.5, 1.5]), np.array([0.25, 0.75]), 0.5, 0.004, 108, 0.8442,
        ...                 0.722, 2.5, "isokinetic", "jax", 0)
        >>> round(r.viscosity, 6), round(r.n1, 6)
        (2.0, 1.0)
        >>> float(r.to_xarray().viscosity)
        2.0
    """

    times: np.ndarray = coord("time", units="tau", long_name="time")
    pxx: np.ndarray = var("time", units=_STRESS, long_name="pressure tensor P_xx")
    pyy: np.ndarray = var("time", units=_STRESS, long_name="pressure tensor P_yy")
    pzz: np.ndarray = var("time", units=_STRESS, long_name="pressure tensor P_zz")
    pxy: np.ndarray = var("time", units=_STRESS, long_name="pressure tensor P_xy (shear stress)")
    pxz: np.ndarray = var("time", units=_STRESS, long_name="pressure tensor P_xz")
    pyz: np.ndarray = var("time", units=_STRESS, long_name="pressure tensor P_yz")
    temperature: np.ndarray = var("time", units="epsilon/k_B", long_name="kinetic temperature (peculiar)")
    potential_energy: np.ndarray = var("time", units="epsilon", long_name="potential energy per particle")
    kinetic_energy: np.ndarray = var("time", units="epsilon",
                                     long_name="peculiar kinetic energy per particle")
    profile_y: np.ndarray = coord("y", units="sigma", long_name="bin centre in the gradient direction")
    profile_vx: np.ndarray = var("y", units="sigma/tau", long_name="streaming velocity u_x(y)")
    shear_rate: float = attr()
    dt: float = attr()
    n_particles: int = attr()
    rho: float = attr()
    T: float = attr()
    r_cut: float = attr()
    thermostat: str = attr()
    backend: str = attr()
    seed: int = attr()
    positions: np.ndarray | None = var("particle", "xyz", units="sigma", long_name="final positions",
                                       default=None)

    xarray_attrs = {"flow": "u_x = shear_rate * y (x flow, y gradient)",
                    "stress_convention": "P_ab = (1/V)[sum m c_a c_b + sum_{i<j} r_ij,a F_ij,b]; "
                                         "eta = -<P_xy>/shear_rate",
                    "units": "reduced Lennard-Jones (epsilon = sigma = m = k_B = 1)"}

    @property
    def viscosity(self) -> float:
        """η = -<P_xy>/γ̇ ((mε)^{1/2}/σ²); NaN at zero shear rate."""
        if self.shear_rate == 0:
            return math.nan
        return float(-np.mean(self.pxy) / self.shear_rate)

    @property
    def stderr(self) -> float:
        """Block-averaged standard error of :attr:`viscosity` (:func:`block_stderr` of P_xy / |γ̇|)."""
        if self.shear_rate == 0:
            return math.nan
        return block_stderr(self.pxy) / abs(self.shear_rate)

    @property
    def pxy_mean(self) -> float:
        """<P_xy> (ε/σ³)."""
        return float(np.mean(self.pxy))

    @property
    def pxy_stderr(self) -> float:
        """Block-averaged standard error of <P_xy> (ε/σ³)."""
        return block_stderr(self.pxy)

    @property
    def n1(self) -> float:
        """First normal-stress difference N1 = <P_xx - P_yy> (ε/σ³)."""
        return float(np.mean(np.asarray(self.pxx) - np.asarray(self.pyy)))

    @property
    def n1_stderr(self) -> float:
        """Block-averaged standard error of :attr:`n1`."""
        return block_stderr(np.asarray(self.pxx) - np.asarray(self.pyy))

    @property
    def n2(self) -> float:
        """Second normal-stress difference N2 = <P_yy - P_zz> (ε/σ³)."""
        return float(np.mean(np.asarray(self.pyy) - np.asarray(self.pzz)))

    @property
    def n2_stderr(self) -> float:
        """Block-averaged standard error of :attr:`n2`."""
        return block_stderr(np.asarray(self.pyy) - np.asarray(self.pzz))

    @property
    def pressure(self) -> float:
        """Mean pressure <(P_xx + P_yy + P_zz)/3> (ε/σ³)."""
        return float(np.mean((np.asarray(self.pxx) + np.asarray(self.pyy) + np.asarray(self.pzz)) / 3))

    def _xarray_extra(self, ds):
        for name, value, err, units in (("viscosity", self.viscosity, self.stderr, _ETA),
                                        ("n1", self.n1, self.n1_stderr, _STRESS),
                                        ("n2", self.n2, self.n2_stderr, _STRESS)):
            ds[name] = ((), value, {"units": units, "stderr": err})
            ds[name + "_stderr"] = ((), err, {"units": units, "long_name": "block-averaged standard error"})
        return ds

    def __str__(self) -> str:
        return (f"ShearResult({self.backend}, N={self.n_particles}, rate={self.shear_rate:g}, "
                f"eta={self.viscosity:.4g} ± {self.stderr:.2g}, T={np.mean(self.temperature):.4g}, "
                f"{len(self.times)} samples)")
