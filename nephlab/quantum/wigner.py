"""The Wigner function of a single bosonic mode, in QuTiP's convention, by Clenshaw recursion."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import real_array, real_number
from ._convert import check_finite, check_hermitian, is_qobj, to_numpy

__all__ = ["wigner"]


def _as_states(rho: Any) -> np.ndarray:
    """Kets (n,), (..., n, 1), Qobj kets/bras -> density matrices (..., n, n)."""
    if is_qobj(rho) and rho.type not in ("ket", "bra", "oper"):
        raise TypeError(f"rho must be a ket or a density matrix, got a Qobj of type {rho.type!r}")
    arr = to_numpy(rho, "rho")
    check_finite(arr, "rho")
    if is_qobj(rho) and rho.type == "bra":
        arr = np.conj(arr.T)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim < 2:
        raise ValueError(f"rho must be a ket (n,) / (..., n, 1) or a density matrix (..., n, n), got shape {arr.shape}")
    if arr.shape[-1] == 1 and arr.shape[-2] > 1:
        return arr @ np.conj(np.swapaxes(arr, -1, -2))
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"rho must be a ket (n,) / (..., n, 1) or a density matrix (..., n, n), got shape {arr.shape}")
    check_hermitian(arr, "rho", "density matrix")
    return arr


def _laguerre_series(L: int, x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``Σ_k c_k ℓ_k^L(x)`` with ``ℓ_k^L = (-1)^k sqrt(L! k!/(L+k)!) L_k^L(x)`` (normalised
    associated Laguerre polynomials), by Clenshaw's recursion: no factorials, stable for large
    k. ``c`` (..., K) broadcasts against ``x`` (P, X) through two trailing axes."""
    c = c[..., None, None]
    K = c.shape[-3]
    if K == 1:
        y0, y1 = c[..., 0, :, :], 0.0
    elif K == 2:
        y0, y1 = c[..., 0, :, :], c[..., 1, :, :]
    else:
        k = K
        y0, y1 = c[..., K - 2, :, :], c[..., K - 1, :, :]
        for i in range(3, K + 1):
            k -= 1
            y0, y1 = (c[..., K - i, :, :] - y1 * np.sqrt((k - 1) * (L + k - 1) / ((L + k) * k)),
                      y0 - y1 * ((L + 2 * k - 1) - x) / np.sqrt((L + k) * k))
    return y0 - y1 * ((L + 1) - x) / np.sqrt(L + 1)


def wigner(rho: Any, xvec: Any, pvec: Any, *, g: float = np.sqrt(2.0)) -> np.ndarray:
    """Wigner function ``W(x, p)`` of a state of one bosonic mode in the Fock basis.

    QuTiP's convention (``qutip.wigner``): ``a = g (x + i p) / 2``, so the default ``g = √2``
    means ``[x, p] = i`` (ħ = 2/g² = 1) and the vacuum is ``W = exp(-x² - p²)/π``; ``W`` is
    normalised to ``∫∫ W dx dp = 1``. Evaluated as ``W = (g²/2π) e^{-|2a|²/2} Re Σ_L c_L (2a)^L/√L!``
    with ``c_L`` sums of the L-th diagonal of ρ times normalised associated Laguerre polynomials,
    both sums by Horner/Clenshaw recursions (no factorials), stable for n of several hundred.

    Args:
        rho: a ket (n,), (n, 1) or a ``Qobj`` ket/bra, a batch of kets (..., n, 1), or density
            matrices (..., n, n) (NumPy, JAX or ``Qobj``); Hermitian. Leading axes are batch axes.
        xvec: (X,) finite real x (quadrature) values.
        pvec: (P,) finite real p values.
        g: positive scaling factor (default √2).

    Returns:
        real NumPy array batch + (P, X): ``W[..., j, k]`` at ``(xvec[k], pvec[j])`` as in QuTiP.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import wigner
        >>> W = wigner(np.array([1.0, 0.0]), [0.0], [0.0])     # vacuum: 1/π at the origin
        >>> round(float(W[0, 0] * np.pi), 12)
        1.0
    """
    xs = real_array(xvec, "xvec", ndim=1, min_size=1)
    ps = real_array(pvec, "pvec", ndim=1, min_size=1)
    gv = real_number(g, "g", positive=True)
    r = _as_states(rho)
    M = r.shape[-1]
    X, P = np.meshgrid(xs, ps)
    A2 = gv * (X + 1j * P)  # 2a
    B = np.abs(A2) ** 2
    w = np.zeros(r.shape[:-2] + B.shape, np.complex128)
    for L in range(M - 1, -1, -1):
        c = np.diagonal(r, offset=L, axis1=-2, axis2=-1) * (1.0 if L == 0 else 2.0)  # ρ_{k, k+L}
        w = _laguerre_series(L, B, c) + w * A2 / np.sqrt(L + 1)
    return w.real * np.exp(-0.5 * B) * (gv * gv / (2.0 * np.pi))
