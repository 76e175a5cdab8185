"""Shortcuts to adiabaticity: counterdiabatic (transitionless) driving.

For H0(λ) with eigenpairs E_n(λ), |n(λ)⟩ and a schedule λ(t), adding

    H_CD(t) = i Σ_{m≠n} |m⟩⟨m|∂_t H0|n⟩⟨n| / (E_n − E_m),   ∂_t H0 = λ̇ ∂_λ H0

makes every instantaneous eigenstate evolve exactly into itself (up to its phase) under
H0(λ(t)) + H_CD(t) (Demirplak & Rice, J. Phys. Chem. A 107, 9937 (2003); Berry, J. Phys. A 42,
365303 (2009)). Units: ħ = 1, energies in the units of H0, times in inverse energy units.

Every builder returns a pure JAX function ``H(t, args) -> (n, n)`` that ``nephlab.mesolve``
accepts directly as its callable Hamiltonian.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from nephlab import _config  # noqa: F401  (float64)
from nephlab._validate import function, is_traced
from nephlab.quantum._convert import as_operator, check_dims
from nephlab.quantum.operators import sigmay

__all__ = [
    "counterdiabatic",
    "counterdiabatic_total",
    "harmonic_cd",
    "two_level_cd",
]

HamiltonianFn = Callable[..., jnp.ndarray]
_DEFAULT_GAP_TOL = 1e-9


def _h_and_hdot(H_of_lambda, lam_of_t, t):
    def H_t(s):
        return jnp.asarray(H_of_lambda(lam_of_t(s)), dtype=jnp.complex128)

    t = jnp.asarray(t, dtype=jnp.float64)
    return jax.jvp(H_t, (t,), (jnp.ones_like(t),))


def _cd_from(H, Hdot):
    """Spectral counterdiabatic term and the smallest level spacing, from H and dH/dt."""
    H = 0.5 * (H + jnp.conj(H.T))
    E, V = jnp.linalg.eigh(H)
    M = jnp.conj(V.T) @ Hdot @ V
    n = E.shape[0]
    off = ~jnp.eye(n, dtype=bool)
    dE = E[None, :] - E[:, None]  # [m, n] -> E_n - E_m
    C = jnp.where(off, 1j * M / jnp.where(off, dE, 1.0), 0.0)
    Hcd = V @ C @ jnp.conj(V.T)
    Hcd = 0.5 * (Hcd + jnp.conj(Hcd.T))
    gap = jnp.min(jnp.where(off, jnp.abs(dE), jnp.inf)) if n > 1 else jnp.inf
    return Hcd, gap, jnp.max(jnp.abs(E))


def _validate_at(H_of_lambda, lam_of_t, t: float, gap_tol: float) -> None:
    H, Hdot = _h_and_hdot(H_of_lambda, lam_of_t, t)
    if is_traced(H) or is_traced(Hdot):  # H0 closes over traced parameters: no eager check
        return
    Hn = as_operator(np.asarray(H), f"H_of_lambda(lam_of_t({t:g}))", batch=False, hermitian=True)
    check_dims(np.asarray(Hdot), Hn.shape[-1], f"d/dt H_of_lambda(lam_of_t({t:g}))", "H_of_lambda")
    _, gap, scale = _cd_from(H, Hdot)
    if float(gap) <= gap_tol * max(1.0, float(scale)):
        raise ValueError(
            f"H_of_lambda(lam_of_t(t)) has a degenerate spectrum at t={t:g} (smallest level spacing "
            f"{float(gap):.3g} <= gap_tol={gap_tol:g} x scale); the spectral counterdiabatic term "
            "needs non-degenerate levels"
        )


def counterdiabatic(
    H_of_lambda: Callable[[Any], Any],
    lam_of_t: Callable[[Any], Any],
    *,
    tlist: Any = None,
    gap_tol: float = _DEFAULT_GAP_TOL,
) -> HamiltonianFn:
    """Counterdiabatic Hamiltonian from the spectral formula, as a function ``H_CD(t, args)``.

    H_CD(t) = i Σ_{m≠n} |m⟩⟨m| λ̇ ∂_λH0 |n⟩⟨n| / (E_n − E_m), eigenpairs of H0(λ(t)) from
    ``jnp.linalg.eigh`` and λ̇ ∂_λH0 = d/dt H0(λ(t)) from forward-mode autodiff (``jax.jvp``),
    so the result is differentiable in JAX (away from level crossings) and jit-able.

    Degeneracies: a concrete call (a Python/NumPy time) raises ``ValueError`` naming t when the
    smallest level spacing is ≤ ``gap_tol`` × max|E|; with ``tlist`` every grid time is checked
    up front. Inside a traced computation (``jit``, ``mesolve``) a degenerate point yields NaN
    (never a silently wrong finite value).

    Args:
        H_of_lambda: JAX function λ -> H0(λ) (n, n) Hermitian, energy units; λ a scalar or any
            array pytree.
        lam_of_t: JAX function t -> λ(t) (scalar t in inverse energy units).
        tlist: optional times (T,) to validate shape, Hermiticity and gaps at once.
        gap_tol: relative level-spacing threshold for "degenerate".

    Returns:
        ``H_CD(t, args=None) -> (n, n)`` complex128 Hermitian, usable as ``mesolve``'s callable H.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum import sigmax, sigmaz
        >>> hcd = counterdiabatic(lambda l: 0.5 * sigmaz() + 0.5 * l * sigmax(), lambda t: t)
        >>> hcd(0.0).round(6).tolist()   # theta-dot/2 sigma_y with theta-dot = 1 at t = 0
        [[0j, -0.5j], [0.5j, 0j]]
    """
    function(H_of_lambda, "H_of_lambda", "lam -> H0(lam) of shape (n, n)")
    function(lam_of_t, "lam_of_t", "t -> lam(t)")
    if not (np.isfinite(gap_tol) and gap_tol >= 0):
        raise ValueError(f"gap_tol must be finite and >= 0, got {gap_tol}")
    if tlist is not None:
        for t in np.atleast_1d(np.asarray(tlist, dtype=float)):
            _validate_at(H_of_lambda, lam_of_t, float(t), gap_tol)

    def H_cd(t: Any, args: Any = None) -> jnp.ndarray:
        if not is_traced(t):
            _validate_at(H_of_lambda, lam_of_t, float(t), gap_tol)
        H, Hdot = _h_and_hdot(H_of_lambda, lam_of_t, t)
        Hcd, gap, scale = _cd_from(H, Hdot)
        return jnp.where(gap > gap_tol * jnp.maximum(1.0, scale), Hcd, jnp.nan)

    return H_cd


def counterdiabatic_total(
    H_of_lambda: Callable[[Any], Any],
    lam_of_t: Callable[[Any], Any],
    *,
    tlist: Any = None,
    gap_tol: float = _DEFAULT_GAP_TOL,
) -> HamiltonianFn:
    """H0(λ(t)) + H_CD(t) as one callable ``H(t, args)`` for ``nephlab.mesolve``.

    Arguments as :func:`counterdiabatic`. Returns (n, n) complex128 Hermitian (energy units).

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import sigmax, sigmaz
        >>> H0 = lambda l: 0.5 * l * sigmaz() + 0.5 * sigmax()
        >>> H = counterdiabatic_total(H0, lambda t: 4.0 * t)
        >>> _, v = np.linalg.eigh(H0(-4.0))
        >>> res = nephlab.mesolve(H, v[:, 0], np.linspace(-1, 1, 3), rtol=1e-10, atol=1e-12)
        >>> _, w = np.linalg.eigh(H0(4.0))
        >>> bool(abs(np.vdot(w[:, 0], res.final_state @ w[:, 0]) - 1) < 1e-8)
        True
    """
    hcd = counterdiabatic(H_of_lambda, lam_of_t, tlist=tlist, gap_tol=gap_tol)

    def H(t: Any, args: Any = None) -> jnp.ndarray:
        return jnp.asarray(H_of_lambda(lam_of_t(t)), dtype=jnp.complex128) + hcd(t, args)

    return H


def _as_time_fn(f: Any, name: str) -> Callable[[Any], Any]:
    if callable(f):
        return f
    v = np.asarray(f)
    if v.ndim != 0 or not np.isfinite(v) or np.iscomplexobj(v):
        raise TypeError(f"{name} must be a callable t -> value or a finite real scalar, got {f!r}")
    return lambda t: jnp.asarray(float(v)) + 0.0 * t


def two_level_cd(delta: Any, omega: Any) -> HamiltonianFn:
    """Closed-form counterdiabatic term of H0 = (Δ(t)/2) σz + (Ω(t)/2) σx.

    H_CD(t) = (θ̇/2) σy with θ = arctan(Ω/Δ) (``arctan2(Ω, Δ)``), i.e.
    θ̇ = (Δ Ω̇ − Ω Δ̇)/(Δ² + Ω²) (ħ = 1; QuTiP's σy = [[0, −i], [i, 0]]). Derivatives of Δ and Ω
    come from ``jax.jvp``. Agrees with :func:`counterdiabatic` (tested).

    Args:
        delta, omega: JAX functions t -> scalar (energy units), or constant real scalars.

    Returns:
        ``H_CD(t, args=None) -> (2, 2)`` complex128.

    Example:
        >>> hcd = two_level_cd(1.0, lambda t: t)
        >>> hcd(0.0).round(6).tolist()
        [[0j, -0.5j], [0.5j, 0j]]
    """
    d = _as_time_fn(delta, "delta")
    o = _as_time_fn(omega, "omega")
    sy = sigmay()

    def H_cd(t: Any, args: Any = None) -> jnp.ndarray:
        t = jnp.asarray(t, dtype=jnp.float64)
        dv, ddot = jax.jvp(d, (t,), (jnp.ones_like(t),))
        ov, odot = jax.jvp(o, (t,), (jnp.ones_like(t),))
        theta_dot = (dv * odot - ov * ddot) / (dv**2 + ov**2)
        return 0.5 * theta_dot * sy

    return H_cd


def harmonic_cd(omega_of_t: Any, x: Any, p: Any) -> HamiltonianFn:
    """Closed-form counterdiabatic term of H0 = p²/(2m) + m ω(t)² x²/2:

    H_CD(t) = −(ω̇ / (4ω)) (x p + p x)   (Muga et al., J. Phys. B 43, 085509 (2010); Jarzynski,
    PRA 88, 040101(R) (2013)); independent of the mass m. ω̇ from ``jax.jvp``.

    Args:
        omega_of_t: JAX function t -> ω(t) > 0 (energy units).
        x, p: position and momentum operators (n, n) in any (e.g. truncated Fock)
            representation, units consistent with ħ = 1.

    Returns:
        ``H_CD(t, args=None) -> (n, n)`` complex128 Hermitian.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum import destroy
        >>> a = destroy(4); x = (a + a.T) / jnp.sqrt(2); p = 1j * (a.T - a) / jnp.sqrt(2)
        >>> hcd = harmonic_cd(lambda t: 1.0 + t, x, p)
        >>> bool(jnp.allclose(hcd(0.0), -0.25 * (x @ p + p @ x)))
        True
    """
    function(omega_of_t, "omega_of_t", "t -> omega(t)")
    X = as_operator(x, "x", batch=False, hermitian=True)
    P = as_operator(p, "p", batch=False, hermitian=True)
    check_dims(P, X.shape[-1], "p", "x")
    K = jnp.asarray(X @ P + P @ X)

    def H_cd(t: Any, args: Any = None) -> jnp.ndarray:
        t = jnp.asarray(t, dtype=jnp.float64)
        w, wdot = jax.jvp(omega_of_t, (t,), (jnp.ones_like(t),))
        return -(wdot / (4.0 * w)) * K

    return H_cd
