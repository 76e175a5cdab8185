"""Standard quantum operators and states as JAX arrays (complex128).

Conventions follow QuTiP so that a QuTiP user can switch by changing the import:
``basis(2, 0)`` is the +1 eigenvector of ``sigmaz()``, ``sigmam()`` maps ``basis(2, 0)`` to
``basis(2, 1)``, and ``destroy(n)`` is the truncated bosonic annihilation operator.
All functions return ``jax.Array`` objects of dtype complex128.
"""

from __future__ import annotations

from functools import reduce

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (enables float64)


def _jax(x: np.ndarray) -> jnp.ndarray:
    """A NumPy array as a complex128 JAX array. Built on the host and copied with ``device_put``, an
    operator costs a fresh process no compilation (JAX compiles every eager ``jnp`` operation, and
    ``jnp.asarray`` of a host array, once per shape on first use: 5-100 ms each here)."""
    return jax.device_put(np.asarray(x, dtype=np.complex128))

__all__ = [
    "basis",
    "coherent",
    "create",
    "destroy",
    "fock_dm",
    "ket2dm",
    "num",
    "qeye",
    "sigmam",
    "sigmap",
    "sigmax",
    "sigmay",
    "sigmaz",
    "tensor",
    "thermal_dm",
]


def _check_dim(n, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {n!r} of type {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n}")
    return int(n)


def destroy(n: int) -> jnp.ndarray:
    """Annihilation operator ``a`` on a Fock space truncated to ``n`` levels.

    Returns an (n, n) complex128 array with ``a|k> = sqrt(k)|k-1>``.

    Example:
        >>> a = destroy(3)
        >>> float(a[0, 1].real), round(float(a[1, 2].real ** 2), 12)
        (1.0, 2.0)
    """
    n = _check_dim(n)
    return _jax(np.diag(np.sqrt(np.arange(1, n, dtype=float)), 1))


def create(n: int) -> jnp.ndarray:
    """Creation operator ``a†`` (n, n) on a Fock space truncated to ``n`` levels.

    Example:
        >>> ad = create(3)
        >>> float(ad[1, 0].real)
        1.0
    """
    n = _check_dim(n)
    return _jax(np.diag(np.sqrt(np.arange(1, n, dtype=float)), -1))


def num(n: int) -> jnp.ndarray:
    """Number operator ``a†a = diag(0, 1, ..., n-1)`` as an (n, n) array.

    Example:
        >>> [int(x.real) for x in jnp.diag(num(3))]
        [0, 1, 2]
    """
    n = _check_dim(n)
    return _jax(np.diag(np.arange(n, dtype=float)))


def qeye(n: int) -> jnp.ndarray:
    """Identity operator (n, n).

    Example:
        >>> qeye(2).shape
        (2, 2)
    """
    n = _check_dim(n)
    return _jax(np.eye(n))


def sigmax() -> jnp.ndarray:
    """Pauli X, [[0, 1], [1, 0]].

    Example:
        >>> sigmax()[0, 1].real.item()
        1.0
    """
    return _jax([[0, 1], [1, 0]])


def sigmay() -> jnp.ndarray:
    """Pauli Y, [[0, -i], [i, 0]].

    Example:
        >>> sigmay()[0, 1].imag.item()
        -1.0
    """
    return _jax([[0, -1j], [1j, 0]])


def sigmaz() -> jnp.ndarray:
    """Pauli Z, [[1, 0], [0, -1]]; ``basis(2, 0)`` is its +1 eigenstate (QuTiP's convention).

    Example:
        >>> sigmaz()[1, 1].real.item()
        -1.0
    """
    return _jax([[1, 0], [0, -1]])


def sigmap() -> jnp.ndarray:
    """Raising operator ``σ+ = |0><1|`` (maps ``basis(2, 1)`` to ``basis(2, 0)``), QuTiP's convention.

    Example:
        >>> sigmap()[0, 1].real.item()
        1.0
    """
    return _jax([[0, 1], [0, 0]])


def sigmam() -> jnp.ndarray:
    """Lowering operator ``σ- = |1><0|`` (maps ``basis(2, 0)`` to ``basis(2, 1)``), QuTiP's convention.

    Use ``sqrt(gamma) * sigmam()`` as the collapse operator of a decaying qubit.

    Example:
        >>> sigmam()[1, 0].real.item()
        1.0
    """
    return _jax([[0, 0], [1, 0]])


def basis(n: int, k: int = 0) -> jnp.ndarray:
    """Basis ket ``|k>`` of an ``n``-dimensional space, shape (n, 1).

    Example:
        >>> basis(3, 1)[:, 0].real.tolist()
        [0.0, 1.0, 0.0]
    """
    n = _check_dim(n)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < n:
        raise ValueError(f"k must be an integer in [0, {n - 1}], got {k!r}")
    ket = np.zeros((n, 1))
    ket[int(k), 0] = 1.0
    return _jax(ket)


def ket2dm(psi) -> jnp.ndarray:
    """Density matrix ``|psi><psi|`` of a ket of shape (..., n, 1) or (..., n).

    Example:
        >>> ket2dm(basis(2, 0))[0, 0].real.item()
        1.0
    """
    psi = jnp.asarray(psi, dtype=jnp.complex128)
    if psi.ndim >= 2 and psi.shape[-1] == 1:
        psi = psi[..., 0]
    return psi[..., :, None] * jnp.conj(psi)[..., None, :]


def fock_dm(n: int, k: int = 0) -> jnp.ndarray:
    """Fock-state density matrix ``|k><k|`` (n, n).

    Example:
        >>> fock_dm(3, 2)[2, 2].real.item()
        1.0
    """
    basis(n, k)  # checks n and k
    rho = np.zeros((n, n))
    rho[int(k), int(k)] = 1.0
    return _jax(rho)


def coherent(n: int, alpha: complex) -> jnp.ndarray:
    """Coherent state ket (n, 1), by displacing the vacuum in the truncated space and renormalising.

    Example:
        >>> psi = coherent(20, 1.0)
        >>> round(float(jnp.vdot(psi, psi).real), 12)
        1.0
    """
    import scipy.linalg

    n = _check_dim(n)
    a = np.diag(np.sqrt(np.arange(1, n, dtype=float)), 1)
    d = scipy.linalg.expm(alpha * a.T - np.conj(alpha) * a)
    psi = d[:, 0]
    return jnp.asarray((psi / np.linalg.norm(psi))[:, None], dtype=jnp.complex128)


def thermal_dm(n: int, nbar: float) -> jnp.ndarray:
    """Thermal (Gibbs) state of an oscillator truncated to ``n`` levels, mean occupation ``nbar``.

    The populations are ``p_k ∝ (nbar / (1 + nbar))**k``, renormalised on the truncated space
    (QuTiP's default). ``nbar`` must be finite and >= 0.

    Example:
        >>> rho = thermal_dm(30, 0.5)
        >>> round(float(jnp.trace(rho).real), 12)
        1.0
    """
    n = _check_dim(n)
    if not np.isfinite(nbar) or nbar < 0:
        raise ValueError(f"nbar must be a finite number >= 0, got {nbar!r}")
    if nbar == 0:
        return fock_dm(n, 0)
    k = np.arange(n)
    logp = k * (np.log(nbar) - np.log1p(nbar))
    p = np.exp(logp - logp.max())
    return _jax(np.diag(p / p.sum()))


def tensor(*ops) -> jnp.ndarray:
    """Kronecker product of operators or kets, in order (QuTiP's ``tensor``).

    Accepts either several arrays or a single list of arrays.

    Example:
        >>> tensor(sigmaz(), qeye(2)).shape
        (4, 4)
    """
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = tuple(ops[0])
    if not ops:
        raise ValueError("tensor needs at least one operator")
    arrs = [jnp.asarray(getattr(o, "full", lambda o=o: o)(), dtype=jnp.complex128) for o in ops]
    return reduce(lambda x, y: jnp.kron(x, y), arrs[1:], arrs[0]) if len(arrs) > 1 else arrs[0]


