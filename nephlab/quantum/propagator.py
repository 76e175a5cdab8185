"""Unitary building blocks shared by the Magnus integrator and two-point-measurement statistics.

The fourth-order Magnus step uses the two Gauss–Legendre nodes ``t + (1/2 ∓ √3/6) h``:

    K = (h/2)(H1 + H2) - i (√3 h² / 12) [H2, H1],      U = exp(-i K)

``K`` is Hermitian, and ``U`` is computed through ``eigh`` so that it is unitary to machine
precision (every step is exactly norm preserving).
"""

from __future__ import annotations

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
