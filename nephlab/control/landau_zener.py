"""Landau-Zener transfer by a linear sweep, by counterdiabatic driving and by GRAPE.

``H0(t) = (Delta(t)/2) sigma_z + (Omega/2) sigma_x`` with ``Delta(t) = delta0 (2t/T - 1)``: the
transfer takes the ground state of ``H0(0)`` to the ground state of ``H0(T)``. Compared: the bare
sweep, the sweep plus the counterdiabatic term ``c(t) sigma_y``
(:func:`~nephlab.control.two_level_cd`), both propagated piecewise constant
(:func:`~nephlab.control.propagate_piecewise`), and a GRAPE pulse
(:func:`~nephlab.control.grape`, controls ``u_z sigma_z/2 + u_x sigma_x/2`` with ``|u| <= delta0``).
Pauli matrices from :mod:`nephlab.quantum`. Units: hbar = 1, energies in the unit of ``delta0``,
times in its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (float64)
from .._result import ResultBase, attr, coord, var
from .._validate import integer, positive_float

__all__ = ["LandauZenerResult", "landau_zener"]


@dataclass(frozen=True, repr=False)
class LandauZenerResult(ResultBase):
    """Result of :func:`landau_zener`.

    Attributes:
        time: slice midpoints of the sweep propagation, ``(n_prop,)`` (1/energy).
        delta: ``Delta(t)`` there (energy). cd: counterdiabatic amplitude ``c(t)`` of ``c sigma_y``.
        grape_edges: GRAPE slice edges, ``(n_slices + 1,)``.
        grape_controls: ``(2, n_slices)``: ``u_z`` (of ``sigma_z/2``) and ``u_x`` (of ``sigma_x/2``).
        fidelity_linear, fidelity_cd, fidelity_grape: ``|<target|psi(T)>|^2`` of the three.
        grape_iterations: L-BFGS-B iterations of GRAPE. delta0, omega, T: the parameters.

    Example:
        >>> r = landau_zener(n_slices=4, n_prop=50, max_iter=5)  # doctest: +SKIP
        >>> r.to_xarray().grape_controls.dims  # doctest: +SKIP
        ('control', 'slice')
    """

    time: np.ndarray = coord("time", units="1/energy", long_name="slice midpoint")
    delta: np.ndarray = var("time", units="energy", long_name="detuning Δ(t) of the linear sweep")
    cd: np.ndarray = var("time", units="energy", long_name="counterdiabatic amplitude c(t) of c σy")
    grape_edges: np.ndarray = coord("edge", units="1/energy", long_name="GRAPE slice edges")
    grape_controls: np.ndarray = var("control", "slice", units="energy", long_name="GRAPE amplitudes u_z, u_x")
    fidelity_linear: float = var(units="1", long_name="fidelity of the linear sweep")
    fidelity_cd: float = var(units="1", long_name="fidelity with counterdiabatic driving")
    fidelity_grape: float = var(units="1", long_name="fidelity of the GRAPE pulse")
    grape_iterations: int = attr()
    delta0: float = attr()
    omega: float = attr()
    T: float = attr()

    @property
    def fidelity(self) -> dict[str, float]:
        """``{"linear sweep", "counterdiabatic", "GRAPE"} -> fidelity``."""
        return {"linear sweep": self.fidelity_linear, "counterdiabatic": self.fidelity_cd,
                "GRAPE": self.fidelity_grape}


def landau_zener(delta0: float = 5.0, omega: float = 1.0, T: float = 2.0, *, n_slices: int = 20,
                 n_prop: int = 400, seed: int = 0, max_iter: int = 300) -> LandauZenerResult:
    """Landau-Zener transfer by a linear sweep, by counterdiabatic driving and by GRAPE (module doc).

    Args:
        delta0: sweep amplitude, ``Delta`` runs from ``-delta0`` to ``+delta0`` (> 0, energy);
            also the GRAPE bound ``|u| <= delta0``.
        omega: transverse coupling ``Omega`` (> 0, energy).
        T: sweep duration (> 0, 1/energy).
        n_slices: GRAPE time slices (>= 2). n_prop: slices of the sweep propagation (>= 2).
        seed: seed of GRAPE's random initial controls. max_iter: GRAPE's L-BFGS-B iterations.

    Returns:
        :class:`LandauZenerResult`. A first call compiles (a few seconds).

    Example:
        >>> r = landau_zener(n_slices=10)  # doctest: +SKIP
        >>> r.fidelity_cd > 0.999999 > r.fidelity_linear  # doctest: +SKIP
        True
    """
    from ..quantum import sigmax, sigmay, sigmaz
    from .grape import grape, propagate_piecewise
    from .shortcuts import two_level_cd

    d0, om, T = positive_float(delta0, "delta0"), positive_float(omega, "omega"), positive_float(T, "T")
    ns = integer(n_slices, "n_slices", minimum=2)
    n_prop = integer(n_prop, "n_prop", minimum=2)
    max_iter = integer(max_iter, "max_iter")
    sx, sy, sz = (np.asarray(s()) for s in (sigmax, sigmay, sigmaz))

    def h0(d: float) -> np.ndarray:
        return 0.5 * d * sz + 0.5 * om * sx

    init = np.linalg.eigh(h0(-d0))[1][:, 0]
    target = np.linalg.eigh(h0(d0))[1][:, 0]
    tm = (np.arange(n_prop) + 0.5) * T / n_prop
    delta = d0 * (2.0 * tm / T - 1.0)
    hcd = two_level_cd(lambda t: d0 * (2.0 * t / T - 1.0), om)
    cd = np.asarray(jax.vmap(hcd)(jnp.asarray(tm)))[:, 1, 0].imag  # H_cd = c(t) σy, σy[1, 0] = i
    fid = []
    for c in (0.0 * cd, cd):
        U = np.asarray(propagate_piecewise(np.stack([delta, np.full(n_prop, om), c]), np.zeros((2, 2)),
                                           [0.5 * sz, 0.5 * sx, sy], T))
        fid.append(float(abs(np.vdot(target, U @ init)) ** 2))
    g = grape(np.zeros((2, 2)), [0.5 * sz, 0.5 * sx], init, target, T, ns, u_bounds=(-d0, d0), seed=seed,
              max_iter=max_iter, target_infidelity=1e-10)
    return LandauZenerResult(time=tm, delta=delta, cd=cd, grape_edges=np.asarray(g.times),
                             grape_controls=np.asarray(g.controls), fidelity_linear=fid[0], fidelity_cd=fid[1],
                             fidelity_grape=float(g.fidelity), grape_iterations=int(g.iterations), delta0=d0,
                             omega=om, T=T)
