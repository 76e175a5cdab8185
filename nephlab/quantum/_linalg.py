"""Small dense linear-algebra kernels in JAX."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

_TAYLOR_DEGREE = 16
_THETA = 1.0  # scale until ||A||_1 <= 1: the degree-16 remainder is below 1/17! ≈ 2.8e-15
_C = tuple(1.0 / math.factorial(k) for k in range(_TAYLOR_DEGREE + 1))


def expm(A: jnp.ndarray) -> jnp.ndarray:
    """Matrix exponential of a square (..., n, n) matrix by scaling and squaring a Taylor series.

    The degree-16 Taylor polynomial is evaluated with Paterson–Stockmeyer in 6 matrix products
    after scaling ``A`` by ``2^-s`` so that ``||A||_1 <= 1`` (truncation error below 3e-15
    relative), then squared ``s`` times. Matrix products only: no linear solve, so no LAPACK
    call (slow on some CPU BLAS builds) and the same code on CPU and GPU.

    Example:
        >>> import jax.numpy as jnp
        >>> float(expm(jnp.array([[0.0, 1.0], [0.0, 0.0]]))[0, 1])
        1.0
    """
    n = A.shape[-1]
    norm = jnp.max(jnp.sum(jnp.abs(A), axis=-2), axis=-1)
    s = jnp.maximum(0, jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300) / _THETA))).astype(jnp.int32)
    s = jnp.max(s)  # one scaling for a batch keeps the loop shared
    B = A * (0.5 ** s).astype(A.dtype)
    eye = jnp.eye(n, dtype=A.dtype)
    B2 = B @ B
    B3 = B2 @ B
    B4 = B2 @ B2
    c = _C

    def block(j):
        return c[4 * j] * eye + c[4 * j + 1] * B + c[4 * j + 2] * B2 + c[4 * j + 3] * B3

    P = block(3) + c[16] * B4
    P = block(2) + B4 @ P
    P = block(1) + B4 @ P
    P = block(0) + B4 @ P
    return lax.fori_loop(0, s, lambda i, R: R @ R, P)
