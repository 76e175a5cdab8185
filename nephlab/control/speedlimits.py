"""Speed limits: lower bounds on the time a (quantum or classical) process needs.

Every function returns the *bound* (a time, or a work), vectorised over a time axis where
that makes sense, so a plot can overlay it on the actual time. Units: ħ = k_B = 1; energies
in the units of ``H``, times in inverse energy units (quantum) or inverse rate units
(classical). Precision float64/complex128.

Quantum (unitary):
    * :func:`mandelstam_tamm` -- τ ≥ L(ρ0, ρτ) / ΔE.
    * :func:`margolus_levitin` -- τ ≥ 2 L(ρ0, ρτ)² / (π ⟨H − E0⟩).
Quantum (open, Lindblad):
    * :func:`open_system_speed_limit` -- Deffner–Lutz: τ ≥ sin² L(ρ0, ρτ) / Λ_τ.
Classical:
    * :func:`shiraishi_funo_saito` -- Markov jump processes: τ ≥ L1(p0, pτ)² / (2 Σ_tot ⟨A⟩_τ).
    * :func:`thermodynamic_length`, :func:`thermodynamic_length_bound` -- W_ex ≥ L²/τ.
Helpers: :func:`fidelity` (Uhlmann), :func:`bures_angle`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nephlab import _config  # noqa: F401  (float64)
from nephlab._validate import function
from nephlab.quantum._convert import as_operator, check_dims, check_finite, to_numpy
from nephlab.quantum.superop import _rhs_core, _stack_system

__all__ = [
    "SFSBound",
    "bures_angle",
    "fidelity",
    "margolus_levitin",
    "mandelstam_tamm",
    "open_system_speed_limit",
    "shiraishi_funo_saito",
    "thermodynamic_length",
    "thermodynamic_length_bound",
]

_TRACE_TOL = 1e-8
_PURE_TOL = 1e-8


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _as_states(x: Any, name: str) -> np.ndarray:
    """Kets (..., n) -> density matrices; density matrices (..., n, n) checked for trace 1."""
    if hasattr(x, "states") and hasattr(x, "times"):
        raise TypeError(f"{name} must be an array of states, got a Result; pass result.states")
    arr = to_numpy(x, name)
    check_finite(arr, name)
    if arr.ndim == 1:
        nrm = np.linalg.norm(arr)
        if abs(nrm - 1.0) > _TRACE_TOL:
            raise ValueError(f"{name} is a ket of norm {nrm:.6g}; it must have norm 1")
        return np.outer(arr, arr.conj())
    if arr.ndim >= 2 and arr.shape[-1] == 1 and arr.shape[-2] != 1:
        return _as_states(arr[..., 0], name) if arr.ndim == 2 else _bad_shape(arr, name)
    if arr.ndim < 2 or arr.shape[-1] != arr.shape[-2]:
        _bad_shape(arr, name)
    arr = as_operator(arr, name, hermitian=True)
    tr = np.trace(arr, axis1=-2, axis2=-1).real
    if np.any(np.abs(tr - 1.0) > _TRACE_TOL):
        raise ValueError(f"{name} has trace {np.atleast_1d(tr).ravel()[:4]}; density matrices must have trace 1")
    return arr


def _bad_shape(arr: np.ndarray, name: str):
    raise ValueError(f"{name} must be a ket (n,) or density matrices (..., n, n), got shape {arr.shape}")


def _psd_sqrt(rho: jnp.ndarray) -> jnp.ndarray:
    w, v = jnp.linalg.eigh(rho)
    return (v * jnp.sqrt(jnp.clip(w, 0.0, None))[..., None, :]) @ jnp.conj(jnp.swapaxes(v, -1, -2))


@jax.jit
def _fidelity_core(rho: jnp.ndarray, sigma: jnp.ndarray) -> jnp.ndarray:
    s = _psd_sqrt(rho)
    m = s @ sigma @ s
    m = 0.5 * (m + jnp.conj(jnp.swapaxes(m, -1, -2)))
    ev = jnp.linalg.eigvalsh(m)
    return jnp.clip(jnp.sum(jnp.sqrt(jnp.clip(ev, 0.0, None)), axis=-1) ** 2, 0.0, 1.0)


def _pair(rho: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray]:
    r = _as_states(rho, "rho")
    s = _as_states(sigma, "sigma")
    if r.shape[-1] != s.shape[-1]:
        raise ValueError(f"rho has dimension {r.shape[-1]} but sigma has dimension {s.shape[-1]}; they must agree")
    try:
        np.broadcast_shapes(r.shape[:-2], s.shape[:-2])
    except ValueError:
        raise ValueError(f"batch axes of rho {r.shape[:-2]} and sigma {s.shape[:-2]} do not broadcast") from None
    return r, s


# --------------------------------------------------------------------------------------------
# fidelity and Bures angle
# --------------------------------------------------------------------------------------------


def fidelity(rho: Any, sigma: Any) -> jnp.ndarray:
    """Uhlmann fidelity F(ρ, σ) = (Tr √(√ρ σ √ρ))² ∈ [0, 1] (squared convention).

    For pure states F = |⟨ψ|φ⟩|². Square roots come from ``eigh`` with eigenvalues clipped at
    0 (round-off), so the function is JAX-differentiable away from rank changes.

    Args:
        rho, sigma: kets (n,) or density matrices (..., n, n) (Hermitian, unit trace);
            leading batch axes broadcast.

    Returns:
        Real array of the broadcast batch shape (a 0-d array for single states).

    Example:
        >>> from nephlab.quantum import basis
        >>> import jax.numpy as jnp
        >>> round(float(fidelity(basis(2, 0), (basis(2, 0) + basis(2, 1)) / jnp.sqrt(2))), 12)
        0.5
    """
    r, s = _pair(rho, sigma)
    return _fidelity_core(jnp.asarray(r), jnp.asarray(s))


def bures_angle(rho: Any, sigma: Any) -> jnp.ndarray:
    """Bures angle L(ρ, σ) = arccos √F(ρ, σ) ∈ [0, π/2] (radians), F the Uhlmann fidelity.

    Args:
        rho, sigma: kets (n,) or density matrices (..., n, n); batch axes broadcast.

    Returns:
        Real array of the broadcast batch shape.

    Example:
        >>> from nephlab.quantum import basis
        >>> import numpy as np
        >>> bool(np.isclose(bures_angle(basis(2, 0), basis(2, 1)), np.pi / 2))
        True
    """
    return jnp.arccos(jnp.clip(jnp.sqrt(fidelity(rho, sigma)), 0.0, 1.0))


# --------------------------------------------------------------------------------------------
# unitary speed limits
# --------------------------------------------------------------------------------------------


def _energy_moments(rho0: np.ndarray, H: Any) -> tuple[np.ndarray, float, float, np.ndarray]:
    Hn = as_operator(H, "H", batch=False, hermitian=True)
    check_dims(rho0, Hn.shape[-1], "rho0", "H")
    if rho0.ndim != 2:
        raise ValueError(f"rho0 must be a single state (n,) or (n, n), got shape {rho0.shape}")
    mean = float(np.trace(rho0 @ Hn).real)
    var = float(np.trace(rho0 @ Hn @ Hn).real) - mean**2
    e0 = float(np.linalg.eigvalsh(0.5 * (Hn + Hn.conj().T))[0])
    return Hn, mean, max(var, 0.0), e0


def mandelstam_tamm(rho0: Any, rho_t: Any, H: Any) -> jnp.ndarray:
    """Mandelstam–Tamm bound τ ≥ L(ρ0, ρτ) / ΔE for evolution under a constant Hamiltonian.

    ΔE = √(⟨H²⟩ − ⟨H⟩²) in ρ0 (conserved by the unitary dynamics) and L the Bures angle. For
    pure states L = arccos|⟨ψ0|ψτ⟩| (Mandelstam & Tamm, J. Phys. USSR 9, 249 (1945); Anandan &
    Aharonov, PRL 65, 1697 (1990)); the mixed-state form holds with the Bures angle (Uhlmann,
    Phys. Lett. A 161, 329 (1992)). Orthogonal states give τ ≥ π/(2ΔE).

    Args:
        rho0: initial ket (n,) or density matrix (n, n).
        rho_t: state(s) reached, (n,), (n, n) or (T, n, n) (e.g. ``mesolve(...).states``).
        H: constant Hermitian Hamiltonian (n, n), energy units (ħ = 1).

    Returns:
        Bound on the elapsed time (inverse energy units), shape () or (T,). ``inf`` if ΔE = 0
        and the state moved, 0 if it did not.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import basis, sigmax
        >>> float(mandelstam_tamm(basis(2, 0), basis(2, 1), 0.5 * sigmax())) == np.pi
        True
    """
    r0 = _as_states(rho0, "rho0")
    rt = _as_states(rho_t, "rho_t")
    _, _, var, _ = _energy_moments(r0, H)
    check_dims(rt, r0.shape[-1], "rho_t", "rho0")
    L = bures_angle(r0, rt)
    dE = jnp.sqrt(var)
    return jnp.where(L == 0, 0.0, L / dE)


def margolus_levitin(rho0: Any, rho_t: Any, H: Any) -> jnp.ndarray:
    """Margolus–Levitin bound τ ≥ 2 L(ρ0, ρτ)² / (π ⟨H − E0⟩), constant Hamiltonian.

    E0 is the ground energy of ``H`` and ⟨H − E0⟩ = Tr ρ0 H − E0 ≥ 0. For orthogonal states
    (L = π/2) this is the original τ ≥ π/(2⟨H − E0⟩) (Margolus & Levitin, Physica D 120, 188
    (1998)). For any fidelity the closed-form relaxation 2L²/(π⟨E−E0⟩) (Deffner & Lutz,
    J. Phys. A 46, 335302 (2013)) lies below the tight bound α(F)π/(2⟨E−E0⟩) of Giovannetti,
    Lloyd & Maccone (PRA 67, 052109 (2003)), and extends to mixed states with the Bures angle
    through purification.

    Args:
        rho0: initial ket (n,) or density matrix (n, n).
        rho_t: state(s) reached, (n,), (n, n) or (T, n, n).
        H: constant Hermitian Hamiltonian (n, n), energy units (ħ = 1).

    Returns:
        Bound on the elapsed time, shape () or (T,).

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import basis, sigmax
        >>> bool(np.isclose(margolus_levitin(basis(2, 0), basis(2, 1), 0.5 * sigmax()), np.pi))
        True
    """
    r0 = _as_states(rho0, "rho0")
    rt = _as_states(rho_t, "rho_t")
    _, mean, _, e0 = _energy_moments(r0, H)
    check_dims(rt, r0.shape[-1], "rho_t", "rho0")
    L = bures_angle(r0, rt)
    return jnp.where(L == 0, 0.0, 2.0 * L**2 / (jnp.pi * max(mean - e0, 0.0)))


# --------------------------------------------------------------------------------------------
# open-system (Lindblad) speed limit
# --------------------------------------------------------------------------------------------

_NORMS = ("operator", "hs", "trace")


def _matrix_norm(X: jnp.ndarray, norm: str) -> jnp.ndarray:
    sv = jnp.linalg.svd(X, compute_uv=False)
    if norm == "operator":
        return sv[..., 0]
    if norm == "hs":
        return jnp.sqrt(jnp.sum(sv**2, axis=-1))
    return jnp.sum(sv, axis=-1)


def open_system_speed_limit(
    states: Any,
    tlist: Any,
    H: Any,
    c_ops: Any = None,
    *,
    norm: str = "operator",
) -> jnp.ndarray:
    """Deffner–Lutz speed limit for Lindblad dynamics from a pure initial state.

    τ ≥ sin² L(ρ0, ρτ) / Λ_τ,  Λ_τ = (1/τ) ∫_0^τ ‖𝓛(ρ_t)‖ dt,

    with 𝓛 the Lindblad generator (dρ/dt = 𝓛ρ) and L the Bures angle (Deffner & Lutz, PRL 111,
    010402 (2013), Eq. (8)). Proof sketch: for ρ0 = |ψ0⟩⟨ψ0| the fidelity is F = ⟨ψ0|ρ_t|ψ0⟩,
    so sin² L(τ) = 1 − F(τ) = −∫ ⟨ψ0|𝓛ρ_t|ψ0⟩ dt ≤ ∫ ‖𝓛ρ_t‖_op dt. ``norm="operator"``
    (largest singular value) is the tightest; ``"hs"`` (Hilbert–Schmidt) and ``"trace"`` give
    the weaker variants of the same paper (‖·‖_op ≤ ‖·‖_HS ≤ ‖·‖_tr). The time integral is
    the trapezoidal rule on ``tlist``, so resolve the dynamics finely (the quadrature error
    enters the bound).

    Args:
        states: ρ(t) on ``tlist``, (T, n, n) (e.g. ``mesolve(...).states``); ``states[0]`` must
            be pure (the bound needs a pure initial state).
        tlist: strictly increasing times (T,) (inverse energy units).
        H: constant Hermitian Hamiltonian (n, n), or one per time (T, n, n) for driven systems.
        c_ops: list of collapse operators (n, n) or (T, n, n), units √rate, or ``None``.
        norm: ``"operator"``, ``"hs"`` or ``"trace"``.

    Returns:
        (T,) bound on the elapsed time t_k − t_0 (0 at k = 0).

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import basis, sigmam, sigmax
        >>> t = np.linspace(0, 2, 201)
        >>> res = nephlab.mesolve(sigmax(), basis(2, 0), t, [0.5 * sigmam()], rtol=1e-9, atol=1e-11)
        >>> b = open_system_speed_limit(res.states, t, sigmax(), [0.5 * sigmam()])
        >>> b.shape, bool(np.all(b <= t - t[0] + 1e-9))
        ((201,), True)
    """
    if norm not in _NORMS:
        raise ValueError(f"norm={norm!r} is not known; allowed: {', '.join(map(repr, _NORMS))}")
    rho = _as_states(states, "states")
    if rho.ndim != 3:
        raise ValueError(f"states must have shape (T, n, n), got {rho.shape}")
    t = _as_times(tlist, "tlist")
    if t.shape[0] != rho.shape[0]:
        raise ValueError(f"tlist has {t.shape[0]} times but states has {rho.shape[0]}; they must match")
    pur = float(np.trace(rho[0] @ rho[0]).real)
    if abs(pur - 1.0) > _PURE_TOL:
        raise ValueError(
            f"states[0] has purity {pur:.6g}; the Deffner–Lutz bound needs a pure initial state (purity 1)"
        )
    Hb, C = _stack_system(H, c_ops)
    n = rho.shape[-1]
    if Hb.shape[-1] != n:
        raise ValueError(f"H has dimension {Hb.shape[-1]} but states have dimension {n}")
    if Hb.ndim == 3 and Hb.shape[0] != t.shape[0]:
        raise ValueError(f"H and c_ops have {Hb.shape[0]} time slices but tlist has {t.shape[0]} times")
    if Hb.ndim > 3:
        raise ValueError(f"H must be (n, n) or (T, n, n), got broadcast shape {Hb.shape}")
    return _dl_core(jnp.asarray(rho), jnp.asarray(t), jnp.asarray(Hb), jnp.asarray(C), norm)


@partial(jax.jit, static_argnames=("norm",))
def _dl_core(rho, t, H, C, norm):
    drho = _rhs_core(H, C, rho)
    speed = _matrix_norm(drho, norm)
    integral = jnp.concatenate([jnp.zeros(1), jnp.cumsum(0.5 * (speed[1:] + speed[:-1]) * jnp.diff(t))])
    L = jnp.arccos(jnp.clip(jnp.sqrt(_fidelity_core(rho[0], rho)), 0.0, 1.0))
    tau = t - t[0]
    lam = integral / jnp.where(tau > 0, tau, 1.0)
    s2 = jnp.sin(L) ** 2
    return jnp.where((tau > 0) & (s2 > 0), s2 / jnp.where(lam > 0, lam, 1.0), 0.0)


def _as_times(tlist: Any, name: str) -> np.ndarray:
    t = np.asarray(to_numpy(tlist, name).real if np.iscomplexobj(np.asarray(tlist)) else tlist, dtype=float)
    if t.ndim != 1 or t.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 times, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} contains NaN or inf; all times must be finite")
    if np.any(np.diff(t) <= 0):
        k = int(np.argmax(np.diff(t) <= 0))
        raise ValueError(f"{name} must be strictly increasing, but {name}[{k}]={t[k]} >= {name}[{k + 1}]={t[k + 1]}")
    return t


# --------------------------------------------------------------------------------------------
# classical: Shiraishi–Funo–Saito
# --------------------------------------------------------------------------------------------


class SFSBound(NamedTuple):
    """Output of :func:`shiraishi_funo_saito`; every field has shape (T,) except ``p`` (T, n).

    Attributes:
        bound: L1(p0, p_t)² / (2 Σ_tot(t) ⟨A⟩_t), the lower bound on the elapsed time t − t0.
        elapsed: t − t0, the actual time (compare with ``bound``).
        distance: total-variation distance L1 = Σ_x |p_x(t0) − p_x(t)|.
        entropy_production: Σ_tot(t), total entropy production (k_B = 1) since t0.
        mean_activity: ⟨A⟩_t = (1/(t − t0)) ∫ Σ_{x≠y} W_xy p_y dt (jumps per unit time).
        p: the distribution p(t) on the time grid.
    """

    bound: jnp.ndarray
    elapsed: jnp.ndarray
    distance: jnp.ndarray
    entropy_production: jnp.ndarray
    mean_activity: jnp.ndarray
    p: jnp.ndarray


_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def _as_generator(rates: Any, name: str = "rates") -> np.ndarray:
    W = np.asarray(rates)
    if np.iscomplexobj(W):
        if np.any(W.imag != 0):
            raise ValueError(f"{name} must be real, got complex entries")
        W = W.real
    W = np.asarray(W, dtype=float)
    if W.ndim not in (2, 3) or W.shape[-1] != W.shape[-2]:
        raise ValueError(f"{name} must be a square rate matrix (n, n) or (T, n, n), got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"{name} contains NaN or inf; all rates must be finite")
    n = W.shape[-1]
    off = ~np.eye(n, dtype=bool)
    offv = W[..., off]
    if np.any(offv < 0):
        idx = tuple(int(i) for i in np.argwhere((W < 0) & off)[0])
        raise ValueError(f"{name} has a negative off-diagonal rate {W[idx]:g} at entry {idx}; rates must be >= 0")
    diag = np.diagonal(W, axis1=-2, axis2=-1)
    colsum = W.sum(axis=-2)
    if np.all(diag == 0):
        W = W - np.einsum("...j,jk->...jk", colsum, np.eye(n))
    elif np.any(np.abs(colsum) > 1e-10 * max(1.0, np.abs(W).max())):
        raise ValueError(
            f"{name} has a nonzero diagonal whose columns do not sum to 0 (column sums {colsum.ravel()[:4]}); "
            "give either a generator (W[x, y] = rate y -> x, columns summing to 0) or zeros on the diagonal"
        )
    fwd, bwd = W[..., off] > 0, np.swapaxes(W, -1, -2)[..., off] > 0
    if np.any(fwd != bwd):
        raise ValueError(
            f"{name} has a one-way transition (W[x, y] > 0 but W[y, x] = 0); the entropy production is then infinite"
        )
    return W


def shiraishi_funo_saito(rates: Any, p0: Any, tlist: Any) -> SFSBound:
    """Shiraishi–Funo–Saito speed limit for a Markov jump process, at every time in ``tlist``.

    τ ≥ L1(p0, pτ)² / (2 Σ_tot ⟨A⟩_τ)   (Shiraishi, Funo & Saito, PRL 121, 070601 (2018))

    with L1 = Σ_x |p_x(0) − p_x(τ)|, the total entropy production
    Σ_tot = ∫ Σ_{x<y} (W_xy p_y − W_yx p_x) ln(W_xy p_y / (W_yx p_x)) dt (k_B = 1) and the mean
    dynamical activity ⟨A⟩_τ = (1/τ) ∫ Σ_{x≠y} W_xy p_y dt. The master equation dp/dt = W p is
    solved exactly with ``expm`` on each interval of ``tlist`` (time-dependent rates are
    piecewise constant: ``rates[k]`` acts on [t_k, t_{k+1})); the time integrals use 8-point
    Gauss–Legendre quadrature per interval (refine ``tlist`` for accuracy).

    Args:
        rates: (n, n) or (T, n, n) rate matrix, ``rates[x, y]`` = rate of the jump y → x
            (inverse time units), off-diagonals ≥ 0 and W_xy > 0 ⇔ W_yx > 0. The diagonal is
            either all zero (filled in) or already minus the escape rates (columns sum to 0).
        p0: initial distribution (n,), entries ≥ 0 summing to 1.
        tlist: strictly increasing times (T,).

    Returns:
        :class:`SFSBound`; ``.bound`` (T,) is the bound on t − t0 (0 at t0).

    Example:
        >>> import numpy as np
        >>> out = shiraishi_funo_saito(np.array([[0., 1.], [2., 0.]]), np.array([1., 0.]), np.linspace(0, 1, 11))
        >>> bool(np.all(out.bound <= out.elapsed))
        True
    """
    W = _as_generator(rates)
    t = _as_times(tlist, "tlist")
    p = np.asarray(p0, dtype=float)
    n = W.shape[-1]
    if p.shape != (n,):
        raise ValueError(f"p0 must have shape ({n},) to match rates, got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"p0 must have finite entries >= 0, got {p}")
    if abs(p.sum() - 1.0) > 1e-10:
        raise ValueError(f"p0 must sum to 1 (a probability vector), but it sums to {p.sum():.12g}")
    if W.ndim == 3 and W.shape[0] not in (t.shape[0], t.shape[0] - 1):
        raise ValueError(f"rates has {W.shape[0]} time slices but tlist has {t.shape[0]} times; give T or T-1 slices")
    Wk = np.broadcast_to(W, (t.shape[0] - 1, n, n)) if W.ndim == 2 else W[: t.shape[0] - 1]
    return _sfs_core(jnp.asarray(Wk), jnp.asarray(p), jnp.asarray(t))


def _rates_ep_activity(W, p):
    n = W.shape[-1]
    flux = W * p[None, :]  # flux[x, y] = W_xy p_y (jump y -> x)
    off = 1.0 - jnp.eye(n)
    a = flux * off
    b = a.T
    pos = (a > 0) & (b > 0)
    la = jnp.log(jnp.where(pos, a, 1.0)) - jnp.log(jnp.where(pos, b, 1.0))
    # a > 0 with b = 0 (p_x = 0 with W_yx > 0): the log singularity is integrable; a Gauss node
    # never sits at the singular time, so the only such case is p exactly 0 which yields a = 0 too.
    sigma = 0.5 * jnp.sum(jnp.where(pos, (a - b) * la, 0.0))
    return sigma, jnp.sum(a)


@jax.jit
def _sfs_core(Wk, p0, t):
    x = jnp.asarray(_GL_X)
    w = jnp.asarray(_GL_W)

    def step(p, inp):
        W, dt = inp
        s = 0.5 * dt * (x + 1.0)
        ps = jax.vmap(lambda si: jax.scipy.linalg.expm(W * si) @ p)(s)
        ps = jnp.clip(ps, 0.0, None)
        sig, act = jax.vmap(lambda q: _rates_ep_activity(W, q))(ps)
        p_next = jax.scipy.linalg.expm(W * dt) @ p
        return p_next, (p_next, 0.5 * dt * jnp.sum(w * sig), 0.5 * dt * jnp.sum(w * act))

    _, (ps, dsig, dact) = jax.lax.scan(step, p0, (Wk, jnp.diff(t)))
    p = jnp.concatenate([p0[None], ps])
    sig = jnp.concatenate([jnp.zeros(1), jnp.cumsum(dsig)])
    act = jnp.concatenate([jnp.zeros(1), jnp.cumsum(dact)])
    tau = t - t[0]
    mean_act = act / jnp.where(tau > 0, tau, 1.0)
    dist = jnp.sum(jnp.abs(p - p0[None]), axis=-1)
    denom = 2.0 * sig * mean_act
    bound = jnp.where((tau > 0) & (denom > 0), dist**2 / jnp.where(denom > 0, denom, 1.0), 0.0)
    return SFSBound(bound, tau, dist, sig, mean_act, p)


# --------------------------------------------------------------------------------------------
# thermodynamic length
# --------------------------------------------------------------------------------------------


def thermodynamic_length(friction: Callable[[jnp.ndarray], jnp.ndarray], lam: Any) -> jnp.ndarray:
    """Thermodynamic length L = ∫ √(dλᵀ ζ(λ) dλ) of a control path (Salamon & Berry, PRL 51,
    1127 (1983); Crooks, PRL 99, 100602 (2007)).

    Computed with the midpoint rule on the sampled path (ζ evaluated at segment midpoints).

    Args:
        friction: ζ(λ): a JAX function of one control point (d,) (or a scalar for d = 1)
            returning the (d, d) friction tensor (or a scalar), units energy × time / [λ]².
        lam: path (K,) for a scalar control or (K, d), K ≥ 2 samples ordered along the path.

    Returns:
        Scalar L, units √(energy × time).

    Example:
        >>> import jax.numpy as jnp
        >>> float(thermodynamic_length(lambda l: 4.0, jnp.linspace(0, 3, 11)))
        6.0
    """
    function(friction, "friction", "zeta(lam)")
    lam_a = np.asarray(lam, dtype=float)
    if lam_a.ndim not in (1, 2) or lam_a.shape[0] < 2:
        raise ValueError(f"lam must have shape (K,) or (K, d) with K >= 2, got {lam_a.shape}")
    if not np.all(np.isfinite(lam_a)):
        raise ValueError("lam contains NaN or inf; the path must be finite")
    scalar = lam_a.ndim == 1
    L2 = jnp.asarray(lam_a[:, None] if scalar else lam_a)
    mid = 0.5 * (L2[1:] + L2[:-1])
    dl = jnp.diff(L2, axis=0)
    d = L2.shape[1]

    def zeta(m):
        z = jnp.asarray(friction(m[0] if scalar else m), dtype=float)
        return jnp.broadcast_to(z.reshape((1, 1)) if z.size == 1 else z, (d, d))

    Z = jax.vmap(zeta)(mid)
    q = jnp.einsum("ki,kij,kj->k", dl, Z, dl)
    if bool(jnp.any(q < -1e-12 * jnp.max(jnp.abs(q)))):
        raise ValueError("friction is not positive semidefinite along lam (dλᵀ ζ dλ < 0)")
    return jnp.sum(jnp.sqrt(jnp.clip(q, 0.0, None)))


def thermodynamic_length_bound(length: Any, tau: Any) -> jnp.ndarray:
    """Linear-response bound on the excess work: W_ex ≥ L² / τ (Salamon & Berry 1983; Sivak &
    Crooks, PRL 108, 190602 (2012)).

    By Cauchy–Schwarz, every protocol of duration τ whose excess work is the linear-response
    functional W_ex = ∫ λ̇ᵀ ζ(λ) λ̇ dt costs at least L²/τ, with equality at constant
    thermodynamic speed. It is a *slow-driving* statement: exact finite-τ costs can be lower
    (e.g. the Schmiedl–Seifert optimum for trap translation, λ_f²/(τ + 2) < λ_f²/τ).

    Args:
        length: thermodynamic length L (scalar or array), √(energy × time).
        tau: protocol duration(s) > 0, broadcast against ``length``.

    Returns:
        L²/τ (energy), broadcast shape.

    Example:
        >>> import numpy as np
        >>> thermodynamic_length_bound(6.0, np.array([1.0, 2.0])).tolist()
        [36.0, 18.0]
    """
    Ln = np.asarray(length, dtype=float)
    tn = np.asarray(tau, dtype=float)
    if not np.all(np.isfinite(tn)) or np.any(tn <= 0):
        raise ValueError(f"tau must be finite and > 0, got {tn}")
    if not np.all(np.isfinite(Ln)) or np.any(Ln < 0):
        raise ValueError(f"length must be finite and >= 0, got {Ln}")
    return jnp.asarray(Ln**2 / tn)
