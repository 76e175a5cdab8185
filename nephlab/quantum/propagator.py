"""Unitary building blocks shared by the Magnus integrator and two-point-measurement statistics.

The fourth-order Magnus step uses the two Gauss–Legendre nodes ``t + (1/2 ∓ √3/6) h``:

    K = (h/2)(H1 + H2) - i (√3 h² / 12) [H2, H1],      U = exp(-i K)

``K`` is Hermitian, and ``U`` is computed through ``eigh`` so that it is unitary to machine
precision (every step is exactly norm preserving).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401

GAUSS_NODES = (0.5 - np.sqrt(3.0) / 6.0, 0.5 + np.sqrt(3.0) / 6.0)


def magnus4_exponent(H1: jnp.ndarray, H2: jnp.ndarray, h) -> jnp.ndarray:
    """Hermitian exponent ``K`` of one 4th-order Magnus step, ``U = exp(-i K)``.

    Args:
        H1, H2: Hamiltonians (..., n, n) at the Gauss nodes ``t + GAUSS_NODES[0]*h`` and
            ``t + GAUSS_NODES[1]*h`` (energy units, ħ = 1).
        h: step (time units); a scalar or an array broadcasting against the batch axes.

    Returns:
        (..., n, n) Hermitian matrix.

    Example:
        >>> from nephlab.quantum.operators import sigmax
        >>> K = magnus4_exponent(sigmax(), sigmax(), 0.1)
        >>> round(float(K[0, 1].real), 12)
        0.1
    """
    h = jnp.asarray(h)[..., None, None]
    comm = H2 @ H1 - H1 @ H2
    return 0.5 * h * (H1 + H2) - 1j * (np.sqrt(3.0) / 12.0) * h**2 * comm


def expm_hermitian(K: jnp.ndarray) -> jnp.ndarray:
    """``exp(-i K)`` for Hermitian ``K`` (..., n, n), through an eigendecomposition.

    The result is unitary to machine precision.

    Example:
        >>> import jax.numpy as jnp
        >>> U = expm_hermitian(jnp.zeros((2, 2), complex))
        >>> float(jnp.abs(U - jnp.eye(2)).max())
        0.0
    """
    K = 0.5 * (K + jnp.conj(jnp.swapaxes(K, -1, -2)))
    w, v = jnp.linalg.eigh(K)
    return (v * jnp.exp(-1j * w)[..., None, :]) @ jnp.conj(jnp.swapaxes(v, -1, -2))


@jax.jit
def _step_unitaries(H1, H2, h):
    return expm_hermitian(magnus4_exponent(H1, H2, h))


def _magnus_steps(Hs: Callable[[np.ndarray], np.ndarray], t0: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One 4th-order Magnus step from each ``t0[j]`` of length ``h[j]``: (m, n, n) unitaries."""
    m = len(t0)
    pad = 1 << max(0, int(m - 1).bit_length())  # bucket the batch size: few compilations
    Hn = Hs(np.concatenate([t0 + GAUSS_NODES[0] * h, t0 + GAUSS_NODES[1] * h]))
    n = Hn.shape[-1]
    H1 = np.zeros((pad, n, n), np.complex128)
    H2 = np.zeros((pad, n, n), np.complex128)
    H1[:m], H2[:m] = Hn[:m], Hn[m:]
    hp = np.zeros(pad)
    hp[:m] = h
    return np.asarray(_step_unitaries(H1, H2, hp))[:m]


def _ordered_product(Us: np.ndarray) -> np.ndarray:
    """``U_{m-1} ... U_1 U_0`` of (m, n, n) matrices, by pairwise products (log2 m rounds)."""
    while len(Us) > 1:
        if len(Us) % 2:
            Us = np.concatenate([Us, np.eye(Us.shape[-1], dtype=Us.dtype)[None]])
        Us = Us[1::2] @ Us[0::2]
    return Us[0]


def adaptive_propagator(
    Hs: Callable[[np.ndarray], np.ndarray],
    tlist: np.ndarray,
    steps: np.ndarray,
    tol: float,
    max_steps: int,
) -> tuple[np.ndarray, int, float]:
    """Propagator ``U(tlist[-1], tlist[0])`` of ``i dU/dt = H(t) U`` by error-controlled Magnus steps.

    Every interval of ``tlist`` starts with ``steps[i]`` equal steps. Each step of length h is
    compared with two steps of length h/2 (step doubling); the difference ``e = ‖U_h - U_{h/2}²‖_F``
    estimates the error of the single step, and the two half steps, which are about 15 times
    more accurate (4th order), are kept when ``e ≤ tol · h / (t_f - t_0)`` (or ``e`` is at the
    rounding level ``100 n ε``); otherwise the step is halved and tried again. The estimates of
    the kept steps therefore sum to at most ``tol``, and since products of unitaries add their
    errors, ``‖U - U_exact‖ ≲ tol / 15`` in the operator norm once the steps are in the
    asymptotic regime; the factor 15 is the safety margin for steps that are not. The product
    is finally replaced by its nearest unitary (polar factor), a change at the rounding level
    that keeps probabilities summing to 1 over many steps.

    Args:
        Hs: ``Hs(ts) -> (len(ts), n, n)`` Hermitian Hamiltonians (energy units, ħ = 1), NumPy.
        tlist: (T,) increasing times; steps never cross them.
        steps: (T-1,) initial number of steps per interval (>= 1).
        tol: error target (> 0), dimensionless (U is unitary).
        max_steps: refuse (ValueError) to use more steps than this.

    Returns:
        ``(U, n_steps, error_estimate)``: the (n, n) unitary, the number of steps kept and
        ``Σ e / 15`` over the kept steps.

    Example:
        >>> import numpy as np
        >>> Hs = lambda ts: np.cos(40 * ts)[:, None, None] * np.array([[0, 1], [1, 0]], complex)
        >>> U, m, err = adaptive_propagator(Hs, np.array([0.0, 1.0]), np.array([4]), 1e-10, 10**6)
        >>> exact = np.sin(40.0) / 40.0     # U = exp(-i σx ∫cos(40t)dt), H commutes with itself
        >>> bool(abs(U[0, 1] - (-1j * np.sin(exact))) < 1e-10), err < 1e-10
        (True, True)
    """
    span = float(tlist[-1] - tlist[0])
    t0 = np.concatenate([tlist[i] + np.arange(m) * (tlist[i + 1] - tlist[i]) / m for i, m in enumerate(steps)])
    h = np.repeat(np.diff(tlist) / steps, steps)
    U_full = _magnus_steps(Hs, t0, h)
    n = U_full.shape[-1]
    floor = 100.0 * n * np.finfo(np.float64).eps
    kept_t, kept_U, kept_e = [], [], []
    while len(t0):
        half = 0.5 * h
        both = _magnus_steps(Hs, np.concatenate([t0, t0 + half]), np.concatenate([half, half]))
        Ua, Ub = both[: len(t0)], both[len(t0):]
        U_two = Ub @ Ua
        err = np.linalg.norm(U_two - U_full, axis=(-2, -1))
        ok = (err <= tol * h / span) | (err <= floor)
        kept_t.append(t0[ok])
        kept_U.append(U_two[ok])
        kept_e.append(err[ok])
        bad = ~ok
        if not bad.any():
            break
        total = sum(len(k) for k in kept_t) + 2 * int(bad.sum())
        if total > max_steps or np.any(half[bad] <= 1e-13 * span):
            raise ValueError(
                f"the propagator needs more than {min(total, max_steps)} Magnus steps (smallest "
                f"{half[bad].min():.3g} time units) to reach tol={tol:g}; loosen tol, or check that H(t) "
                "is smooth (a jump inside an interval of tlist should be a point of tlist)"
            )
        t0 = np.concatenate([t0[bad], t0[bad] + half[bad]])
        h = np.concatenate([half[bad], half[bad]])
        U_full = np.concatenate([Ua[bad], Ub[bad]])
    t_all = np.concatenate(kept_t)
    order = np.argsort(t_all, kind="stable")
    U = _ordered_product(np.concatenate(kept_U)[order])
    W, _, Vh = np.linalg.svd(U)  # nearest unitary (polar factor): removes rounding drift of many products
    return W @ Vh, int(len(t_all)), float(np.concatenate(kept_e).sum() / 15.0)
