"""Scaled cumulant generating functions of overdamped diffusions from a discretised tilted generator.

Model (units: time t, length x; ``sigma`` in x / sqrt(t))::

    dX = F(X) dt + sigma dW,        D = sigma**2 / 2,
    A_t = int_0^t f(X_s) ds,
    theta(s) = lim_{t -> oo} (1/t) ln < exp(-s A_t) >

(the one SCGF convention of :mod:`nephlab.largedev`). theta(s) is the largest eigenvalue of the
tilted generator ``L_s = F d/dx + D d^2/dx^2 - s f(x)``.

Discretisation: the square-root approximation (SqRA) on a uniform grid with reflecting (no-flux)
edges.  A jump i -> j between neighbouring nodes at spacing h has rate
``(D / h**2) exp(h F(x_mid) . e_ij / (2 D))`` (in 2D with F = -grad V: ``exp(-(V_j - V_i)/(2D))``).
The chain obeys detailed balance with respect to ``exp(-V/D)``, so the ground-state transform
``pi^{1/2} L pi^{-1/2}`` is symmetric (off-diagonals exactly ``D / h**2``) and its largest
eigenvalue is real.  The scheme is consistent to second order: the error of theta(s) is O(h**2).
In 1D every drift is a gradient, so any ``F`` is accepted.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from nephlab._validate import real_array, positive_float, uniform_grid
from nephlab.largedev._conventions import accepts_deprecated_k

__all__ = ["scgf_diffusion_1d", "scgf_diffusion_2d", "sqra_generator_1d", "sqra_generator_2d"]

#: Minimum number of grid points per characteristic length sqrt(D / max|F'|).
POINTS_PER_LENGTH = 10


def _eval(fn, name: str, *args) -> np.ndarray:
    if not callable(fn):
        raise TypeError(f"{name} must be a vectorised callable, got {type(fn).__name__}")
    out = np.asarray(fn(*args), dtype=float)
    out = np.broadcast_to(out, np.broadcast(*args).shape).astype(float)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} returned non-finite values on the grid")
    return out


def _check_resolution(h: float, D: float, dF: np.ndarray, name: str) -> None:
    curv = float(np.max(np.abs(dF))) if dF.size else 0.0
    if curv <= 0:
        return
    ell = np.sqrt(D / curv)
    if h > ell / POINTS_PER_LENGTH:
        raise ValueError(
            f"{name} too coarse: spacing h={h:.4g} but the characteristic length "
            f"sqrt(D/max|F'|)={ell:.4g} needs h <= {ell / POINTS_PER_LENGTH:.4g} "
            f"({POINTS_PER_LENGTH} points per length)")


def sqra_generator_1d(drift: Callable, sigma: float, x) -> tuple[np.ndarray, np.ndarray]:
    """Rates of the SqRA chain for ``dX = F(X) dt + sigma dW`` on the uniform grid ``x``.

    Args:
        drift: vectorised ``F(x)`` (length / time).
        sigma: noise amplitude (length / sqrt(time)), > 0.
        x: shape (n,), uniform increasing grid; edges are reflecting.

    Returns:
        ``(up, down)``, each shape (n-1,): rate i -> i+1 and rate i+1 -> i (1 / time).

    Example:
        >>> up, down = sqra_generator_1d(lambda x: -x, 1.0, np.linspace(-1, 1, 5))
        >>> bool(np.allclose(up * down, (0.5 / 0.5**2) ** 2))
        True
    """
    sigma = positive_float(sigma, "sigma")
    x, h = uniform_grid(x, "x")
    D = 0.5 * sigma**2
    Fm = _eval(drift, "drift", 0.5 * (x[1:] + x[:-1]))
    expo = h * Fm / (2 * D)
    if np.max(np.abs(expo)) > 300:
        raise ValueError(f"x: spacing h={h:g} too coarse for the drift (h*|F|/(2D) up to "
                         f"{np.max(np.abs(expo)):.3g} overflows)")
    c = D / h**2
    return c * np.exp(expo), c * np.exp(-expo)


@accepts_deprecated_k
def scgf_diffusion_1d(s, observable: Callable, drift: Callable, sigma: float, x,
                      *, check_domain: bool = True) -> np.ndarray:
    """SCGF ``theta(s) = lim (1/t) ln <exp(-s int_0^t f(X) du)>`` of a 1D overdamped diffusion.

    Sign convention: the one of :mod:`nephlab.largedev` (s > 0 favours small A).

    Args:
        s: scalar or array of any shape (1 / units of A); the bias.
        observable: vectorised ``f(x)`` (units of A per time).
        drift: vectorised ``F(x)`` (length / time); ``dX = F dt + sigma dW``.
        sigma: noise amplitude (length / sqrt(time)), > 0.
        x: shape (n,), uniform grid covering where the tilted ground state lives; reflecting edges.
            It must resolve the drift: ``h <= sqrt(D / max|F'|) / 10`` with ``D = sigma**2/2``.
        check_domain: estimate where theta is finite from the growth of the confining
            Schroedinger potential ``W = F**2/(4D) + F'/2`` against ``f`` at the grid edges and raise
            for s outside; also raise when the tilted ground state piles up at an edge.
        k: deprecated keyword of the old convention ``lambda(k) = lim (1/t) ln <exp(+k A_t)>``;
            ``k=`` is the same as ``s=-k`` (``DeprecationWarning``).

    Returns:
        theta(s), same shape as ``s`` (1 / time).  Error O(h**2) from the grid.

    Raises:
        ValueError: s outside the domain where theta is finite (naming s and the bound), a grid
            too coarse for the drift, or a ground state that reaches the grid edge.

    Example (Ornstein-Uhlenbeck around 1, A = int X dt: exact -s + sigma**2 s**2 / (2 gamma**2)):
        >>> x = np.linspace(-7, 9, 801)
        >>> theta = scgf_diffusion_1d(0.5, lambda x: x, lambda x: 1.0 - x, 1.0, x)
        >>> round(float(theta), 4)
        -0.375
    """
    sigma = positive_float(sigma, "sigma")
    x, h = uniform_grid(x, "x")
    ss = real_array(s, "s")
    D = 0.5 * sigma**2
    F = _eval(drift, "drift", x)
    f = _eval(observable, "observable", x)
    dF = np.diff(F) / h
    _check_resolution(h, D, dF, "x")
    up, down = sqra_generator_1d(drift, sigma, x)
    out_rate = np.zeros_like(x)
    out_rate[:-1] += up
    out_rate[1:] += down
    off = np.full(x.size - 1, D / h**2)  # sqrt(up * down), symmetrised chain

    if check_domain:
        lo, hi = _s_domain(x, F, f, D)
        bad = ss[(ss >= hi) | (ss <= lo)]
        if bad.size:
            sb = float(bad.flat[0])
            bound = f"s < {hi:.6g}" if sb >= hi else f"s > {lo:.6g}"
            raise ValueError(
                f"s={sb:g} is outside the domain where theta(s) is finite: need {bound} "
                f"(estimated from the growth of F**2/(4D)+F'/2 against the observable at the edges of x; "
                f"if theta is finite beyond, widen x)")

    res = np.empty(ss.size)
    for n, sv in enumerate(ss.ravel()):
        d = -out_rate - sv * f
        w, v = sla.eigh_tridiagonal(d, off, select="i", select_range=(x.size - 1, x.size - 1))
        res[n] = w[0]
        if check_domain:
            psi = np.abs(v[:, 0])
            if max(psi[0], psi[-1]) > 1e-6 * psi.max():
                raise ValueError(
                    f"s={sv:g}: the tilted ground state reaches the edge of x=[{x[0]:g}, {x[-1]:g}]"
                    f" (edge weight {max(psi[0], psi[-1]) / psi.max():.2g}); widen the grid, or s "
                    f"is outside the domain where theta(s) is finite")
    return res.reshape(ss.shape)


def _s_domain(x, F, f, D) -> tuple[float, float]:
    """(lower, upper) bound on s for which W + s f stays confining at both edges."""
    dF = np.gradient(F, x)
    W = F**2 / (4 * D) + 0.5 * dF
    m = max(2, x.size // 10)
    lo, hi = -np.inf, np.inf
    for inner, outer in ((m, 0), (-1 - m, -1)):
        dW, df = W[outer] - W[inner], f[outer] - f[inner]
        if df > 0:
            lo = max(lo, -dW / df)
        elif df < 0:
            hi = min(hi, -dW / df)
    return lo, hi


def sqra_generator_2d(potential: Callable, D: float, x, y) -> sp.csr_matrix:
    """Sparse SqRA generator of ``dX = -grad V dt + sqrt(2D) dW`` on a uniform 2D grid.

    Args:
        potential: vectorised ``V(X, Y)`` (energy / friction, i.e. length**2 / time units of D).
        D: diffusion constant (length**2 / time), > 0.
        x, y: shapes (nx,), (ny,), uniform grids with the same spacing; reflecting edges.

    Returns:
        csr matrix, shape (nx*ny, nx*ny), flattened in ``indexing='ij'`` order (node ``i*ny+j``);
        ``L[a, b]`` is the rate a -> b and rows sum to zero.

    Example:
        >>> L = sqra_generator_2d(lambda X, Y: X**2 + Y**2, 1.0, np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
        >>> L.shape, bool(abs(L.sum(axis=1)).max() < 1e-12)
        ((25, 25), True)
    """
    D = positive_float(D, "D")
    x, hx = uniform_grid(x, "x")
    y, hy = uniform_grid(y, "y")
    if abs(hx - hy) > 1e-9 * hx:
        raise ValueError(f"x and y must have the same spacing, got {hx:g} and {hy:g}")
    X, Y = np.meshgrid(x, y, indexing="ij")
    phi = _eval(potential, "potential", X, Y) / D
    nx, ny = X.shape
    idx = np.arange(nx * ny).reshape(nx, ny)
    rows, cols, vals = [], [], []
    for a, b, pa, pb in ((idx[:-1, :], idx[1:, :], phi[:-1, :], phi[1:, :]),
                         (idx[:, :-1], idx[:, 1:], phi[:, :-1], phi[:, 1:])):
        dphi = (pb - pa).ravel()
        if np.max(np.abs(dphi)) > 600:
            raise ValueError(f"x, y: spacing {hx:g} too coarse for the potential (|dV|/D between "
                             f"neighbours up to {np.max(np.abs(dphi)):.3g})")
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
        vals += [D / hx**2 * np.exp(-dphi / 2), D / hx**2 * np.exp(dphi / 2)]
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    L = sp.csr_matrix((vals, (rows, cols)), shape=(nx * ny, nx * ny))
    L = L - sp.diags(np.asarray(L.sum(axis=1)).ravel())
    return L.tocsr()


@accepts_deprecated_k
def scgf_diffusion_2d(s, observable: Callable, potential: Callable, sigma: float, x, y) -> np.ndarray:
    """SCGF ``theta(s) = lim (1/t) ln <exp(-s int f(X, Y) dt)>`` of the 2D gradient diffusion
    ``dX = -grad V dt + sigma dW`` (the sign convention of :mod:`nephlab.largedev`).

    Args:
        s: scalar or array (1 / units of A); the bias.
        observable: vectorised ``f(X, Y)``.
        potential: vectorised ``V(X, Y)`` (length**2 / time); drift is ``-grad V``.
        sigma: noise amplitude (length / sqrt(time)), > 0.
        x, y: shapes (nx,), (ny,), uniform grids with equal spacing; reflecting edges.
        k: deprecated keyword of the old convention, ``k=`` is ``s=-k`` (``DeprecationWarning``).

    Returns:
        theta(s), same shape as ``s`` (1 / time); error O(h**2).  No domain check in 2D:
        the caller must keep s where the tilted ground state stays inside the grid.

    Example (2D OU, separable: 2 * 0.125):
        >>> g = np.linspace(-6, 6, 121)
        >>> theta = scgf_diffusion_2d(-0.5, lambda X, Y: X + Y, lambda X, Y: (X**2 + Y**2) / 2, 1.0, g, g)
        >>> round(float(theta), 2)
        0.25
    """
    sigma = positive_float(sigma, "sigma")
    D = 0.5 * sigma**2
    L = sqra_generator_2d(potential, D, x, y)
    x, _ = uniform_grid(x, "x")
    y, _ = uniform_grid(y, "y")
    X, Y = np.meshgrid(x, y, indexing="ij")
    V = _eval(potential, "potential", X, Y).ravel()
    f = _eval(observable, "observable", X, Y).ravel()
    ss = real_array(s, "s")
    # ground-state transform: S = pi^{1/2} L pi^{-1/2}, pi ~ exp(-V/D)
    root_pi = np.exp(-(V - V.min()) / (2 * D))
    S = sp.diags(root_pi) @ L @ sp.diags(1 / root_pi)
    S = 0.5 * (S + S.T)
    res = np.empty(ss.size)
    for n, sv in enumerate(ss.ravel()):
        H = (S - sp.diags(sv * f)).tocsc()
        # start from the s = 0 ground state: deterministic, and close for small |s|
        w = spla.eigsh(H, k=1, which="LA", v0=root_pi, return_eigenvectors=False, tol=1e-12)
        res[n] = w[0]
    return res.reshape(ss.shape)
