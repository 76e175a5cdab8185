"""Built-in Markov jump models for large-deviation studies.

Every model returns a :class:`~nephlab.largedev.markov.MarkovJumpProcess` (rates in 1/time,
``rates[i, j]`` = rate of ``i -> j``); models with a natural current also return its increments
matrix (sparse, antisymmetric). Configurations of many-body models are stored in
``process.states`` as an ``(n_states, L)`` int array of occupations / spins.

Example:
    >>> p = two_state(1.0, 2.0)
    >>> p.stationary().round(6).tolist()
    [0.666667, 0.333333]
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Callable

import numpy as np
import scipy.sparse as sp

from nephlab._result import ResultBase, attr, coord, var
from nephlab._validate import real_array, integer, positive_float
from nephlab.largedev._conventions import SCGF_CONVENTION
from nephlab.largedev.markov import MarkovJumpProcess, Observable

__all__ = ["two_state", "ring_random_walk", "tasep_ring", "tasep_scgf_exact", "east", "fredrickson_andersen",
           "kcm_equilibrium_activity", "activity_phase_diagram", "PhaseDiagramResult"]


def two_state(a, b) -> MarkovJumpProcess:
    """Two-state process with rate ``a`` for 0 -> 1 and ``b`` for 1 -> 0 (1/time, > 0).

    Activity SCGF: ``theta(s) = -(a+b)/2 + sqrt((a-b)^2/4 + a b exp(-2 s))``.

    Example:
        >>> round(float(two_state(1.0, 3.0).scgf(0.0, "activity")), 12)
        0.0
    """
    a, b = positive_float(a, "a"), positive_float(b, "b")
    return MarkovJumpProcess([[0.0, a], [b, 0.0]])


def ring_random_walk(L, p, q):
    """Biased random walk on a ring of ``L >= 3`` sites: ``i -> i+1`` at rate p, ``i -> i-1`` at q.

    Returns ``(process, increments)`` with ``increments[i, i+1] = +1``,
    ``increments[i, i-1] = -1`` (the net displacement current, sparse ``(L, L)``).
    Current SCGF: ``theta(s) = p (e^{-s} - 1) + q (e^{s} - 1)``; Gallavotti–Cohen symmetry
    ``theta(s) = theta(ln(p/q) - s)``.

    Example:
        >>> proc, g = ring_random_walk(5, 2.0, 1.0)
        >>> round(proc.mean("current", increments=g), 12)
        1.0
    """
    L = integer(L, "L", minimum=3)
    p, q = positive_float(p, "p"), positive_float(q, "q")
    i = np.arange(L)
    rows = np.r_[i, i]
    cols = np.r_[(i + 1) % L, (i - 1) % L]
    rates = sp.csr_matrix((np.r_[np.full(L, p), np.full(L, q)], (rows, cols)), shape=(L, L))
    g = sp.csr_matrix((np.r_[np.ones(L), -np.ones(L)], (rows, cols)), shape=(L, L))
    return MarkovJumpProcess(rates, states=i), g


def _bits(codes, L):
    return ((codes[:, None] >> np.arange(L)) & 1).astype(np.int8)


def tasep_ring(L, n, rate=1.0):
    """TASEP on a ring of ``L`` sites with ``n`` particles (``0 < n < L``), hops to the right.

    A particle at site i jumps to ``(i+1) mod L`` at ``rate`` (1/time) if that site is empty.
    The ``C(L, n)`` configurations are enumerated (``process.states``, shape ``(C(L,n), L)``).

    Returns ``(process, increments)``; ``increments`` counts +1 per hop (the total particle
    current through all bonds; antisymmetric, sparse). Mean current ``rate n (L-n)/(L-1)``.

    Example:
        >>> proc, g = tasep_ring(4, 2)
        >>> proc.n_states, round(proc.mean("current", increments=g), 12)
        (6, 1.333333333333)
    """
    L = integer(L, "L", minimum=2)
    n = integer(n, "n", minimum=1)
    if n >= L:
        raise ValueError(f"n must satisfy 0 < n < L = {L}, got n = {n}")
    rate = positive_float(rate, "rate")
    codes = np.array(sorted(sum(1 << k for k in c) for c in combinations(range(L), n)), dtype=np.int64)
    occ = _bits(codes, L)
    sites = np.arange(L)
    nxt = (sites + 1) % L
    can = (occ[:, sites] == 1) & (occ[:, nxt] == 0)          # (C, L)
    src, site = np.nonzero(can)
    new = codes[src] ^ (1 << site) ^ (1 << nxt[site])
    dst = np.searchsorted(codes, new)
    N = codes.size
    rates = sp.csr_matrix((np.full(src.size, rate), (src, dst)), shape=(N, N))
    g = sp.csr_matrix((np.r_[np.ones(src.size), -np.ones(src.size)],
                       (np.r_[src, dst], np.r_[dst, src])), shape=(N, N))
    return MarkovJumpProcess(rates, states=occ), g


def _kcm(N, c, facilitated, boundary):
    N = integer(N, "N", minimum=2)
    c = positive_float(c, "c")
    if c >= 1:
        raise ValueError(f"c must be in (0, 1), got {c}")
    if boundary not in ("open", "periodic"):
        raise ValueError(f"boundary must be 'open' or 'periodic', got {boundary!r}")
    codes = np.arange(2 ** N, dtype=np.int64)
    if boundary == "periodic":
        codes = codes[1:]          # all-down is absorbing-from-nowhere: drop it
    spins = _bits(codes, N)
    f = facilitated(spins)                                    # (C, N) bool
    src, site = np.nonzero(f)
    up = spins[src, site] == 1
    rate = np.where(up, 1.0 - c, c)
    dst = np.searchsorted(codes, codes[src] ^ (1 << site))
    M = codes.size
    rates = sp.csr_matrix((rate, (src, dst)), shape=(M, M))
    return MarkovJumpProcess(rates, states=spins)


def east(N, c, boundary="open") -> MarkovJumpProcess:
    """East model of ``N`` spins: spin i flips iff spin i-1 is up; up at rate c, down at 1-c.

    ``boundary="open"``: spin 0 is always facilitated (a frozen up spin at site -1), ``2^N``
    states; ``"periodic"``: spin 0 is facilitated by spin N-1, the all-down state is dropped
    (``2^N - 1`` states). The stationary law is the product Bernoulli(c) measure (conditioned
    on not all-down when periodic). Use the ``"activity"`` observable for the s-ensemble.

    Example:
        >>> p = east(3, 0.3)
        >>> p.n_states, round(float(p.stationary()[0]), 6)   # all-down: 0.7**3
        (8, 0.343)
    """
    def fac(s):
        left = np.roll(s, 1, axis=1)
        if boundary == "open":
            left[:, 0] = 1
        return left == 1
    return _kcm(N, c, fac, boundary)


def fredrickson_andersen(N, c, boundary="open") -> MarkovJumpProcess:
    """One-spin facilitated Fredrickson–Andersen model of ``N`` spins.

    Spin i flips iff at least one neighbour is up; up at rate c, down at 1-c (1/time).
    ``boundary="open"``: frozen up spins outside both ends (``2^N`` states); ``"periodic"``:
    ring, all-down state dropped (``2^N - 1`` states). Stationary law: product Bernoulli(c).

    Example:
        >>> p = fredrickson_andersen(3, 0.5)
        >>> np.allclose(p.stationary(), 1 / 8)
        True
    """
    def fac(s):
        left, right = np.roll(s, 1, axis=1), np.roll(s, -1, axis=1)
        if boundary == "open":
            left[:, 0] = 1
            right[:, -1] = 1
        return (left == 1) | (right == 1)
    return _kcm(N, c, fac, boundary)


# --------------------------------------------------------------------------------------------
# TASEP: the Derrida–Lebowitz exact SCGF
# --------------------------------------------------------------------------------------------
#: |B| / B_c at which :func:`tasep_scgf_exact` stops (the series converge for |B| <= B_c).
_DL_EDGE = 1.0 - 1e-3
#: number of series terms used at the edge; the truncation error there is ~exp(-40).
_DL_TERMS = 40_000


def _dl_series(L: int, n: int):
    """Log-coefficients of the Derrida–Lebowitz series and the radius of convergence."""
    from scipy.special import gammaln

    q = np.arange(1, _DL_TERMS + 1, dtype=float)
    # gamma(B) = -sum_q B^q (qL-1)! / ((qn)! (qL-qn)!)
    log_g = gammaln(q * L) - gammaln(q * n + 1) - gammaln(q * (L - n) + 1)
    # theta part: -n sum_q B^q (qL-2)! / ((qn)! (qL-qn-1)!)
    log_l = np.log(n) + gammaln(q * L - 1) - gammaln(q * n + 1) - gammaln(q * (L - n))
    log_bc = n * np.log(n) + (L - n) * np.log(L - n) - L * np.log(L)
    return q, log_g, log_l, log_bc


def _dl_sum(log_c, q, B, log_bc):
    """``sum_q c_q B^q`` for |B| < B_c, truncated where the terms fall below 1e-18 of the sum."""
    if B == 0.0:
        return 0.0
    r = np.log(abs(B)) - log_bc            # < 0
    # terms ~ q^{-3/2} exp(q r): keep q <= 42 / |r| (tail < e^{-42})
    m = int(min(q.size, max(50, np.ceil(42.0 / max(-r, 1e-300)))))
    t = np.exp(log_c[:m] + q[:m] * np.log(abs(B)))
    if B < 0:
        t = t * np.where(q[:m] % 2 == 1, -1.0, 1.0)
    return float(np.sum(t[::-1]))          # small terms first


def tasep_scgf_exact(L, n, s, rate=1.0):
    """Exact current SCGF of the TASEP ring (Derrida & Lebowitz, PRL 80, 209 (1998)).

    For the ring of ``L`` sites with ``n`` particles hopping to the right at ``rate`` (1/time),
    let ``Y_t`` be the total number of hops (the total distance travelled by all particles,
    i.e. the sum of the time-integrated currents through all L bonds). Then
    ``theta(s) = lim (1/t) ln E[exp(-s Y_t)]`` (the convention of
    :class:`~nephlab.largedev.markov.MarkovJumpProcess` with the increments of
    :func:`tasep_ring`) is given parametrically by the Bethe-ansatz series in ``B``::

        -s       = -      sum_{q>=1} B^q (qL-1)! / ((qn)! (qL-qn)!)
        theta/rate = -n   sum_{q>=1} B^q (qL-2)! / ((qn)! (qL-qn-1)!)

    (``gamma = -s`` is Derrida–Lebowitz's counting parameter, ``E[exp(gamma Y_t)]``.) Both series
    converge for ``|B| <= B_c = n^n (L-n)^(L-n) / L^L``; ``B`` is found by Brent's method and
    the series are summed to round-off (first cumulant: ``-theta'(0) = rate n (L-n)/(L-1)``).

    Args:
        L: number of sites (>= 2); n: number of particles (``0 < n < L``).
        s: scalar or array (dimensionless, conjugate to the hop count).
        rate: hop rate (1/time), > 0; theta scales linearly with it.

    Returns:
        theta(s), float or array of the shape of ``s`` (1/time).

    Raises:
        ValueError: s outside the interval reached by the series with ``|B| <= (1 - 1e-3) B_c``
            (the message gives the interval); use the dense/Arnoldi eigenvalue
            (``tasep_ring(L, n)[0].scgf``) there.

    Example:
        >>> proc, g = tasep_ring(5, 2)
        >>> s = 0.05
        >>> abs(tasep_scgf_exact(5, 2, s) - proc.scgf(s, "current", increments=g)) < 1e-12
        True
    """
    from scipy.optimize import brentq

    L = integer(L, "L", minimum=2)
    n = integer(n, "n", minimum=1)
    if n >= L:
        raise ValueError(f"n must satisfy 0 < n < L = {L}, got n = {n}")
    rate = positive_float(rate, "rate")
    s_arr = real_array(s, "s")
    q, log_g, log_l, log_bc = _dl_series(L, n)
    b_edge = _DL_EDGE * np.exp(log_bc)
    # s(B) = sum_q c_q B^q is increasing in B on [-b_edge, b_edge]
    s_lo, s_hi = _dl_sum(log_g, q, -b_edge, log_bc), _dl_sum(log_g, q, b_edge, log_bc)
    out = np.empty(s_arr.size)
    for i, sv in enumerate(s_arr.ravel()):
        if not s_lo <= sv <= s_hi:
            raise ValueError(
                f"s = {float(sv)!r} is outside the range [{s_lo:.6g}, {s_hi:.6g}] reached by the "
                f"Derrida–Lebowitz series for L = {L}, n = {n} (|B| <= (1 - 1e-3) B_c); use "
                "tasep_ring(L, n)[0].scgf(s, 'current', increments=g) instead")
        if sv == 0.0:
            out[i] = 0.0
            continue
        B = brentq(lambda b: _dl_sum(log_g, q, b, log_bc) - sv, -b_edge, b_edge,
                   xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
        out[i] = -rate * _dl_sum(log_l, q, B, log_bc)
    out = out.reshape(s_arr.shape)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------
# kinetically constrained models: exact equilibrium activity and the s-ensemble
# --------------------------------------------------------------------------------------------
def kcm_equilibrium_activity(model, N, c, boundary="open") -> float:
    """Exact stationary activity (mean number of spin flips per unit time) of East / FA.

    Under the product Bernoulli(c) measure a facilitated spin flips at mean rate
    ``(1-c) c + c (1-c) = 2 c (1-c)`` whatever its state, and facilitation depends only on the
    other spins, so ``K = 2 c (1-c) sum_i P(spin i facilitated)``:

    * East, open: ``K = 2c(1-c) (1 + (N-1) c)``; FA, open: ``K = 2c(1-c) (2 + (N-2)(1-(1-c)^2))``;
    * periodic (all-down state removed, which has no facilitated spin):
      ``K = N 2c(1-c) p_f / (1 - (1-c)^N)`` with ``p_f = c`` (East) or ``1 - (1-c)^2`` (FA).

    Args:
        model: ``"east"`` or ``"fa"`` (or the functions :func:`east`, :func:`fredrickson_andersen`).
        N: number of spins (>= 2); c: up-spin density in (0, 1); boundary: ``"open"``/``"periodic"``.

    Returns:
        K (1/time), equal to ``-theta'(0)`` of the activity and to ``process.mean("activity")``.

    Example:
        >>> K = kcm_equilibrium_activity("east", 4, 0.3)
        >>> bool(abs(K - east(4, 0.3).mean("activity")) < 1e-12)
        True
    """
    name = {east: "east", fredrickson_andersen: "fa"}.get(model, model)
    if name not in ("east", "fa"):
        raise ValueError(f"model must be 'east' or 'fa' (or the functions east / "
                         f"fredrickson_andersen), got {model!r}")
    N = integer(N, "N", minimum=2)
    c = positive_float(c, "c")
    if c >= 1:
        raise ValueError(f"c must be in (0, 1), got {c}")
    if boundary not in ("open", "periodic"):
        raise ValueError(f"boundary must be 'open' or 'periodic', got {boundary!r}")
    flip = 2.0 * c * (1.0 - c)
    p_f = c if name == "east" else 1.0 - (1.0 - c) ** 2
    if boundary == "periodic":
        return N * flip * p_f / (1.0 - (1.0 - c) ** N)
    n_always = 1 if name == "east" else 2
    return flip * (n_always + (N - n_always) * p_f)


@dataclass(frozen=True, repr=False)
class PhaseDiagramResult(ResultBase):
    """s-ensemble activity of a family of models of increasing size (see :func:`activity_phase_diagram`).

    Attributes (``k`` sizes, ``m`` tilts):
        sizes: ``(k,)`` system sizes L.
        s: ``(m,)`` grid of s (conjugate to the activity; s > 0 favours inactive histories).
        theta: ``(k, m)`` theta(s) (1/time).
        activity: ``(k, m)`` activity per site ``k(s) = -theta'(s) / L`` (1/time).
        susceptibility: ``(k, m)`` ``chi(s) = theta''(s) / L`` (1/time).
        s_star: ``(k,)`` crossover: location of the maximum of chi, refined between grid points.
        chi_max: ``(k,)`` chi at ``s_star``.
        at_boundary: ``(k,)`` True where the maximum of chi on the grid is at an end of ``s``
            (``s_star`` is then only a bound; widen the grid).
        observable: name of the observable (``"activity"``).

    ``to_xarray()`` gives a Dataset with dims ``L`` and ``s`` (units in attrs).

    Example:
        >>> r = activity_phase_diagram(lambda L: east(L, 0.5), [3, 4], np.linspace(0, 0.3, 7))
        >>> r.to_xarray().activity.dims
        ('L', 's')
    """

    sizes: np.ndarray = coord("L", long_name="system size", name="L")
    s: np.ndarray = coord("s", units="1/[A]", long_name="tilt s")
    theta: np.ndarray = var("L", "s", units="1/time", long_name="SCGF theta(s)")
    activity: np.ndarray = var("L", "s", units="1/time", long_name="activity per site -theta'(s)/L")
    susceptibility: np.ndarray = var("L", "s", units="1/time", long_name="theta''(s)/L")
    s_star: np.ndarray = var("L", units="1/[A]", long_name="crossover s*(L) (max of chi)")
    chi_max: np.ndarray = var("L", units="1/time", long_name="chi(s*)")
    at_boundary: np.ndarray = var("L", long_name="max of chi at an end of the grid")
    observable: str = attr(default="activity")

    xarray_attrs = {"convention": SCGF_CONVENTION}


def activity_phase_diagram(model_factory: Callable[[int], MarkovJumpProcess], sizes, s_grid,
                           observable="activity", *, sparse_threshold=None) -> PhaseDiagramResult:
    """s-ensemble phase diagram: activity per site and susceptibility for several sizes.

    For each ``L`` in ``sizes`` the process ``model_factory(L)`` is tilted by ``exp(-s K_t)``
    (``K_t`` = number of jumps, or another ``observable``); theta, ``k(s) = -theta'(s)/L`` and
    ``chi(s) = theta''(s)/L`` come from :meth:`MarkovJumpProcess.scgf_curve` (perturbation
    theory, exact to round-off). For kinetically constrained models (East, FA) the active phase
    at s < 0 meets an inactive one at ``s = 0+``: at finite L this is a crossover at
    ``s*(L) > 0`` (the maximum of chi), with ``s*(L) -> 0`` (about 1/L) and ``chi(s*)`` growing
    as L grows. ``s*`` is refined by a bounded scalar maximisation of chi between the grid
    neighbours of the grid maximum.

    Args:
        model_factory: ``L -> MarkovJumpProcess``, e.g. ``lambda L: east(L, 0.5)``, or
            ``L -> (MarkovJumpProcess, Observable)`` when the observable depends on L (e.g. the
            current of a ring of L sites); that :class:`Observable` then replaces ``observable``.
        sizes: 1-D increasing sequence of integer sizes (the L that divides theta').
        s_grid: 1-D strictly increasing grid of s with >= 3 points.
        observable: passed to :meth:`MarkovJumpProcess.scgf_curve`.

    Returns:
        :class:`PhaseDiagramResult`.

    Example:
        >>> r = activity_phase_diagram(lambda L: east(L, 0.5), [4, 5], np.linspace(0, 0.4, 21))
        >>> bool(r.s_star[1] < r.s_star[0])
        True
    """
    import scipy.optimize

    if not callable(model_factory):
        raise TypeError(f"model_factory must be a callable L -> MarkovJumpProcess, got "
                        f"{type(model_factory).__name__}")
    sizes_a = np.atleast_1d(np.asarray(sizes))
    if sizes_a.ndim != 1 or sizes_a.size < 1 or not np.issubdtype(sizes_a.dtype, np.integer) \
            or np.any(sizes_a < 1) or np.any(np.diff(sizes_a) <= 0):
        raise ValueError(f"sizes must be a 1-D strictly increasing sequence of positive integers, "
                         f"got {sizes!r}")
    grid = np.asarray(s_grid, dtype=float)
    if grid.ndim != 1 or grid.size < 3 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError(f"s_grid must be a finite, strictly increasing 1-D array with >= 3 points, "
                         f"got {s_grid!r}")
    k, m = sizes_a.size, grid.size
    theta, act, chi = np.empty((k, m)), np.empty((k, m)), np.empty((k, m))
    s_star, chi_max, at_b = np.empty(k), np.empty(k), np.zeros(k, dtype=bool)
    name = "activity"
    for a, L in enumerate(sizes_a.tolist()):
        proc, obs = model_factory(L), observable
        if isinstance(proc, tuple) and len(proc) == 2 and isinstance(proc[1], Observable):
            proc, obs = proc
        if not isinstance(proc, MarkovJumpProcess):
            raise TypeError(f"model_factory({L}) must return a MarkovJumpProcess or a (process, observable) "
                            f"pair, got {type(proc).__name__}")
        r = proc.scgf_curve(grid, obs, sparse_threshold=sparse_threshold)
        name = r.observable
        theta[a], act[a], chi[a] = r.theta, -r.dtheta / L, r.d2theta / L
        i = int(np.argmax(chi[a]))
        at_b[a] = i in (0, m - 1)
        if at_b[a]:
            s_star[a], chi_max[a] = grid[i], chi[a, i]
            continue

        def neg_chi(sv, proc=proc, obs=obs, L=L):
            return -float(proc.scgf_curve(sv, obs, sparse_threshold=sparse_threshold).d2theta[0]) / L

        res = scipy.optimize.minimize_scalar(neg_chi, bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                                             options={"xatol": 1e-6 * max(1.0, abs(grid[i]))})
        if -res.fun >= chi[a, i]:
            s_star[a], chi_max[a] = res.x, -res.fun
        else:
            s_star[a], chi_max[a] = grid[i], chi[a, i]
    return PhaseDiagramResult(sizes_a.astype(int), grid, theta, act, chi, s_star, chi_max, at_b, name)
