"""The "quantum jumps" family of the ``scgf`` presets: photon counting of driven damped quantum systems.

The counted quantity ``A_t`` is the number of photons emitted (quantum jumps of the decay channel)
up to time t; θ(s) = lim (1/t) ln ⟨exp(-s A_t)⟩ (the convention of :mod:`nephlab.largedev`) is the
eigenvalue of largest real part of the tilted Liouvillian
:func:`nephlab.quantum.tilted_liouvillian`. θ'(s) and θ''(s) come from first- and second-order
perturbation theory of one dense eigendecomposition per s (exact to round-off, as
:meth:`~nephlab.largedev.MarkovJumpProcess.scgf_curve`), so the rate function follows by the same
Legendre transform (:func:`~nephlab.largedev.rate_function_grid`). ħ = 1; rates in 1/time.

Presets (:data:`QUANTUM_MODELS`, parameters of the ``scgf`` task):

- ``quantum_two_level``: resonance fluorescence, ``H = Δ/2 σ_z + Ω/2 σ_x``, ``c = √γ σ_-``
  (``drive`` = Ω, ``decay`` = γ, ``detuning`` = Δ); at Δ = 0 the mean photon flux is
  ``γ Ω²/(γ² + 2Ω²)`` and Mandel's Q is ``-6 Ω² γ²/(γ² + 2Ω²)²`` (antibunched light).
- ``quantum_cavity``: a coherently driven damped cavity, ``H = Δ a†a + F (a + a†)``, ``c = √κ a``
  in the Fock space ``|0⟩ … |n_fock - 1⟩`` (``drive`` = F, ``decay`` = κ, ``detuning`` = Δ). Its
  tilted Liouvillian has the coherent steady state ``|α⟩``, ``α = -i F/(κ/2 + iΔ)``, as dominant
  eigenvector for every s, so the emitted light is Poissonian: ``θ(s) = κ|α|² (e^{-s} - 1)``
  (:func:`cavity_theta_exact`). The cutoff is refused when the Poisson tail of ``|α⟩`` beyond it
  exceeds :data:`CAVITY_TAIL_MAX`.

Example:
    >>> p = {"model": "quantum_cavity", "drive": 0.5, "decay": 1.0, "detuning": 0.0, "n_fock": 15}
    >>> r = quantum_scgf(p, [0.0, 1.0])
    >>> bool(np.allclose(r.theta, cavity_theta_exact(p, [0.0, 1.0]), atol=1e-10))
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from nephlab._validate import integer, one_of, real_number

from .markov import ScgfResult

__all__ = ["CAVITY_TAIL_MAX", "QUANTUM_MODELS", "QUANTUM_PARAMS", "CUTOFF_RTOL", "cavity_theta_exact", "check_quantum",
           "quantum_model", "quantum_phase_curves", "quantum_scgf", "quantum_theta"]

QUANTUM_MODELS: tuple[str, ...] = ("quantum_two_level", "quantum_cavity")
"""The quantum-jump presets of the ``scgf`` task (photon counting)."""

QUANTUM_PARAMS: tuple[str, ...] = ("drive", "decay", "detuning", "n_fock")
"""Their parameters (``n_fock`` for ``quantum_cavity`` only)."""

CAVITY_TAIL_MAX = 1e-10
"""Largest Poisson weight of the coherent steady state beyond the Fock cutoff (``quantum_cavity``)."""


def _get(params: Mapping[str, Any], name: str, model: str) -> Any:
    if name not in params:
        raise ValueError(f"params must hold {name!r} for model {model!r}; got the keys {sorted(params)}")
    return params[name]


def _alpha2(F: float, kappa: float, delta: float) -> float:
    return F * F / (delta * delta + 0.25 * kappa * kappa)


def _poisson_tail(mean: float, n: int) -> float:
    """P(N >= n) of a Poisson law of mean ``mean`` (summed from its terms: no cancellation)."""
    if mean == 0.0:
        return 0.0
    log_p = n * math.log(mean) - mean - math.lgamma(n + 1)
    term, tail, k = math.exp(log_p), 0.0, n
    while term > 1e-300 * max(tail, 1e-300) and k < n + 10_000:
        tail += term
        k += 1
        term *= mean / k
        if term < 1e-18 * tail:
            break
    return tail


def check_quantum(params: Mapping[str, Any], task: str = "scgf") -> None:
    """Validate a quantum-jump preset (ValueError naming the parameter, the value and what is allowed).

    Example:
        >>> check_quantum({"model": "quantum_cavity", "drive": 1.0, "decay": 1.0, "detuning": 0.0, "n_fock": 8})
        Traceback (most recent call last):
        ...
        ValueError: task 'scgf': parameter 'n_fock' = 8 truncates the coherent steady state (|α|² = 4): its population beyond the cutoff is 0.051 > 1e-10; allowed: n_fock >= 23
    """
    m = one_of(_get(params, "model", "?"), "params['model']", QUANTUM_MODELS)
    for k in ("drive", "decay", "detuning"):
        v = real_number(_get(params, k, m), f"params[{k!r}]")
        if k == "decay" and not v > 0:
            raise ValueError(f"task {task!r}: parameter 'decay' = {v!r} must be > 0 (the emission rate, 1/time)")
        if k == "drive" and v < 0:
            raise ValueError(f"task {task!r}: parameter 'drive' = {v!r} must be >= 0 (amplitude, 1/time)")
    if m == "quantum_cavity":
        n = integer(_get(params, "n_fock", m), "params['n_fock']", minimum=2)
        a2 = _alpha2(float(params["drive"]), float(params["decay"]), float(params["detuning"]))
        tail = _poisson_tail(a2, n)
        if tail > CAVITY_TAIL_MAX:
            need = n
            while _poisson_tail(a2, need) > CAVITY_TAIL_MAX:
                need += 1
            raise ValueError(f"task {task!r}: parameter 'n_fock' = {n} truncates the coherent steady state "
                             f"(|α|² = {a2:.4g}): its population beyond the cutoff is {tail:.2g} > "
                             f"{CAVITY_TAIL_MAX:g}; allowed: n_fock >= {need}")


def quantum_model(params: Mapping[str, Any]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """``(H, c_ops, weights)`` of a quantum-jump preset (validated by :func:`check_quantum`).

    Returns:
        H (d, d) complex (energy units, ħ = 1), one collapse operator (d, d) (units sqrt(1/time)),
        and the counting weights ``[1.0]`` (each emitted photon counts 1).

    Example:
        >>> H, c, w = quantum_model({"model": "quantum_two_level", "drive": 1.0, "decay": 0.5, "detuning": 0.0})
        >>> H.shape, len(c), w.tolist()
        ((2, 2), 1, [1.0])
    """
    from nephlab.quantum import destroy, sigmam, sigmax, sigmaz

    check_quantum(params)
    m, F, g, d = params["model"], float(params["drive"]), float(params["decay"]), float(params["detuning"])
    if m == "quantum_two_level":
        H, c = 0.5 * d * np.asarray(sigmaz()) + 0.5 * F * np.asarray(sigmax()), np.sqrt(g) * np.asarray(sigmam())
    else:
        a = np.asarray(destroy(int(params["n_fock"])))
        H, c = d * (a.conj().T @ a) + F * (a + a.conj().T), np.sqrt(g) * a
    return H.astype(complex), [c.astype(complex)], np.array([1.0])


def _s_values(s: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(s, dtype=float))
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"s must be a finite scalar or 1-D array of counting fields, got {s!r}")
    return arr


def quantum_scgf(params: Mapping[str, Any], s: Any = None) -> ScgfResult:
    """θ(s), θ'(s), θ''(s) of a quantum-jump preset on a grid of s (photon counting).

    θ(s) is the eigenvalue of largest real part of ``nephlab.quantum.tilted_liouvillian(H, c_ops,
    [1], s)``; with ``L_s = R diag(λ) R⁻¹``, ``A1 = R⁻¹ L_s' R``, ``A2 = R⁻¹ L_s'' R`` (``L_s' =
    -e^{-s} J``, ``L_s'' = e^{-s} J``, ``J ρ = c ρ c†``): ``θ' = A1[0, 0]``,
    ``θ'' = A2[0, 0] + 2 Σ_{m≠0} A1[0, m] A1[m, 0]/(λ_0 - λ_m)``.

    Args:
        params: a preset (module docstring), with ``s_min``, ``s_max``, ``n_s`` unless ``s`` is given.
        s: optional scalar or 1-D grid of counting fields (1/photon).

    Returns:
        :class:`~nephlab.largedev.ScgfResult` (observable ``"photons"``), θ in 1/time.

    Raises:
        ValueError: bad parameters; for ``quantum_cavity`` also when θ at the smallest s changes by
            more than :data:`CUTOFF_RTOL` with 6 more Fock levels (the tilted Liouvillian is
            non-normal: at s < 0 its dominant eigenvalue converges slowly with the cutoff).

    Example:
        >>> p = {"model": "quantum_two_level", "drive": 1.0, "decay": 1.0, "detuning": 0.0}
        >>> r = quantum_scgf(p, 0.0)
        >>> round(float(-r.dtheta[0]), 12), round(float(r.d2theta[0] / -r.dtheta[0] - 1), 12)  # flux, Mandel Q
        (0.333333333333, -0.666666666667)
    """
    from nephlab.quantum import tilted_liouvillian

    H, c_ops, w = quantum_model(params)
    if s is None:
        lo, hi = float(_get(params, "s_min", "the s grid")), float(_get(params, "s_max", "the s grid"))
        if not lo < hi:
            raise ValueError(f"params['s_min'] = {lo!r} and params['s_max'] = {hi!r}: allowed: s_min < s_max")
        s = np.linspace(lo, hi, integer(_get(params, "n_s", "the s grid"), "params['n_s']", minimum=2))
    s_arr = _s_values(s)
    c = c_ops[0]
    J = np.kron(c, c.conj())  # row-major: vec(c ρ c†) = (c ⊗ c*) vec(ρ), as tilted_liouvillian
    th, d1, d2 = (np.empty(s_arr.size) for _ in range(3))
    for i, si in enumerate(s_arr):
        Ls = np.asarray(tilted_liouvillian(H, c_ops, w, float(si)))
        lam, R = np.linalg.eig(Ls)
        k = int(np.argmax(lam.real))
        order = np.r_[k, np.delete(np.arange(lam.size), k)]
        lam, R = lam[order], R[:, order]
        Rinv = np.linalg.inv(R)
        e = math.exp(-float(si))
        A1 = -e * (Rinv @ J @ R)
        gap = lam[0] - lam[1:]
        th[i] = lam[0].real
        d1[i] = A1[0, 0].real
        d2[i] = (-A1[0, 0] + 2 * np.sum(A1[0, 1:] * A1[1:, 0] / gap)).real  # A2 = e^{-s} R⁻¹JR = -A1
    if params["model"] == "quantum_cavity" and s_arr.size:
        j = int(np.argmin(s_arr))
        _converged(params, float(s_arr[j]), float(th[j]))
    return ScgfResult(s_arr, th, d1, d2, "photons")


CUTOFF_RTOL = 1e-8
"""``quantum_cavity``: θ at the most negative s must agree to this (relative to max(1, |θ|)) with
θ computed with 6 more Fock levels, or the cutoff is refused."""


def _converged(params: Mapping[str, Any], s: float, theta: float) -> None:
    """Refuse a cutoff that has not converged at ``s`` (the smallest s: the tilted Liouvillian of
    a truncated cavity is non-normal, and at s < 0 its dominant eigenvalue converges slowly in n)."""
    from nephlab.quantum import tilted_liouvillian

    n = int(params["n_fock"])
    H, c_ops, w = quantum_model({**params, "n_fock": n + 6})
    ref = float(np.linalg.eigvals(np.asarray(tilted_liouvillian(H, c_ops, w, s))).real.max())
    if abs(ref - theta) > CUTOFF_RTOL * max(1.0, abs(theta)):
        raise ValueError(f"parameter 'n_fock' = {n} has not converged at s = {s:g}: θ = {theta:.10g} there, "
                         f"{ref:.10g} with n_fock = {n + 6} (allowed: a change <= {CUTOFF_RTOL:g} relative); "
                         "raise n_fock or s_min (s < 0 weights histories with many photons)")


def quantum_theta(params: Mapping[str, Any], s: Any) -> Any:
    """θ(s) of a quantum-jump preset (float for a scalar ``s``, else an array), 1/time.

    Example:
        >>> p = {"model": "quantum_cavity", "drive": 0.5, "decay": 2.0, "detuning": 0.0, "n_fock": 10}  # |α|² = 1/4
        >>> round(quantum_theta(p, 0.0), 12) == 0.0
        True
    """
    th = quantum_scgf(params, s).theta
    return float(th[0]) if np.ndim(s) == 0 else th


def cavity_theta_exact(params: Mapping[str, Any], s: Any) -> np.ndarray:
    """The closed form ``θ(s) = κ|α|² (e^{-s} - 1)``, ``|α|² = F²/(Δ² + κ²/4)``, of the untruncated
    driven damped cavity (Poissonian photon counting), (m,) in 1/time.

    Example:
        >>> cavity_theta_exact({"drive": 1.0, "decay": 2.0, "detuning": 0.0}, [1.0]).round(8).tolist()  # 2(e⁻¹ - 1)
        [-1.26424112]
    """
    F, k, d = (real_number(params[n], f"params[{n!r}]") for n in ("drive", "decay", "detuning"))
    return k * _alpha2(F, k, d) * np.expm1(-_s_values(s))


def quantum_phase_curves(curve: ScgfResult):
    """The s-ensemble view of a quantum preset: one "size" L = 1, ``activity = -θ'(s)`` (photon
    flux in the tilted ensemble) and ``susceptibility = θ''(s)``, as a
    :class:`~nephlab.largedev.PhaseDiagramResult` (``s_star`` at the grid maximum of θ'').

    Example:
        >>> p = {"model": "quantum_two_level", "drive": 1.0, "decay": 1.0, "detuning": 0.0}
        >>> quantum_phase_curves(quantum_scgf(p, [-0.5, 0.0, 0.5])).activity.shape
        (1, 3)
    """
    from .models import PhaseDiagramResult

    if not isinstance(curve, ScgfResult):
        raise TypeError(f"curve must be a ScgfResult (quantum_scgf(...)), got {type(curve).__name__}")
    j = int(np.argmax(curve.d2theta))
    return PhaseDiagramResult(sizes=np.array([1]), s=curve.s, theta=curve.theta[None], activity=-curve.dtheta[None],
                              susceptibility=curve.d2theta[None], s_star=np.array([curve.s[j]]),
                              chi_max=np.array([curve.d2theta[j]]), at_boundary=np.array([j in (0, curve.s.size - 1)]),
                              observable=curve.observable)
