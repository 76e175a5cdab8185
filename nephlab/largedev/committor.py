"""Committors, transition path theory (TPT) and reaction rates.

Dynamics (overdamped Langevin, friction ``gamma``, inverse temperature ``beta``; energy units of V)::

    gamma dX = -grad V(X) dt + sqrt(2 gamma / beta) dW        (D = 1 / (beta gamma))

Markov chains: ``W[i, j]`` is the rate i -> j (1 / time) for i != j; the diagonal of ``W`` is
ignored and the generator is ``L = W - diag(W.sum(1))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.integrate as si
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from nephlab._result import ResultBase, attr, var
from nephlab._validate import (real_array, finite_float, index_mask, integer, positive_float, region, uniform_grid,
                               vectorised_callable)
from nephlab.largedev.diffusion import sqra_generator_1d, sqra_generator_2d
from nephlab.largedev.potentials import double_well_2d, muller_brown

__all__ = ["committor_1d", "committor_2d", "muller_brown", "double_well_2d", "tpt", "TPTResult",
           "kramers_rate", "mfpt_rate_1d", "grid_rate_1d", "committor_to_xarray", "reactive_paths_2d"]


def committor_1d(V: Callable, a: float, b: float, beta: float, x):
    """Exact 1D committor ``q(x) = int_a^x e^{beta V} / int_a^b e^{beta V}`` (A = {x<=a}, B = {x>=b}).

    Args:
        V: potential, callable on floats (energy).
        a, b: boundaries of A and B (length), ``a < b``.
        beta: inverse temperature (1 / energy), > 0.
        x: scalar or array of any shape (length).  Points with x <= a give 0, x >= b give 1.

    Returns:
        q, same shape as ``x``; adaptive quadrature (scipy ``quad``, relative tolerance 1e-12).

    Example:
        >>> q = committor_1d(lambda x: (x**2 - 1)**2, -1.0, 1.0, 3.0, [0.0, 0.5])
        >>> [round(float(v), 6) for v in q]
        [0.5, 0.929389]
    """
    vectorised_callable(V, "V")
    a, b = finite_float(a, "a"), finite_float(b, "b")
    if not a < b:
        raise ValueError(f"a must be < b, got a={a!r}, b={b!r}")
    beta = positive_float(beta, "beta")
    xx = real_array(x, "x")
    s = np.linspace(a, b, 2001)
    vref = max(float(V(float(t))) for t in s)
    g = lambda t: np.exp(beta * (float(V(t)) - vref))  # noqa: E731
    kw = dict(epsabs=0.0, epsrel=1e-12, limit=200)
    Z = si.quad(g, a, b, **kw)[0]
    out = np.empty(xx.size)
    for n, xv in enumerate(xx.ravel()):
        out[n] = 0.0 if xv <= a else 1.0 if xv >= b else si.quad(g, a, xv, **kw)[0] / Z
    return out.reshape(xx.shape)


def _grid_mask(S, name: str, X, Y) -> np.ndarray:
    """Boolean mask on the grid of a region: a function ``f(X, Y)`` or a disk ``((cx, cy), r)``."""
    spec = region(S, name, 2, traced=False)
    if spec[0] == "callable":
        m = np.broadcast_to(np.asarray(spec[1](X, Y), dtype=bool), X.shape)
    else:
        (cx, cy), r = spec[1], spec[2]
        m = (X - cx)**2 + (Y - cy)**2 <= r**2
    if not m.any():
        raise ValueError(f"{name} contains no grid point; enlarge it or refine the grid")
    return m


def committor_2d(V: Callable, A, B, beta: float, x, y) -> np.ndarray:
    """Committor on a 2D grid from the backward Kolmogorov equation ``L q = 0``.

    ``L = -grad V . grad + beta^{-1} Laplacian`` (time in units of gamma = 1), discretised by the
    square-root approximation (second order, reflecting outer edges), with ``q = 0`` on A and
    ``q = 1`` on B; solved by ``scipy.sparse.linalg.spsolve``.

    Args:
        V: vectorised potential ``V(X, Y)`` (energy).
        A, B: boolean functions ``f(X, Y)`` or disks ``((cx, cy), radius)`` (length); disjoint.
        beta: inverse temperature (1 / energy), > 0.
        x, y: shapes (nx,), (ny,), uniform grids with equal spacing (length).

    Returns:
        q, shape (nx, ny) (``indexing='ij'``: ``q[i, j]`` at ``(x[i], y[j])``), values in [0, 1].

    Example:
        >>> g = np.linspace(-1.5, 1.5, 61)
        >>> q = committor_2d(double_well_2d, lambda X, Y: X <= -1, lambda X, Y: X >= 1, 3.0, g, g)
        >>> round(float(q[30, 30]), 6)
        0.5
    """
    vectorised_callable(V, "V")
    beta = positive_float(beta, "beta")
    L = sqra_generator_2d(lambda X, Y: V(X, Y), 1.0 / beta, x, y)
    x, _ = uniform_grid(x, "x")
    y, _ = uniform_grid(y, "y")
    X, Y = np.meshgrid(x, y, indexing="ij")
    mA, mB = _grid_mask(A, "A", X, Y).ravel(), _grid_mask(B, "B", X, Y).ravel()
    if (mA & mB).any():
        raise ValueError("A and B overlap on the grid; they must be disjoint")
    q = _dirichlet_solve(L, mA, mB)
    return q.reshape(X.shape)


def reactive_paths_2d(V: Callable, A, B, beta: float, x, y, *, q=None, n_paths: int = 4, seed: int = 0,
                      max_steps: int = 200_000) -> list[np.ndarray]:
    """Exact reactive paths A -> B of the grid dynamics behind :func:`committor_2d`.

    The square-root-approximation generator ``W`` of the diffusion (the discretisation that
    :func:`committor_2d` solves) conditioned on reaching B before A is the jump process with
    rates ``W_ij q_j / q_i`` (Doob's h-transform by the committor q). Each path starts on a grid
    point just outside A, drawn with weight equal to the reactive flux out of A
    (``π_i W_ij q_j`` summed over i in A, π ∝ e^{-βV}), and runs until it enters B. Every path is an exact sample of the
    reactive (transition-path) ensemble of the discretised dynamics; no path re-enters A.

    Args:
        V, A, B, beta, x, y: as :func:`committor_2d` (time in units of γ = 1).
        q: the committor on the grid, shape (nx, ny); computed with :func:`committor_2d` if None.
        n_paths: number of paths (>= 1).
        seed: NumPy random seed.
        max_steps: jumps at most per path (a path that has not reached B by then is returned
            as it is and a ValueError is raised only if ``max_steps < 1``).

    Returns:
        list of ``n_paths`` arrays of shape ``(n_jumps + 1, 3)``, columns ``t`` (time), ``x``, ``y``.

    Example:
        >>> g = np.linspace(-1.5, 1.5, 31)
        >>> A, B = (lambda X, Y: X <= -1), (lambda X, Y: X >= 1)
        >>> p = reactive_paths_2d(double_well_2d, A, B, 3.0, g, g, n_paths=2, seed=1)
        >>> [bool(path[-1, 1] >= 1) for path in p]
        [True, True]
    """
    vectorised_callable(V, "V")
    beta = positive_float(beta, "beta")
    n_paths, max_steps = integer(n_paths, "n_paths"), integer(max_steps, "max_steps")
    x, _ = uniform_grid(x, "x")
    y, _ = uniform_grid(y, "y")
    if q is None:
        q = committor_2d(V, A, B, beta, x, y)
    q = np.asarray(q, dtype=float)
    if q.shape != (x.size, y.size):
        raise ValueError(f"q must have shape (len(x), len(y)) = {(x.size, y.size)}, got {q.shape}")
    X, Y = np.meshgrid(x, y, indexing="ij")
    in_A, in_B = _grid_mask(A, "A", X, Y).ravel(), _grid_mask(B, "B", X, Y).ravel()
    W = sp.csr_matrix(sqra_generator_2d(lambda X_, Y_: V(X_, Y_), 1.0 / beta, x, y))
    qf, Xf, Yf = q.ravel(), X.ravel(), Y.ravel()
    Wc = W.tocoo()
    leave = in_A[Wc.row] & ~in_A[Wc.col] & (qf[Wc.col] > 0)
    # reactive flux out of A into j: sum over i in A of pi_i W_ij q_j, pi ∝ exp(-beta V)
    Vf = np.asarray(V(X, Y), dtype=float).ravel()
    pi_i = np.exp(-beta * (Vf[Wc.row[leave]] - Vf[in_A].min()))
    starts, flux = Wc.col[leave], pi_i * Wc.data[leave] * qf[Wc.col[leave]]
    if starts.size == 0:
        raise ValueError("no reactive flux leaves A on this grid (A has no neighbour with q > 0)")
    rng = np.random.default_rng(seed)
    paths = []
    for _ in range(int(n_paths)):
        i = int(rng.choice(starts, p=flux / flux.sum()))
        t, traj = 0.0, [(0.0, Xf[i], Yf[i])]
        for _step in range(int(max_steps)):
            if in_B[i]:
                break
            lo, hi = W.indptr[i], W.indptr[i + 1]
            js, r = W.indices[lo:hi], W.data[lo:hi]
            keep = js != i
            js, r = js[keep], r[keep] * qf[js[keep]] / qf[i]
            tot = r.sum()
            t += rng.exponential(1.0 / tot)
            i = int(js[np.searchsorted(np.cumsum(r), rng.random() * tot)])
            traj.append((t, Xf[i], Yf[i]))
        paths.append(np.array(traj))
    return paths


def _dirichlet_solve(L, mA, mB) -> np.ndarray:
    L = sp.csr_matrix(L)
    free = ~(mA | mB)
    q = mB.astype(float)
    if free.any():
        Lff = L[free][:, free].tocsc()
        rhs = -np.asarray(L[free][:, mB].sum(axis=1)).ravel()
        q[free] = spla.spsolve(Lff, rhs)
    return q


@dataclass(frozen=True, repr=False)
class TPTResult(ResultBase):
    """Transition path theory quantities of a Markov chain (``W[i, j]`` = rate i -> j).

    Attributes (n = number of states):
        pi: (n,) stationary distribution.
        q_plus: (n,) forward committor (0 on A, 1 on B).
        q_minus: (n,) backward committor (1 on A, 0 on B).
        flux: (n, n) reactive flux ``pi_i q-_i W_ij q+_j`` (i != j), probability / time (dense, or
            scipy.sparse for more than 4000 states).
        net_flux: (n, n) ``max(flux_ij - flux_ji, 0)``.
        total_flux: F_AB, reactive trajectories A -> B per unit time.
        rate: ``k_AB = F_AB / rho_A`` with ``rho_A = sum pi q-`` (1 / time).
    """

    pi: np.ndarray = var("state", units="1", long_name="stationary distribution")
    q_plus: np.ndarray = var("state", units="1", long_name="forward committor")
    q_minus: np.ndarray = var("state", units="1", long_name="backward committor")
    flux: Any  # dense or sparse: added by to_xarray
    net_flux: Any
    total_flux: float = attr()
    rate: float = attr()

    xarray_attrs = {"units": "total_flux, rate: 1/time"}

    def to_xarray(self, states=None):
        """The result as an ``xarray.Dataset`` on dims ``state`` (and ``to`` for fluxes).

        Args:
            states: optional ``(n,)`` coordinate values of the states (e.g. grid positions);
                default ``0..n-1``.

        Example:
            >>> W = np.diag([2.0, 2.0, 2.0], 1) + np.diag([1.0, 1.0, 1.0], -1)
            >>> ds = tpt(W, [0], [3]).to_xarray()
            >>> ds.q_plus.dims, ds.flux.dims
            (('state',), ('state', 'to'))
        """
        n = self.pi.size
        st = np.arange(n) if states is None else np.asarray(states)
        if st.shape != (n,):
            raise ValueError(f"states must have shape ({n},), got {st.shape}")

        def dense(m):
            return m.toarray() if sp.issparse(m) else np.asarray(m)

        ds = super().to_xarray()
        ds = ds.assign(flux=(("state", "to"), dense(self.flux), {"long_name": "reactive flux", "units": "1/time"}),
                       net_flux=(("state", "to"), dense(self.net_flux),
                                 {"long_name": "net reactive flux", "units": "1/time"}))
        return ds.assign_coords(state=("state", st), to=("to", st))


def committor_to_xarray(q, x, y=None, *, name: str = "q"):
    """Wrap a committor array from :func:`committor_1d` / :func:`committor_2d` as an ``xarray.Dataset``.

    Args:
        q: shape ``(nx,)`` or ``(nx, ny)`` (``indexing='ij'``), dimensionless.
        x, y: grids (length) of shapes ``(nx,)``, ``(ny,)``; ``y`` only for 2D.
        name: variable name.

    Example:
        >>> g = np.linspace(-1.5, 1.5, 31)
        >>> q = committor_2d(double_well_2d, lambda X, Y: X <= -1, lambda X, Y: X >= 1, 3.0, g, g)
        >>> committor_to_xarray(q, g, g).q.dims
        ('x', 'y')
    """
    import xarray as xr

    q = np.asarray(q, dtype=float)
    x = np.asarray(x, dtype=float)
    dims, coords = ("x",), {"x": ("x", x, {"units": "length"})}
    if y is not None:
        y = np.asarray(y, dtype=float)
        dims = ("x", "y")
        coords["y"] = ("y", y, {"units": "length"})
    want = tuple(c[1].size for c in coords.values())
    if q.shape != want:
        raise ValueError(f"q must have shape {want} to match the grids, got {q.shape}")
    return xr.Dataset({name: (dims, q, {"long_name": "committor (probability to reach B before A)",
                                        "units": "1"})}, coords=coords)


def _stationary(L) -> np.ndarray:
    n = L.shape[0]
    M = sp.lil_matrix(L.T)
    M[n - 1, :] = np.ones(n)
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    pi = spla.spsolve(M.tocsc(), rhs)
    return pi


def tpt(W, A, B) -> TPTResult:
    """Transition path theory (Metzner-Schuette-Vanden-Eijnden) for a continuous-time chain.

    Args:
        W: (n, n) rate matrix, dense or scipy sparse; ``W[i, j]`` = rate i -> j >= 0 (1 / time);
            the diagonal is ignored.  The chain must be irreducible.
        A, B: disjoint, non-empty index arrays or boolean masks of length n.

    Returns:
        :class:`TPTResult`.  For reversible chains ``q_minus = 1 - q_plus``.

    Example (gambler's ruin, p = 2, q = 1, N = 3):
        >>> W = np.diag([2.0, 2.0, 2.0], 1) + np.diag([1.0, 1.0, 1.0], -1)
        >>> r = tpt(W, [0], [3])
        >>> np.round(r.q_plus, 4).tolist()
        [0.0, 0.5714, 0.8571, 1.0]
    """
    if sp.issparse(W):
        Wm = sp.csr_matrix(W, dtype=float)
        offdiag = Wm - sp.diags(Wm.diagonal())
        data = offdiag.data
    else:
        try:
            Wd = np.asarray(W, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"W must be a real (n, n) array or sparse matrix, got {type(W).__name__}") from None
        if Wd.ndim != 2 or Wd.shape[0] != Wd.shape[1]:
            raise ValueError(f"W must be square (n, n), got shape {Wd.shape}")
        Wd = Wd.copy()
        np.fill_diagonal(Wd, 0.0)
        offdiag = sp.csr_matrix(Wd)
        data = Wd
    n = offdiag.shape[0]
    if offdiag.shape[0] != offdiag.shape[1]:
        raise ValueError(f"W must be square (n, n), got shape {offdiag.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("W must be finite, got NaN/inf entries")
    if np.any(data < 0):
        i, j = (np.argwhere(offdiag.toarray() < 0)[0] if n < 5000 else (None, None))
        raise ValueError(f"W must have non-negative off-diagonal rates, got W[{i}, {j}] < 0")
    mA, mB = index_mask(A, "A", n), index_mask(B, "B", n)
    if (mA & mB).any():
        raise ValueError(f"A and B must be disjoint, both contain states {np.flatnonzero(mA & mB).tolist()}")
    ncomp, _ = sp.csgraph.connected_components(offdiag, directed=True, connection="strong")
    if ncomp > 1:
        raise ValueError(f"W must be irreducible, got {ncomp} strongly connected components")
    L = (offdiag - sp.diags(np.asarray(offdiag.sum(axis=1)).ravel())).tocsr()
    pi = _stationary(L)
    qp = _dirichlet_solve(L, mA, mB)
    # time-reversed generator: Lr_ij = pi_j L_ji / pi_i
    Lr = (sp.diags(1 / pi) @ L.T @ sp.diags(pi)).tocsr()
    qm = _dirichlet_solve(Lr, mB, mA)
    F = sp.diags(pi * qm) @ offdiag @ sp.diags(qp)
    F = F.toarray() if n <= 4000 else F
    net = F - F.T
    net = np.maximum(net, 0) if not sp.issparse(net) else net.maximum(0)
    total = float(np.asarray(F[mA][:, ~mA].sum()))
    rho_a = float(np.sum(pi * qm))
    return TPTResult(pi, qp, qm, F, net, total, total / rho_a)


def _second_derivative(V, x: float) -> float:
    h = 1e-4 * max(1.0, abs(x))
    return (float(V(x + h)) - 2 * float(V(x)) + float(V(x - h))) / h**2


def kramers_rate(V: Callable, x_min: float, x_barrier: float, beta: float, gamma: float = 1.0) -> float:
    """Overdamped (Smoluchowski) Kramers rate out of the well at ``x_min`` over ``x_barrier``.

    ``k = sqrt(V''(x_min) |V''(x_barrier)|) / (2 pi gamma) exp(-beta (V(x_barrier) - V(x_min)))``;
    relative error O(1 / (beta dV)) against the exact rate.

    Args:
        V: potential, callable on floats (energy).
        x_min, x_barrier: minimum and saddle (length).
        beta: inverse temperature (1 / energy), > 0.  gamma: friction (energy time / length**2), > 0.

    Returns:
        rate (1 / time).

    Example:
        >>> round(kramers_rate(lambda x: (x**2 - 1)**2, -1.0, 0.0, 10.0), 8)
        4.087e-05
    """
    vectorised_callable(V, "V")
    x_min, x_barrier = finite_float(x_min, "x_min"), finite_float(x_barrier, "x_barrier")
    beta, gamma = positive_float(beta, "beta"), positive_float(gamma, "gamma")
    wa, wb = _second_derivative(V, x_min), _second_derivative(V, x_barrier)
    if wa <= 0:
        raise ValueError(f"x_min={x_min!r} is not a minimum: V''={wa:.4g} <= 0")
    if wb >= 0:
        raise ValueError(f"x_barrier={x_barrier!r} is not a barrier top: V''={wb:.4g} >= 0")
    dV = float(V(x_barrier)) - float(V(x_min))
    return float(np.sqrt(wa * -wb) / (2 * np.pi * gamma) * np.exp(-beta * dV))


def mfpt_rate_1d(V: Callable, a: float, b: float, beta: float, gamma: float = 1.0,
                 lower: float = -np.inf) -> float:
    """Exact rate ``1 / tau(a -> b)`` from the 1D mean-first-passage-time integral.

    ``tau = beta gamma int_a^b dy e^{beta V(y)} int_lower^y dz e^{-beta V(z)}`` (reflecting at
    ``lower``, default -infinity, which needs V -> +infinity there).  With A = {x <= a},
    B = {x >= b} this equals the TPT rate k_AB of the continuum process.

    Args:
        V: potential, callable on floats (energy).  a < b (length).
        beta: inverse temperature (1 / energy) > 0.  gamma: friction > 0.
        lower: reflecting left edge (length), < a.

    Returns:
        rate (1 / time).

    Example:
        >>> round(mfpt_rate_1d(lambda x: (x**2 - 1)**2, -1.0, 1.0, 10.0), 8)
        3.917e-05
    """
    vectorised_callable(V, "V")
    a, b = finite_float(a, "a"), finite_float(b, "b")
    if not a < b:
        raise ValueError(f"a must be < b, got a={a!r}, b={b!r}")
    if not lower < a:
        raise ValueError(f"lower must be < a={a!r}, got {lower!r}")
    beta, gamma = positive_float(beta, "beta"), positive_float(gamma, "gamma")
    s = np.linspace(a, b, 2001)
    vmin = min(float(V(float(t))) for t in s)
    kw = dict(epsabs=0.0, epsrel=1e-11, limit=200)
    inner = lambda y: si.quad(lambda z: np.exp(-beta * (float(V(z)) - vmin)), lower, y, **kw)[0]  # noqa: E731
    tau = si.quad(lambda y: np.exp(beta * (float(V(y)) - vmin)) * inner(y), a, b, **kw)[0]
    return 1.0 / (beta * gamma * tau)


def grid_rate_1d(V: Callable, a: float, b: float, beta: float, x, gamma: float = 1.0) -> TPTResult:
    """TPT on the SqRA discretisation of the 1D generator (A = {x <= a}, B = {x >= b}).

    Args:
        V: vectorised potential (energy).  a < b (length).
        beta: inverse temperature > 0.  gamma: friction > 0.
        x: shape (n,), uniform grid (length), reflecting edges, covering a and b.

    Returns:
        :class:`TPTResult`; ``.rate`` approximates :func:`mfpt_rate_1d` with error O(h**2).

    Example:
        >>> r = grid_rate_1d(lambda x: (x**2 - 1)**2, -1.0, 1.0, 10.0, np.linspace(-2, 2, 801))
        >>> abs(r.rate / mfpt_rate_1d(lambda x: (x**2 - 1)**2, -1.0, 1.0, 10.0) - 1) < 1e-3
        True
    """
    vectorised_callable(V, "V")
    a, b = finite_float(a, "a"), finite_float(b, "b")
    beta, gamma = positive_float(beta, "beta"), positive_float(gamma, "gamma")
    x, h = uniform_grid(x, "x")
    if not (x[0] <= a < b <= x[-1]):
        raise ValueError(f"x=[{x[0]:g}, {x[-1]:g}] must cover a={a!r} < b={b!r}")
    D = 1.0 / (beta * gamma)
    # drift -V'/gamma at midpoints from differences of V (exact midpoint-rule gradient)
    Vx = np.asarray(V(x), dtype=float)
    Fm = -np.diff(Vx) / h / gamma
    mids = 0.5 * (x[1:] + x[:-1])
    up, down = sqra_generator_1d(lambda m: np.interp(m, mids, Fm), np.sqrt(2 * D), x)
    W = sp.diags([up, down], [1, -1], shape=(x.size, x.size))
    return tpt(W, x <= a, x >= b)
